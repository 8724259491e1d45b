"""How checkpoints and pending writes are laid out as satchel KV records.

* A checkpoint is one record of the ``<namespace>.checkpoints`` KV namespace, keyed by
  ``[thread_id, checkpoint_ns, checkpoint_id]`` (as JSON text). Its value holds those three
  ids and the parent's id as plain fields (so queries select on them), the checkpoint and
  its metadata as serialized blobs, and the metadata's JSON-representable top-level items
  under ``filter`` (what ``list(filter=...)`` queries).
* A pending write is one record of ``<namespace>.writes``, keyed by ``[thread_id,
  checkpoint_ns, checkpoint_id, task_id, idx]``: writing the same write twice cannot
  duplicate it.
* A blob is the serializer's ``(type, bytes)`` pair kept as ``{"type": type, "data":
  base64 text}`` inside the JSON value.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from satchel import InvalidArgument
from satchel.backend import JSONValue
from satchel.validation import check_json

__all__ = ["checkpoint_key", "dump_blob", "filterable", "load_blob", "write_key"]


def checkpoint_key(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> str:
    """The key of a checkpoint's record."""
    return json.dumps([thread_id, checkpoint_ns, checkpoint_id], ensure_ascii=False)


def write_key(
    thread_id: str, checkpoint_ns: str, checkpoint_id: str, task_id: str, idx: int
) -> str:
    """The key of a pending write's record."""
    return json.dumps([thread_id, checkpoint_ns, checkpoint_id, task_id, idx], ensure_ascii=False)


def dump_blob(serde: SerializerProtocol, obj: Any) -> dict[str, str]:
    """``obj`` serialized by ``serde``, as JSON: its type and its bytes in base64."""
    kind, data = serde.dumps_typed(obj)
    return {"type": kind, "data": base64.b64encode(data).decode("ascii")}


def load_blob(serde: SerializerProtocol, blob: Any) -> Any:
    """The object of a blob made by :func:`dump_blob`."""
    return serde.loads_typed((blob["type"], base64.b64decode(blob["data"])))


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
