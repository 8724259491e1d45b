""":class:`SatchelTaskStore`: the A2A SDK's ``TaskStore`` over a satchel KV namespace."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.owner_resolver import OwnerResolver, resolve_user_scope
from a2a.server.tasks.task_store import TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE

from satchel import AlreadyExists, Conflict, InvalidArgument, InvalidQuery, NotFound, Satchel
from satchel.shared import shared_store
from satchel.stores import DEFAULT, KVStore, Versioned
from satchel.stores.base import Default
from satchel.validation import check_name, check_ttl
from satchel_a2a.errors import InvalidListRequest, TaskModified
from satchel_a2a.records import (
    check_id,
    decode_message,
    encode_message,
    instant,
    owner_of,
    owner_prefix,
    scoped_key,
)

__all__ = ["TASKS_NAMESPACE", "SatchelTaskStore"]

#: The KV namespace the tasks live in by default.
TASKS_NAMESPACE = "a2a-tasks"

#: The listing order: latest status timestamp first (tasks without one last), then task id,
#: descending; within one owner's keys (``owner/task_id``) the key orders as the id does.
_ORDER = [("status_time", "desc"), ("key", "desc")]


class SatchelTaskStore(TaskStore):
    """The A2A SDK's ``TaskStore``, keeping each task in satchel, on whichever backend
    satchel is configured with. Give it to the SDK's ``DefaultRequestHandler``.

    Tasks are scoped by owner, as the SDK's own stores scope them: ``owner_resolver`` finds
    the owner in each call's ``ServerCallContext`` (by default the user's name), and a call
    sees only its owner's tasks. :meth:`list` is one satchel query (filters, order and
    paging decided by the backend) and one count; its page tokens are satchel cursors.

    * ``SatchelTaskStore()``: the process's handle, opened from the environment
      (``SATCHEL_BACKEND`` and the rest, as :func:`satchel.open` reads them) the first time
      a store needs it, and shared by every store built this way;
    * ``SatchelTaskStore(store=handle)``: a handle the program opened (and closes).

    :param store: the satchel handle (default: the process's handle).
    :param namespace: the KV namespace of the tasks.
    :param owner_resolver: the owner of a call, from its ``ServerCallContext``.
    :param ttl: seconds (or a ``timedelta``) a task lives after its last save; ``None``:
        forever; default: the handle's ``default_ttl``.
    :raises InvalidArgument: an argument has the wrong type or value; the message names it.
    """

    def __init__(
        self,
        *,
        store: Satchel | None = None,
        namespace: str = TASKS_NAMESPACE,
        owner_resolver: OwnerResolver = resolve_user_scope,
        ttl: float | timedelta | Default | None = DEFAULT,
    ) -> None:
        if store is not None and not isinstance(store, Satchel):
            raise InvalidArgument(
                f"store: must be a handle from satchel.open(), not {type(store).__name__}"
            )
        if not callable(owner_resolver):
            raise InvalidArgument(
                f"owner_resolver: must be callable, not {type(owner_resolver).__name__}"
            )
        if ttl is not DEFAULT:
            check_ttl(ttl)
        self._store = store
        self._namespace = check_name(namespace, "namespace")
        self._ttl = ttl
        self.owner_resolver = owner_resolver
        self._kv: KVStore | None = None

    @property
    def kv(self) -> KVStore:
        """The KV namespace the tasks are in (key ``owner/task_id``; value
        ``{"owner", "status_time", "task"}``, the task in the A2A JSON form)."""
        if self._kv is None:
            store = self._store if self._store is not None else shared_store()
            if self._ttl is DEFAULT:
                self._kv = store.kv(self._namespace)
            else:
                self._kv = store.kv(self._namespace, ttl=self._ttl)
        return self._kv

    # -- the TaskStore interface ------------------------------------------------------------

    async def save(
        self, task: Task, context: ServerCallContext, *, expected_version: int | None = None
    ) -> None:
        """Save ``task`` for the call's owner (create or replace).

        :param expected_version: only if the stored task has this version (from
            :meth:`get_versioned`), or ``0``: only if there is none; else
            :class:`~satchel_a2a.TaskModified` (a :class:`~satchel.Conflict`) and nothing is
            written. Default: no check, as the
            SDK's stores save.
        """
        await self.save_versioned(task, context, expected_version=expected_version)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        """The call's owner's task ``task_id`` (a copy of its own), or ``None``."""
        found = await self.get_versioned(task_id, context)
        return None if found is None else found.value

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """The call's owner's tasks that match ``params`` (``context_id``, ``status``,
        ``status_timestamp_after``, which takes tasks whose status timestamp is at or after
        it), latest status timestamp first, tasks without one last, ties by task id
        descending; one page of ``page_size`` (default 50) from ``page_token``, with
        ``total_size`` the number of matches.

        :raises InvalidListRequest: ``page_token`` is not the ``next_page_token`` of a
            listing with the same filters, or ``page_size`` is negative.
        """
        owner = owner_of(context, self.owner_resolver)
        if not isinstance(params, ListTasksRequest):
            raise InvalidArgument(
                f"params: must be the SDK's ListTasksRequest, not {type(params).__name__}"
            )
        if params.page_size < 0:
            raise InvalidListRequest(f"page_size: must not be negative, not {params.page_size}")
        page_size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        where = self._where(owner, params)
        try:
            page = await self.kv.query(
                where, order_by=_ORDER, limit=page_size, cursor=params.page_token or None
            )
        except InvalidQuery as exc:
            if not params.page_token:
                raise
            raise InvalidListRequest(f"page_token: {exc}") from None
        total = await self.kv.count(where)
        return ListTasksResponse(
            tasks=[self._task(entry.key, entry.value) for entry in page.items],
            next_page_token=page.next_cursor or "",
            page_size=page_size,
            total_size=total,
        )

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        """Delete the call's owner's task ``task_id`` (nothing happens if there is none)."""
        await self.kv.delete(self._key(task_id, context))

    # -- versions ---------------------------------------------------------------------------

    async def get_versioned(
        self, task_id: str, context: ServerCallContext
    ) -> Versioned[Task] | None:
        """The call's owner's task ``task_id`` with its version and timestamps, or ``None``.
        Pass ``.version`` as ``expected_version`` to save only over this version."""
        entry = await self.kv.get_entry(self._key(task_id, context))
        if entry is None:
            return None
        return Versioned(
            entry.key,
            self._task(entry.key, entry.value),
            entry.version,
            entry.created_at,
            entry.updated_at,
            entry.expires_at,
        )

    async def save_versioned(
        self, task: Task, context: ServerCallContext, *, expected_version: int | None = None
    ) -> int:
        """:meth:`save`, returning the task's new version.

        :raises TaskModified: (a :class:`~satchel.Conflict`) ``expected_version`` is given and
            the stored task has another version (``.actual``: ``0`` when there is none, or
            ``None`` when unknown); nothing was written.
        """
        owner = owner_of(context, self.owner_resolver)
        if not isinstance(task, Task):
            raise InvalidArgument(f"task: must be the SDK's Task, not {type(task).__name__}")
        if expected_version is not None and (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 0
        ):
            raise InvalidArgument(
                f"expected_version: must be a version number, or 0 for no task, "
                f"not {expected_version!r}"
            )
        key = scoped_key(owner, check_id(task.id, "task.id"))
        value: dict[str, Any] = {"owner": owner}
        if task.HasField("status") and task.status.HasField("timestamp"):
            value["status_time"] = instant(task.status.timestamp, "task.status.timestamp")
        value["task"] = encode_message(task, "task")
        try:
            if expected_version == 0:
                return await self.kv.set(key, value, if_absent=True)
            return await self.kv.set(key, value, if_version=expected_version)
        except AlreadyExists:
            raise TaskModified(
                f"task {task.id!r}: it exists, and expected_version=0 saves only a new task; "
                "load it and try again",
                task_id=task.id,
                expected=0,
            ) from None
        except NotFound:
            raise TaskModified(
                f"task {task.id!r}: it no longer exists (expected version {expected_version})",
                task_id=task.id,
                expected=expected_version,
                actual=0,
            ) from None
        except Conflict as exc:
            raise TaskModified(
                f"task {task.id!r}: another write changed it since version {expected_version}; "
                "load it and try again",
                task_id=task.id,
                expected=expected_version,
                actual=exc.actual,
            ) from None

    # -- helpers ----------------------------------------------------------------------------

    def _key(self, task_id: str, context: ServerCallContext) -> str:
        owner = owner_of(context, self.owner_resolver)
        return scoped_key(owner, check_id(task_id, "task_id"))

    @staticmethod
    def _where(owner: str, params: ListTasksRequest) -> builtins.list[tuple[str, str, Any]]:
        where: builtins.list[tuple[str, str, Any]] = [("key", "startswith", owner_prefix(owner))]
        if params.context_id:
            where.append(("task.contextId", "eq", params.context_id))
        if params.status:
            try:
                state: str | int = TaskState.Name(params.status)
            except ValueError:  # a number the SDK's enum does not name: JSON keeps it a number
                state = int(params.status)
            where.append(("task.status.state", "eq", state))
        if params.HasField("status_timestamp_after"):
            after = params.status_timestamp_after
            if not 0 <= after.nanos < 1_000_000_000:
                raise InvalidListRequest(
                    f"status_timestamp_after: nanos must be from 0 to 999999999, not {after.nanos}"
                )
            try:
                where.append(("status_time", "gte", instant(after, "status_timestamp_after")))
            except InvalidArgument:  # outside the years 1 to 9999, which every task is inside
                if after.seconds > 0:
                    where.append(("status_time", "gt", "9999-12-31T23:59:59.999999999Z"))
                else:
                    where.append(("status_time", "exists", True))
        return where

    @staticmethod
    def _task(key: str, value: Any) -> Task:
        body = value.get("task") if isinstance(value, dict) else None
        return decode_message(body, Task(), f"task {key!r}")

    def __repr__(self) -> str:
        where = repr(self._kv) if self._kv is not None else f"namespace {self._namespace!r}"
        return f"<SatchelTaskStore {where}>"
