"""satchel: pluggable persistence for AI agents.

Tasks, session snapshots, ordered logs and namespaced key-value state behind one async API;
the storage engine is a plugin chosen with ``SATCHEL_BACKEND`` (``memory`` by default)::

    import satchel

    async with satchel.open() as store:
        tasks = store.tasks(AgentTask)
        await tasks.create(task)
        kv = store.kv("agent-state")
        await kv.set("agent-1", {"step": 5}, ttl=3600)

or in code, with no environment variable read and plugins for this handle only::

    store = satchel.open(
        backend="redis",
        backend_settings={"url": "redis://localhost:6379/0"},
        namespace="tenant-1",
        plugins=[MyCodecPlugin()],
    )

Synchronous programs use the blocking twin, :mod:`satchel.sync`, with the same stores:
``with satchel.sync.open() as store: store.kv("agent-state").get("agent-1")``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Where each public name lives; they are imported on first use, so that ``import satchel``
#: (and ``satchel --help``) stays cheap and nothing happens at import time.
_EXPORTS = {
    "Backend": "satchel.backend",
    "BackendSpec": "satchel.backend",
    "Capabilities": "satchel.backend",
    "Page": "satchel.backend",
    "Record": "satchel.backend",
    "LogEntry": "satchel.backend",
    "AlreadyExists": "satchel.errors",
    "BackendNotFound": "satchel.errors",
    "BackendUnavailable": "satchel.errors",
    "BlockingCallInEventLoop": "satchel.errors",
    "ConfigError": "satchel.errors",
    "Conflict": "satchel.errors",
    "CorruptRecord": "satchel.errors",
    "HandleClosed": "satchel.errors",
    "InvalidArgument": "satchel.errors",
    "InvalidQuery": "satchel.errors",
    "NotFound": "satchel.errors",
    "PluginError": "satchel.errors",
    "SatchelError": "satchel.errors",
    "ValueTooLarge": "satchel.errors",
    "Satchel": "satchel.handle",
    "open": "satchel.handle",
    "Codec": "satchel.instrument",
    "Operation": "satchel.instrument",
    "hookimpl": "satchel.markers",
    "around_operation": "satchel.markers",
    "Condition": "satchel.query",
    "Order": "satchel.query",
    "Query": "satchel.query",
    "escape_glob": "satchel.query",
    "SatchelSettings": "satchel.settings",
    "DEFAULT": "satchel.stores",
    "Entry": "satchel.stores",
    "KVStore": "satchel.stores",
    "LogItem": "satchel.stores",
    "LogStore": "satchel.stores",
    "SessionStore": "satchel.stores",
    "TaskStore": "satchel.stores",
    "Versioned": "satchel.stores",
}

#: Submodules that ``satchel.NAME`` imports on first use.
_SUBMODULES = ("sync",)

if TYPE_CHECKING:
    from satchel import sync
    from satchel.backend import Backend, BackendSpec, Capabilities, LogEntry, Page, Record
    from satchel.errors import (
        AlreadyExists,
        BackendNotFound,
        BackendUnavailable,
        BlockingCallInEventLoop,
        ConfigError,
        Conflict,
        CorruptRecord,
        HandleClosed,
        InvalidArgument,
        InvalidQuery,
        NotFound,
        PluginError,
        SatchelError,
        ValueTooLarge,
    )
    from satchel.handle import Satchel, open
    from satchel.instrument import Codec, Operation
    from satchel.markers import around_operation, hookimpl
    from satchel.query import Condition, Order, Query, escape_glob
    from satchel.settings import SatchelSettings
    from satchel.stores import (
        DEFAULT,
        Entry,
        KVStore,
        LogItem,
        LogStore,
        SessionStore,
        TaskStore,
        Versioned,
    )


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"satchel.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'satchel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_SUBMODULES])


__version__ = "0.1.0"

__all__ = [
    "DEFAULT",
    "AlreadyExists",
    "Backend",
    "BackendNotFound",
    "BackendSpec",
    "BackendUnavailable",
    "BlockingCallInEventLoop",
    "Capabilities",
    "Codec",
    "Condition",
    "ConfigError",
    "Conflict",
    "CorruptRecord",
    "Entry",
    "HandleClosed",
    "InvalidArgument",
    "InvalidQuery",
    "KVStore",
    "LogEntry",
    "LogItem",
    "LogStore",
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
    "around_operation",
    "escape_glob",
    "hookimpl",
    "open",
    "sync",
]
