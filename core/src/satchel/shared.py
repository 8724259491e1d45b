"""The process's shared satchel handle, for adapters built without one (a framework's session
or store class that a user constructs with no arguments): opened from the environment on
first use (``SATCHEL_BACKEND`` and the other variables, exactly as :func:`satchel.open`
reads them), and the same handle after that; and :class:`HandleOwner`, how every adapter
gets its handle."""

from __future__ import annotations

import os
import threading
from types import TracebackType
from typing import TypeVar

import satchel
from satchel import Satchel
from satchel.errors import InvalidArgument

__all__ = ["HandleOwner", "close_shared_store", "shared_store"]

_lock = threading.Lock()
_store: Satchel | None = None


def shared_store() -> Satchel:
    """The process's handle: ``satchel.open()`` the first time, the same handle after (from
    any thread and any event loop; the backends keep a client per loop). Nothing connects
    until it is first used."""
    global _store
    with _lock:
        if _store is None:
            _store = satchel.open()
        return _store


async def close_shared_store() -> None:
    """Close the process's handle (at shutdown); the next caller to need one opens a new
    handle, from the environment as it is then."""
    global _store
    with _lock:
        store, _store = _store, None
    if store is not None:
        await store.close()


_Owner = TypeVar("_Owner", bound="HandleOwner")


class HandleOwner:
    """The satchel handle of an adapter (a framework's session, store or service class),
    one of three:

    * none given: the process's handle (:func:`shared_store`), opened from the environment
      when the adapter first needs it and shared with every other adapter built this way;
      :meth:`close` leaves it open (:func:`close_shared_store` closes it);
    * a handle given (``store=``): used as it is, and left open;
    * a handle opened for the adapter alone (by the adapter's ``open`` class method,
      through :meth:`_adopt`): :meth:`close` closes it.

    An adapter calls :meth:`_init_handle` from its ``__init__``.
    """

    _store: Satchel | None
    _owned: Satchel | None

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

    def _adopt(self, store: Satchel) -> None:
        """Use ``store``, opened for this adapter alone: :meth:`close` closes it."""
        self._store = self._owned = store

    @property
    def store(self) -> Satchel:
        """The satchel handle: the one given (or opened by ``open``), else the process's."""
        return self._store if self._store is not None else shared_store()

    async def close(self) -> None:
        """Close the handle if it was opened for this adapter by ``open`` (a handle passed
        in, or the process's, stays open: other adapters use it). Twice is harmless."""
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.close()

    async def __aenter__(self: _Owner) -> _Owner:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _forget_in_child() -> None:
    # a forked child gets the parent's handle object, whose connections are the parent's:
    # it opens its own on first use
    global _lock, _store
    _lock = threading.Lock()
    _store = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
