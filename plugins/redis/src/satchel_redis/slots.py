"""The connection slots of one event loop's pool: an attempt holds one while it runs, so
that more calls at once than the pool has connections wait for one instead of failing.

:class:`Slots` is a first-in, first-out semaphore: a slot given back goes straight to the
call that has waited longest, and no call that comes later can take it first.
(``asyncio.Semaphore`` on Python 3.10 lets a newcomer take a slot that was just given to a
waiting call, which then waits again: under steady load a waiting call could be passed over
until its bound ran out.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["Slots", "acquire_all"]


class Slots:
    """``size`` slots, handed out in the order they were asked for."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        """Whether a call asking now would wait (no slot free, or calls already waiting)."""
        return self._free == 0 or bool(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting behind the calls that asked before. Cancelled while it
        waits, it takes none (a slot handed to it just then is given back)."""
        if not self.locked():
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over as the call was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiting call, else to the free ones."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


async def acquire_all(slots: list[Slots]) -> None:
    """Take each of ``slots`` in turn (always in one order, so two calls never wait for each
    other's); cancelled, it gives back those it took."""
    taken: list[Slots] = []
    try:
        for slot in slots:
            await slot.acquire()
            taken.append(slot)
    except BaseException:
        for slot in taken:
            slot.release()
        raise
