"""Benchmark of the JSON check and the stored form of values (:mod:`satchel.toolkit`).

On the ~1 KiB values of the other benchmarks (``workload.make_value``), in µs per value:

- ``check``: :func:`satchel.validation.check_json` (orjson, a read back, the nesting test)
  against the walk in Python alone (``validation._walk``, the exact check it falls back to);
- ``encode``: :func:`satchel.toolkit.encode_value` (the check, the JSON and a fresh copy)
  against what a backend did with the standard library: ``json`` encode, ``len`` of the
  UTF-8, ``json.loads`` for the copy (no check);
- ``decode``: :func:`satchel.toolkit.decode_json` against ``json.loads``;
- ``set_work``: the value work of one memory-backend ``set``, the store's check, the
  backend's encoding with its size check and private copy, and the caller's copy: now
  ``check_json`` + ``encode_value`` + ``decode_json``, before the walk + ``json`` encode +
  ``len`` of the UTF-8 + two ``json.loads``.

The two sides of each pair run alternately, ``--repeats`` rounds of ``--number`` calls each,
so that the load of the machine weighs on both alike; the figures are medians. A
measurement, not a test.

    uv run python benchmarks/bench_values.py
    uv run python benchmarks/bench_values.py --number 20000 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from workload import make_value

from satchel.toolkit import decode_json, encode_value
from satchel.validation import _walk, check_json

_stdlib = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def stdlib_encode(value: Any) -> tuple[bytes, Any]:
    text = _stdlib(value)
    return text.encode(), json.loads(text)


def set_work_now(value: Any) -> Any:
    check_json(value)
    text = encode_value(value, "value", max_bytes=2**24).data.decode()
    return decode_json(text)


def set_work_before(value: Any) -> Any:
    _walk(value, "value")
    text = _stdlib(value)
    assert len(text.encode()) <= 2**24
    json.loads(text)
    return json.loads(text)


def pair(
    new: Callable[[Any], Any],
    old: Callable[[Any], Any],
    values: list[Any],
    number: int,
    repeats: int,
) -> dict[str, float]:
    """Median µs per call of ``new`` and ``old`` over ``values``, timed alternately."""
    n = len(values)

    def run(fn: Callable[[Any], Any]) -> float:
        i = 0

        def one() -> None:
            nonlocal i
            fn(values[i % n])
            i += 1

        return timeit.timeit(one, number=number) / number * 1e6

    new_times, old_times = [], []
    for _ in range(repeats):
        new_times.append(run(new))
        old_times.append(run(old))
    new_us, old_us = statistics.median(new_times), statistics.median(old_times)
    return {
        "new_us": round(new_us, 2),
        "old_us": round(old_us, 2),
        "ratio": round(new_us / old_us, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=5000, help="calls per round")
    parser.add_argument("--repeats", type=int, default=9, help="rounds per side")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    values = [make_value(i) for i in range(200)]
    texts = [encode_value(v, "value").data for v in values]
    results = {
        "check": pair(check_json, lambda v: _walk(v, "value"), values, args.number, args.repeats),
        "encode": pair(
            lambda v: encode_value(v, "value"), stdlib_encode, values, args.number, args.repeats
        ),
        "decode": pair(decode_json, json.loads, texts, args.number, args.repeats),
        "set_work": pair(set_work_now, set_work_before, values, args.number, args.repeats),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        new, old, ratio = r["new_us"], r["old_us"], r["ratio"]
        print(f"{name:7} new {new:7.2f} µs   old {old:7.2f} µs   new/old {ratio:.3f}")


if __name__ == "__main__":
    main()
