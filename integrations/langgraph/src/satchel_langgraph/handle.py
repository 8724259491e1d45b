""":class:`HandleOwner`: how the LangGraph adapters get their satchel handle and run their
blocking methods."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from satchel import Satchel, shared
from satchel.sync.loop import LoopThread

__all__ = ["HandleOwner"]


async def _nothing() -> None:
    return None


class HandleOwner(shared.HandleOwner):
    """The satchel handle of a LangGraph adapter (as every integration gets it, see
    :class:`satchel.shared.HandleOwner`; :meth:`aclose` is LangGraph's name of ``close``)
    and the event loop thread of its blocking methods.

    The blocking methods run the async ones on a private loop thread (:meth:`_run`), started
    on first use and stopped by :meth:`close_loop` or :meth:`aclose`. Starting and stopping
    it are serialized by a lock, so concurrent first calls from several threads share one.
    """

    _loop: LoopThread | None
    _lock: threading.Lock

    def _init_handle(self, store: Satchel | None) -> None:
        """Take ``store`` (``None``: the process's handle, on first use).

        :raises InvalidArgument: ``store`` is not a handle from :func:`satchel.open`.
        """
        super()._init_handle(store)
        self._loop = None
        self._lock = threading.Lock()

    @staticmethod
    def _open_handle(open_arguments: dict[str, Any]) -> Satchel:
        """``satchel.open(**open_arguments)``, for an adapter's ``open`` class method."""
        import satchel

        return satchel.open(**open_arguments)

    async def aclose(self) -> None:
        """Stop the blocking methods' loop thread, and close the handle if it was opened
        for this adapter by ``open`` (a handle passed in, or the process's, stays open)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:  # LoopThread.close blocks: wait for it in a worker thread
            await asyncio.to_thread(loop.close)
        await super().close()

    async def close(self) -> None:
        """:meth:`aclose`."""
        await self.aclose()

    def close_loop(self) -> None:
        """Stop the blocking methods' loop thread (started again by the next blocking call).
        It blocks: call it where no event loop runs (in async code, ``await aclose()``)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()

    def _run(self) -> LoopThread:
        """The loop thread the blocking methods run their coroutines on (one, also when
        several threads make their first blocking call at once)."""
        with self._lock:
            if self._loop is None or self._loop.closed:
                self._loop = LoopThread(_nothing, name="satchel-langgraph")
            return self._loop
