"""The memory backend: the reference implementation of the satchel backend contract.

Every other backend must agree with it, operation by operation (the conformance kit's
stateful test checks exactly that). It keeps records in dictionaries behind one
``threading.Lock`` that is never held across an ``await``, so it is safe under concurrent
asyncio tasks and under threads. Values are kept as JSON text, so what goes in and what
comes out are always fresh copies, and a value's size is known exactly.

Versions never repeat for a key: each collection keeps a *version floor*, the highest version
of any record removed from it (deleted, expired, dropped), and a record written where no live
record exists starts at the floor + 1. The floor outlives :meth:`MemoryBackend.drop`.

Logs are native (:mod:`satchel_memory.logs`): lists of entries kept apart from the records,
behind the same lock, with sequence numbers that never repeat in the same way.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from satchel.backend import (
    Backend,
    Capabilities,
    JSONValue,
    LogEntry,
    Page,
    Record,
    check_log_call,
    check_restore,
    truncate_ms,
    utcnow,
)
from satchel.errors import InvalidArgument
from satchel.query import (
    Condition,
    Query,
    compile_glob,
    decode_cursor,
    evaluate,
    predicate,
)
from satchel.toolkit import (
    already_exists,
    check_put_condition,
    conflict,
    decode_json,
    encode_value,
    not_found,
)
from satchel_memory.keys import SortedKeys
from satchel_memory.logs import LogTable, Row

__all__ = ["MemoryBackend"]

_decode = decode_json


@dataclass(slots=True)
class _Stored:
    """A record as kept: metadata and the JSON text (a parsed copy, for queries only, is
    made by the first query that looks at it)."""

    key: str
    text: str
    version: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    index: dict[str, tuple[str, ...]]
    #: the record over the private parsed value, built on the first query and kept (a
    #: write replaces the whole _Stored); only evaluate() sees it, never a caller
    view: Record | None = None

    def private_view(self, collection: str) -> Record:
        if self.view is None:
            self.view = Record(
                collection,
                self.key,
                _decode(self.text),
                self.version,
                self.created_at,
                self.updated_at,
                self.expires_at,
                self.index,
            )
        return self.view

    def record(self, collection: str, value: Any) -> Record:
        return Record(
            collection,
            self.key,
            value,
            self.version,
            self.created_at,
            self.updated_at,
            self.expires_at,
            dict(self.index),
        )


class MemoryBackend(Backend):
    """Records in this process's memory; gone when the process ends.

    :param max_value_bytes: the largest value accepted, in bytes of UTF-8 JSON.
    """

    name = "memory"

    def __init__(self, *, max_value_bytes: int | None = 16 * 1024 * 1024) -> None:
        if max_value_bytes is not None and max_value_bytes <= 0:
            raise InvalidArgument(f"max_value_bytes: must be positive, not {max_value_bytes!r}")
        self.capabilities = Capabilities(max_value_bytes=max_value_bytes)
        self._max = max_value_bytes
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, _Stored]] = {}
        # collection -> its keys in order (the keys of _data[collection], sorted), so that a
        # query with conditions on the key visits only the keys in their range
        self._keys: dict[str, SortedKeys] = {}
        # (collection, index name) -> index value -> keys
        self._index: dict[tuple[str, str], dict[str, set[str]]] = {}
        # collection -> the highest version of a record removed from it
        self._floor: dict[str, int] = {}
        self._logs = LogTable()

    # -- helpers (call with the lock held) -------------------------------------------------

    def _live(self, collection: str, key: str, now: datetime) -> _Stored | None:
        table = self._data.get(collection)
        if table is None:
            return None
        stored = table.get(key)
        if stored is None:
            return None
        if stored.expires_at is not None and stored.expires_at <= now:
            self._remove(collection, stored)
            return None
        return stored

    def _raise_floor(self, collection: str, version: int) -> None:
        if version > self._floor.get(collection, 0):
            self._floor[collection] = version

    def _remove(
        self,
        collection: str,
        stored: _Stored,
        *,
        keep_order: bool = True,
        raise_floor: bool = True,
    ) -> None:
        """Forget ``stored``; ``keep_order=False`` leaves the sorted key list to the caller
        (which rebuilds it once after removing many); ``raise_floor=False`` leaves the floor
        (a restore that puts a record of a version at least as high in its place)."""
        if raise_floor:
            self._raise_floor(collection, stored.version)
        table = self._data[collection]
        del table[stored.key]
        if not table:
            del self._data[collection]
            self._keys.pop(collection, None)
        elif keep_order:
            self._keys[collection].remove(stored.key)
        self._unindex(collection, stored)

    def _unindex(self, collection: str, stored: _Stored) -> None:
        for name, values in stored.index.items():
            entries = self._index.get((collection, name))
            if entries is None:
                continue
            for value in values:
                keys = entries.get(value)
                if keys is not None:
                    keys.discard(stored.key)
                    if not keys:
                        del entries[value]
            if not entries:
                del self._index[(collection, name)]

    def _encode(self, value: Any, what: str) -> str:
        """``value`` as JSON text, checked against the size limit (outside the lock)."""
        data, _ = encode_value(
            value, what, max_bytes=self._max, setting="SATCHEL_MEMORY_MAX_VALUE_BYTES"
        )
        return data.decode()

    def _prepare(self, record: Record) -> str:
        """Encode a value outside the lock, with the size check."""
        return self._encode(record.value, f"value of {record.key!r} in {record.collection!r}")

    def _write(
        self,
        record: Record,
        text: str,
        now: datetime,
        if_absent: bool,
        if_version: int | None,
    ) -> _Stored:
        current = self._live(record.collection, record.key, now)
        if if_absent and current is not None:
            raise already_exists(record.collection, record.key, current.version)
        if if_version is not None:
            if current is None:
                raise not_found(record.collection, record.key)
            if current.version != if_version:
                raise conflict(record.collection, record.key, if_version, current.version)
        index = {name: tuple(dict.fromkeys(values)) for name, values in record.index.items()}
        stored = _Stored(
            record.key,
            text,
            self._floor.get(record.collection, 0) + 1 if current is None else current.version + 1,
            now if current is None else current.created_at,
            now,
            None if record.expires_at is None else truncate_ms(record.expires_at),
            index,
        )
        if current is not None:
            self._unindex(record.collection, current)
        else:  # _live() removed an expired record of this key: the key is new to the list
            keys = self._keys.get(record.collection)
            if keys is None:
                keys = self._keys[record.collection] = SortedKeys()
            keys.add(record.key)
        self._data.setdefault(record.collection, {})[record.key] = stored
        for name, values in index.items():
            entries = self._index.setdefault((record.collection, name), {})
            for value in values:
                entries.setdefault(value, set()).add(record.key)
        return stored

    def _snapshot(self, collection: str, now: datetime) -> list[Record]:
        """Live records of a collection (values are the private parsed copies)."""
        table = self._data.get(collection)
        if not table:
            return []
        return [
            s.private_view(collection)
            for s in table.values()
            if s.expires_at is None or s.expires_at > now
        ]

    def _in_range(self, collection: str, bounds: _KeyRange) -> Iterator[_Stored]:
        """The records of ``collection`` whose keys lie in ``bounds``, in key order (expired
        ones too): a bisection of the sorted keys, then a walk that stops at the end of the
        range."""
        keys = self._keys.get(collection)
        if not keys:
            return
        table = self._data[collection]
        walk = keys.between(
            bounds.low, bounds.high, low_open=bounds.low_open, high_open=bounds.high_open
        )
        for key in walk:
            # the walk starts at or after every prefix, so the first key without one is past
            # all the keys that have it
            if bounds.prefixes and not all(key.startswith(p) for p in bounds.prefixes):
                return
            yield table[key]

    def _candidates(self, collection: str, query: Query, now: datetime) -> list[Record]:
        """Live records of a collection that may match ``query``, a superset of its page
        (values are the private parsed copies): those in the range of its conditions on
        the key and, in key order (no ``order_by``), after its cursor and only up to the
        last record the page (and the check for a next one) needs."""
        bounds = _key_range(query.where)
        in_key_order = not query.order_by
        if in_key_order and query.cursor is not None:
            bounds = bounds.after(decode_cursor(query)[-1])
        if bounds.empty:
            return []
        wanted = None
        if in_key_order and query.limit is not None:
            wanted = query.offset + query.limit + 1
        if not bounds.narrows and wanted is None:
            return self._snapshot(collection, now)
        tests = [predicate(c) for c in query.where] if wanted is not None else []
        found: list[Record] = []
        matched = 0
        for stored in self._in_range(collection, bounds):
            if stored.expires_at is not None and stored.expires_at <= now:
                continue
            record = stored.private_view(collection)
            found.append(record)
            if wanted is not None and all(t(record) for t in tests):
                matched += 1
                if matched >= wanted:
                    break
        return found

    # -- reads ----------------------------------------------------------------------------

    async def get(self, collection: str, key: str) -> Record | None:
        now = utcnow()
        with self._lock:
            stored = self._live(collection, key, now)
            if stored is None:
                return None
            return stored.record(collection, _decode(stored.text))

    async def exists(self, collection: str, key: str) -> bool:
        now = utcnow()
        with self._lock:
            return self._live(collection, key, now) is not None

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[Record | None]:
        now = utcnow()
        with self._lock:
            found = [self._live(collection, key, now) for key in keys]
            return [None if s is None else s.record(collection, _decode(s.text)) for s in found]

    async def find(self, collection: str, index_name: str, value: str) -> list[Record]:
        now = utcnow()
        with self._lock:
            keys = sorted(self._index.get((collection, index_name), {}).get(value, ()))
            found = [self._live(collection, key, now) for key in keys]
            return [s.record(collection, _decode(s.text)) for s in found if s is not None]

    async def query(self, collection: str, query: Query) -> Page[Record]:
        now = utcnow()
        with self._lock:
            records = self._candidates(collection, query, now)
        items, cursor = evaluate(records, query)
        # evaluate() returns the private parsed values (or projections sharing their
        # leaves); hand out copies.
        return Page([_copy_record(r) for r in items], cursor)

    async def count(self, collection: str, where: Sequence[Condition] = ()) -> int:
        now = utcnow()
        bounds = _key_range(where)
        with self._lock:
            if bounds.empty:
                records = []
            elif bounds.narrows:
                records = [
                    stored.private_view(collection)
                    for stored in self._in_range(collection, bounds)
                    if stored.expires_at is None or stored.expires_at > now
                ]
            else:
                records = self._snapshot(collection, now)
        if not where:
            return len(records)
        tests = [predicate(c) for c in where]
        return sum(1 for r in records if all(t(r) for t in tests))

    async def iter_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        regex = compile_glob(pattern) if pattern is not None else None
        now = utcnow()
        with self._lock:
            table = self._data.get(collection, {})
            keys = [
                k
                for k, s in table.items()
                if (s.expires_at is None or s.expires_at > now)
                and (regex is None or regex.fullmatch(k))
            ]
        for key in keys:
            yield key

    async def collections(self) -> list[str]:
        now = utcnow()
        with self._lock:
            names = self._logs.collections(now)
            names.update(
                name
                for name, table in self._data.items()
                if any(s.expires_at is None or s.expires_at > now for s in table.values())
            )
        return sorted(names)

    # -- writes ---------------------------------------------------------------------------

    async def put(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> Record:
        check_put_condition(if_absent, if_version)
        text = self._prepare(record)
        now = utcnow()
        with self._lock:
            stored = self._write(record, text, now, if_absent, if_version)
        return stored.record(record.collection, _decode(text))

    async def put_version(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> int:
        check_put_condition(if_absent, if_version)
        text = self._prepare(record)
        now = utcnow()
        with self._lock:
            return self._write(record, text, now, if_absent, if_version).version

    async def put_many(self, records: Sequence[Record]) -> list[Record]:
        prepared = [self._prepare(r) for r in records]  # every check before any write
        now = utcnow()
        with self._lock:
            written = [
                self._write(r, text, now, False, None)
                for r, text in zip(records, prepared, strict=True)
            ]
        return [
            s.record(r.collection, _decode(s.text)) for r, s in zip(records, written, strict=True)
        ]

    async def put_many_versions(self, records: Sequence[Record]) -> list[int]:
        prepared = [self._prepare(r) for r in records]  # every check before any write
        now = utcnow()
        with self._lock:
            return [
                self._write(r, text, now, False, None).version
                for r, text in zip(records, prepared, strict=True)
            ]

    async def restore_many(self, records: Sequence[Record]) -> None:
        checked = check_restore(records)
        prepared = [self._prepare(r) for r in checked]  # every check before any write
        now = utcnow()
        with self._lock:
            for record, text in zip(checked, prepared, strict=True):
                self._restore(record, text, now)

    def _restore(self, record: Record, text: str, now: datetime) -> None:
        """Put ``record`` in place exactly as given (see :meth:`Backend.restore_many`)."""
        collection = record.collection
        old = self._data.get(collection, {}).get(record.key)
        if old is not None:
            # versions up to the restored one stay covered by it; a higher one is removed
            self._remove(collection, old, raise_floor=old.version > record.version)
        if record.expires_at is not None and record.expires_at <= now:
            self._raise_floor(collection, record.version)  # stored, and expired at once
            return
        index = {name: tuple(values) for name, values in record.index.items()}
        assert record.created_at is not None  # check_restore made sure of both
        assert record.updated_at is not None
        stored = _Stored(
            record.key,
            text,
            record.version,
            record.created_at,
            record.updated_at,
            record.expires_at,
            index,
        )
        keys = self._keys.get(collection)
        if keys is None:
            keys = self._keys[collection] = SortedKeys()
        keys.add(record.key)
        self._data.setdefault(collection, {})[record.key] = stored
        for name, values in index.items():
            entries = self._index.setdefault((collection, name), {})
            for value in values:
                entries.setdefault(value, set()).add(record.key)

    async def delete(self, collection: str, key: str, *, if_version: int | None = None) -> bool:
        now = utcnow()
        with self._lock:
            current = self._live(collection, key, now)
            if current is None:
                if if_version is not None:
                    raise not_found(collection, key)
                return False
            if if_version is not None and current.version != if_version:
                raise conflict(collection, key, if_version, current.version)
            self._remove(collection, current)
            return True

    async def drop(self, collection: str) -> int:
        now = utcnow()
        with self._lock:
            table = self._data.pop(collection, {})
            self._keys.pop(collection, None)
            if table:
                self._raise_floor(collection, max(s.version for s in table.values()))
            for name in [k for k in self._index if k[0] == collection]:
                del self._index[name]
            logs = self._logs.drop(collection, now)
            return logs + sum(
                1 for s in table.values() if s.expires_at is None or s.expires_at > now
            )

    async def purge_expired(self) -> int:
        now = utcnow()
        with self._lock:
            removed = self._logs.purge_expired(now)
            for collection in list(self._data):
                before = removed
                for stored in list(self._data[collection].values()):
                    if stored.expires_at is not None and stored.expires_at <= now:
                        self._remove(collection, stored, keep_order=False)
                        removed += 1
                if removed > before and collection in self._data:
                    self._keys[collection] = SortedKeys(self._data[collection])
        return removed

    # -- logs -----------------------------------------------------------------------------

    async def log_append(
        self,
        collection: str,
        key: str,
        values: Sequence[JSONValue],
        *,
        expires_at: datetime | None = None,
    ) -> list[LogEntry]:
        check_log_call(values=values)
        texts = [
            self._encode(v, f"values[{i}] of log {key!r} in {collection!r}")
            for i, v in enumerate(values)
        ]
        expires = None if expires_at is None else truncate_ms(expires_at)
        now = utcnow()
        with self._lock:
            numbers = self._logs.append(collection, key, texts, now, expires)
        return [LogEntry(n, _decode(t), now) for n, t in zip(numbers, texts, strict=True)]

    async def log_range(
        self,
        collection: str,
        key: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[LogEntry]:
        check_log_call(after=after, before=before, limit=limit)
        now = utcnow()
        with self._lock:
            rows = self._logs.range(collection, key, now, after, before, limit, reverse)
        return _entries(rows)

    async def log_length(self, collection: str, key: str) -> int:
        now = utcnow()
        with self._lock:
            return self._logs.length(collection, key, now)

    async def log_pop(self, collection: str, key: str, count: int) -> list[LogEntry]:
        check_log_call(count=count)
        now = utcnow()
        with self._lock:
            rows = self._logs.pop(collection, key, now, count)
        return _entries(rows)

    async def log_trim(
        self,
        collection: str,
        key: str,
        *,
        keep_last: int | None = None,
        before: int | None = None,
    ) -> int:
        check_log_call(keep_last=keep_last, before=before, trim=True)
        now = utcnow()
        with self._lock:
            return self._logs.trim(collection, key, now, keep_last, before)

    async def log_delete(self, collection: str, key: str) -> bool:
        now = utcnow()
        with self._lock:
            return self._logs.delete(collection, key, now)

    async def log_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        regex = compile_glob(pattern) if pattern is not None else None
        now = utcnow()
        with self._lock:
            keys = self._logs.keys(collection, now)
        for key in keys:
            if regex is None or regex.fullmatch(key):
                yield key

    # -- life -----------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Live collections, records and logs; expired records and logs still held (until a
        read or :meth:`purge_expired` removes them) are counted apart, as is the memory they
        hold."""
        now = utcnow()
        with self._lock:
            live = expired = size = 0
            live_collections = self._logs.collections(now)
            for name, table in self._data.items():
                for stored in table.values():
                    size += len(stored.text)
                    if stored.expires_at is None or stored.expires_at > now:
                        live += 1
                        live_collections.add(name)
                    else:
                        expired += 1
            logs = self._logs.stats(now)
            return {
                "collections": len(live_collections),
                "records": live,
                "logs": logs["logs"],
                "log_entries": logs["log_entries"],
                "expired_not_purged": expired + logs["expired"],
                "json_chars_held": size + logs["json_chars"],
                "index_entries": sum(len(e) for e in self._index.values()),
            }

    def describe(self) -> str:
        return "memory (this process only)"


@dataclass(frozen=True, slots=True)
class _KeyRange:
    """The keys that conditions on ``key`` allow: between two bounds (``None``: unbounded),
    each open (excluded) or closed, and starting with every one of ``prefixes``. It holds
    every key the conditions allow; the conditions are still applied to each record."""

    low: str | None = None
    low_open: bool = False
    high: str | None = None
    high_open: bool = False
    prefixes: tuple[str, ...] = ()

    @property
    def narrows(self) -> bool:
        return self.low is not None or self.high is not None

    @property
    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (self.low == self.high and (self.low_open or self.high_open))

    def above(self, key: str, open_: bool) -> _KeyRange:
        """This range, also bounded below by ``key``."""
        if self.low is not None and (key < self.low or (key == self.low and not open_)):
            return self
        return _KeyRange(key, open_, self.high, self.high_open, self.prefixes)

    def below(self, key: str, open_: bool) -> _KeyRange:
        """This range, also bounded above by ``key``."""
        if self.high is not None and (key > self.high or (key == self.high and not open_)):
            return self
        return _KeyRange(self.low, self.low_open, key, open_, self.prefixes)

    def after(self, key: str) -> _KeyRange:
        """This range, past ``key`` (where a cursor in key order points)."""
        return self.above(key, True)


def _key_range(where: Sequence[Condition]) -> _KeyRange:
    """The range of keys that the conditions on ``key`` with a string value allow (other
    conditions, and those with other values, do not narrow it)."""
    bounds = _KeyRange()
    for condition in where:
        value = condition.value
        if condition.field != ("key",) or not isinstance(value, str):
            continue
        op = condition.op
        if op in ("eq", "gt", "gte"):
            bounds = bounds.above(value, op == "gt")
        if op in ("eq", "lt", "lte"):
            bounds = bounds.below(value, op == "lt")
        if op == "startswith" and value:
            bounds = bounds.above(value, False)
            bounds = _KeyRange(
                bounds.low,
                bounds.low_open,
                bounds.high,
                bounds.high_open,
                (*bounds.prefixes, value),
            )
    return bounds


def _entries(rows: list[Row]) -> list[LogEntry]:
    """Log entries with fresh copies of their values."""
    return [LogEntry(seq, _decode(text), at) for seq, text, at in rows]


def _copy_record(record: Record) -> Record:
    return Record(
        record.collection,
        record.key,
        encode_value(record.value, "value").copy,
        record.version,
        record.created_at,
        record.updated_at,
        record.expires_at,
        dict(record.index),
    )
