"""satchel: pluggable persistence for AI agents.

Tasks, session snapshots and namespaced key-value state behind one async API; the storage
engine is a plugin chosen with ``SATCHEL_BACKEND`` (``memory`` by default)::

    import satchel

    async with satchel.open() as store:
        tasks = store.tasks(AgentTask)
        await tasks.create(task)
        kv = store.kv("agent-state")
        await kv.set("agent-1", {"step": 5}, ttl=3600)
"""

from __future__ import annotations

from satchel.backend import Backend, BackendSpec, Capabilities, Page, Record
from satchel.errors import (
    AlreadyExists,
    BackendNotFound,
    BackendUnavailable,
    ConfigError,
    Conflict,
    CorruptRecord,
    InvalidArgument,
    InvalidQuery,
    NotFound,
    PluginError,
    SatchelError,
    ValueTooLarge,
)
from satchel.handle import Satchel, open
from satchel.instrument import Codec, Operation
from satchel.markers import hookimpl
from satchel.query import Condition, Order, Query, escape_glob
from satchel.settings import SatchelSettings
from satchel.stores import DEFAULT, Entry, KVStore, SessionStore, TaskStore, Versioned

__version__ = "0.1.0"

__all__ = [
    "DEFAULT",
    "AlreadyExists",
    "Backend",
    "BackendNotFound",
    "BackendSpec",
    "BackendUnavailable",
    "Capabilities",
    "Codec",
    "Condition",
    "ConfigError",
    "Conflict",
    "CorruptRecord",
    "Entry",
    "InvalidArgument",
    "InvalidQuery",
    "KVStore",
    "NotFound",
    "Operation",
    "Order",
    "Page",
    "PluginError",
    "Query",
    "Record",
    "Satchel",
    "SatchelError",
    "SatchelSettings",
    "SessionStore",
    "TaskStore",
    "ValueTooLarge",
    "Versioned",
    "escape_glob",
    "hookimpl",
    "open",
]
