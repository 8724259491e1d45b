"""satchel with blocking methods, for synchronous programs and frameworks.

The same stores as the async API, with the same methods, parameters, results and errors;
each call blocks until it is done, and async iterators become ordinary iterators::

    import satchel.sync

    with satchel.sync.open() as store:
        kv = store.kv("agent-state")
        kv.set("agent-1", {"step": 5}, ttl=3600)
        for key, value in kv.entries():
            print(key, value)

One handle serves many threads at once: it runs the async handle on an event loop of its
own, in a daemon thread, and every call waits there for its outcome. Inside a running event
loop every blocking call raises :class:`~satchel.errors.BlockingCallInEventLoop`: use the
async API there. See the "Blocking API" page of the documentation.
"""

from __future__ import annotations

from satchel.sync.handle import SyncSatchel, open
from satchel.sync.stores import (
    SyncInstanceStore,
    SyncKVStore,
    SyncLogStore,
    SyncSessionStore,
    SyncTaskStore,
)

__all__ = [
    "SyncInstanceStore",
    "SyncKVStore",
    "SyncLogStore",
    "SyncSatchel",
    "SyncSessionStore",
    "SyncTaskStore",
    "open",
]
