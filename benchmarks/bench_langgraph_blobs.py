"""What keeping LangGraph's serialized bytes as base64 text costs satchel-langgraph.

LangGraph's serializer turns each channel value into ``(type, bytes)``; satchel values are
JSON, so ``SatchelSaver`` stores the bytes as base64 text. For a few channel values, this
measures:

- size: the serialized bytes, the base64 text, and the compact JSON of the whole record
  (the size that counts against a backend's record limit);
- time, in ms (median of ``--repeats``): LangGraph's ``dumps_typed`` and ``loads_typed``,
  ``base64.b64encode`` and ``b64decode`` of the same bytes, and, on the memory backend, a
  whole ``aput`` plus ``aget_tuple`` of a checkpoint holding the value, so that base64's
  share of a put and a read is visible.

The values: 1 MiB and 8 MiB of random bytes (a ``bytes`` channel), and a list of 200 chat
messages (``langchain_core`` ``HumanMessage``/``AIMessage``, about 400 bytes of text each).
This is a measurement, not a test.

    uv run python benchmarks/bench_langgraph_blobs.py
    uv run python benchmarks/bench_langgraph_blobs.py --repeats 21 --json
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import cli
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

import satchel
from satchel_langgraph import SatchelSaver

MIB = 1024 * 1024


def chat(turns: int) -> list[Any]:
    """A conversation of ``turns`` messages of about 400 characters each."""
    text = "The quick brown fox jumps over the lazy dog. " * 9
    return [
        (HumanMessage if n % 2 == 0 else AIMessage)(content=f"{n}: {text}", id=f"m{n}")
        for n in range(turns)
    ]


def median_ms(func: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def saver_ms(saver: SatchelSaver, value: Any, repeats: int) -> float:
    """Median ms of an ``aput`` of a checkpoint holding ``value`` plus its ``aget_tuple``."""
    times = []
    for n in range(repeats):
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"value": value}
        checkpoint["channel_versions"] = {"value": str(n)}
        config: Any = {"configurable": {"thread_id": f"t{n}", "checkpoint_ns": ""}}
        start = time.perf_counter()
        stored = await saver.aput(config, checkpoint, {}, {"value": str(n)})
        found = await saver.aget_tuple(stored)
        times.append((time.perf_counter() - start) * 1000)
        assert found is not None
        assert found.checkpoint["channel_values"]["value"] == value
    return statistics.median(times)


async def measure(repeats: int) -> list[dict[str, Any]]:
    serde = JsonPlusSerializer()
    values = {
        "1 MiB of bytes": os.urandom(MIB),
        "8 MiB of bytes": os.urandom(8 * MIB),
        "200 chat messages": chat(200),
    }
    rows = []
    async with satchel.open(backend="memory", namespace="bench") as store:
        saver = SatchelSaver(store=store)
        for name, value in values.items():
            kind, data = serde.dumps_typed(value)
            text = base64.b64encode(data).decode("ascii")
            record = {"thread_id": "t", "checkpoint_ns": "", "channel": "value", "version": "1"}
            record |= {"type": kind, "data": text}
            stored = len(json.dumps(record, separators=(",", ":")).encode())
            rows.append(
                {
                    "value": name,
                    "serialized_bytes": len(data),
                    "base64_chars": len(text),
                    "record_bytes": stored,
                    "size_ratio": round(stored / len(data), 4),
                    "dumps_ms": median_ms(lambda v=value: serde.dumps_typed(v), repeats),
                    "loads_ms": median_ms(lambda t=(kind, data): serde.loads_typed(t), repeats),
                    "b64encode_ms": median_ms(lambda d=data: base64.b64encode(d), repeats),
                    "b64decode_ms": median_ms(lambda t=text: base64.b64decode(t), repeats),
                    "put_get_ms": await saver_ms(saver, value, repeats),
                }
            )
    return rows


def main() -> None:
    parser = cli.parser(__doc__)
    cli.add_repeats(parser, 11)
    cli.add_output(parser, check=None, json="print the rows as JSON")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.repeats))
    if args.json:
        cli.print_json(rows)
        return
    print(
        f"Python {sys.version.split()[0]}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; medians of {args.repeats}"
    )
    header = (
        "value",
        "serialized",
        "base64 record",
        "ratio",
        "dumps",
        "loads",
        "b64encode",
        "b64decode",
        "aput+aget_tuple",
    )
    print(" | ".join(header))
    for r in rows:
        print(
            f"{r['value']} | {r['serialized_bytes']:,} B | {r['record_bytes']:,} B | "
            f"{r['size_ratio']:.3f} | {r['dumps_ms']:.2f} ms | {r['loads_ms']:.2f} ms | "
            f"{r['b64encode_ms']:.2f} ms | {r['b64decode_ms']:.2f} ms | {r['put_get_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
