""":class:`HandleOwner`: how the LangGraph adapters get their satchel handle and run their
blocking methods."""

from __future__ import annotations

import asyncio

from satchel import InvalidArgument, Satchel
from satchel.sync.loop import LoopThread

__all__ = ["HandleOwner"]


async def _nothing() -> None:
    return None


class HandleOwner:
    """The satchel handle of a LangGraph adapter and the event loop thread of its blocking
    methods.

    * no handle given: one is opened from the environment (``SATCHEL_BACKEND`` and the rest,
      as :func:`satchel.open` reads them) on first use, and closed by :meth:`aclose`;
    * a handle given: it is used as it is, and stays open.

    The blocking methods run the async ones on a private loop thread (:meth:`_run`), started
    on first use and stopped by :meth:`close_loop` or :meth:`aclose`.
    """

    _store: Satchel | None
    _owned: bool
    _loop: LoopThread | None

    def _init_handle(self, store: Satchel | None) -> None:
        """Take ``store`` (``None``: open one from the environment on first use).

        :raises InvalidArgument: ``store`` is not a handle from :func:`satchel.open`.
        """
        if store is not None and not isinstance(store, Satchel):
            raise InvalidArgument(
                f"store: must be a handle from satchel.open(), not {type(store).__name__}"
            )
        self._store = store
        self._owned = store is None
        self._loop = None

    @property
    def store(self) -> Satchel:
        """The satchel handle (opened from the environment on first use if none was given)."""
        if self._store is None:
            import satchel

            self._store = satchel.open()
        return self._store

    async def aclose(self) -> None:
        """Stop the blocking methods' loop thread, and close the handle if it was opened
        here (a handle passed in stays open)."""
        loop, self._loop = self._loop, None
        if loop is not None:  # LoopThread.close blocks: wait for it in a worker thread
            await asyncio.to_thread(loop.close)
        if self._owned and self._store is not None:
            store, self._store = self._store, None
            await store.close()

    def close_loop(self) -> None:
        """Stop the blocking methods' loop thread (started again by the next blocking call).
        It blocks: call it where no event loop runs (in async code, ``await aclose()``)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()

    def _run(self) -> LoopThread:
        """The loop thread the blocking methods run their coroutines on."""
        if self._loop is None or self._loop.closed:
            self._loop = LoopThread(_nothing, name="satchel-langgraph")
        return self._loop
