"""The order :class:`~satchel_adk.SatchelSessionService` lists sessions in, kept in a
:class:`satchel.ranking.Ranking` beside the heads (``{prefix}-ranks``), so that a page of a
listing reads only its entries and their sessions.

Every session has two entries, one in the group of its app (``a/<app>``) and one in the
group of its user (``u/<app>/<user>``); both ranks start with its ``rank_time``, the latest
time the session has had (its creation time, then the greatest timestamp of its events:
an event created before the last one and appended after it does not move the session
back, so that a listing paged meanwhile never leaves it out), then the app's rank has the
user id and the session id, the user's the session id: the order of a listing, ties by user
id then id. ``last_update_time`` stays what ADK sets (the last event's timestamp). Both end
with the head's ``rank`` nonce, drawn anew whenever the rank time changes, so that entries
of one session placed by different writers for different times never share a key: a writer
removes only the entries of the head it replaced, never those of a head written after it.
A writer that keeps the rank time writes the entries again (renewing their expiry with the
head's) and, when its head write fails, withdraws only those the current head does not
name. An entry's value names its session, the time and the nonce it was placed for; it is
current while the session's head holds both.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time as _time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Final

from google.adk.sessions.session import Session

from satchel.ranking import Ranking, sortable_number, sortable_text
from satchel.stores.kv import Entry, KVStore
from satchel.toolkit import iter_pages
from satchel_adk import records

#: The key, in the ranks namespace, of the record that says every session is ranked (the
#: sessions stored before the ranks were rebuilt once).
READY_KEY: Final = "ready"
#: The entries written at once by :meth:`SessionOrder.rebuild`.
REBUILD_BATCH: Final = 500
#: An entry a call placed: its group, rank, version and value.
Placed = tuple[str, str, int, dict[str, Any]]

_log = logging.getLogger(__name__)


def new_nonce() -> str:
    """A head's ``rank`` nonce (see the module)."""
    return uuid.uuid4().hex[:16]


def app_group(app_name: str) -> str:
    return f"a/{records.part(app_name)}"


def user_group(app_name: str, user_id: str) -> str:
    return f"u/{records.user_key(app_name, user_id)}"


def places(
    app_name: str, user_id: str, session_id: str, time: float, nonce: str = ""
) -> list[tuple[str, str, dict[str, Any]]]:
    """The ``(group, rank, value)`` of the session's two entries at ``time``."""
    at = sortable_number(time)
    end = sortable_text(session_id) + sortable_text(nonce)
    value: dict[str, Any] = {
        "app_name": app_name,
        "user_id": user_id,
        "id": session_id,
        "t": time,
        "n": nonce,
    }
    return [
        (app_group(app_name), at + sortable_text(user_id) + end, value),
        (user_group(app_name, user_id), at + end, value),
    ]


def rank_time(head: Mapping[str, Any]) -> Any:
    """The time a head is ranked by (heads stored before ``rank_time`` by their
    ``last_update_time``)."""
    return head.get("rank_time", head.get("last_update_time"))


def head_places(head: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The entries a head is ranked by (heads stored before nonces have the nonce ``""``)."""
    return places(
        head["app_name"],
        head["user_id"],
        head["id"],
        rank_time(head),
        head.get("rank", ""),
    )


def is_rankable(head: Any) -> bool:
    """Whether a stored head can be ranked (string names, a numeric time, not deleted)."""
    return (
        isinstance(head, dict)
        and not head.get("deleted")
        and all(isinstance(head.get(k), str) for k in ("app_name", "user_id", "id"))
        and isinstance(rank_time(head), int | float)
        and not isinstance(rank_time(head), bool)
        and math.isfinite(rank_time(head))
        and isinstance(head.get("rank", ""), str)
    )


def head_key(entry_value: Any) -> str | None:
    """The key of the head an entry ranks (``None`` for what is not an entry)."""
    if not isinstance(entry_value, dict):
        return None
    try:
        return records.session_key(
            entry_value["app_name"], entry_value["user_id"], entry_value["id"]
        )
    except (KeyError, AttributeError):
        return None


def is_current(entry_value: Mapping[str, Any], head: Mapping[str, Any] | None) -> bool:
    """Whether the entry is the head's current rank."""
    return (
        head is not None
        and not head.get("deleted")
        and rank_time(head) == entry_value.get("t")
        and head.get("rank", "") == entry_value.get("n", "")
    )


class SessionOrder:
    """The listings' order of one service's sessions: its writes (by the protocol of
    :mod:`satchel.ranking`) and its pages."""

    def __init__(
        self,
        ranks: KVStore,
        sessions: KVStore,
        apps: KVStore,
        users: KVStore,
        margin: float = 0.0,
    ) -> None:
        self.ranking: Ranking[Session] = Ranking(ranks)
        self._sessions = sessions
        self._apps = apps
        self._users = users
        self._margin = margin  # how long an entry outlives its head
        self._built = False  # known to hold every session (READY_KEY seen)
        # one first-listing rebuild at a time, per event loop
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def place(self, head: Mapping[str, Any]) -> list[Placed]:
        """Write the head's entries before the head is written (again when they are there,
        so that their expiry follows the head's); return them with their versions. When one
        fails, the others are withdrawn and the error raised."""
        ranking = self.ranking
        places = head_places(head)
        outcome = await asyncio.gather(
            *[ranking.place(g, r, v) for g, r, v in places], return_exceptions=True
        )
        placed = [
            (g, r, version, v)
            for (g, r, v), version in zip(places, outcome, strict=True)
            if isinstance(version, int)
        ]
        for failure in outcome:
            if isinstance(failure, BaseException):
                await self.withdraw(
                    placed, records.session_key(head["app_name"], head["user_id"], head["id"])
                )
                raise failure
        return placed

    async def withdraw(self, placed: Sequence[Placed], key: str) -> None:
        """Withdraw the entries a call placed, once its head write failed for sure: those
        the current head (at ``key``) does not name, each unless written again since."""
        if not placed:
            return
        current = await self._sessions.get(key)
        head = current if isinstance(current, dict) else None
        ranking = self.ranking
        await asyncio.gather(
            *[
                ranking.withdraw(g, r, version)
                for g, r, version, value in placed
                if not is_current(value, head)
            ]
        )

    async def remove(self, head: Mapping[str, Any]) -> None:
        """Remove the entries of a head that is no longer current (or of a deleted one)."""
        ranking = self.ranking
        await asyncio.gather(*[ranking.remove(g, r) for g, r, _ in head_places(head)])

    async def rebuild(self) -> int:
        """Place every stored head (see ``SatchelSessionService.rebuild_listing``), each
        entry expiring ``margin`` seconds after its head; a head that cannot be ranked
        (damaged, or not a session's) is skipped with a warning."""
        ranks = self.ranking.kv
        count = 0
        async for page in iter_pages(
            lambda cursor: self._sessions.query(None, limit=REBUILD_BATCH, cursor=cursor)
        ):
            by_ttl: dict[float | None, dict[str, Any]] = {}
            now = _time.time()
            for head in page.items:
                value = head.value
                if isinstance(value, dict) and value.get("deleted"):
                    continue
                if not is_rankable(value):
                    _log.warning("listing: session head %r cannot be ranked; skipped", head.key)
                    continue
                assert isinstance(value, dict)
                ttl: float | None = None
                if head.expires_at is not None:
                    left = head.expires_at.timestamp() - now
                    if left <= 0:
                        continue
                    ttl = float(math.ceil(left + self._margin))
                batch = by_ttl.setdefault(ttl, {})
                for group, rank, entry in head_places(value):
                    batch[Ranking.key(group, rank)] = entry
                count += 1
            for ttl, batch in by_ttl.items():
                await ranks.set_many(batch, ttl=ttl)
        await ranks.set(READY_KEY, {"sessions": count}, ttl=None)
        self._built = True
        return count

    async def ensure_built(self) -> None:
        """Rebuild once when the ranks namespace does not say every session is ranked;
        concurrent first listings of one event loop wait for a single rebuild."""
        if self._built:
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            # another listing may have built it while this one waited
            if not self.built and await self.ranking.kv.get(READY_KEY) is None:
                await self.rebuild()
            self._built = True

    @property
    def built(self) -> bool:
        """Whether the order is known to hold every session."""
        return self._built

    async def page(
        self, app_name: str, user_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Session], str | None]:
        """A page in the listing's order: the entries of the app's (or the user's) group
        from ``cursor``, each resolved to its session when it is the session's current
        place (entries a writer left half way, or of deleted sessions, are skipped)."""
        await self.ensure_built()
        group = app_group(app_name) if user_id is None else user_group(app_name, user_id)

        async def resolve(entries: list[Entry]) -> list[Session | None]:
            return await self._resolve(app_name, entries)

        return await self.ranking.page(group, limit=limit, cursor=cursor, resolve=resolve)

    async def _resolve(self, app_name: str, entries: list[Entry]) -> list[Session | None]:
        keys = [head_key(entry.value) for entry in entries]
        user_keys = [
            records.user_key(app_name, value["user_id"])
            for value in (entry.value for entry in entries)
            if isinstance(value, dict) and isinstance(value.get("user_id"), str)
        ]
        heads, user_states, app_record = await asyncio.gather(
            self._sessions.get_entries([k for k in keys if k is not None]),
            self._users.get_many(user_keys),
            self._apps.get(app_name),
        )
        app_state = (app_record or {}).get("state", {})
        found: list[Session | None] = []
        for entry, key in zip(entries, keys, strict=True):
            head = heads.get(key) if key is not None else None
            if head is None or not is_current(entry.value, head.value):
                found.append(None)
                continue
            value = head.value
            user_state = user_states.get(records.user_key(app_name, value["user_id"])) or {}
            session = Session(
                id=value["id"],
                app_name=value["app_name"],
                user_id=value["user_id"],
                state=records.merged(value, app_state, user_state.get("state", {})),
                last_update_time=value["last_update_time"],
            )
            session._storage_update_marker = records.marker(
                head.version, value["tip"], value["incarnation"]
            )
            found.append(session)
        return found
