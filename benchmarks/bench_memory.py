"""Benchmark of satchel's memory backend against a plain dict with ``copy.deepcopy``.

Measures, in one run and on the same ~1 KiB JSON values:

- KV ``get``, ``set`` and ``query`` (a where + order_by + limit over ``--records`` records)
  through ``satchel.open()`` (the default memory backend, with the default plugins: the
  ``metrics`` wrapper sees every operation), awaited in one event loop;
- the baseline doing the same work on a plain dict: get = ``deepcopy`` out of the dict,
  set = ``deepcopy`` into it, query = filter + sort + slice + ``deepcopy`` of the results
  over a list of dicts;
- ``import satchel`` + ``satchel.open()`` in a fresh interpreter (median of several runs).

Each figure is the median of ``--repeats`` timings of ``--iterations`` operations, in µs per
operation. This is a measurement, not a test: it prints the numbers and whether each target
is met (``--check`` makes a missed target exit 1).

    uv run python benchmarks/bench_memory.py
    uv run python benchmarks/bench_memory.py --iterations 20000 --json
"""

from __future__ import annotations

import asyncio
import copy
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import cli
from rounds import timed
from workload import Records, kv_operations, median_bytes

# Targets: satchel / baseline, per operation; and import + open in milliseconds.
TARGETS = {"get": 3.0, "set": 3.0}
IMPORT_OPEN_TARGET_MS = 150.0


def median_per_op(timings: list[int], iterations: int) -> float:
    """The median of the repeats (ns), in µs per operation."""
    return statistics.median(timings) / iterations / 1000


# --------------------------------------------------------------------------------------
# the baseline: a plain dict with deepcopy


def baseline_get(data: dict[str, Any], keys: list[str], iterations: int) -> int:
    start = time.perf_counter_ns()
    n = len(keys)
    for i in range(iterations):
        copy.deepcopy(data[keys[i % n]])
    return time.perf_counter_ns() - start


def baseline_set(data: dict[str, Any], keys: list[str], values: list[Any], iterations: int) -> int:
    start = time.perf_counter_ns()
    n = len(keys)
    for i in range(iterations):
        data[keys[i % n]] = copy.deepcopy(values[i % n])
    return time.perf_counter_ns() - start


def baseline_query(rows: list[dict[str, Any]], iterations: int, limit: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(iterations):
        hits = [r for r in rows if r["value"]["status"] == "open" and r["value"]["score"] >= 0.25]
        hits.sort(key=lambda r: (-r["value"]["score"], r["key"]))
        copy.deepcopy(hits[:limit])
    return time.perf_counter_ns() - start


# --------------------------------------------------------------------------------------
# satchel


async def measure_satchel(
    data: Records, iterations: int, query_iterations: int, repeats: int, limit: int
) -> tuple[dict[str, float], list[str]]:
    import satchel

    async with satchel.open(environ={"SATCHEL_BACKEND": "memory"}) as store:
        kv = store.kv("bench")
        await kv.set_many(data.items())
        ops = kv_operations(kv, data)
        get, set_ = ops["get"], ops["set"]

        async def query(i: int) -> Any:
            return await kv.query(
                [("status", "eq", "open"), ("score", "gte", 0.25)],
                order_by="-score",
                limit=limit,
            )

        # one warm-up round of each, then the repeats, interleaved
        for op in (get, set_, query):
            await timed(op, min(iterations, 200))
        results: dict[str, list[int]] = {"get": [], "set": [], "query": []}
        for _ in range(repeats):
            results["get"].append(await timed(get, iterations))
            results["set"].append(await timed(set_, iterations))
            results["query"].append(await timed(query, query_iterations))
        # the answer must be the baseline's: same keys, same order
        page = await query(0)
        found = [entry.key for entry in page.items]
    times = {
        "get": median_per_op(results["get"], iterations),
        "set": median_per_op(results["set"], iterations),
        "query": median_per_op(results["query"], query_iterations),
    }
    return times, found


def measure_baseline(
    records: Records, iterations: int, query_iterations: int, repeats: int, limit: int
) -> tuple[dict[str, float], list[str]]:
    keys, values = records.keys, records.values
    data = {k: copy.deepcopy(v) for k, v in zip(keys, values, strict=True)}
    rows: list[dict[str, Any]] = [{"key": k, "value": v} for k, v in data.items()]
    baseline_get(data, keys, min(iterations, 200))
    baseline_set(data, keys, values, min(iterations, 200))
    baseline_query(rows, 5, limit)
    results: dict[str, list[int]] = {"get": [], "set": [], "query": []}
    for _ in range(repeats):
        results["get"].append(baseline_get(data, keys, iterations))
        results["set"].append(baseline_set(data, keys, values, iterations))
        results["query"].append(baseline_query(rows, query_iterations, limit))
    hits = [r for r in rows if r["value"]["status"] == "open" and r["value"]["score"] >= 0.25]
    hits.sort(key=lambda r: (-r["value"]["score"], r["key"]))
    times = {
        "get": median_per_op(results["get"], iterations),
        "set": median_per_op(results["set"], iterations),
        "query": median_per_op(results["query"], query_iterations),
    }
    return times, [r["key"] for r in hits[:limit]]


# --------------------------------------------------------------------------------------
# import + open in a fresh interpreter

_IMPORT_OPEN = """
import time
start = time.perf_counter()
import satchel
store = satchel.open()
elapsed = time.perf_counter() - start
print(elapsed)
"""

# The floor under it: the settings library satchel.open() needs (it brings pydantic).
# The same, in a program that already runs asyncio: every program that uses satchel does,
# since its API is async.
_IMPORT_OPEN_IN_ASYNCIO_PROGRAM = """
import asyncio
import time
start = time.perf_counter()
import satchel
store = satchel.open()
elapsed = time.perf_counter() - start
print(elapsed)
"""

_IMPORT_FLOOR = """
import time
start = time.perf_counter()
import pydantic_settings
elapsed = time.perf_counter() - start
print(elapsed)
"""


def measure_import_open(runs: int) -> dict[str, float]:
    """Median of ``runs`` fresh interpreters: import satchel + satchel.open(), measured inside
    the interpreter; the whole process's wall time (interpreter start-up included); and, for
    comparison, ``import pydantic_settings`` alone. The runs alternate, so that a busy moment
    of the machine weighs on both alike."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL"))
    }
    # Time imports as an installed program runs them: from bytecode, as pip leaves it (uv
    # and PYTHONDONTWRITEBYTECODE=1 leave none, and compiling would be timed instead).
    import compileall

    for entry in sys.path:
        if entry and os.path.isdir(entry):
            compileall.compile_dir(entry, quiet=2)

    inside: list[float] = []
    wall: list[float] = []
    floor: list[float] = []
    in_asyncio: list[float] = []

    def run(code: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
        )
        return float(out.stdout.strip().splitlines()[-1])

    for _ in range(runs):
        start = time.perf_counter()
        inside.append(run(_IMPORT_OPEN))
        wall.append(time.perf_counter() - start)
        floor.append(run(_IMPORT_FLOOR))
        in_asyncio.append(run(_IMPORT_OPEN_IN_ASYNCIO_PROGRAM))
    return {
        "import_open_ms": statistics.median(inside) * 1000,
        "process_wall_ms": statistics.median(wall) * 1000,
        "import_pydantic_settings_ms": statistics.median(floor) * 1000,
        "import_open_after_asyncio_ms": statistics.median(in_asyncio) * 1000,
    }


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--iterations", type=int, default=5000, help="get/set operations per repeat"
    )
    parser.add_argument("--query-iterations", type=int, default=50, help="queries per repeat")
    cli.add_repeats(parser, 7)
    parser.add_argument("--records", type=int, default=1000, help="records in the namespace")
    parser.add_argument("--limit", type=int, default=10, help="the query's limit")
    parser.add_argument("--import-runs", type=int, default=7, help="fresh interpreters to time")
    cli.add_output(parser)
    args = parser.parse_args(argv)

    records = Records(args.records)
    value_bytes = median_bytes(records.values)
    counts = (args.iterations, args.query_iterations, args.repeats, args.limit)
    ours, our_keys = asyncio.run(measure_satchel(records, *counts))
    base, base_keys = measure_baseline(records, *counts)
    if our_keys != base_keys:
        raise SystemExit("the query results differ from the baseline's; the benchmark is wrong")
    startup = measure_import_open(args.import_runs)

    operations: dict[str, dict[str, Any]] = {}
    for name in ("get", "set", "query"):
        ratio = ours[name] / base[name]
        target_ratio = TARGETS.get(name)
        operations[name] = {
            "satchel_us": round(ours[name], 2),
            "baseline_us": round(base[name], 2),
            "ratio": round(ratio, 2),
            "target_ratio": target_ratio,
            "met": None if target_ratio is None else ratio <= target_ratio,
        }
    result = {
        "machine": cli.machine(),
        "parameters": {
            "iterations": args.iterations,
            "query_iterations": args.query_iterations,
            "repeats": args.repeats,
            "records": args.records,
            "limit": args.limit,
            "value_bytes": value_bytes,
            "import_runs": args.import_runs,
        },
        "operations": operations,
        "import_open": {
            "import_open_ms": round(startup["import_open_ms"], 1),
            "process_wall_ms": round(startup["process_wall_ms"], 1),
            "import_pydantic_settings_ms": round(startup["import_pydantic_settings_ms"], 1),
            "import_open_after_asyncio_ms": round(startup["import_open_after_asyncio_ms"], 1),
            "target_ms": IMPORT_OPEN_TARGET_MS,
            "met": startup["import_open_ms"] <= IMPORT_OPEN_TARGET_MS,
        },
    }
    missed = [n for n, o in operations.items() if o["met"] is False]
    if not result["import_open"]["met"]:
        missed.append("import_open")

    if args.json:
        cli.print_json(result)
    else:
        m = result["machine"]
        print(
            f"satchel memory backend vs dict + deepcopy: {args.records} records of "
            f"{value_bytes:.0f} B JSON; median of {args.repeats} repeats"
        )
        print(cli.machine_line(m))
        print()
        print(f"{'operation':<10}{'satchel µs/op':>15}{'baseline µs/op':>16}{'ratio':>8}  target")
        for name, o in operations.items():
            target = (
                "-"
                if o["target_ratio"] is None
                else cli.verdict("<=", o["target_ratio"], 0, o["met"])
            )
            print(
                f"{name:<10}{o['satchel_us']:>15.2f}{o['baseline_us']:>16.2f}"
                f"{o['ratio']:>7.2f}x  {target}"
            )
        io = result["import_open"]
        print()
        print(
            f"import satchel + satchel.open(): {io['import_open_ms']:.1f} ms (median of "
            f"{args.import_runs} fresh interpreters; target < {IMPORT_OPEN_TARGET_MS:.0f} ms: "
            f"{'met' if io['met'] else 'MISSED'}); whole process {io['process_wall_ms']:.1f} ms"
        )
        print(
            f"in a program that already imported asyncio: "
            f"{io['import_open_after_asyncio_ms']:.1f} ms"
        )
        print(
            f"for comparison, import pydantic_settings alone: "
            f"{io['import_pydantic_settings_ms']:.1f} ms"
        )
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
