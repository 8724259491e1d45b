""":class:`SatchelTaskStore`: the A2A SDK's ``TaskStore`` over a satchel KV namespace."""

from __future__ import annotations

import asyncio
import builtins
import logging
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.owner_resolver import OwnerResolver, resolve_user_scope
from a2a.server.tasks.task_store import TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE

from satchel import AlreadyExists, Conflict, InvalidArgument, InvalidQuery, NotFound, Satchel
from satchel.ranking import Ranking
from satchel.shared import HandleOwner
from satchel.stores import DEFAULT, Entry, KVStore, Versioned
from satchel.stores.base import Default
from satchel.validation import check_name, check_ttl
from satchel_a2a.errors import InvalidListRequest, TaskModified
from satchel_a2a.listing import (
    ENTRY_TTL_MARGIN,
    READY_KEY,
    decode_token,
    encode_token,
    entry_conditions,
    entry_value,
    fresh_rank,
    group_of,
    rank_stored_tasks,
    record_conditions,
    record_rank,
    stored_entry,
    stored_state,
)
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

#: The suffix of the namespace that holds the tasks' ranking (``a2a-tasks-ranks``).
RANKS_SUFFIX = "-ranks"
#: How often a save (or delete) without an expected version reads and writes again when
#: other writes of the same task keep landing in between.
_SAVE_ATTEMPTS = 50
#: How many tasks a store remembers the last seen version and entry of.
_KNOWN_TASKS = 10_000

_log = logging.getLogger(__name__)

#: One lock per event loop, handle and ranking namespace: the stores of a process that list
#: a namespace for the first time at once rank the stored tasks once, not once each (a lock
#: per loop: a handle may serve several loops, and a lock belongs to one).
_RANKING_LOCKS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakKeyDictionary[Satchel, dict[str, asyncio.Lock]]
] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Known:
    """A version of a task this store saved or read, and the entry that version names."""

    version: int
    rank: str
    entry: dict[str, Any]


class SatchelTaskStore(HandleOwner, TaskStore):
    """The A2A SDK's ``TaskStore``, keeping each task in satchel, on whichever backend
    satchel is configured with. Give it to the SDK's ``DefaultRequestHandler``.

    Tasks are scoped by owner, as the SDK's own stores scope them: ``owner_resolver`` finds
    the owner in each call's ``ServerCallContext`` (by default the user's name), and a call
    sees only its owner's tasks. :meth:`list` pages through a ranking of the owner's tasks
    kept beside them (:mod:`satchel_a2a.listing`), so a page costs about its size, however
    many tasks there are.

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
        self._init_handle(store)
        if not callable(owner_resolver):
            raise InvalidArgument(
                f"owner_resolver: must be callable, not {type(owner_resolver).__name__}"
            )
        if ttl is not DEFAULT:
            check_ttl(ttl)
        self._namespace = check_name(namespace, "namespace")
        self._ttl = ttl
        self.owner_resolver = owner_resolver
        self._kv: KVStore | None = None
        self._ranking: Ranking[Task] | None = None
        self._ranked = False
        self._known: OrderedDict[tuple[str, str], _Known] = OrderedDict()

    @property
    def kv(self) -> KVStore:
        """The KV namespace the tasks are in (key ``owner/task_id``; value
        ``{"owner", "status_time", "rank", "task"}``, the task in the A2A JSON form)."""
        if self._kv is None:
            self._kv = self._namespace_kv(self._namespace)
        return self._kv

    @property
    def ranking(self) -> Ranking[Task]:
        """The owners' tasks in listing order, in the namespace ``<namespace>-ranks`` (see
        :mod:`satchel_a2a.listing`); its entries live as long as the tasks and
        :data:`~satchel_a2a.listing.ENTRY_TTL_MARGIN` seconds more (an entry is placed
        before its task is written: it must not expire first)."""
        if self._ranking is None:
            seconds = self.kv.default_ttl
            ttl = None if seconds is None else seconds + ENTRY_TTL_MARGIN
            self._ranking = Ranking(self.store.kv(self._namespace + RANKS_SUFFIX, ttl=ttl))
        return self._ranking

    def _namespace_kv(self, namespace: str) -> KVStore:
        store = self.store
        if self._ttl is DEFAULT:
            return store.kv(namespace)
        return store.kv(namespace, ttl=self._ttl)

    async def _after_commit(self, step: str, task_id: str, done: Awaitable[None]) -> None:
        """Run ``done``, a step after a write that landed (removing an entry the task no
        longer names, which readers skip anyway): its failure must not report the write as
        failed, so it is logged (the error's type only) and the entry left to expire."""
        try:
            await done
        except Exception as exc:
            _log.warning(
                "task %r: %s failed after the task was written (%s); the entry left is "
                "skipped by listings and expires with the task",
                task_id,
                step,
                type(exc).__name__,
            )

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
        descending; one page of ``page_size`` (default 50) from ``page_token``.

        A page is read from the owner's ranking in key order (see
        :mod:`satchel_a2a.listing`): its cost follows the page, not the number of tasks.
        ``total_size`` is counted once per listing: the page's own length when the first
        page is the whole listing, else the matching tasks counted when the first page was
        read, carried in the page token and repeated on every later page.

        :raises InvalidListRequest: ``page_token`` is not the ``next_page_token`` of a
            listing with the same filters (or is one of the earlier listing form), or
            ``page_size`` is negative.
        """
        owner = owner_of(context, self.owner_resolver)
        if not isinstance(params, ListTasksRequest):
            raise InvalidArgument(
                f"params: must be the SDK's ListTasksRequest, not {type(params).__name__}"
            )
        if params.page_size < 0:
            raise InvalidListRequest(f"page_size: must not be negative, not {params.page_size}")
        page_size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        where = entry_conditions(params)
        total, cursor = decode_token(params.page_token) if params.page_token else (None, None)
        await self._ensure_ranked()
        group = group_of(owner)

        async def resolve(entries: builtins.list[Entry]) -> builtins.list[Task | None]:
            return await self._resolve(group, entries)

        try:
            tasks, next_cursor = await self.ranking.page(
                group, limit=page_size, cursor=cursor, resolve=resolve, where=where
            )
        except InvalidQuery as exc:
            if cursor is None:
                raise
            raise InvalidListRequest(f"page_token: {exc}") from None
        if total is None:
            if next_cursor is None:
                total = len(tasks)  # the first page is the whole listing
            else:
                total = await self.kv.count(record_conditions(owner_prefix(owner), params))
        return ListTasksResponse(
            tasks=tasks,
            next_page_token="" if next_cursor is None else encode_token(total, next_cursor),
            page_size=page_size,
            total_size=total,
        )

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        """Delete the call's owner's task ``task_id`` (nothing happens if there is none),
        then its ranking entry."""
        owner = owner_of(context, self.owner_resolver)
        key = scoped_key(owner, check_id(task_id, "task_id"))
        for _ in range(_SAVE_ATTEMPTS):
            previous = await self.kv.get_entry(key)
            if previous is None:
                return
            try:
                await self.kv.delete(key, expected_version=previous.version)
            except Conflict:
                continue  # saved again in between: read again
            self._known.pop((owner, task_id), None)
            rank = record_rank(previous.value, task_id)
            if rank is not None:
                removal = self.ranking.remove(group_of(owner), rank)
                await self._after_commit("removing its listing entry", task_id, removal)
            return
        raise TaskModified(
            f"task {task_id!r}: other writes kept changing it; it was not deleted",
            task_id=task_id,
        )

    async def rank_stored_tasks(self) -> int:
        """Rank the tasks stored before listings were ranked (records without ``"rank"``),
        so that :meth:`list` finds them; return how many were ranked. :meth:`list` runs it
        once per namespace by itself (the first listing of a store that finds no mark that
        it ran); call it again after the last replica of an earlier version has stopped
        writing. Safe to run several times, and beside saves."""
        placed = await rank_stored_tasks(self.kv, self.ranking.kv)
        await self.ranking.kv.set(READY_KEY, {"ranked": True}, ttl=None)
        self._ranked = True
        return placed

    # -- versions ---------------------------------------------------------------------------

    async def get_versioned(
        self, task_id: str, context: ServerCallContext
    ) -> Versioned[Task] | None:
        """The call's owner's task ``task_id`` with its version and timestamps, or ``None``.
        Pass ``.version`` as ``expected_version`` to save only over this version."""
        owner = owner_of(context, self.owner_resolver)
        entry = await self.kv.get_entry(scoped_key(owner, check_id(task_id, "task_id")))
        if entry is None:
            self._known.pop((owner, task_id), None)
            return None
        rank = record_rank(entry.value, task_id)
        if rank is not None and isinstance(entry.value, dict):
            self._remember(owner, task_id, entry.version, rank, stored_entry(task_id, entry.value))
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
        return await self._write(task, owner, expected_version=expected_version)

    async def _write(
        self,
        task: Task,
        owner: str,
        *,
        expected_version: int | None = None,
        check: Callable[[int | None, int], None] | None = None,
    ) -> int:
        """Save ``task`` for ``owner`` with its ranking entry; return its new version.

        When this store last saw the task (saved or read it) at a version whose entry holds
        what the new one would (same status timestamp, state and context: a save that adds
        history or artifacts), the task is written over that version naming that entry,
        which is renewed beside the write: one stage. Otherwise (or when that write finds
        another version) the new entry is placed while the stored task is read, the task is
        written over the version read (or as a new task), then the previous entry is
        removed: three stages, two for a new task (``expected_version=0``). A write that
        fails withdraws the entry it placed; without ``expected_version`` a write that
        another one overtook reads and writes again.

        :param check: called with the stored task's version (``None``: no task) and state
            before the write; what it raises stops the save (nothing written).
        """
        key = scoped_key(owner, check_id(task.id, "task.id"))
        status_time = None
        if task.HasField("status") and task.status.HasField("timestamp"):
            status_time = instant(task.status.timestamp, "task.status.timestamp")
        value: dict[str, Any] = {"owner": owner}
        if status_time is not None:
            value["status_time"] = status_time
        value["task"] = encode_message(task, "task")
        entry = entry_value(task, status_time)
        group = group_of(owner)
        known = self._known.get((owner, task.id))
        if known is not None and known.entry == entry:
            version = await self._write_over_known(
                task.id, owner, key, value, known, expected_version, check
            )
            if version is not None:
                return version
        for _ in range(_SAVE_ATTEMPTS):
            rank = fresh_rank(task.id, status_time)
            value["rank"] = rank
            previous, placed = await self._read_and_place(
                None if expected_version == 0 and check is None else key, group, rank, entry
            )
            try:
                self._check_version(task.id, expected_version, previous)
                if check is not None:
                    if previous is None:
                        check(None, 0)
                    else:
                        check(previous.version, stored_state(previous.value))
                if previous is None:
                    version = await self.kv.set(key, value, if_absent=True)
                else:
                    version = await self.kv.set(key, value, expected_version=previous.version)
            except TaskModified:
                await self.ranking.withdraw(group, rank, placed)
                raise
            except (AlreadyExists, Conflict, NotFound) as exc:
                await self.ranking.withdraw(group, rank, placed)
                if expected_version is None:
                    continue  # another write landed in between: read again
                raise _modified(task.id, expected_version, exc) from None
            except BaseException:
                await self.ranking.withdraw(group, rank, placed)
                raise
            self._remember(owner, task.id, version, rank, entry)
            before = None if previous is None else record_rank(previous.value, task.id)
            if before is not None and before != rank:
                removal = self.ranking.remove(group, before)
                await self._after_commit("removing its previous listing entry", task.id, removal)
            return version
        raise TaskModified(
            f"task {task.id!r}: other writes kept changing it; it was not saved",
            task_id=task.id,
        )

    async def _write_over_known(
        self,
        task_id: str,
        owner: str,
        key: str,
        value: dict[str, Any],
        known: _Known,
        expected_version: int | None,
        check: Callable[[int | None, int], None] | None,
    ) -> int | None:
        """Write over the version this store last saw, naming its entry (renewed beside the
        write); ``None`` when the full way must decide (the version moved on, or ``check``
        refuses what this store saw, which may be old)."""
        if expected_version is not None and expected_version != known.version:
            return None
        state = known.entry.get("state")
        if check is not None:
            try:
                check(known.version, state if isinstance(state, int) else 0)
            except TaskModified:
                return None
        value["rank"] = known.rank
        renewed, written = await asyncio.gather(
            self.ranking.place(group_of(owner), known.rank, known.entry),
            self.kv.set(key, value, expected_version=known.version),
            return_exceptions=True,
        )
        if isinstance(written, BaseException):
            self._known.pop((owner, task_id), None)
            if not isinstance(written, (Conflict, NotFound)):
                raise written  # not written, and the entry is the stored version's still
            if not isinstance(renewed, BaseException):
                # the entry stays if the stored task names it (another writer got there
                # first over the same version, naming it too); else it is withdrawn
                current = await self.kv.get_entry(key)
                if current is None or record_rank(current.value, task_id) != known.rank:
                    await self.ranking.withdraw(group_of(owner), known.rank, renewed)
            if expected_version is not None:
                raise _modified(task_id, expected_version, written) from None
            return None
        self._remember(owner, task_id, written, known.rank, known.entry)
        if isinstance(renewed, BaseException):
            await self._renew_after_write(task_id, owner, known, renewed)
        return written

    async def _renew_after_write(
        self, task_id: str, owner: str, known: _Known, failed: BaseException
    ) -> None:
        """The task was written (naming ``known``'s entry) but the entry's renewal beside
        the write failed with ``failed``. The entry is still there (the task names it, and
        it outlived the previous version of the task), so the task is listed; only its
        lifetime was not renewed. The renewal is tried once more, after the write. If that
        fails too: without a TTL nothing changes (the entry never expires), so the save
        succeeds and a warning is logged; with one the entry would expire before the task,
        which would then leave listings while it lives, so the error is raised, although
        the task was saved (saving it again renews the entry)."""
        if not isinstance(failed, Exception):
            raise failed  # a cancellation, not a failed step
        try:
            await self.ranking.place(group_of(owner), known.rank, known.entry)
        except Exception as exc:
            if self.ranking.kv.default_ttl is not None:
                raise
            _log.warning(
                "task %r: renewing its listing entry failed after the task was written (%s); "
                "the entry does not expire, so the task stays listed",
                task_id,
                type(exc).__name__,
            )

    def _remember(
        self, owner: str, task_id: str, version: int, rank: str, entry: dict[str, Any]
    ) -> None:
        """Note the version and entry of a task this store saved or read (most recent
        :data:`_KNOWN_TASKS` tasks)."""
        self._known[(owner, task_id)] = _Known(version, rank, entry)
        self._known.move_to_end((owner, task_id))
        if len(self._known) > _KNOWN_TASKS:
            self._known.popitem(last=False)

    async def _read_and_place(
        self, key: str | None, group: str, rank: str, entry: dict[str, Any]
    ) -> tuple[Entry | None, int]:
        """The stored task under ``key`` (none read when ``key`` is ``None``) and the
        version of the entry placed, both at once; no entry is left when either fails."""
        if key is None:
            return None, await self.ranking.place(group, rank, entry)
        read, placed = await asyncio.gather(
            self.kv.get_entry(key), self.ranking.place(group, rank, entry), return_exceptions=True
        )
        if isinstance(placed, BaseException):
            raise placed
        if isinstance(read, BaseException):
            await self.ranking.withdraw(group, rank, placed)
            raise read
        return read, placed

    @staticmethod
    def _check_version(task_id: str, expected: int | None, previous: Entry | None) -> None:
        if expected is None or expected == 0:
            return  # 0: the write itself refuses an existing task
        if previous is None:
            raise _modified(task_id, expected, NotFound("gone"))
        if previous.version != expected:
            raise _modified(task_id, expected, Conflict("moved", actual=previous.version))

    # -- helpers ----------------------------------------------------------------------------

    async def _resolve(
        self, group: str, entries: builtins.list[Entry]
    ) -> builtins.list[Task | None]:
        """The tasks of a page's entries, ``None`` for an entry its record does not name
        (a stale one, or one whose task is gone)."""
        ids = [e.value.get("id") if isinstance(e.value, dict) else None for e in entries]
        keys = [f"{group}/{i}" for i in ids if isinstance(i, str)]
        found = await self.kv.get_many(keys) if keys else {}
        tasks: builtins.list[Task | None] = []
        for entry, task_id in zip(entries, ids, strict=True):
            key = f"{group}/{task_id}"
            value = found.get(key) if isinstance(task_id, str) else None
            current = record_rank(value, task_id) if isinstance(task_id, str) else None
            rank = entry.key[len(group) + 1 :]
            tasks.append(self._task(key, value) if current == rank else None)
        return tasks

    async def _ensure_ranked(self) -> None:
        """Rank the tasks stored before listings were ranked, once per namespace."""
        if self._ranked:
            return
        by_handle = _RANKING_LOCKS.setdefault(
            asyncio.get_running_loop(), weakref.WeakKeyDictionary()
        )
        locks = by_handle.setdefault(self.store, {})
        lock = locks.setdefault(self.ranking.kv.namespace, asyncio.Lock())
        async with lock:  # another listing of this process may have ranked them meanwhile
            if await self.ranking.kv.get(READY_KEY) is not None:
                self._ranked = True
                return
            await self.rank_stored_tasks()

    @staticmethod
    def _task(key: str, value: Any) -> Task:
        body = value.get("task") if isinstance(value, dict) else None
        return decode_message(body, Task(), f"task {key!r}")

    def __repr__(self) -> str:
        where = repr(self._kv) if self._kv is not None else f"namespace {self._namespace!r}"
        return f"<SatchelTaskStore {where}>"


def _modified(task_id: str, expected: int, exc: Exception) -> TaskModified:
    """The :class:`TaskModified` of a save over ``expected`` refused with ``exc``."""
    if isinstance(exc, AlreadyExists):
        return TaskModified(
            f"task {task_id!r}: it exists, and expected_version=0 saves only a new task; "
            "load it and try again",
            task_id=task_id,
            expected=0,
        )
    if isinstance(exc, NotFound):
        return TaskModified(
            f"task {task_id!r}: it no longer exists (expected version {expected})",
            task_id=task_id,
            expected=expected,
            actual=0,
        )
    return TaskModified(
        f"task {task_id!r}: another write changed it since version {expected}; "
        "load it and try again",
        task_id=task_id,
        expected=expected,
        actual=exc.actual if isinstance(exc, Conflict) else None,
    )
