"""The blocking twins of the stores: the same methods, parameters, results and errors.

Each method runs the async store's method of the same name on the handle's event loop
thread (:class:`~satchel.sync.loop.LoopThread`) and waits for it. A method's docstring is
its async twin's (copied by :func:`twin_of`), so the two never say different things; the
tests hold their parameters equal.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from satchel.backend import JSONValue, Page
from satchel.query import OrderInput, Query, WhereInput
from satchel.stores.base import (
    DEFAULT,
    TTL,
    IndexExtractor,
    StoreBase,
    Versioned,
    deprecated_method,
    renamed,
)
from satchel.stores.instances import Instance, InstanceStore
from satchel.stores.kv import Entry, KVStore
from satchel.stores.logs import LogItem, LogStore
from satchel.stores.sessions import SessionStore
from satchel.stores.tasks import FINISHED_STATUSES, TaskStore
from satchel.sync.loop import LoopThread, refuse_in_event_loop

__all__ = [
    "SyncInstanceStore",
    "SyncKVStore",
    "SyncLogStore",
    "SyncSessionStore",
    "SyncTaskStore",
    "twin_of",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
X = TypeVar("X")
S = TypeVar("S", bound=StoreBase)
C = TypeVar("C", bound=type)

#: How many items of an async iterator one round trip to the loop fetches.
STREAM_CHUNK = 256


def twin_of(source: type) -> Callable[[C], C]:
    """Give each method and property of the decorated class that has no docstring the
    docstring of the same-named member of ``source``."""

    def apply(cls: C) -> C:
        for name, member in list(vars(cls).items()):
            original = inspect.getattr_static(source, name, None)
            doc = getattr(original, "__doc__", None)
            if original is None or not doc:
                continue
            if isinstance(member, property) and member.__doc__ is None:
                setattr(cls, name, property(member.fget, member.fset, member.fdel, doc))
            elif inspect.isfunction(member) and member.__doc__ is None:
                member.__doc__ = doc
        return cls

    return apply


async def _pull(source: AsyncIterator[X], count: int) -> tuple[list[X], Exception | None, bool]:
    """Up to ``count`` items of ``source``; then the error it raised after them (if any),
    and whether it is finished."""
    items: list[X] = []
    try:
        for _ in range(count):
            items.append(await source.__anext__())
    except StopAsyncIteration:
        return items, None, True
    except Exception as exc:
        if not items:
            raise
        return items, exc, True
    return items, None, False


def stream(loop: LoopThread, what: str, source: AsyncIterator[X]) -> Iterator[X]:
    """The items of ``source`` (an async iterator run in ``loop``), fetched
    :data:`STREAM_CHUNK` at a time: never all of them at once."""
    try:
        while True:
            refuse_in_event_loop(what)
            items, error, finished = loop.run(_pull, source, STREAM_CHUNK)
            yield from items
            if error is not None:
                raise error
            if finished:
                return
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            loop.schedule(aclose)


class _SyncStore(Generic[S]):
    """What the blocking stores share: the async store they run, and its identity."""

    def __init__(self, store: S, loop: LoopThread) -> None:
        self._store = store
        self._loop = loop

    @property
    def name(self) -> str:
        """The store's name."""
        return self._store.name

    @property
    def collection(self) -> str:
        """The backend collection holding the store's records."""
        return self._store.collection

    @property
    def default_ttl(self) -> float | None:
        """Seconds each write lives unless it says otherwise (``None``: never expires)."""
        return self._store.default_ttl

    def __repr__(self) -> str:
        return f"<Sync{repr(self._store)[1:]}"


@twin_of(KVStore)
class SyncKVStore(_SyncStore[KVStore]):
    """One namespace of key-value records, with blocking methods: the twin of
    :class:`satchel.KVStore`. Get it with :meth:`satchel.sync.SyncSatchel.kv`."""

    @property
    def namespace(self) -> str:
        return self._store.namespace

    @property
    def indexes(self) -> dict[str, IndexExtractor]:
        """The declared indexes, ``{name: extractor}``."""
        return self._store.indexes

    def get(self, key: str, default: JSONValue = None) -> JSONValue:
        return self._loop.run(self._store.get, key, default)

    def get_entry(self, key: str) -> Entry | None:
        return self._loop.run(self._store.get_entry, key)

    def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: TTL = DEFAULT,
        if_absent: bool = False,
        expected_version: int | None = None,
        if_version: int | None = None,
    ) -> int:
        # the old name is warned about here, in the caller's thread
        expected_version = renamed(
            expected_version,
            if_version,
            old="if_version",
            new="expected_version",
            method="KVStore.set",
        )
        return self._loop.run(
            self._store.set,
            key,
            value,
            ttl=ttl,
            if_absent=if_absent,
            expected_version=expected_version,
        )

    def delete(
        self,
        key: str,
        *,
        expected_version: int | None = None,
        if_version: int | None = None,
    ) -> bool:
        expected_version = renamed(
            expected_version,
            if_version,
            old="if_version",
            new="expected_version",
            method="KVStore.delete",
        )
        return self._loop.run(self._store.delete, key, expected_version=expected_version)

    def exists(self, key: str) -> bool:
        return self._loop.run(self._store.exists, key)

    def keys(self, pattern: str = "*") -> list[str]:
        return self._loop.run(self._store.keys, pattern)

    def entries(self, *, batch_size: int = 500) -> Iterator[tuple[str, JSONValue]]:
        return stream(self._loop, "KVStore.entries", self._store.entries(batch_size=batch_size))

    def get_many(self, keys: Sequence[str]) -> dict[str, JSONValue]:
        return self._loop.run(self._store.get_many, keys)

    def get_entries(self, keys: Sequence[str]) -> dict[str, Entry]:
        return self._loop.run(self._store.get_entries, keys)

    def set_many(self, items: Mapping[str, Any], *, ttl: TTL = DEFAULT) -> list[int]:
        return self._loop.run(self._store.set_many, items, ttl=ttl)

    def find(self, index: str, value: str, *, limit: int | None = None) -> list[Entry]:
        return self._loop.run(self._store.find, index, value, limit=limit)

    def count(self, where: WhereInput | Query = None) -> int:
        return self._loop.run(self._store.count, where)

    def query(
        self,
        where: WhereInput | Query = None,
        *,
        order_by: OrderInput = None,
        select: Sequence[str | Sequence[str]] | None = None,
        limit: int | None = None,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[Entry]:
        return self._loop.run(
            self._store.query,
            where,
            order_by=order_by,
            select=select,
            limit=limit,
            offset=offset,
            cursor=cursor,
        )

    def clear(self) -> int:
        return self._loop.run(self._store.clear)


@twin_of(TaskStore)
class SyncTaskStore(_SyncStore[TaskStore[M]], Generic[M]):
    """Agent tasks of one pydantic model, with blocking methods: the twin of
    :class:`satchel.TaskStore`. Get it with :meth:`satchel.sync.SyncSatchel.tasks`."""

    @property
    def model(self) -> type[M]:
        """The pydantic model of the tasks."""
        return self._store.model

    @property
    def id_field(self) -> str:
        """The model's field holding the task id."""
        return self._store.id_field

    @property
    def status_field(self) -> str | None:
        """The model's field holding the status (``None``: the model has none)."""
        return self._store.status_field

    @property
    def indexes(self) -> dict[str, IndexExtractor]:
        """The declared indexes, ``{name: extractor}`` (``request_id`` always)."""
        return self._store.indexes

    def create(self, task: M, *, ttl: TTL = DEFAULT) -> int:
        return self._loop.run(self._store.create, task, ttl=ttl)

    def load(self, task_id: str) -> M | None:
        return self._loop.run(self._store.load, task_id)

    def load_versioned(self, task_id: str) -> Versioned[M] | None:
        return self._loop.run(self._store.load_versioned, task_id)

    def update(self, task: M, *, expected_version: int | None = None, ttl: TTL = DEFAULT) -> int:
        return self._loop.run(self._store.update, task, expected_version=expected_version, ttl=ttl)

    def save(self, task: M, *, ttl: TTL = DEFAULT) -> int:
        return self._loop.run(self._store.save, task, ttl=ttl)

    def delete(self, task_id: str, *, expected_version: int | None = None) -> None:
        return self._loop.run(self._store.delete, task_id, expected_version=expected_version)

    def load_by_request_id(self, request_id: str) -> M | None:
        return self._loop.run(self._store.load_by_request_id, request_id)

    def exists(self, task_id: str) -> bool:
        return self._loop.run(self._store.exists, task_id)

    def find(self, index: str, value: str, *, limit: int | None = None) -> list[M]:
        return self._loop.run(self._store.find, index, value, limit=limit)

    def find_versioned(
        self, index: str, value: str, *, limit: int | None = None
    ) -> list[Versioned[M]]:
        return self._loop.run(self._store.find_versioned, index, value, limit=limit)

    def stale(
        self,
        older_than: timedelta | datetime,
        *,
        statuses: Sequence[Any] | None = FINISHED_STATUSES,
    ) -> list[Versioned[M]]:
        return self._loop.run(self._store.stale, older_than, statuses=statuses)

    def list(
        self,
        *,
        status: Any = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[M]:
        return self._loop.run(self._store.list, status=status, limit=limit, cursor=cursor)

    def list_versioned(
        self,
        *,
        status: Any = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Versioned[M]]:
        return self._loop.run(self._store.list_versioned, status=status, limit=limit, cursor=cursor)

    def count(self, *, status: Any = None) -> int:
        return self._loop.run(self._store.count, status=status)

    def cleanup(
        self,
        older_than: timedelta | datetime,
        *,
        statuses: Sequence[Any] | None = FINISHED_STATUSES,
    ) -> int:
        return self._loop.run(self._store.cleanup, older_than, statuses=statuses)


@twin_of(SessionStore)
class SyncSessionStore(_SyncStore[SessionStore[M]], Generic[M]):
    """Session snapshots of one pydantic model, with blocking methods: the twin of
    :class:`satchel.SessionStore`. Get it with :meth:`satchel.sync.SyncSatchel.sessions`."""

    @property
    def model(self) -> type[M]:
        """The pydantic model of the snapshots."""
        return self._store.model

    def save(
        self,
        session_id: str,
        session: M,
        *,
        ttl: TTL = DEFAULT,
        expected_version: int | None = None,
    ) -> int:
        return self._loop.run(
            self._store.save, session_id, session, ttl=ttl, expected_version=expected_version
        )

    def load(self, session_id: str) -> M | None:
        return self._loop.run(self._store.load, session_id)

    def load_versioned(self, session_id: str) -> Versioned[M] | None:
        return self._loop.run(self._store.load_versioned, session_id)

    def delete(self, session_id: str, *, expected_version: int | None = None) -> bool:
        return self._loop.run(self._store.delete, session_id, expected_version=expected_version)

    def exists(self, session_id: str) -> bool:
        return self._loop.run(self._store.exists, session_id)

    def has(self, session_id: str) -> bool:
        deprecated_method("SessionStore.has", "SessionStore.exists")
        return self._loop.run(self._store.exists, session_id)

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[str]:
        return self._loop.run(self._store.list, limit=limit, cursor=cursor)


@twin_of(LogStore)
class SyncLogStore(_SyncStore[LogStore[T]], Generic[T]):
    """Append-only, ordered logs, one per key, with blocking methods: the twin of
    :class:`satchel.LogStore`. Get it with :meth:`satchel.sync.SyncSatchel.logs`."""

    @property
    def model(self) -> type[BaseModel] | None:
        """The pydantic model of the entries (``None``: entries are JSON values)."""
        return self._store.model

    def append(self, key: str, *items: T, ttl: TTL = DEFAULT) -> list[int]:
        return self._loop.run(self._store.append, key, *items, ttl=ttl)

    def pop(self, key: str, count: int = 1) -> list[LogItem[T]]:
        return self._loop.run(self._store.pop, key, count)

    def trim(self, key: str, *, keep_last: int | None = None, before: int | None = None) -> int:
        return self._loop.run(self._store.trim, key, keep_last=keep_last, before=before)

    def delete(self, key: str) -> bool:
        return self._loop.run(self._store.delete, key)

    def clear(self) -> int:
        return self._loop.run(self._store.clear)

    def read(
        self,
        key: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        reverse: bool = False,
        cursor: str | None = None,
    ) -> Page[LogItem[T]]:
        return self._loop.run(
            self._store.read,
            key,
            after=after,
            before=before,
            limit=limit,
            reverse=reverse,
            cursor=cursor,
        )

    def last(self, key: str, count: int) -> list[LogItem[T]]:
        return self._loop.run(self._store.last, key, count)

    def items(self, key: str, *, batch_size: int = 500) -> Iterator[LogItem[T]]:
        return stream(self._loop, "LogStore.items", self._store.items(key, batch_size=batch_size))

    def length(self, key: str) -> int:
        return self._loop.run(self._store.length, key)

    def keys(self, pattern: str = "*") -> list[str]:
        return self._loop.run(self._store.keys, pattern)


@twin_of(InstanceStore)
class SyncInstanceStore(_SyncStore[InstanceStore]):
    """The instances of one tenant, with blocking methods: the twin of
    :class:`satchel.InstanceStore`. Get it with :meth:`satchel.sync.SyncSatchel.instances`."""

    @property
    def tenant(self) -> str:
        """The tenant whose instances these are."""
        return self._store.tenant

    def create(self, name: str, description: str = "") -> Instance:
        return self._loop.run(self._store.create, name, description)

    def get(self, instance_id: str) -> Instance | None:
        return self._loop.run(self._store.get, instance_id)

    def exists(self, instance_id: str) -> bool:
        return self._loop.run(self._store.exists, instance_id)

    def find(self, name: str) -> list[Instance]:
        return self._loop.run(self._store.find, name)

    def update(
        self,
        instance_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        expected_version: int | None = None,
    ) -> Instance:
        return self._loop.run(
            self._store.update,
            instance_id,
            name=name,
            description=description,
            expected_version=expected_version,
        )

    def delete(self, instance_id: str, *, expected_version: int | None = None) -> int:
        return self._loop.run(self._store.delete, instance_id, expected_version=expected_version)

    def orphans(self) -> list[str]:
        return self._loop.run(self._store.orphans)

    def kv(
        self,
        instance_id: str,
        namespace: str,
        *,
        ttl: TTL = DEFAULT,
        indexes: Mapping[str, IndexExtractor] | None = None,
    ) -> SyncKVStore:
        store = self._loop.run(self._store.kv, instance_id, namespace, ttl=ttl, indexes=indexes)
        return SyncKVStore(store, self._loop)

    def namespaces(self, instance_id: str) -> list[str]:
        return self._loop.run(self._store.namespaces, instance_id)

    def counts(self, instance_id: str) -> dict[str, int]:
        return self._loop.run(self._store.counts, instance_id)

    def count(self, instance_id: str, namespace: str | None = None) -> int:
        return self._loop.run(self._store.count, instance_id, namespace)

    def list(self) -> list[Instance]:
        return self._loop.run(self._store.list)
