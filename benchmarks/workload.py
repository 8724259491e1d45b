"""The data the benchmarks write, and the KVStore calls they time on it.

:func:`make_value` is a ~1 KiB JSON object shaped like an agent's state; :class:`Records`
holds ``records`` of them under keys, cut into batches; :func:`kv_operations` are the
``KVStore`` calls on them that every backend's benchmark times (single ``get``/``set``, and
a batch call against as many single calls). :func:`prose` is filler text of a given size.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from typing import Any

from rounds import Case, Operation, paired_ratio

#: JSON text as satchel's backends encode values (compact, UTF-8, no NaN).
encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

STATUSES = ("open", "paused", "done", "failed")


def make_value(i: int) -> dict[str, Any]:
    """A JSON object of about 1 KiB, shaped like an agent's state."""
    value: dict[str, Any] = {
        "id": f"agent-{i:06d}",
        "status": STATUSES[i % len(STATUSES)],
        "score": (i * 7919 % 1000) / 1000,
        "step": i % 50,
        "user": {"name": f"user-{i % 97}", "age": 18 + i % 60, "locale": "en-GB"},
        "tags": ["alpha", "beta", "gamma"][: 1 + i % 3],
        "history": [
            {"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n} of {i}"}
            for n in range(6)
        ],
    }
    size = len(json.dumps(value, separators=(",", ":")))
    value["notes"] = "x" * max(0, 1024 - size - len(',"notes":""'))
    return value


def prose(seed: str, size: int) -> str:
    """``size`` characters of prose, starting with ``seed``."""
    sentence = f"{seed}: the quick brown fox jumps over the lazy dog. "
    return (sentence * (size // len(sentence) + 1))[:size]


def median_bytes(values: list[Any]) -> float:
    """The median size of ``values`` as compact JSON."""
    return statistics.median(len(encode(v)) for v in values)


class Records:
    """``records`` values (:func:`make_value`) under keys ``agent-000000``, ...; and the
    whole batches of ``batch`` keys they make, as key lists (``chunks``) and as key to
    value mappings (``chunk_items``)."""

    def __init__(self, records: int, batch: int = 1) -> None:
        self.keys = [f"agent-{i:06d}" for i in range(records)]
        self.values = [make_value(i) for i in range(records)]
        self.n = records
        self.positions = {k: j for j, k in enumerate(self.keys)}
        self.chunks = [self.keys[j : j + batch] for j in range(0, records - batch + 1, batch)]
        self.chunk_items = [{k: self.values[self.positions[k]] for k in c} for c in self.chunks]

    def items(self) -> dict[str, Any]:
        return dict(zip(self.keys, self.values, strict=True))


def kv_operations(kv: Any, data: Records) -> dict[str, Operation]:
    """The timed calls on a ``KVStore`` holding ``data``: ``get`` and ``set`` of one record;
    ``get_many``/``set_many`` of a batch, and the same as single calls awaited one after the
    other (``get_singles``, ``set_singles``)."""
    keys, values, n = data.keys, data.values, data.n
    chunks, chunk_items = data.chunks, data.chunk_items

    async def get(i: int) -> Any:
        return await kv.get(keys[i % n])

    async def set_(i: int) -> Any:
        return await kv.set(keys[i % n], values[i % n])

    async def get_many(i: int) -> Any:
        return await kv.get_many(chunks[i % len(chunks)])

    async def get_singles(i: int) -> Any:
        return [await kv.get(k) for k in chunks[i % len(chunks)]]

    async def set_many(i: int) -> Any:
        return await kv.set_many(chunk_items[i % len(chunks)])

    async def set_singles(i: int) -> Any:
        return [await kv.set(k, v) for k, v in chunk_items[i % len(chunks)].items()]

    return {
        "get": get,
        "set": set_,
        "get_many": get_many,
        "get_singles": get_singles,
        "set_many": set_many,
        "set_singles": set_singles,
    }


def batch_figures(
    runs: dict[str, list[float]],
    name: str,
    raw_labels: tuple[str, str] = ("raw_batch_us", "raw_singles_us"),
) -> dict[str, Any]:
    """The figures of a batch operation ``name`` (``get_many``, ``set_many``): µs of a batch
    and of as many singles, satchel's (``kv``) and the raw client's (labelled
    ``raw_labels``), and each one's speed-up of the batch over the singles."""

    def us(side: str) -> float:
        return round(statistics.median(runs[f"{name} {side}"]), 1)

    def speedup(side: str) -> float:
        ratio = paired_ratio(runs[f"{name} {side}_singles"], runs[f"{name} {side}_batch"])
        return round(ratio, 2)

    return {
        "kv_batch_us": us("kv_batch"),
        "kv_singles_us": us("kv_singles"),
        "kv_speedup": speedup("kv"),
        raw_labels[0]: us("raw_batch"),
        raw_labels[1]: us("raw_singles"),
        "raw_speedup": speedup("raw"),
    }


def batch_cases(
    kv_ops: Mapping[str, Operation],
    raw: Mapping[str, tuple[Operation, Operation]],
    iterations: int,
) -> dict[str, dict[str, Case]]:
    """The cases of ``get_many`` and ``set_many``: ``KVStore``'s batch and singles (from
    :func:`kv_operations`), and the raw client's (``raw``: ``"get"``/``"set"`` to its batch
    and its singles), ``iterations`` of each per repeat."""
    return {
        f"{name}_many": {
            "kv_batch": Case(kv_ops[f"{name}_many"], iterations),
            "kv_singles": Case(kv_ops[f"{name}_singles"], iterations),
            "raw_batch": Case(raw[name][0], iterations),
            "raw_singles": Case(raw[name][1], iterations),
        }
        for name in ("get", "set")
    }
