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

#: The public names and the module each lives in: the one table of them. ``__all__`` is made
#: from it, and the names are imported on first use, so that ``import satchel`` (and
#: ``satchel --help``) stays cheap and nothing happens at import time. The
#: ``TYPE_CHECKING`` block below repeats it for type checkers, which cannot read a table; a
#: test checks that the two agree.
_EXPORTS = {
    "Backend": "satchel.backend",
    "BackendSpec": "satchel.backend",
    "Capabilities": "satchel.backend",
    "LogEntry": "satchel.backend",
    "Page": "satchel.backend",
    "Record": "satchel.backend",
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
    "Unsupported": "satchel.errors",
    "ValueTooLarge": "satchel.errors",
    "Satchel": "satchel.handle",
    "open": "satchel.handle",
    "Codec": "satchel.instrument",
    "Operation": "satchel.instrument",
    "around_operation": "satchel.markers",
    "hookimpl": "satchel.markers",
    "Condition": "satchel.query",
    "Order": "satchel.query",
    "Query": "satchel.query",
    "escape_glob": "satchel.query",
    "SatchelSettings": "satchel.settings",
    "DEFAULT": "satchel.stores",
    "Entry": "satchel.stores",
    "Instance": "satchel.stores",
    "InstanceStore": "satchel.stores",
    "KVStore": "satchel.stores",
    "LogItem": "satchel.stores",
    "LogStore": "satchel.stores",
    "SessionStore": "satchel.stores",
    "TaskStore": "satchel.stores",
    "Versioned": "satchel.stores",
}

#: Submodules that ``satchel.NAME`` imports on first use.
_SUBMODULES = ("sync", "toolkit")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])

if TYPE_CHECKING:
    from satchel import sync as sync
    from satchel import toolkit as toolkit
    from satchel.backend import Backend as Backend
    from satchel.backend import BackendSpec as BackendSpec
    from satchel.backend import Capabilities as Capabilities
    from satchel.backend import LogEntry as LogEntry
    from satchel.backend import Page as Page
    from satchel.backend import Record as Record
    from satchel.errors import AlreadyExists as AlreadyExists
    from satchel.errors import BackendNotFound as BackendNotFound
    from satchel.errors import BackendUnavailable as BackendUnavailable
    from satchel.errors import BlockingCallInEventLoop as BlockingCallInEventLoop
    from satchel.errors import ConfigError as ConfigError
    from satchel.errors import Conflict as Conflict
    from satchel.errors import CorruptRecord as CorruptRecord
    from satchel.errors import HandleClosed as HandleClosed
    from satchel.errors import InvalidArgument as InvalidArgument
    from satchel.errors import InvalidQuery as InvalidQuery
    from satchel.errors import NotFound as NotFound
    from satchel.errors import PluginError as PluginError
    from satchel.errors import SatchelError as SatchelError
    from satchel.errors import Unsupported as Unsupported
    from satchel.errors import ValueTooLarge as ValueTooLarge
    from satchel.handle import Satchel as Satchel
    from satchel.handle import open as open
    from satchel.instrument import Codec as Codec
    from satchel.instrument import Operation as Operation
    from satchel.markers import around_operation as around_operation
    from satchel.markers import hookimpl as hookimpl
    from satchel.query import Condition as Condition
    from satchel.query import Order as Order
    from satchel.query import Query as Query
    from satchel.query import escape_glob as escape_glob
    from satchel.settings import SatchelSettings as SatchelSettings
    from satchel.stores import DEFAULT as DEFAULT
    from satchel.stores import Entry as Entry
    from satchel.stores import Instance as Instance
    from satchel.stores import InstanceStore as InstanceStore
    from satchel.stores import KVStore as KVStore
    from satchel.stores import LogItem as LogItem
    from satchel.stores import LogStore as LogStore
    from satchel.stores import SessionStore as SessionStore
    from satchel.stores import TaskStore as TaskStore
    from satchel.stores import Versioned as Versioned


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
