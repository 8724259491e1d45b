"""Benchmark of satchel's Redis backend against raw ``redis.asyncio`` doing the same commands.

Measures, in one run, against the same server and on the same ~1 KiB JSON values:

- single ``get`` and ``set`` three ways:

  - through ``satchel.open()`` (``SATCHEL_BACKEND=redis``) and ``handle.kv()``: what users
    call, with the core's validation and the ``metrics`` plugin's hook around every call;
  - directly on ``RedisBackend.get`` / ``RedisBackend.put`` (built with
    ``RedisBackend.from_url``) with ready-made ``Record`` objects;
  - raw ``redis.asyncio`` doing the same commands: get = ``HGETALL`` of the record's hash,
    ``json.loads`` of its ``v`` field and ``int()`` of its metadata fields; set = ``EVALSHA``
    of the very same ``put`` script (``satchel_redis.scripts.SCRIPTS["put"]``) with the same
    arguments (JSON encoded the same way, the clock in ms, a fresh write id), and the reply
    parsed. The raw client has the settings satchel gives its own (socket and connect
    timeouts, no driver retries, ``decode_responses=False``);

  and, as context only, plain ``GET`` / ``SET`` of a 1 KiB string with the raw client;
- batches of ``--batch`` records: ``KVStore.get_many`` / ``set_many`` against as many single
  ``get`` / ``set`` awaited one after the other; and, as context, the raw client's pipeline
  of ``HGETALL`` / ``EVALSHA put`` against the same commands awaited one by one.

Each repeat times ``--iterations`` operations (``--batch-iterations`` batches) of every
case with ``time.perf_counter_ns``, all in one event loop, after a warm-up that also loads
the scripts; the cases of one operation (satchel and raw) run back to back, in an order that
rotates from repeat to repeat, so that a busy moment of the machine weighs on all alike.
Times are the medians of ``--repeats`` repeats, in µs; the extra time and the ratio of satchel
over raw, and the speed-up of a batch over singles, are the medians of each repeat's own,
which a noisy machine moves far less than figures made of two medians taken apart.

The benchmark starts its own throwaway ``redis-server`` (from PATH, on a free port of
127.0.0.1, without persistence, in a temporary directory) and kills it at the end, unless
``--url`` names a server; there it writes only keys under ``satchel-bench:`` and deletes
them before and after. This is a measurement, not a test: it prints the numbers and whether
each target is met (``--check`` makes a missed target exit 1).

    uv run python benchmarks/bench_redis.py
    uv run python benchmarks/bench_redis.py --iterations 1000 --repeats 31 --json
    uv run python benchmarks/bench_redis.py --url redis://127.0.0.1:7000/0
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import cli
import servers
from rounds import US, Case, Operation, medians, paired_extra, paired_ratio, rounded, time_cases
from workload import Records, batch_cases, batch_figures, encode, kv_operations, median_bytes

# Targets: satchel (through satchel.open() + KVStore) / raw redis.asyncio, per operation; and
# the speed-up of one batch call over as many single calls.
TARGETS = {"get": 1.15, "set": 1.15}
BATCH_TARGET = 10.0

#: Every key this benchmark writes starts with this (all prefixes have the same length, so
#: that every side sends keys of the same size).
PREFIX = servers.REDIS_PREFIX
PREFIX_KV = PREFIX + "kv:"
PREFIX_BACKEND = PREFIX + "be:"
PREFIX_RAW = PREFIX + "rw:"
PREFIX_STRING = PREFIX + "st:"


# --------------------------------------------------------------------------------------
# the measurements


def decode_fields(fields: Mapping[Any, Any], now_ms: int) -> Any:
    """What the raw client makes of a record's ``HGETALL``: the value (``None`` when there
    is none or it expired), with the metadata fields read as integers."""
    if not fields:
        return None
    expires = fields.get(b"e")
    if expires is not None and int(expires) <= now_ms:
        return None
    value = json.loads(fields[b"v"])
    int(fields[b"n"])
    int(fields[b"c"])
    int(fields[b"u"])
    return value


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def measure(
    url: str,
    records: int,
    iterations: int,
    batch: int,
    batch_iterations: int,
    repeats: int,
    warmup: int,
) -> dict[str, Any]:
    import satchel
    from satchel.backend import Record
    from satchel_redis.backend import RedisBackend
    from satchel_redis.layout import Layout
    from satchel_redis.scripts import SCRIPTS

    data = Records(records, batch)
    keys, values, n = data.keys, data.values, data.n
    chunks, positions = data.chunks, data.positions
    texts = [encode(v) for v in values]

    handle = satchel.open(
        environ={
            "SATCHEL_BACKEND": "redis",
            "SATCHEL_REDIS_URL": url,
            "SATCHEL_REDIS_KEY_PREFIX": PREFIX_KV,
        }
    )
    kv = handle.kv("bench")
    collection = kv.collection
    backend = RedisBackend.from_url(url, key_prefix=PREFIX_BACKEND)
    raw = servers.raw_redis(url, backend.settings)
    put = SCRIPTS["put"]
    raw_base = Layout(PREFIX_RAW).base(collection)
    tokens = itertools.count()  # a fresh write id per write, as satchel's; never reused
    keep_ms = backend._keep_ms  # how long the outcome log keeps it, as satchel's
    token_base = os.urandom(6).hex()
    records_ = [Record(collection, k, v) for k, v in zip(keys, values, strict=True)]
    kv_ops = kv_operations(kv, data)
    kv_get = kv_ops["get"]

    try:
        await servers.delete_redis_keys(raw)
        info = await raw.info("server")
        await raw.script_load(put.source)

        # -- single operations ----------------------------------------------------------

        async def backend_get(i: int) -> Any:
            return await backend.get(collection, keys[i % n])

        async def backend_set(i: int) -> Any:
            return await backend.put(records_[i % n])

        async def raw_get(i: int) -> Any:
            fields = await raw.hgetall(f"{raw_base}r:{keys[i % n]}")
            return decode_fields(fields, now_ms())

        def put_args(i: int) -> list[Any]:
            key = keys[i % n]
            token = f"{token_base}{next(tokens):x}"
            # ARGV: base, now, key, value, expires, index, mode, token, keep (see scripts.py)
            value = encode(values[i % n])
            return [raw_base, now_ms(), key, value, "", "", "", token, keep_ms]

        def put_reply(reply: Any) -> tuple[int, int]:
            if reply[0] != b"ok":
                raise RuntimeError(f"the put script answered {reply!r}")
            return int(reply[1]), int(reply[2])

        async def raw_set(i: int) -> Any:
            key = keys[i % n]
            reply = await raw.evalsha(put.sha, 1, f"{raw_base}r:{key}", *put_args(i))
            return put_reply(reply)

        async def string_get(i: int) -> Any:
            return await raw.get(f"{PREFIX_STRING}{keys[i % n]}")

        async def string_set(i: int) -> Any:
            return await raw.set(f"{PREFIX_STRING}{keys[i % n]}", texts[i % n])

        # -- batches ----------------------------------------------------------------------

        async def raw_get_pipeline(i: int) -> Any:
            async with raw.pipeline(transaction=False) as pipe:
                for key in chunks[i % len(chunks)]:
                    pipe.hgetall(f"{raw_base}r:{key}")
                replies = await pipe.execute()
            now = now_ms()
            return [decode_fields(fields, now) for fields in replies]

        async def raw_get_sequential(i: int) -> Any:
            out = []
            for key in chunks[i % len(chunks)]:
                fields = await raw.hgetall(f"{raw_base}r:{key}")
                out.append(decode_fields(fields, now_ms()))
            return out

        async def raw_set_pipeline(i: int) -> Any:
            async with raw.pipeline(transaction=False) as pipe:
                for key in chunks[i % len(chunks)]:
                    pipe.evalsha(put.sha, 1, f"{raw_base}r:{key}", *put_args(positions[key]))
                replies = await pipe.execute()
            return [put_reply(reply) for reply in replies]

        async def raw_set_sequential(i: int) -> Any:
            out = []
            for key in chunks[i % len(chunks)]:
                reply = await raw.evalsha(
                    put.sha, 1, f"{raw_base}r:{key}", *put_args(positions[key])
                )
                out.append(put_reply(reply))
            return out

        # every side starts from the same records, and reads back what it wrote
        await kv.set_many(data.items())
        await backend.put_many(records_)
        for j in range(n):
            await raw_set(j)
            await string_set(j)
        for j in (0, n // 2, n - 1):
            got = (
                await kv_get(j),
                (await backend_get(j)).value,
                await raw_get(j),
                json.loads(await string_get(j)),
            )
            if any(g != values[j] for g in got):
                raise SystemExit("a side read back another value; the benchmark is wrong")
        if await kv_ops["get_many"](0) != data.chunk_items[0]:
            raise SystemExit("get_many read back other values; the benchmark is wrong")

        def case(op: Operation) -> Case:
            return Case(op, iterations)

        single = {
            "get": {"kv": case(kv_get), "backend": case(backend_get), "raw": case(raw_get)},
            "set": {"kv": case(kv_ops["set"]), "backend": case(backend_set), "raw": case(raw_set)},
            "string": {"GET": case(string_get), "SET": case(string_set)},
        }
        raw_batches = {
            "get": (raw_get_pipeline, raw_get_sequential),
            "set": (raw_set_pipeline, raw_set_sequential),
        }
        batches = batch_cases(kv_ops, raw_batches, batch_iterations)
        runs = await time_cases({**single, **batches}, repeats, warmup, US)
    finally:
        with contextlib.suppress(Exception):
            await servers.delete_redis_keys(raw)
        await handle.close()
        await backend.close()
        await raw.aclose()

    return {"redis_version": str(info.get("redis_version", "?")), "runs": runs}


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--iterations", type=int, default=500, help="single operations per repeat")
    parser.add_argument("--batch", type=int, default=100, help="records per batch")
    parser.add_argument(
        "--batch-iterations", type=int, default=4, help="batches (and runs of singles) per repeat"
    )
    cli.add_repeats(parser, 21)
    parser.add_argument("--records", type=int, default=1000, help="records on each side")
    cli.add_warmup(parser, 500)
    cli.add_servers(
        parser,
        redis="use this Redis server instead of starting a throwaway redis-server",
        mongodb=False,
    )
    cli.add_output(parser)
    args = parser.parse_args(argv)
    if args.records < args.batch:
        parser.error("--records must be at least --batch")

    with servers.redis(args.url) as server:
        measured = asyncio.run(
            measure(
                server.url,
                args.records,
                args.iterations,
                args.batch,
                args.batch_iterations,
                args.repeats,
                args.warmup,
            )
        )
    where = server.where

    runs: dict[str, list[float]] = measured["runs"]
    med = medians(runs)
    value_bytes = median_bytes(Records(args.records).values)

    single: dict[str, dict[str, Any]] = {}
    for name in ("get", "set"):
        ratio = paired_ratio(runs[f"{name} kv"], runs[f"{name} raw"])
        single[name] = {
            "kv_us": round(med[f"{name} kv"], 2),
            "backend_us": round(med[f"{name} backend"], 2),
            "raw_us": round(med[f"{name} raw"], 2),
            "kv_extra_us": round(paired_extra(runs[f"{name} kv"], runs[f"{name} raw"]), 2),
            "backend_extra_us": round(
                paired_extra(runs[f"{name} backend"], runs[f"{name} raw"]), 2
            ),
            "kv_ratio": round(ratio, 3),
            "backend_ratio": round(paired_ratio(runs[f"{name} backend"], runs[f"{name} raw"]), 3),
            "target_ratio": TARGETS[name],
            "met": ratio <= TARGETS[name],
        }
    strings = {name: round(med[f"string {name}"], 2) for name in ("GET", "SET")}
    batches: dict[str, dict[str, Any]] = {}
    for name in ("get_many", "set_many"):
        batches[name] = batch_figures(runs, name, ("raw_pipeline_us", "raw_sequential_us"))
        batches[name]["target_speedup"] = BATCH_TARGET
        speedup = paired_ratio(runs[f"{name} kv_singles"], runs[f"{name} kv_batch"])
        batches[name]["met"] = speedup >= BATCH_TARGET
    result = {
        "machine": cli.machine(),
        "server": {"url": where, "redis_version": measured["redis_version"]},
        "parameters": {
            "iterations": args.iterations,
            "batch": args.batch,
            "batch_iterations": args.batch_iterations,
            "repeats": args.repeats,
            "records": args.records,
            "warmup": args.warmup,
            "value_bytes": value_bytes,
        },
        "single": single,
        "raw_string_us": strings,
        "batch": batches,
        # every repeat's figure, in the order taken: µs per operation, or per batch
        "repeats_us": rounded(runs, 2),
    }
    missed = [n for n, o in single.items() if not o["met"]]
    missed += [n for n, o in batches.items() if not o["met"]]

    if args.json:
        cli.print_json(result)
    else:
        m = result["machine"]
        print(
            f"satchel redis backend vs raw redis.asyncio: redis {measured['redis_version']} at "
            f"{where}; {args.records} records of {value_bytes:.0f} B JSON"
        )
        print(cli.machine_line(m))
        print(cli.method_line("µs", args.repeats, "extra, ratios and speed-ups", "both sides"))
        print()
        print(f"single operations, {args.iterations} per repeat, µs/op:")
        print(f"{'':<26}{'satchel':>9}{'raw':>9}{'extra':>9}{'ratio':>8}  target")
        for name, o in single.items():
            for label, side, with_target in (
                ("KVStore", "kv", True),
                ("RedisBackend", "backend", False),
            ):
                target = "-"
                if with_target:
                    target = cli.verdict("<=", o["target_ratio"], 2, o["met"])
                print(
                    f"{name + ' via ' + label:<26}{o[side + '_us']:>9.2f}{o['raw_us']:>9.2f}"
                    f"{o[side + '_extra_us']:>+9.2f}{o[side + '_ratio']:>7.2f}x  {target}"
                )
        print(
            f"{'context: raw GET, SET':<26}{strings['GET']:>18.2f}, {strings['SET']:.2f}"
            f"  (a {value_bytes:.0f} B string)"
        )
        print()
        print(
            f"batches of {args.batch}, {args.batch_iterations} per repeat, "
            f"µs per {args.batch} records:"
        )
        print(f"{'':<26}{'batch':>9}{'singles':>10}{'speed-up':>10}  target")
        for name, o in batches.items():
            target = cli.verdict(">=", o["target_speedup"], 0, o["met"])
            print(
                f"{'KVStore ' + name:<26}{o['kv_batch_us']:>9.1f}{o['kv_singles_us']:>10.1f}"
                f"{o['kv_speedup']:>9.2f}x  {target}"
            )
            command = "HGETALL" if name == "get_many" else "EVALSHA put"
            print(
                f"{'raw ' + command + ', pipelined':<26}{o['raw_pipeline_us']:>9.1f}"
                f"{o['raw_sequential_us']:>10.1f}{o['raw_speedup']:>9.2f}x  -"
            )
        print()
        print(cli.targets_line(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
