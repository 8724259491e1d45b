"""The default log operations of :class:`~satchel.backend.Backend`: each log is one record.

The record under the log's key holds ``{"k": writes, "n": last, "e": [[rel, at, value],
...]}``: ``k`` counts the writes since the record was created, ``n`` is the last relative
sequence number handed out, and each entry keeps its relative number ``rel`` (1, 2, ...),
its append time (epoch milliseconds) and its value. Every change is a compare-and-set
(``put(if_version=)``, or ``put(if_absent=True)`` for a new log) retried on a conflict, so
each call is one atomic step on any backend that keeps the record rules.

A sequence number is ``(first - 1) * SEQ_SPAN + rel``, where ``first = version - k`` is the
version of the record's first write. Within a record ``rel`` only grows; and since a write
adds at most :data:`~satchel.backend.MAX_LOG_BATCH` (< ``SEQ_SPAN``) entries, every number
of a record whose last version is ``v`` is at most ``v * SEQ_SPAN``. A log that is deleted,
expires or is emptied loses its record; the next record of that key starts at a version
above ``v`` (versions never repeat), so its numbers start above every earlier one. In a
collection that never lost a record, ``first`` is 1 and the numbers are 1, 2, 3, ...
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from satchel.backend import MAX_LOG_BATCH, JSONValue, LogEntry, Record, check_log_call, utcnow
from satchel.errors import AlreadyExists, Conflict, CorruptRecord, NotFound

if TYPE_CHECKING:
    from satchel.backend import Backend

__all__ = ["SEQ_SPAN", "append", "length", "pop", "read_range", "trim"]

#: The sequence numbers one record version may use (above MAX_LOG_BATCH).
SEQ_SPAN: Final = 2**20
assert MAX_LOG_BATCH < SEQ_SPAN


class _Log:
    """A log record, decoded."""

    __slots__ = ("entries", "first", "last", "record", "writes")

    def __init__(self, record: Record) -> None:
        value = record.value
        try:
            writes, last, entries = value["k"], value["n"], value["e"]
            if not (
                isinstance(writes, int)
                and isinstance(last, int)
                and isinstance(entries, list)
                and all(_is_item(item) for item in entries)
            ):
                raise TypeError
        except (TypeError, KeyError):
            raise CorruptRecord(
                f"log {record.key!r} in {record.collection!r} is not a log record"
            ) from None
        self.record = record
        self.writes: int = writes
        self.last: int = last
        self.entries: list[list[Any]] = entries
        self.first = record.version - writes

    def seq(self, rel: int) -> int:
        return (self.first - 1) * SEQ_SPAN + rel

    def entry(self, item: list[Any]) -> LogEntry:
        rel, at, value = item
        return LogEntry(self.seq(rel), value, _time(at))


def _is_item(item: Any) -> bool:
    """Whether ``item`` is ``[rel, at, value]`` with whole numbers where they belong."""
    return isinstance(item, list) and len(item) == 3 and type(item[0]) is type(item[1]) is int


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def _load(backend: Backend, collection: str, key: str) -> _Log | None:
    record = await backend.get(collection, key)
    return None if record is None else _Log(record)


async def _backoff(attempt: int) -> None:
    """A short random pause after a lost race, so that racing writers spread out."""
    await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))


async def _rewrite(backend: Backend, log: _Log, entries: list[list[Any]]) -> bool:
    """Replace ``log``'s entries (deleting the record when none remain), if it is still at
    the version read; ``False`` if another writer came first."""
    record = log.record
    try:
        if not entries:
            await backend.delete(record.collection, record.key, if_version=record.version)
        else:
            value = {"k": log.writes + 1, "n": log.last, "e": entries}
            await backend.put(
                Record(record.collection, record.key, value, expires_at=record.expires_at),
                if_version=record.version,
            )
    except (Conflict, NotFound):
        return False
    return True


async def append(
    backend: Backend,
    collection: str,
    key: str,
    values: Sequence[JSONValue],
    expires_at: datetime | None,
) -> list[LogEntry]:
    # an empty batch would create a log with no entry, and return every entry it holds
    check_log_call(values=values)
    attempt = 0
    while True:
        log = await _load(backend, collection, key)
        now = _ms(utcnow())
        if log is None:
            entries = [[rel, now, v] for rel, v in enumerate(values, 1)]
            value = {"k": 0, "n": len(values), "e": entries}
            try:
                stored = await backend.put(
                    Record(collection, key, value, expires_at=expires_at), if_absent=True
                )
            except AlreadyExists:
                attempt += 1
                await _backoff(attempt)
                continue
            written = _Log(stored)
        else:
            added = [[rel, now, v] for rel, v in enumerate(values, log.last + 1)]
            value = {"k": log.writes + 1, "n": log.last + len(values), "e": log.entries + added}
            try:
                stored = await backend.put(
                    Record(collection, key, value, expires_at=expires_at),
                    if_version=log.record.version,
                )
            except (Conflict, NotFound):
                attempt += 1
                await _backoff(attempt)
                continue
            written = _Log(stored)
        return [written.entry(item) for item in written.entries[-len(values) :]]


async def read_range(
    backend: Backend,
    collection: str,
    key: str,
    after: int | None,
    before: int | None,
    limit: int | None,
    reverse: bool,
) -> list[LogEntry]:
    check_log_call(after=after, before=before, limit=limit)
    log = await _load(backend, collection, key)
    if log is None:
        return []
    entries = [log.entry(item) for item in log.entries]
    chosen = [
        e
        for e in entries
        if (after is None or e.seq > after) and (before is None or e.seq < before)
    ]
    if reverse:
        chosen.reverse()
    return chosen if limit is None else chosen[:limit]


async def length(backend: Backend, collection: str, key: str) -> int:
    log = await _load(backend, collection, key)
    return 0 if log is None else len(log.entries)


async def pop(backend: Backend, collection: str, key: str, count: int) -> list[LogEntry]:
    check_log_call(count=count)  # a pop of none would write the log again for nothing
    attempt = 0
    while True:
        log = await _load(backend, collection, key)
        if log is None:
            return []
        cut = max(0, len(log.entries) - count)
        if await _rewrite(backend, log, log.entries[:cut]):
            return [log.entry(item) for item in log.entries[cut:]]
        attempt += 1
        await _backoff(attempt)


async def trim(
    backend: Backend,
    collection: str,
    key: str,
    keep_last: int | None,
    before: int | None,
) -> int:
    # a negative keep_last would remove every entry
    check_log_call(keep_last=keep_last, before=before, trim=True)
    attempt = 0
    while True:
        log = await _load(backend, collection, key)
        if log is None:
            return 0
        kept = log.entries
        if keep_last is not None:
            kept = kept[max(0, len(kept) - keep_last) :] if keep_last else []
        if before is not None:
            kept = [item for item in kept if log.seq(item[0]) >= before]
        removed = len(log.entries) - len(kept)
        if removed == 0:
            return 0
        if await _rewrite(backend, log, kept):
            return removed
        attempt += 1
        await _backoff(attempt)
