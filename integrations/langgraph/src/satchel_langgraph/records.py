"""How checkpoints, channel values and pending writes are laid out as satchel KV records.

Three KV namespaces, ``<prefix>.checkpoints``, ``<prefix>.blobs`` and ``<prefix>.writes``.
Every key is a JSON list (as text) that starts with the thread id and the checkpoint
namespace, so the records of a thread, or of one namespace of it, are one key range: the
backends answer ``key startswith`` from their key order (a sorted set on Redis, ``_id`` on
MongoDB), without reading other threads.

* A checkpoint: key ``[thread_id, checkpoint_ns, descending(checkpoint_id)]``. The id is
  kept in a form that sorts newest first (:func:`descending`), so a thread's latest
  checkpoint is the first key of its range. The value holds the ids (thread, namespace,
  checkpoint, parent) as plain fields, ``blobs`` (the version of each channel value it
  reads), the checkpoint without its channel values and its metadata as blobs, and under
  ``filter`` the metadata's JSON-representable top-level items (what ``list(filter=...)``
  queries).
  A checkpoint of a run carries the run id in the record index ``run_id``.
* A channel value: key ``[thread_id, checkpoint_ns, channel, version]``, written when a
  checkpoint brings a new version of the channel; checkpoints that share the version share
  the record.
* A pending write: key ``[thread_id, checkpoint_ns, checkpoint_id, task_id, idx]``.
* A blob is the serializer's ``(type, bytes)`` pair kept as ``{"type": type, "data":
  base64 text}`` inside the JSON value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final

from langgraph.checkpoint.serde.base import SerializerProtocol

from satchel import InvalidArgument
from satchel.backend import JSONValue
from satchel.validation import check_json

__all__ = [
    "RUN_INDEX",
    "blob_key",
    "channel_record",
    "checkpoint_key",
    "checkpoint_record",
    "descending",
    "dump_blob",
    "filterable",
    "key_prefix",
    "load_blob",
    "parse_key",
    "retarget",
    "run_index",
    "write_key",
    "write_record",
]

#: The record index of checkpoints by the run that made them.
RUN_INDEX: Final = "run_id"
#: Ends every :func:`descending` id; sorts after every hexadecimal digit, so that an id
#: sorts after the ids it is a prefix of, as it must in reverse order.
_END: Final = "~"


def _key(*parts: JSONValue) -> str:
    return json.dumps(list(parts), ensure_ascii=False)


def key_prefix(*parts: JSONValue) -> str:
    """What every key starting with ``parts`` starts with (``["t", `` for a thread)."""
    return _key(*parts)[:-1] + ", "


def parse_key(key: str) -> list[Any]:
    """The parts of a key made here."""
    parts = json.loads(key)
    assert isinstance(parts, list)
    return parts


def retarget(key: str, thread_id: str) -> str:
    """``key`` (of any of the three kinds) moved to the thread ``thread_id``."""
    parts = parse_key(key)
    parts[0] = thread_id
    return _key(*parts)


def descending(checkpoint_id: str) -> str:
    """``checkpoint_id`` in a form whose order is the reverse of the ids' order: each UTF-8
    byte ``b`` as the two hex digits of ``255 - b``, then ``~``. (Text compares by code
    point, which is the order of its UTF-8 bytes, on every backend.)"""
    return "".join(f"{255 - b:02x}" for b in checkpoint_id.encode("utf-8")) + _END


def checkpoint_key(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> str:
    """The key of a checkpoint's record."""
    return _key(thread_id, checkpoint_ns, descending(checkpoint_id))


def blob_key(thread_id: str, checkpoint_ns: str, channel: str, version: JSONValue) -> str:
    """The key of the record of one version of a channel's value."""
    return _key(thread_id, checkpoint_ns, channel, version)


def write_key(
    thread_id: str, checkpoint_ns: str, checkpoint_id: str, task_id: str, idx: int
) -> str:
    """The key of a pending write's record."""
    return _key(thread_id, checkpoint_ns, checkpoint_id, task_id, idx)


def dump_blob(serde: SerializerProtocol, obj: Any, argument: str = "value") -> dict[str, str]:
    """``obj`` serialized by ``serde``, as JSON: its type and its bytes in base64.

    :raises InvalidArgument: ``serde`` cannot serialize ``obj`` (the message names
        ``argument``); nothing was written yet.
    """
    try:
        kind, data = serde.dumps_typed(obj)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidArgument):
            raise
        raise InvalidArgument(
            f"{argument}: {type(serde).__name__} cannot serialize it "
            f"({type(exc).__name__}: {exc!s:.200})"
        ) from exc
    return {"type": kind, "data": base64.b64encode(data).decode("ascii")}


def load_blob(serde: SerializerProtocol, blob: Any) -> Any:
    """The object of a blob made by :func:`dump_blob`."""
    return serde.loads_typed((blob["type"], base64.b64decode(blob["data"])))


def channel_record(
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_ns: str,
    channel: str,
    version: JSONValue,
    value: Any,
) -> dict[str, JSONValue]:
    """The value of a channel value's record."""
    return {
        "thread_id": thread_id,
        "checkpoint_ns": checkpoint_ns,
        "channel": channel,
        "version": version,
        **dump_blob(serde, value, f"checkpoint: channel_values[{channel!r}]"),
    }


def run_index(filters: dict[str, JSONValue]) -> dict[str, tuple[str, ...]]:
    """The record index of a checkpoint whose metadata's JSON items are ``filters``: its
    run id, when it has one."""
    run_id = filters.get("run_id")
    return {RUN_INDEX: (run_id,)} if isinstance(run_id, str) and run_id else {}


def write_record(
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str,
    task_id: str,
    task_path: str,
    idx: int,
    channel: str,
    value: Any,
) -> dict[str, JSONValue]:
    """The value of a pending write's record."""
    return {
        "thread_id": thread_id,
        "checkpoint_ns": checkpoint_ns,
        "checkpoint_id": checkpoint_id,
        "task_id": task_id,
        "task_path": task_path,
        "idx": idx,
        "channel": channel,
        **dump_blob(serde, value, f"writes: the value written to {channel!r}"),
    }


def checkpoint_record(
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint: Mapping[str, Any],
    metadata: dict[str, Any],
    parent_id: str | None,
    blobs: Mapping[str, JSONValue],
) -> dict[str, JSONValue]:
    """The value of a checkpoint's record: the checkpoint without its channel values, which
    ``blobs`` (channel: version) points to."""
    kept = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    return {
        "thread_id": thread_id,
        "checkpoint_ns": checkpoint_ns,
        "checkpoint_id": checkpoint["id"],
        "parent_checkpoint_id": parent_id,
        "blobs": dict(blobs),
        "checkpoint": dump_blob(serde, kept, "checkpoint"),
        "metadata": dump_blob(serde, metadata, "metadata"),
        "filter": filterable(metadata),
    }


def filterable(metadata: dict[str, Any]) -> dict[str, JSONValue]:
    """The metadata's top-level items that are JSON values (what queries can compare)."""
    kept: dict[str, JSONValue] = {}
    for key, value in metadata.items():
        try:
            check_json(value)
        except InvalidArgument:
            continue
        kept[key] = value
    return kept
