"""Ordered, append-only logs (chat histories, agent events), one per key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from satchel.backend import MAX_LOG_BATCH, Backend, LogEntry, Page
from satchel.errors import CorruptRecord, InvalidArgument
from satchel.query import compile_glob
from satchel.stores.base import DEFAULT, TTL, StoreBase
from satchel.validation import MAX_VERSION, check_key, check_model, check_value

__all__ = ["LogItem", "LogStore"]

T = TypeVar("T")

#: The most entries :meth:`LogStore.read` returns in one page.
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class LogItem(Generic[T]):
    """One entry of a log.

    :param seq: its sequence number: unique in the log, increasing in append order, never
        reused (not after a pop, a trim, or the log's deletion or expiry).
    :param value: the entry (the caller's own copy; a model instance in a typed store).
    :param appended_at: when it was appended (UTC, milliseconds).
    """

    seq: int
    value: T
    appended_at: datetime


def _whole(value: Any, argument: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(
            f"{argument}: must be a whole number from {low} to {high}, not {value!r}"
        )
    return value


def _seq(value: Any, argument: str) -> int | None:
    """``None``, or a sequence number bound (0 and above: ``after=0`` means all)."""
    return None if value is None else _whole(value, argument, 0, MAX_VERSION)


class LogStore(StoreBase, Generic[T]):
    """Append-only, ordered logs, one per key. Get it with :meth:`satchel.Satchel.logs`.

    Entries are instances of ``model`` when the store is typed; otherwise the values
    :meth:`satchel.KVStore.set` takes, stored in the same JSON form. Each append
    renews the log's time to live; an expired log reads as empty. Every guarantee of
    "Rules of logs" in :mod:`satchel.backend` holds on every backend: sequence numbers are
    never reused, an append is atomic, and two pops never return the same entry.
    """

    _kind = "log"

    def __init__(
        self,
        backend: Backend,
        tenant: str,
        name: str,
        ttl: float | None = None,
        model: type[BaseModel] | None = None,
    ) -> None:
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidArgument(f"model: must be a pydantic model class or None, not {model!r}")
        super().__init__(backend, tenant, name, ttl)
        self.model = model

    # -- values in and out ------------------------------------------------------------------

    def _dump(self, item: Any, argument: str) -> Any:
        if self.model is None:
            return check_value(item, argument)
        if not isinstance(item, self.model):
            raise InvalidArgument(
                f"{argument}: must be a {self.model.__name__}, not {type(item).__name__}"
            )
        return check_model(item, argument)

    def _item(self, key: str, entry: LogEntry) -> LogItem[T]:
        value = entry.value
        if self.model is not None:
            try:
                value = self.model.model_validate(value)
            except ValidationError as exc:
                raise CorruptRecord(
                    f"entry {entry.seq} of log {key!r} in {self.collection!r} is not a valid "
                    f"{self.model.__name__}: {exc.errors()[0]['msg']}"
                ) from exc
        return LogItem(entry.seq, value, entry.appended_at)

    def _items(self, key: str, entries: list[LogEntry]) -> list[LogItem[T]]:
        return [self._item(key, e) for e in entries]

    # -- writes -----------------------------------------------------------------------------

    async def append(self, key: str, *items: T, ttl: TTL = DEFAULT) -> list[int]:
        """Append ``items`` to the log ``key`` as one atomic step (creating the log), and
        return their sequence numbers, in order. Renews the log's time to live.

        :param ttl: seconds (or a ``timedelta``) the log lives after this append; ``None``:
            never expires; default: the store's.
        """
        check_key(key)
        if not 1 <= len(items) <= MAX_LOG_BATCH:
            raise InvalidArgument(
                f"items: append takes 1 to {MAX_LOG_BATCH} items at a time, not {len(items)}"
            )
        values = [self._dump(item, f"items[{i}]") for i, item in enumerate(items)]
        expires_at = self._expiry(ttl)
        entries = await self._backend.log_append(
            self.collection, key, values, expires_at=expires_at
        )
        return [e.seq for e in entries]

    async def pop(self, key: str, count: int = 1) -> list[LogItem[T]]:
        """Remove the last ``count`` entries and return them, oldest first, as one atomic
        step: two concurrent pops never return the same entry. Fewer (or none) come back
        when the log is shorter.

        An entry that is not the store's model (or that a codec cannot decode) raises
        :class:`~satchel.errors.CorruptRecord` after the pop removed it; the error's
        ``popped`` holds every removed entry, as stored, so nothing is lost."""
        check_key(key)
        _whole(count, "count", 1, MAX_VERSION)
        entries = await self._backend.log_pop(self.collection, key, count)
        try:
            return self._items(key, entries)
        except CorruptRecord as exc:
            if exc.popped is None:
                exc.popped = entries
            raise

    async def trim(
        self, key: str, *, keep_last: int | None = None, before: int | None = None
    ) -> int:
        """Remove every entry but the last ``keep_last``, and/or every entry whose sequence
        number is below ``before``; return how many were removed."""
        check_key(key)
        if keep_last is None and before is None:
            raise InvalidArgument("keep_last and before: give at least one")
        if keep_last is not None:
            _whole(keep_last, "keep_last", 0, MAX_VERSION)
        before = _seq(before, "before")
        return await self._backend.log_trim(
            self.collection, key, keep_last=keep_last, before=before
        )

    async def delete(self, key: str) -> bool:
        """Delete the whole log; ``True`` if it existed."""
        check_key(key)
        return await self._backend.log_delete(self.collection, key)

    async def clear(self) -> int:
        """Delete every log of the store; return how many there were."""
        return await self._backend.drop(self.collection)

    # -- reads ------------------------------------------------------------------------------

    async def read(
        self,
        key: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        reverse: bool = False,
        cursor: str | None = None,
    ) -> Page[LogItem[T]]:
        """A page of the entries with ``after < seq < before``, oldest first (newest first
        with ``reverse``), at most ``limit`` of them. Pass the page's ``next_cursor`` as
        ``cursor`` (with the same ``reverse``) for the next page."""
        check_key(key)
        after, before = _seq(after, "after"), _seq(before, "before")
        _whole(limit, "limit", 1, MAX_PAGE)
        if not isinstance(reverse, bool):
            raise InvalidArgument(f"reverse: must be True or False, not {reverse!r}")
        if cursor is not None:
            mark = _cursor(cursor, reverse)
            if reverse:
                before = mark if before is None else min(before, mark)
            else:
                after = mark if after is None else max(after, mark)
        entries = await self._backend.log_range(
            self.collection, key, after=after, before=before, limit=limit + 1, reverse=reverse
        )
        more = len(entries) > limit
        entries = entries[:limit]
        next_cursor = f"{'r' if reverse else 'f'}{entries[-1].seq}" if more else None
        return Page(self._items(key, entries), next_cursor)

    async def last(self, key: str, count: int) -> list[LogItem[T]]:
        """The last ``count`` entries (fewer when the log is shorter), oldest first."""
        check_key(key)
        _whole(count, "count", 0, MAX_PAGE)
        if count == 0:
            return []
        entries = await self._backend.log_range(self.collection, key, limit=count, reverse=True)
        entries.reverse()
        return self._items(key, entries)

    async def items(self, key: str, *, batch_size: int = 500) -> AsyncIterator[LogItem[T]]:
        """Every entry of the log, oldest first, read ``batch_size`` at a time."""
        check_key(key)
        _whole(batch_size, "batch_size", 1, MAX_PAGE)
        after: int | None = None
        while True:
            entries = await self._backend.log_range(
                self.collection, key, after=after, limit=batch_size
            )
            for entry in entries:
                yield self._item(key, entry)
            if len(entries) < batch_size:
                return
            after = entries[-1].seq

    async def length(self, key: str) -> int:
        """How many entries the log holds (0 when it does not exist or expired)."""
        check_key(key)
        return await self._backend.log_length(self.collection, key)

    async def keys(self, pattern: str = "*") -> list[str]:
        """The keys of the logs that hold entries, matching the glob ``pattern``, sorted
        (the pattern language of :meth:`satchel.KVStore.keys`)."""
        if not isinstance(pattern, str):
            raise InvalidArgument(f"pattern: must be a string, not {pattern!r}")
        compile_glob(pattern)
        return sorted([k async for k in self._backend.log_keys(self.collection, pattern)])


def _cursor(cursor: Any, reverse: bool) -> int:
    """The sequence number a cursor of :meth:`LogStore.read` carries."""
    direction = "r" if reverse else "f"
    if (
        isinstance(cursor, str)
        and cursor[:1] in ("f", "r")
        and cursor[1:].isascii()
        and cursor[1:].isdigit()
    ):
        if cursor[0] != direction:
            raise InvalidArgument(
                f"cursor: {cursor!r} is from a read with reverse={not reverse}; pass the same "
                "reverse as the read that returned it"
            )
        if len(cursor) <= 20:
            return int(cursor[1:])
    raise InvalidArgument(f"cursor: {cursor!r} is not a cursor from LogStore.read")
