"""The memory backend's logs: each log a list of entries in ascending sequence order.

A :class:`LogTable` is not locked on its own: :class:`~satchel_memory.MemoryBackend` calls
it with its lock held, and encodes values to JSON text (and decodes them) outside the lock.
Entries are kept as JSON text, so what goes in and what comes out are fresh copies.

Sequence numbers never repeat within a log: a log remembers the last number it handed out
(also when its last entries are popped), and each collection keeps a *sequence floor*, the
highest number of any log removed from it (emptied, deleted, expired, dropped); a new log
starts at the floor + 1. The floor outlives :meth:`LogTable.drop`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["LogTable", "Row"]

#: One entry as kept: ``(seq, JSON text, appended_at)``.
Row = tuple[int, str, datetime]


@dataclass(slots=True)
class _Log:
    """One live log: its entries in parallel lists (``seqs`` ascending)."""

    last: int
    expires_at: datetime | None = None
    seqs: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)

    def is_live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def rows(self, indices: Sequence[int]) -> list[Row]:
        return [(self.seqs[i], self.texts[i], self.times[i]) for i in indices]

    def remove_first(self, count: int) -> None:
        del self.seqs[:count], self.texts[:count], self.times[:count]


class LogTable:
    """Every log of one memory backend, by collection and key."""

    def __init__(self) -> None:
        self._logs: dict[str, dict[str, _Log]] = {}
        # collection -> the highest sequence number of a log removed from it
        self._floor: dict[str, int] = {}

    # -- helpers ------------------------------------------------------------------------------

    def _live(self, collection: str, key: str, now: datetime) -> _Log | None:
        log = self._logs.get(collection, {}).get(key)
        if log is not None and not log.is_live(now):
            self._remove(collection, key)
            return None
        return log

    def _remove(self, collection: str, key: str) -> None:
        table = self._logs[collection]
        log = table.pop(key)
        if log.last > self._floor.get(collection, 0):
            self._floor[collection] = log.last
        if not table:
            del self._logs[collection]

    def _removed_if_empty(self, collection: str, key: str, log: _Log) -> None:
        if not log.seqs:
            self._remove(collection, key)

    # -- operations ---------------------------------------------------------------------------

    def append(
        self,
        collection: str,
        key: str,
        texts: Sequence[str],
        now: datetime,
        expires_at: datetime | None,
    ) -> list[int]:
        """Append the entries; set the log's expiry; return their sequence numbers."""
        log = self._live(collection, key, now)
        if log is None:
            log = _Log(self._floor.get(collection, 0))
            self._logs.setdefault(collection, {})[key] = log
        numbers = list(range(log.last + 1, log.last + 1 + len(texts)))
        log.seqs.extend(numbers)
        log.texts.extend(texts)
        log.times.extend([now] * len(texts))
        log.last = numbers[-1]
        log.expires_at = expires_at
        return numbers

    def range(
        self,
        collection: str,
        key: str,
        now: datetime,
        after: int | None,
        before: int | None,
        limit: int | None,
        reverse: bool,
    ) -> list[Row]:
        """The entries with ``after < seq < before``, found by bisection."""
        log = self._live(collection, key, now)
        if log is None:
            return []
        low = 0 if after is None else bisect.bisect_right(log.seqs, after)
        high = len(log.seqs) if before is None else bisect.bisect_left(log.seqs, before)
        indices = range(high - 1, low - 1, -1) if reverse else range(low, high)
        if limit is not None:
            indices = indices[: max(limit, 0)]
        return log.rows(indices)

    def length(self, collection: str, key: str, now: datetime) -> int:
        log = self._live(collection, key, now)
        return 0 if log is None else len(log.seqs)

    def pop(self, collection: str, key: str, now: datetime, count: int) -> list[Row]:
        """Remove and return the last ``count`` entries, oldest first."""
        log = self._live(collection, key, now)
        if log is None:
            return []
        cut = max(0, len(log.seqs) - count)
        rows = log.rows(range(cut, len(log.seqs)))
        del log.seqs[cut:], log.texts[cut:], log.times[cut:]
        self._removed_if_empty(collection, key, log)
        return rows

    def trim(
        self,
        collection: str,
        key: str,
        now: datetime,
        keep_last: int | None,
        before: int | None,
    ) -> int:
        """Remove all but the last ``keep_last`` entries and those below ``before``."""
        log = self._live(collection, key, now)
        if log is None:
            return 0
        cut = 0
        if keep_last is not None:
            cut = max(cut, len(log.seqs) - keep_last)
        if before is not None:
            cut = max(cut, bisect.bisect_left(log.seqs, before))
        cut = min(cut, len(log.seqs))
        log.remove_first(cut)
        self._removed_if_empty(collection, key, log)
        return cut

    def delete(self, collection: str, key: str, now: datetime) -> bool:
        if self._live(collection, key, now) is None:
            return False
        self._remove(collection, key)
        return True

    def keys(self, collection: str, now: datetime) -> list[str]:
        """The keys of the live logs of ``collection``."""
        return [k for k, log in self._logs.get(collection, {}).items() if log.is_live(now)]

    # -- whole collections --------------------------------------------------------------------

    def drop(self, collection: str, now: datetime) -> int:
        """Remove every log of ``collection``; return how many were live."""
        live = len(self.keys(collection, now))
        for key in list(self._logs.get(collection, {})):
            self._remove(collection, key)
        return live

    def collections(self, now: datetime) -> set[str]:
        """The collections holding a live log."""
        return {
            name
            for name, table in self._logs.items()
            if any(log.is_live(now) for log in table.values())
        }

    def purge_expired(self, now: datetime) -> int:
        """Remove the expired logs; return how many."""
        expired = [
            (name, key)
            for name, table in self._logs.items()
            for key, log in table.items()
            if not log.is_live(now)
        ]
        for name, key in expired:
            self._remove(name, key)
        return len(expired)

    def stats(self, now: datetime) -> dict[str, Any]:
        """Live logs and their entries, expired logs still held, and the JSON they hold."""
        logs = entries = expired = size = 0
        for table in self._logs.values():
            for log in table.values():
                size += sum(map(len, log.texts))
                if log.is_live(now):
                    logs += 1
                    entries += len(log.seqs)
                else:
                    expired += 1
        return {"logs": logs, "log_entries": entries, "expired": expired, "json_chars": size}
