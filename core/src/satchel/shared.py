"""The process's shared satchel handle, for adapters built without one (a framework's session
or store class that a user constructs with no arguments): opened from the environment on
first use (``SATCHEL_BACKEND`` and the other variables, exactly as :func:`satchel.open`
reads them), and the same handle after that."""

from __future__ import annotations

import os
import threading

import satchel
from satchel import Satchel

__all__ = ["close_shared_store", "shared_store"]

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


def _forget_in_child() -> None:
    # a forked child gets the parent's handle object, whose connections are the parent's:
    # it opens its own on first use
    global _lock, _store
    _lock = threading.Lock()
    _store = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
