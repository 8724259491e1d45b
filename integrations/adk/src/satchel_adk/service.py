""":class:`SatchelSessionService`: Google ADK's ``BaseSessionService`` on satchel.

Storage layout (``prefix`` is ``"adk"`` unless told otherwise):

* ``{prefix}-sessions`` (KV): one record per session, its *head*: ids, session-scope
  state, ``last_update_time``, ``rank_time`` and ``rank`` (its place in the listings, see
  :mod:`satchel_adk.listing`), ``tip``, the sequence number of its newest event, and
  ``log``, the key of its event log. The head's satchel version is the session's revision;
  every committed event bumps it (and satchel never reuses a version of a key, so a writer
  that read a deleted session's head can never write over a new one's). A deleted
  session's head is a *tombstone* (``{"deleted": true, ...}``, with its log and place)
  for :data:`TOMBSTONE_TTL` seconds, so that a ``delete_session`` that failed half way
  finishes when it is repeated.
* ``{prefix}-events`` (log store): one log per incarnation of a session; each entry is
  ``{"prev": <seq of the event before>, "event": <the event as JSON>}``. An event is part
  of the history once the head's ``tip`` reaches it, so an entry whose head write lost a
  race is never read (the readers follow ``prev`` back from ``tip``).
* ``{prefix}-ranks`` (KV): the order of the listings, a :class:`satchel.ranking.Ranking`
  (see :mod:`satchel_adk.listing`).
* ``{prefix}-app-state`` and ``{prefix}-user-state`` (KV): the ``app:`` and ``user:``
  scopes, one record per app and per (app, user), changed key by key.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from google.adk.events.event import Event
from google.adk.platform import time as platform_time
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session

from satchel import AlreadyExists, Conflict, CorruptRecord, InvalidArgument, NotFound, Satchel
from satchel.query import MAX_COUNT
from satchel.ranking import Ranking
from satchel.shared import HandleOwner
from satchel.stores.kv import Entry, KVStore
from satchel.stores.logs import LogStore
from satchel.toolkit import iter_pages
from satchel.validation import check_key, check_name, check_ttl
from satchel_adk import listing, records
from satchel_adk.errors import SessionAlreadyExists, SessionNotFound, StaleSession

__all__ = ["DEFAULT_PREFIX", "SatchelSessionService", "SessionPage"]

#: The prefix of the store names the service uses by default.
DEFAULT_PREFIX: Final = "adk"
#: How many times an append re-reads the head after losing a race before it gives up.
MAX_ATTEMPTS: Final = 64
#: How many events another writer may have committed since the caller's copy was read for
#: the service to still decide whether they conflict (beyond it: a conflict).
MAX_FOREIGN: Final = 1000
#: Seconds an event log outlives its session's head (a log is renewed before its head).
LOG_TTL_MARGIN: Final = 300.0
#: The largest page of events read at once.
MAX_PAGE_READ: Final = 1000
#: The page size list_sessions reads with.
LIST_BATCH: Final = 500
#: Seconds a deleted session's head stays as a tombstone.
TOMBSTONE_TTL: Final = 300.0
_UNSET: Any = object()


def _live(entry: Entry | None) -> Entry | None:
    """A head, or ``None`` for none or a deleted session's tombstone."""
    return None if entry is None or entry.value.get("deleted") else entry


async def _both(first: Awaitable[Any], second: Awaitable[Any]) -> None:
    """Run both at once, and raise the first one's error (if any) once both are done."""
    outcome = await asyncio.gather(first, second, return_exceptions=True)
    for failure in outcome:
        if isinstance(failure, BaseException):
            raise failure


async def _nothing() -> None:
    return None


@dataclass
class SessionPage:
    """One page of :meth:`SatchelSessionService.list_sessions_page`: sessions without
    events, and the cursor of the next page (``None`` after the last)."""

    sessions: list[Session] = field(default_factory=list)
    next_cursor: str | None = None


class SatchelSessionService(HandleOwner, BaseSessionService):
    """Google ADK's session service on satchel: sessions, their events and the ``app:``
    and ``user:`` state scopes, on whichever backend satchel is configured with (memory,
    Redis, MongoDB). Pass it to ``Runner(..., session_service=...)``.

    * ``SatchelSessionService()``: the process's handle, opened from the environment
      (``SATCHEL_BACKEND`` and the rest, as :func:`satchel.open` reads them) the first time
      any service needs it, and shared by every service built this way;
    * ``SatchelSessionService(store=handle)``: a handle the program opened itself (and
      closes itself);
    * ``SatchelSessionService.open(backend=..., ...)``: a handle of its own, closed by
      :meth:`close` or at the end of ``async with``.

    What it adds to ADK's own services:

    * ``append_event`` decides conflicts exactly, from satchel versions: it raises
      :class:`~satchel_adk.StaleSession` (ADK's ``StaleSessionError``) only when another
      writer committed, since the caller's copy was read, an event that wrote one of the
      same state keys, or a conversational event while this one is conversational too (so a
      history is never interleaved). Events that only change other state keys are merged,
      and the caller's copy is brought up to date with them.
    * ``get_session`` reads only the events asked for (``num_recent_events``,
      ``after_timestamp``), newest first from the end of the session's log.
    * :meth:`list_sessions_page` pages on the server (``list_sessions`` reads through it).
    * ``app:`` and ``user:`` keys are merged key by key: writers of different keys never
      undo each other.

    :param store: the satchel handle (default: the process's handle).
    :param ttl: seconds (or a ``timedelta``) a session lives after its last event;
        ``None``: forever; default: the handle's ``default_ttl``. The ``app:`` and
        ``user:`` scopes never expire.
    :param prefix: the prefix of the stores' names (``{prefix}-sessions`` and the rest).
    :raises InvalidArgument: an argument has the wrong type or value; the message names it.
    """

    def __init__(
        self,
        *,
        store: Satchel | None = None,
        ttl: float | timedelta | None = _UNSET,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._init_handle(store)
        if ttl is not _UNSET:
            check_ttl(ttl)
        self._prefix = check_name(prefix, "prefix")
        self._ttl = ttl
        self._stores: tuple[KVStore, LogStore[Any], KVStore, KVStore] | None = None
        self._listing: listing.SessionOrder | None = None

    @classmethod
    def open(
        cls,
        *,
        ttl: float | timedelta | None = _UNSET,
        prefix: str = DEFAULT_PREFIX,
        **open_arguments: Any,
    ) -> SatchelSessionService:
        """A service on a handle of its own, ``satchel.open(**open_arguments)``
        (``backend="redis", backend_settings={"url": ...}``), which :meth:`close` closes."""
        import satchel

        if ttl is not _UNSET:
            check_ttl(ttl)
        check_name(prefix, "prefix")
        store = satchel.open(**open_arguments)
        service = cls(store=store, ttl=ttl, prefix=prefix)
        service._adopt(store)
        return service

    # -- the stores ---------------------------------------------------------------------

    def _open_stores(self) -> tuple[KVStore, LogStore[Any], KVStore, KVStore]:
        if self._stores is None:
            store = self.store
            p = self._prefix
            if self._ttl is _UNSET:
                sessions = store.kv(f"{p}-sessions")
            else:
                sessions = store.kv(f"{p}-sessions", ttl=self._ttl)
            seconds = sessions.default_ttl
            events = store.logs(
                f"{p}-events", ttl=None if seconds is None else seconds + LOG_TTL_MARGIN
            )
            app = store.kv(f"{p}-app-state", ttl=None)
            user = store.kv(f"{p}-user-state", ttl=None)
            # an entry is placed before its head is written: it outlives the head a little
            ranks = store.kv(
                f"{p}-ranks", ttl=None if seconds is None else seconds + LOG_TTL_MARGIN
            )
            self._listing = listing.SessionOrder(ranks, sessions, app, user, LOG_TTL_MARGIN)
            self._stores = (sessions, events, app, user)
        return self._stores

    def _order(self) -> listing.SessionOrder:
        self._open_stores()
        assert self._listing is not None
        return self._listing

    @property
    def ranking(self) -> Ranking[Session]:
        """The order of the listings (entries in the ``{prefix}-ranks`` namespace)."""
        return self._order().ranking

    @property
    def sessions_store(self) -> KVStore:
        """The KV namespace of the session heads."""
        return self._open_stores()[0]

    @property
    def events_store(self) -> LogStore[Any]:
        """The log store of the sessions' events (one log per session)."""
        return self._open_stores()[1]

    @property
    def app_state_store(self) -> KVStore:
        """The KV namespace of the ``app:`` scope (one record per app)."""
        return self._open_stores()[2]

    @property
    def user_state_store(self) -> KVStore:
        """The KV namespace of the ``user:`` scope (one record per app and user)."""
        return self._open_stores()[3]

    @property
    def ranks_store(self) -> KVStore:
        """The KV namespace of the listings' order (see :mod:`satchel_adk.listing`)."""
        return self.ranking.kv

    # -- BaseSessionService -------------------------------------------------------------

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        """Create a session; ``state`` keys starting ``app:`` and ``user:`` go to those
        scopes, ``temp:`` keys are dropped, the rest is the session's own state.

        :raises SessionAlreadyExists: ``session_id`` names an existing session (nothing
            is written).
        """
        app_name = records.name(app_name, "app_name")
        user_id = records.name(user_id, "user_id")
        if state is not None and not isinstance(state, Mapping):
            raise InvalidArgument(f"state: must be a dict or None, not {type(state).__name__}")
        scopes = records.scopes(records.json_state(state or {}, "state"))
        if session_id is not None:
            session_id = records.session_id(session_id) or None
        session_id = session_id or platform_uuid.new_uuid()
        check_key(session_id, "session_id")
        now = platform_time.get_time()
        incarnation = uuid.uuid4().hex
        key = records.session_key(app_name, user_id, session_id)
        head: dict[str, Any] = {
            "app_name": app_name,
            "user_id": user_id,
            "id": session_id,
            "state": scopes["session"],
            "last_update_time": now,
            "rank_time": now,
            "create_time": now,
            "tip": 0,
            "events": 0,
            "incarnation": incarnation,
            "log": f"{key}/{incarnation}",
            "rank": listing.new_nonce(),
        }
        order = self._order()
        placed = await order.place(head)
        try:
            version = await self._create_head(key, head)
        except (SessionAlreadyExists, Conflict):
            await order.withdraw(placed, key)
            raise
        try:
            app_state, user_state = await self._apply_scopes(app_name, user_id, scopes)
        except Exception:
            # not created without its app: and user: keys: undone, so that a retry works
            with contextlib.suppress(Exception):
                await self.sessions_store.delete(key, expected_version=version)
                await order.withdraw(placed, key)
            raise
        session = Session(
            id=session_id,
            app_name=app_name,
            user_id=user_id,
            state=records.merged(head, app_state, user_state),
            last_update_time=now,
        )
        session._storage_update_marker = records.marker(version, 0, incarnation)
        return session

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        """The session with its state (``app:`` and ``user:`` keys merged in) and the
        events ``config`` asks for, oldest first; ``None`` when it does not exist. Only
        those events are read: ``num_recent_events=10`` reads ten entries of the log."""
        app_name = records.name(app_name, "app_name")
        user_id = records.name(user_id, "user_id")
        session_id = records.session_id(session_id)
        if config is not None and not isinstance(config, GetSessionConfig):
            raise InvalidArgument(
                f"config: must be a GetSessionConfig or None, not {type(config).__name__}"
            )
        if not session_id:
            return None
        limit = config.num_recent_events if config is not None else None
        after = config.after_timestamp if config is not None else None
        key = records.session_key(app_name, user_id, session_id)
        sessions, _, apps, users = self._open_stores()
        found, app_state, user_state = await asyncio.gather(
            sessions.get_entry(key),
            apps.get(app_name),
            users.get(records.user_key(app_name, user_id)),
        )
        head = _live(found)
        if head is None:
            return None
        value = head.value
        log = records.log_key(key, value)
        try:
            entries = await self._read_events(log, value["tip"], limit, after)
            events = [records.stored_event(e, log) for e in entries]
        except CorruptRecord:
            current = _live(await sessions.get_entry(key))
            if current is None or current.value.get("incarnation") != value["incarnation"]:
                return None  # deleted while it was read
            raise
        session = Session(
            id=value["id"],
            app_name=value["app_name"],
            user_id=value["user_id"],
            state=records.merged(
                value,
                (app_state or {}).get("state", {}),
                (user_state or {}).get("state", {}),
            ),
            events=events,
            last_update_time=value["last_update_time"],
        )
        session._storage_update_marker = records.marker(
            head.version, value["tip"], value["incarnation"]
        )
        return session

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        """Every session of the app (of ``user_id`` only, when given), without events,
        by the latest time each has had (its creation, then its events' greatest timestamp),
        earliest first, read from the server page by page (see :meth:`list_sessions_page` to
        read one page at a time)."""
        app_name = records.name(app_name, "app_name")
        if user_id is not None:
            user_id = records.name(user_id, "user_id")
        found: list[Session] = []
        async for page in iter_pages(
            lambda cursor: self._page(app_name, user_id, LIST_BATCH, cursor)
        ):
            found += page.sessions
        return ListSessionsResponse(sessions=found)

    async def list_sessions_page(
        self,
        *,
        app_name: str,
        user_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> SessionPage:
        """One page of :meth:`list_sessions`: at most ``limit`` sessions (without events),
        in that order, and the cursor of the next page. The page is chosen,
        ordered and cut on the server; only its sessions are read."""
        app_name = records.name(app_name, "app_name")
        if user_id is not None:
            user_id = records.name(user_id, "user_id")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_COUNT:
            raise InvalidArgument(f"limit: must be a whole number from 1 to {MAX_COUNT}")
        if cursor is not None and not isinstance(cursor, str):
            raise InvalidArgument(f"cursor: must be a string or None, not {cursor!r}")
        return await self._page(app_name, user_id, limit, cursor)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Delete the session and its events (nothing happens when it does not exist).
        The ``app:`` and ``user:`` scopes stay.

        The head becomes a tombstone first (from then on the session does not exist), then
        its log and its listing entries are deleted; a call that fails half way can be
        repeated, and deletes what the first one left."""
        app_name = records.name(app_name, "app_name")
        user_id = records.name(user_id, "user_id")
        session_id = records.session_id(session_id)
        if not session_id:
            return
        key = records.session_key(app_name, user_id, session_id)
        sessions, events, _, _ = self._open_stores()
        for _attempt in range(MAX_ATTEMPTS):
            head = await sessions.get_entry(key)
            if head is None:
                return
            value = head.value
            if not value.get("deleted"):
                tombstone = {
                    "deleted": True,
                    **{k: value[k] for k in ("app_name", "user_id", "id", "last_update_time")},
                    # the places its entries have, for a retry to remove them
                    **{k: value[k] for k in ("rank", "rank_time") if k in value},
                    "log": records.log_key(key, value),
                }
                try:
                    await sessions.set(
                        key, tombstone, expected_version=head.version, ttl=TOMBSTONE_TTL
                    )
                except (Conflict, NotFound):
                    continue  # an event was committed meanwhile: delete what is there now
            await asyncio.gather(
                events.delete(records.log_key(key, value)),
                self._order().remove(value),
            )
            return
        raise Conflict(
            f"session: {session_id!r}: {MAX_ATTEMPTS} events were committed while it was being "
            "deleted; try again"
        )

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The ``user:`` scope of ``user_id`` in the app, keys without the prefix."""
        app_name = records.name(app_name, "app_name")
        user_id = records.name(user_id, "user_id")
        record = await self.user_state_store.get(records.user_key(app_name, user_id))
        return dict((record or {}).get("state", {}))

    async def append_event(self, session: Session, event: Event) -> Event:
        """Add ``event`` to the session's history and apply its state delta (``app:`` and
        ``user:`` keys to their scopes, ``temp:`` keys to the ``session`` object only), as
        ADK's services do; a partial event is returned untouched.

        The event is committed by one conditional write of the session's head, so it is
        either in the history with its session-scope state or not at all.

        :raises StaleSession: another writer committed a conflicting event since
            ``session`` was read (see the class); nothing was committed.
        :raises SessionNotFound: the session does not exist; nothing was committed.

        ``session`` is changed only once everything is written (the event, its state,
        its ``app:`` and ``user:`` keys, the listing's order): after a failure (the
        backend became unreachable), the same call repeated with the same objects finds
        the event committed, writes its ``app:`` and ``user:`` keys, and changes
        ``session`` once.
        """
        if not isinstance(session, Session):
            raise InvalidArgument(
                f"session: must be a google.adk Session, not {type(session).__name__}"
            )
        if not isinstance(event, Event):
            raise InvalidArgument(f"event: must be a google.adk Event, not {type(event).__name__}")
        if event.partial:
            return event
        payload, delta = records.payload(event)
        scopes = records.scopes(delta)
        key = records.session_key(session.app_name, session.user_id, session.id)
        sessions, events, _, _ = self._open_stores()
        order = self._order()
        appended: str | None = None  # the log an attempt appended to
        for _attempt in range(MAX_ATTEMPTS):
            head = _live(await sessions.get_entry(key))
            if head is None:
                await self._drop_orphan(appended, key, None)
                raise SessionNotFound(
                    f"session: {session.id!r} of user {session.user_id!r} in app "
                    f"{session.app_name!r} does not exist (deleted, expired or never created)"
                )
            if any(e.id == event.id and e == event for e in session.events):
                return event  # delivered again: applied once, as ADK's in-memory service does
            value = head.value
            mark = records.parse_marker(session._storage_update_marker)
            foreign: list[dict[str, Any]] = []
            if mark is None or mark.version != head.version:
                since = await self._since(key, value, mark, session)
                if since is None:
                    await self._drop_orphan(appended, key, value)
                    raise StaleSession(
                        f"session: {session.id!r} was changed by another writer beyond what "
                        "can be merged since it was read; reload it with get_session"
                    )
                foreign = since
                for entry in foreign:  # a damaged one refused before anything is written
                    records.stored_event(entry, records.log_key(key, value))
                if any(f["event"] == payload for f in foreign):
                    # committed already, by an earlier call that failed after it (or whose
                    # reply was lost): its app: and user: keys are written again, in case
                    # that call failed before, and only then is the caller's copy changed
                    if scopes["app"] or scopes["user"]:
                        await self._apply_scopes(session.app_name, session.user_id, scopes)
                    self._catch_up(session, foreign, head.version, value)
                    self._apply_temp_state(session, event)
                    return self._trim_temp_delta_state(event)
                reason = records.conflicts(foreign, payload)
                if reason is not None:
                    await self._drop_orphan(appended, key, value)
                    raise StaleSession(
                        f"session: {session.id!r} was changed by another writer since it "
                        f"was read ({reason}); reload it with get_session and try again",
                        expected=mark.version if mark else None,
                        actual=head.version,
                    )
            new = dict(value)
            new["state"] = {**value["state"], **scopes["session"]}
            new["events"] = value.get("events", 0) + 1
            new["last_update_time"] = event.timestamp
            # never back: an event created earlier and appended later leaves the place
            new["rank_time"] = max(listing.rank_time(value), event.timestamp)
            moved = new["rank_time"] != listing.rank_time(value)
            if moved:
                new["rank"] = listing.new_nonce()  # entries of its own (see listing)
            log = appended = records.log_key(key, value)
            # the entry and the listing's new place, together, before the head write
            placing = order.place(new)
            appending = events.append(log, {"prev": value["tip"], "event": payload})
            seqs, placed = await asyncio.gather(appending, placing, return_exceptions=True)
            if isinstance(seqs, BaseException):
                if not isinstance(placed, BaseException):
                    await order.withdraw(placed, key)
                raise seqs
            if isinstance(placed, BaseException):
                raise placed
            new["tip"] = seqs[0]
            try:
                version = await sessions.set(key, new, expected_version=head.version)
            except (Conflict, NotFound):
                # another writer committed first (decide again against its event), or the
                # session was deleted (the next read says so)
                await order.withdraw(placed, key)
                continue
            # the app: and user: keys, and the listing's old place; the caller's copy is
            # changed only once all of it is written, so that a retry after a failure here
            # finds the event committed and writes the rest (once)
            await _both(
                order.remove(value) if moved else _nothing(),
                self._apply_scopes(session.app_name, session.user_id, scopes)
                if scopes["app"] or scopes["user"]
                else _nothing(),
            )
            self._catch_up(session, foreign, version, new)
            self._apply_temp_state(session, event)
            event = self._trim_temp_delta_state(event)
            self._commit_event_to_session(session, event)
            session.last_update_time = event.timestamp
            return event
        raise StaleSession(
            f"session: {session.id!r}: {MAX_ATTEMPTS} other writers committed while this "
            "event was being added; reload the session and try again"
        )

    async def rebuild_listing(self) -> int:
        """Place every stored session in the listings' order; return how many there are.

        Sessions get their places when they are created and when events are added; the
        sessions stored by a version of satchel-adk without the order have none. The first
        listing through a store runs this once (the ranks namespace then records that it
        ran); run it again after the last process of such a version stopped, if they ran
        alongside. It reads every head, and can run while the sessions are used."""
        return await self._order().rebuild()

    # -- lifecycle ----------------------------------------------------------------------

    # close(), async with: satchel.shared.HandleOwner

    def __repr__(self) -> str:
        return f"<SatchelSessionService prefix={self._prefix!r}>"

    # -- internals ----------------------------------------------------------------------

    async def _page(
        self, app_name: str, user_id: str | None, limit: int, cursor: str | None
    ) -> SessionPage:
        sessions, cursor = await self._order().page(app_name, user_id, limit, cursor)
        return SessionPage(sessions, cursor)

    async def _create_head(self, key: str, head: dict[str, Any]) -> int:
        """Write a new session's head: where none is, or over a deleted session's tombstone
        (its version goes on from the tombstone's); return its version."""
        sessions = self.sessions_store
        for _attempt in range(MAX_ATTEMPTS):
            try:
                return await sessions.set(key, head, if_absent=True)
            except AlreadyExists:
                pass
            current = await sessions.get_entry(key)
            if current is None:
                continue  # the tombstone expired meanwhile
            if not current.value.get("deleted"):
                raise SessionAlreadyExists(
                    f"session_id: a session {head['id']!r} of user {head['user_id']!r} in app "
                    f"{head['app_name']!r} exists already"
                )
            try:
                return await sessions.set(key, head, expected_version=current.version)
            except (Conflict, NotFound):
                continue
        raise Conflict(f"session_id: {head['id']!r} is being created by others; try again")

    async def _drop_orphan(
        self, appended: str | None, key: str, value: Mapping[str, Any] | None
    ) -> None:
        """Delete the log an attempt appended to when it is no longer the session's (deleted,
        or created again with a log of its own): no one else writes or reads it."""
        if appended is not None and (value is None or records.log_key(key, value) != appended):
            await self.events_store.delete(appended)

    async def _chain(
        self, key: str, tip: int, page_size: int
    ) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """The committed entries of the session's log, newest first: from ``tip`` back
        along ``prev``, skipping entries whose head write lost (never committed). The first
        page read holds ``page_size`` entries (one more, to tell whether there are more),
        each next one four times as many, up to :data:`MAX_PAGE_READ`."""
        events = self.events_store
        expected = tip
        while expected > 0:
            page = await events.read(key, before=expected + 1, limit=page_size, reverse=True)
            page_size = min(page_size * 4, MAX_PAGE_READ)  # a long walk reads bigger pages
            if not page.items:
                raise CorruptRecord(f"event log {key!r}: entry {expected} is missing")
            for item in page.items:
                if item.seq > expected:
                    continue
                if item.seq < expected:
                    raise CorruptRecord(f"event log {key!r}: entry {expected} is missing")
                entry = records.check_entry(item.seq, item.value, key)
                yield item.seq, entry
                expected = entry["prev"]
                if expected <= 0:
                    return

    async def _read_events(
        self, key: str, tip: int, limit: int | None, after: float | None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` committed entries (all when ``None``) whose events are not
        older than ``after`` (stopping at the first older one, as ADK's in-memory service
        does), oldest first."""
        if limit == 0 or tip == 0:
            return []
        page_size = 32 if limit is None else min(limit, MAX_PAGE_READ)
        found: list[dict[str, Any]] = []
        async for _seq, entry in self._chain(key, tip, page_size):
            if after is not None and entry["event"].get("timestamp", 0.0) < after:
                break
            found.append(entry)
            if limit is not None and len(found) >= limit:
                break
        found.reverse()
        return found

    async def _since(
        self, key: str, value: Mapping[str, Any], mark: records.Mark | None, session: Session
    ) -> list[dict[str, Any]] | None:
        """The entries committed after what ``session`` was read at, oldest first; ``None``
        when that cannot be told (another incarnation of the session, a copy whose last
        event is no longer in the history, or more than :data:`MAX_FOREIGN` entries)."""
        if mark is not None:
            if mark.incarnation != value.get("incarnation"):
                return None
            stop: int | None = mark.tip
            last_id = None
        else:  # a copy that carries no marker: placed by its last event
            stop = None if session.events else 0
            last_id = session.events[-1].id if session.events else None
        found: list[dict[str, Any]] = []
        if value["tip"] == stop:
            return found
        try:
            async for seq, entry in self._chain(records.log_key(key, value), value["tip"], 64):
                if stop is None and entry["event"].get("id") == last_id:
                    found.reverse()
                    return found
                if stop is not None and seq <= stop:
                    if seq < stop:
                        return None
                    found.reverse()
                    return found
                found.append(entry)
                if len(found) > MAX_FOREIGN:
                    return None
        except CorruptRecord:
            return None
        if stop == 0:
            found.reverse()
            return found
        return None

    def _catch_up(
        self,
        session: Session,
        foreign: Sequence[Mapping[str, Any]],
        version: int,
        value: Mapping[str, Any],
    ) -> None:
        """Bring ``session`` to the head ``value`` (at ``version``): the other writers'
        events it had not seen, and their state."""
        log = str(value.get("log", ""))
        for other in [records.stored_event(entry, log) for entry in foreign]:
            session.events.append(other)
            for key, item in (other.actions.state_delta or {}).items():
                session.state[key] = item
        session._storage_update_marker = records.marker(version, value["tip"], value["incarnation"])
        session.last_update_time = value["last_update_time"]

    async def _apply_scopes(
        self, app_name: str, user_id: str, scopes: Mapping[str, Mapping[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Merge the ``app`` and ``user`` deltas into their records (key by key, retried
        on a lost race); return both scopes as they are after it."""
        _, _, apps, users = self._open_stores()
        app_state, user_state = await asyncio.gather(
            records.merge(apps, app_name, {"app_name": app_name}, scopes["app"]),
            records.merge(
                users,
                records.user_key(app_name, user_id),
                {"app_name": app_name, "user_id": user_id},
                scopes["user"],
            ),
        )
        return app_state, user_state
