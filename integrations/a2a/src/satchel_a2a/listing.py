"""How :class:`~satchel_a2a.SatchelTaskStore` lists tasks in the SDK's order on the server:
a :class:`satchel.ranking.Ranking` of each owner's tasks beside the task records, the
conditions of a ``ListTasksRequest`` on its entries, and the page tokens.

An owner's ranking group is the owner percent-encoded (so it holds no ``/`` and no group is
the start of another's key). A task's rank is its status timestamp, descending (tasks
without one after all others), then its id, descending: the SDK's order. Each save places a
new entry whose rank ends with a fresh suffix and names that rank in the task record
(``"rank"``), so an entry is current exactly when its record names it: the entry of a save
that did not land (a writer that failed or stopped half way, a concurrent writer that lost)
is never taken for the task's. A record written before rankings (no ``"rank"``) is ranked
by an entry without a suffix, which :func:`rank_stored_tasks` places.

Entries live :data:`ENTRY_TTL_MARGIN` seconds longer than their tasks: an entry is placed
before the task write it ranks, so with the same lifetime it would expire first and the
task would leave listings while it still lives.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import math
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from a2a.types.a2a_pb2 import ListTasksRequest, Task, TaskState

from satchel import InvalidArgument
from satchel.backend import JSONValue
from satchel.ranking import sortable_text
from satchel.stores import KVStore
from satchel.toolkit import iter_pages
from satchel_a2a.errors import InvalidListRequest
from satchel_a2a.records import instant

__all__ = [
    "ENTRY_TTL_MARGIN",
    "MAX_TOTAL",
    "READY_KEY",
    "Condition",
    "base_rank",
    "decode_token",
    "encode_token",
    "entry_conditions",
    "entry_value",
    "fresh_rank",
    "group_of",
    "rank_stored_tasks",
    "record_conditions",
    "record_rank",
    "stored_entry",
    "stored_state",
]

Condition = tuple[str, str, Any]

#: Marks the page tokens of this listing form; other tokens are refused.
_TOKEN_MARK = "r1."
#: The key, in the ranking namespace, that says its entries cover the records written
#: before rankings (no ``/``: never the key of an entry).
READY_KEY = "ranked-stored-tasks"
#: Seconds an entry outlives its task (placed before the task's write, it would otherwise
#: expire first).
ENTRY_TTL_MARGIN = 300.0
#: The largest ``total_size`` a response holds (an int32), so the largest in a page token.
MAX_TOTAL = 2**31 - 1


def group_of(owner: str) -> str:
    """The ranking group of ``owner``'s tasks."""
    return quote(owner, safe="")


def base_rank(task_id: str, status_time: str | None) -> str:
    """The rank of a task in the SDK's listing order, without a save's suffix."""
    head = "1" if status_time is None else "0" + sortable_text(status_time, descending=True)
    return head + sortable_text(task_id, descending=True)


def fresh_rank(task_id: str, status_time: str | None) -> str:
    """The rank a save gives the task: :func:`base_rank` and a suffix of its own. The
    suffix follows the id's end mark, so it orders only the entries of one task."""
    return base_rank(task_id, status_time) + uuid.uuid4().hex[:16]


def record_rank(value: Any, task_id: str) -> str | None:
    """The rank the stored task record ``value`` names (its entry's), or ``None``."""
    if not isinstance(value, dict):
        return None
    rank = value.get("rank")
    if isinstance(rank, str):
        return rank
    status_time = value.get("status_time")  # a record written before rankings
    return base_rank(task_id, status_time if isinstance(status_time, str) else None)


def stored_state(value: Any) -> int:
    """The status state of the stored task record ``value`` (``0`` when it has none)."""
    task = value.get("task") if isinstance(value, dict) else None
    status = task.get("status") if isinstance(task, dict) else None
    state = status.get("state") if isinstance(status, dict) else None
    if isinstance(state, str):
        try:
            return int(TaskState.Value(state))
        except ValueError:
            return 0
    return state if isinstance(state, int) and not isinstance(state, bool) else 0


def entry_value(task: Task, status_time: str | None) -> dict[str, JSONValue]:
    """What an entry holds: the task id (to find the record) and what a listing filters on."""
    value: dict[str, JSONValue] = {
        "id": task.id,
        "context_id": task.context_id,
        "state": int(task.status.state),
    }
    if status_time is not None:
        value["status_time"] = status_time
    return value


def _time_conditions(params: ListTasksRequest, field: str) -> builtins.list[Condition]:
    if not params.HasField("status_timestamp_after"):
        return []
    after = params.status_timestamp_after
    if not 0 <= after.nanos < 1_000_000_000:
        raise InvalidListRequest(
            f"status_timestamp_after: nanos must be from 0 to 999999999, not {after.nanos}"
        )
    try:
        return [(field, "gte", instant(after, "status_timestamp_after"))]
    except InvalidArgument:  # outside the years 1 to 9999, which every task is inside
        if after.seconds > 0:
            return [(field, "gt", "9999-12-31T23:59:59.999999999Z")]
        return [(field, "exists", True)]


def entry_conditions(params: ListTasksRequest) -> builtins.list[Condition]:
    """The filters of ``params`` as conditions on the entries' values."""
    where: builtins.list[Condition] = []
    if params.context_id:
        where.append(("context_id", "eq", params.context_id))
    if params.status:
        where.append(("state", "eq", int(params.status)))
    return where + _time_conditions(params, "status_time")


def record_conditions(prefix: str, params: ListTasksRequest) -> builtins.list[Condition]:
    """The filters of ``params`` as conditions on the task records under ``prefix`` (to
    count them)."""
    where: builtins.list[Condition] = [("key", "startswith", prefix)]
    if params.context_id:
        where.append(("task.contextId", "eq", params.context_id))
    if params.status:
        try:
            state: str | int = TaskState.Name(params.status)
        except ValueError:  # a number the SDK's enum does not name: JSON keeps it a number
            state = int(params.status)
        where.append(("task.status.state", "eq", state))
    return where + _time_conditions(params, "status_time")


def encode_token(total: int, cursor: str) -> str:
    """A ``next_page_token``: the count of the listing's first page and the ranking's
    cursor."""
    text = json.dumps([total, cursor], separators=(",", ":"))
    return _TOKEN_MARK + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str]:
    """``(total, cursor)`` of a token :func:`encode_token` made; :class:`InvalidListRequest`
    naming ``page_token`` for anything else, and saying so for a token of the earlier
    listing form (a satchel cursor of a query of the task records)."""
    payload = _unpack(token[len(_TOKEN_MARK) :]) if token.startswith(_TOKEN_MARK) else None
    if (
        isinstance(payload, list)
        and len(payload) == 2
        and isinstance(payload[0], int)
        and not isinstance(payload[0], bool)
        and 0 <= payload[0] <= MAX_TOTAL
        and isinstance(payload[1], str)
        and payload[1]
    ):
        return payload[0], payload[1]
    earlier = _unpack(token)
    if isinstance(earlier, list) and len(earlier) == 3 and isinstance(earlier[0], str):
        raise InvalidListRequest(
            "page_token: it is a token of an earlier form of this store's listings, which "
            "no longer continues; list again without a page_token"
        )
    raise InvalidListRequest(
        "page_token: not a next_page_token of this store; pass next_page_token unchanged"
    )


def _unpack(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        return None


async def rank_stored_tasks(
    tasks: KVStore, ranks: KVStore, *, margin: float = ENTRY_TTL_MARGIN
) -> int:
    """Place the entry of every task record in ``tasks`` written before rankings (one
    without ``"rank"``), a batch of records at a time; return how many. Each entry lives
    until its record expires and ``margin`` seconds more (rounded up to a whole minute, so
    that a batch's entries are written with few TTLs), whatever the TTL of ``ranks``; an
    entry of a record that never expires never expires. Entries of a record already ranked
    are left alone, and placing one twice writes the same entry, so this may run again, or
    on several replicas at once."""
    placed = 0
    async for page in iter_pages(lambda cursor: tasks.query(limit=500, cursor=cursor)):
        now = datetime.now(timezone.utc)
        by_ttl: dict[float | None, dict[str, JSONValue]] = {}
        for record in page.items:
            if not isinstance(record.value, dict) or "rank" in record.value:
                continue
            entry = _stored_entry(record.key, record.value)
            if entry is None:
                continue
            ttl: float | None = None
            if record.expires_at is not None:
                left = (record.expires_at - now).total_seconds() + margin
                ttl = float(max(60, math.ceil(left / 60) * 60))
            by_ttl.setdefault(ttl, {}).update(entry)
        for ttl, batch in by_ttl.items():
            placed += len(await ranks.set_many(batch, ttl=ttl))
    return placed


def stored_entry(task_id: str, value: Mapping[str, Any]) -> dict[str, JSONValue]:
    """The entry value of the stored task record ``value`` (as :func:`entry_value` made it
    for the task the record holds)."""
    task = value.get("task")
    context_id = task.get("contextId") if isinstance(task, dict) else None
    entry: dict[str, JSONValue] = {
        "id": task_id,
        "context_id": context_id if isinstance(context_id, str) else "",
        "state": stored_state(value),
    }
    status_time = value.get("status_time")
    if isinstance(status_time, str):
        entry["status_time"] = status_time
    return entry


def _stored_entry(key: str, value: Mapping[str, Any]) -> dict[str, JSONValue] | None:
    """``{entry key: entry value}`` of a record written before rankings."""
    owner, task = value.get("owner"), value.get("task")
    if not isinstance(owner, str) or not isinstance(task, dict):
        return None
    prefix = group_of(owner) + "/"
    if not key.startswith(prefix):
        return None
    task_id = key[len(prefix) :]
    status_time = value.get("status_time")
    status_time = status_time if isinstance(status_time, str) else None
    return {f"{prefix}{base_rank(task_id, status_time)}": stored_entry(task_id, value)}
