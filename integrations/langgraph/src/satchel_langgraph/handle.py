""":class:`HandleOwner`: how the LangGraph adapters get their satchel handle and run their
blocking methods."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from satchel import InvalidArgument, Satchel
from satchel.shared import shared_store
from satchel.sync.loop import LoopThread

__all__ = ["HandleOwner"]


async def _nothing() -> None:
    return None


class HandleOwner:
    """The satchel handle of a LangGraph adapter and the event loop thread of its blocking
    methods.

    * no handle given: the process's handle (:func:`satchel.shared.shared_store`), opened
      from the environment the first time any adapter (or other integration) needs it, and
      shared by all of them; :meth:`aclose` leaves it open
      (:func:`~satchel.shared.close_shared_store` closes it);
    * a handle given: it is used as it is, and stays open;
    * a handle opened for the adapter alone (the adapters' ``open`` class methods):
      :meth:`aclose` closes it.

    The blocking methods run the async ones on a private loop thread (:meth:`_run`), started
    on first use and stopped by :meth:`close_loop` or :meth:`aclose`. Starting and stopping
    it are serialized by a lock, so concurrent first calls from several threads share one.
    """

    _store: Satchel | None
    _owned: Satchel | None
    _loop: LoopThread | None
    _lock: threading.Lock

    def _init_handle(self, store: Satchel | None) -> None:
        """Take ``store`` (``None``: the process's handle, on first use).

        :raises InvalidArgument: ``store`` is not a handle from :func:`satchel.open`.
        """
        if store is not None and not isinstance(store, Satchel):
            raise InvalidArgument(
                f"store: must be a handle from satchel.open(), not {type(store).__name__}"
            )
        self._store = store
        self._owned = None
        self._loop = None
        self._lock = threading.Lock()

    @staticmethod
    def _open_handle(open_arguments: dict[str, Any]) -> Satchel:
        """``satchel.open(**open_arguments)``, for an adapter's ``open`` class method."""
        import satchel

        return satchel.open(**open_arguments)

    def _adopt(self, store: Satchel) -> None:
        """Use ``store``, opened for this adapter alone: :meth:`aclose` closes it."""
        self._store = self._owned = store

    @property
    def store(self) -> Satchel:
        """The satchel handle: the one given (or opened by ``open``), else the process's."""
        return self._store if self._store is not None else shared_store()

    async def aclose(self) -> None:
        """Stop the blocking methods' loop thread, and close the handle if it was opened
        for this adapter by ``open`` (a handle passed in, or the process's, stays open)."""
        with self._lock:
            loop, self._loop = self._loop, None
            owned, self._owned = self._owned, None
        if loop is not None:  # LoopThread.close blocks: wait for it in a worker thread
            await asyncio.to_thread(loop.close)
        if owned is not None:
            await owned.close()

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
