"""An ordering of records kept beside them, so that a listing in that order pages on the
server: entries keyed ``<group>/<rank>`` in a KV namespace of their own, where ``rank`` is
built from sortable parts (:func:`sortable_number`, :func:`sortable_text`) so that key order
is the wanted order. Reading a page is then a key-ordered query that stops after the page,
whatever the number of records.

The entries are not written atomically with the records they rank, so a writer follows one
protocol and readers check what they read:

1. :meth:`Ranking.place` the record's new entry *before* the write that makes the record
   current (a failure after it leaves an extra entry, never a missing one);
2. if that write fails, :meth:`Ranking.withdraw` the entry just placed (by its version, so
   that another writer's entry under the same key stays);
3. once it succeeded, :meth:`Ranking.remove` the record's previous entry (if its rank
   differs).

Readers (:meth:`Ranking.page`) resolve each entry to its record and skip entries that are not
the record's current rank: an entry left by a writer that stopped half way is never shown.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from satchel.backend import JSONValue
from satchel.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from satchel.stores.kv import Entry, KVStore

__all__ = ["Ranking", "sortable_number", "sortable_text"]

T = TypeVar("T")

_MASK = (1 << 64) - 1
#: Ends a :func:`sortable_text` part: below every hex digit ascending (``"ab"`` before
#: ``"abc"``), above them descending (``"abc"`` before ``"ab"``).
_END_ASCENDING = "-"
_END_DESCENDING = "~"


def sortable_number(number: float, *, descending: bool = False) -> str:
    """Sixteen hex digits whose order is the order of ``number`` (any finite float or int
    that converts to one exactly enough; ``-0.0`` is ``0.0``), reversed when
    ``descending``."""
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise InvalidArgument(f"number: must be a number, not {type(number).__name__}")
    value = float(number) + 0.0
    if not math.isfinite(value):
        raise InvalidArgument(f"number: must be finite, not {value!r}")
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ _MASK if bits >> 63 else bits | (1 << 63)
    if descending:
        bits ^= _MASK
    return f"{bits:016x}"


def sortable_text(text: str, *, descending: bool = False) -> str:
    """``text`` as hex digits of its UTF-8 bytes and an end mark, so that parts placed one
    after another sort by the first part, then the next: code-point order, reversed when
    ``descending``."""
    if not isinstance(text, str):
        raise InvalidArgument(f"text: must be a string, not {type(text).__name__}")
    data = text.encode("utf-8", "surrogatepass")
    if descending:
        return bytes(255 - b for b in data).hex() + _END_DESCENDING
    return data.hex() + _END_ASCENDING


class Ranking(Generic[T]):
    """Entries ``<group>/<rank>`` in ``kv``, each with a small value of the caller's (what a
    listing filters on, and what finds the ranked record). See the module for the protocol.
    """

    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    @staticmethod
    def key(group: str, rank: str) -> str:
        return f"{group}/{rank}"

    async def place(self, group: str, rank: str, value: Mapping[str, JSONValue]) -> int:
        """Write the entry; return its version (for :meth:`withdraw`)."""
        return await self.kv.set(self.key(group, rank), dict(value))

    async def place_new(self, group: str, rank: str, value: Mapping[str, JSONValue]) -> int | None:
        """Write the entry unless one is stored under its key already (another writer's,
        or the record's current one, for the same rank); return its version, or ``None``
        when it was there, so that a writer withdraws only what it wrote itself."""
        try:
            return await self.kv.set(self.key(group, rank), dict(value), if_absent=True)
        except AlreadyExists:
            return None

    async def withdraw(self, group: str, rank: str, version: int) -> None:
        """Remove the entry :meth:`place` wrote at ``version``, unless it was written again
        since (by another writer that may need it)."""
        # written again (or removed) by another writer: theirs to keep or remove
        with contextlib.suppress(Conflict, NotFound):
            await self.kv.delete(self.key(group, rank), expected_version=version)

    async def remove(self, group: str, rank: str) -> None:
        """Remove the entry of a rank the record no longer has."""
        await self.kv.delete(self.key(group, rank))

    async def page(
        self,
        group: str,
        *,
        limit: int,
        cursor: str | None,
        resolve: Callable[[list[Entry]], Awaitable[Sequence[T | None]]],
        where: Sequence[tuple[str, str, Any]] = (),
    ) -> tuple[list[T], str | None]:
        """Up to ``limit`` resolved items of ``group`` in rank order from ``cursor``, and the
        cursor of the next page (``None`` at the end). ``resolve`` maps a batch of entries
        to their items, ``None`` for an entry that is not its record's current rank (or
        whose record is gone); those are skipped and more entries are read in their place.
        ``where`` adds conditions on the entries' values."""
        conditions = [("key", "startswith", f"{group}/"), *where]
        found: list[T] = []
        while True:
            batch = await self.kv.query(conditions, limit=limit - len(found), cursor=cursor)
            resolved = await resolve(batch.items)
            found += [item for item in resolved if item is not None]
            cursor = batch.next_cursor
            if cursor is None or len(found) >= limit:
                return found, cursor
