"""The stores users call: tasks, sessions, key-value namespaces (and the instances that
contain them) and logs."""

from __future__ import annotations

from satchel.stores.base import DEFAULT, Versioned, collection_name
from satchel.stores.instances import Instance, InstanceStore
from satchel.stores.kv import Entry, KVStore
from satchel.stores.logs import LogItem, LogStore
from satchel.stores.sessions import SessionStore
from satchel.stores.tasks import FINISHED_STATUSES, TaskStore, request_ids

__all__ = [
    "DEFAULT",
    "FINISHED_STATUSES",
    "Entry",
    "Instance",
    "InstanceStore",
    "KVStore",
    "LogItem",
    "LogStore",
    "SessionStore",
    "TaskStore",
    "Versioned",
    "collection_name",
    "request_ids",
]
