"""The sorted keys of one collection: the memory backend's key order, for key ranges and
key-ordered pages.

A plain sorted list costs a shift of every later key on each new key (about 114 µs at a
million keys); here the keys are kept in blocks of at most ``2 * LOAD`` sorted keys, with
each block's last key in a list of their own, so adding or removing a key costs one
bisection of the block ends and one of a block: O(log n + LOAD).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

__all__ = ["SortedKeys"]

#: Half the most keys a block holds before it is split in two.
LOAD = 512


class SortedKeys:
    """A sorted set of distinct strings, by code point."""

    __slots__ = ("_blocks", "_ends", "_size")

    def __init__(self, keys: Iterable[str] = ()) -> None:
        ordered = sorted(set(keys))
        self._blocks = [ordered[i : i + LOAD] for i in range(0, len(ordered), LOAD)]
        self._ends = [block[-1] for block in self._blocks]
        self._size = len(ordered)

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __iter__(self) -> Iterator[str]:
        for block in self._blocks:
            yield from block

    def add(self, key: str) -> None:
        """Add ``key`` (which must not be present)."""
        if not self._blocks:
            self._blocks.append([key])
            self._ends.append(key)
            self._size = 1
            return
        at = min(bisect.bisect_left(self._ends, key), len(self._blocks) - 1)
        block = self._blocks[at]
        bisect.insort(block, key)
        self._ends[at] = block[-1]
        self._size += 1
        if len(block) > 2 * LOAD:
            self._blocks[at : at + 1] = [block[:LOAD], block[LOAD:]]
            self._ends[at : at + 1] = [block[LOAD - 1], block[-1]]

    def remove(self, key: str) -> None:
        """Remove ``key`` (which must be present)."""
        at = bisect.bisect_left(self._ends, key)
        block = self._blocks[at]
        del block[bisect.bisect_left(block, key)]
        self._size -= 1
        if block:
            self._ends[at] = block[-1]
        else:
            del self._blocks[at]
            del self._ends[at]

    def between(
        self,
        low: str | None = None,
        high: str | None = None,
        *,
        low_open: bool = False,
        high_open: bool = False,
    ) -> Iterator[str]:
        """The keys from ``low`` to ``high`` in order (either may be ``None``: no bound;
        ``*_open``: that bound itself left out)."""
        at, start = 0, 0
        if low is not None:
            at = (bisect.bisect_right if low_open else bisect.bisect_left)(self._ends, low)
            if at == len(self._blocks):
                return
            cut = bisect.bisect_right if low_open else bisect.bisect_left
            start = cut(self._blocks[at], low)
        for block in self._blocks[at:]:
            for i in range(start, len(block)):
                key = block[i]
                if high is not None and (key >= high if high_open else key > high):
                    return
                yield key
            start = 0
