"""How :class:`~satchel_langgraph.SatchelStore` items are laid out as satchel KV records.

Every item of a store is one record of the KV namespace ``<namespace>.store``:

* its **key** is the item's namespace labels, each followed by NUL, then NUL, then the
  item's key: ``("users", "123"), "prefs"`` is ``"users\\0123\\0\\0prefs"``. LangGraph
  forbids NUL and empty labels, so the form is unambiguous; the items under a namespace
  prefix are the keys that start with the prefix's labels (each followed by NUL); and the
  order of the keys is the order of ``(namespace, key)`` tuples, the order searches
  return items in.
* its **value** is ``{"namespace": [labels], "key": key, "value": the item's value}``,
  with ``"ttl"`` (minutes) for an item written with a TTL, and ``"updated_at"`` once a
  read has renewed that TTL (a renewal rewrites the record, and the item keeps its own
  ``updated_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langgraph.store.base import Item, SearchItem

from satchel import CorruptRecord
from satchel.stores.kv import Entry

__all__ = ["item_key", "namespace_of_key", "plain_item", "prefix_key", "to_item"]

#: Ends every namespace label in a record key; never in a label (LangGraph refuses NUL).
_END = "\x00"


def item_key(namespace: Sequence[str], key: str) -> str:
    """The record key of the item ``key`` in ``namespace``."""
    return "".join(label + _END for label in namespace) + _END + key


def prefix_key(namespace_prefix: Sequence[str]) -> str:
    """What the record keys of every item under ``namespace_prefix`` (a non-empty tuple of
    labels) start with, and nothing else does."""
    return "".join(label + _END for label in namespace_prefix)


def namespace_of_key(record_key: str, namespace_label: str) -> tuple[str, ...]:
    """The namespace of the item stored under ``record_key``.

    :raises CorruptRecord: the key is not an item's.
    """
    labels, separator, _ = record_key.partition(_END + _END)
    if not separator or not labels:
        raise CorruptRecord(
            f"record {record_key!r} of the KV namespace {namespace_label!r} is not a "
            "SatchelStore item; only SatchelStore should write to that namespace"
        )
    return tuple(labels.split(_END))


def to_item(entry: Entry, namespace_label: str) -> SearchItem:
    """The item a record holds (a :class:`SearchItem`, which is an :class:`Item`)."""
    value = entry.value
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("namespace"), list)
        or not isinstance(value.get("key"), str)
        or not isinstance(value.get("value"), dict)
        or entry.created_at is None
        or entry.updated_at is None
    ):
        raise CorruptRecord(
            f"record {entry.key!r} of the KV namespace {namespace_label!r} is not a "
            "SatchelStore item; only SatchelStore should write to that namespace"
        )
    updated_at: Any = value.get("updated_at")
    return SearchItem(
        namespace=tuple(value["namespace"]),
        key=value["key"],
        value=value["value"],
        created_at=entry.created_at,
        updated_at=datetime.fromisoformat(updated_at)
        if isinstance(updated_at, str)
        else entry.updated_at,
    )


def plain_item(item: SearchItem) -> Item:
    """``item`` as the plain :class:`Item` a get returns."""
    return Item(
        value=item.value,
        key=item.key,
        namespace=item.namespace,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
