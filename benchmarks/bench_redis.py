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

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bench_memory import make_value  # the same ~1 KiB agent-state values

# Targets: satchel (through satchel.open() + KVStore) / raw redis.asyncio, per operation; and
# the speed-up of one batch call over as many single calls.
TARGETS = {"get": 1.15, "set": 1.15}
BATCH_TARGET = 10.0

#: Every key this benchmark writes starts with this (all prefixes have the same length, so
#: that every side sends keys of the same size).
PREFIX = "satchel-bench:"
PREFIX_KV = PREFIX + "kv:"
PREFIX_BACKEND = PREFIX + "be:"
PREFIX_RAW = PREFIX + "rw:"
PREFIX_STRING = PREFIX + "st:"

HOST = "127.0.0.1"

# satchel_redis encodes values with exactly this encoder; the raw side does the same.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def paired_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the repeats' ratios: each repeat timed both sides back to back, so
    their ratio is far steadier than the ratio of two medians taken apart."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def paired_extra(ours: list[float], theirs: list[float]) -> float:
    """The median of the repeats' differences (µs), for the same reason."""
    return statistics.median(a - b for a, b in zip(ours, theirs, strict=True))


# --------------------------------------------------------------------------------------
# the throwaway server


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port != 6379:  # never the system's Redis port
            return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks that stop the server


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A ``redis-server`` from PATH on a free port of 127.0.0.1, without persistence, in a
    temporary directory; killed (and the directory removed) on exit, also on error."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH: install it, or give --url")
    directory = tempfile.mkdtemp(prefix="satchel-bench-redis-")
    process: subprocess.Popen[bytes] | None = None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        for _ in range(5):  # the free port may be taken before redis binds it: try another
            port = _free_port()
            command = [
                binary,
                "--port", str(port),
                "--bind", HOST,
                "--save", "",
                "--appendonly", "no",
                "--dir", directory,
                "--daemonize", "no",
            ]  # fmt: skip
            with open(os.path.join(directory, "redis.out"), "wb") as out:
                process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                if _pong(port):
                    yield f"redis://{HOST}:{port}/0"
                    return
                time.sleep(0.02)
            process.kill()
            process.wait()
            process = None
        with open(os.path.join(directory, "redis.out"), errors="replace") as out:
            tail = "\n".join(out.read().splitlines()[-10:])
        raise SystemExit(f"redis-server did not start:\n{tail}")
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------------------
# the measurements

Operation = Callable[[int], Awaitable[Any]]


@dataclass
class Case:
    """One timed operation: ``iterations`` awaits of ``op(i)`` per repeat."""

    op: Operation
    iterations: int
    timings: list[int]


async def timed(op: Operation, iterations: int) -> int:
    start = time.perf_counter_ns()
    for i in range(iterations):
        await op(i)
    return time.perf_counter_ns() - start


async def run_groups(groups: list[list[Case]], repeats: int, warmup: int) -> None:
    """Warm every case up, then time each group's cases back to back, ``repeats`` times,
    rotating the order within each group from one repeat to the next."""
    for group in groups:
        for case in group:
            await timed(case.op, min(case.iterations, warmup))
    for r in range(repeats):
        for group in groups:
            shift = r % len(group)
            for case in group[shift:] + group[:shift]:
                case.timings.append(await timed(case.op, case.iterations))


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


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _delete_bench_keys(client: Any) -> None:
    keys = [key async for key in client.scan_iter(match=PREFIX + "*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.unlink(*keys[start : start + 500])


async def measure(
    url: str,
    records: int,
    iterations: int,
    batch: int,
    batch_iterations: int,
    repeats: int,
    warmup: int,
) -> dict[str, Any]:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    import satchel
    from satchel.backend import Record
    from satchel_redis.backend import RedisBackend
    from satchel_redis.layout import Layout
    from satchel_redis.scripts import SCRIPTS

    keys = [f"agent-{i:06d}" for i in range(records)]
    values = [make_value(i) for i in range(records)]
    texts = [_encode(v) for v in values]
    n = len(keys)
    chunks = [keys[j : j + batch] for j in range(0, n - batch + 1, batch)]
    positions = {k: j for j, k in enumerate(keys)}
    chunk_items = [{k: values[positions[k]] for k in chunk} for chunk in chunks]

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
    settings = backend.settings
    # the settings satchel gives its own client (see satchel_redis.backend._connect)
    raw = Redis.from_url(
        url,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=Retry(NoBackoff(), 0),
        max_connections=settings.max_connections,
        decode_responses=False,
    )
    put = SCRIPTS["put"]
    raw_base = Layout(PREFIX_RAW).base(collection)
    tokens = itertools.count()  # a fresh write id per write, as satchel's; never reused
    keep_ms = backend._keep_ms  # how long the outcome log keeps it, as satchel's
    token_base = os.urandom(6).hex()
    records_ = [Record(collection, k, v) for k, v in zip(keys, values, strict=True)]

    try:
        await _delete_bench_keys(raw)
        info = await raw.info("server")
        await raw.script_load(put.source)

        # -- single operations ----------------------------------------------------------

        async def kv_get(i: int) -> Any:
            return await kv.get(keys[i % n])

        async def kv_set(i: int) -> Any:
            return await kv.set(keys[i % n], values[i % n])

        async def backend_get(i: int) -> Any:
            return await backend.get(collection, keys[i % n])

        async def backend_set(i: int) -> Any:
            return await backend.put(records_[i % n])

        async def raw_get(i: int) -> Any:
            fields = await raw.hgetall(f"{raw_base}r:{keys[i % n]}")
            return decode_fields(fields, _now_ms())

        def put_args(i: int) -> list[Any]:
            key = keys[i % n]
            token = f"{token_base}{next(tokens):x}"
            # ARGV: base, now, key, value, expires, index, mode, token, keep (see scripts.py)
            value = _encode(values[i % n])
            return [raw_base, _now_ms(), key, value, "", "", "", token, keep_ms]

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

        async def kv_get_many(i: int) -> Any:
            return await kv.get_many(chunks[i % len(chunks)])

        async def kv_get_singles(i: int) -> Any:
            return [await kv.get(k) for k in chunks[i % len(chunks)]]

        async def kv_set_many(i: int) -> Any:
            return await kv.set_many(chunk_items[i % len(chunks)])

        async def kv_set_singles(i: int) -> Any:
            return [await kv.set(k, v) for k, v in chunk_items[i % len(chunks)].items()]

        async def raw_get_pipeline(i: int) -> Any:
            async with raw.pipeline(transaction=False) as pipe:
                for key in chunks[i % len(chunks)]:
                    pipe.hgetall(f"{raw_base}r:{key}")
                replies = await pipe.execute()
            now = _now_ms()
            return [decode_fields(fields, now) for fields in replies]

        async def raw_get_sequential(i: int) -> Any:
            out = []
            for key in chunks[i % len(chunks)]:
                fields = await raw.hgetall(f"{raw_base}r:{key}")
                out.append(decode_fields(fields, _now_ms()))
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
        await kv.set_many(dict(zip(keys, values, strict=True)))
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
        if await kv_get_many(0) != chunk_items[0]:
            raise SystemExit("get_many read back other values; the benchmark is wrong")

        def case(op: Operation, count: int = iterations) -> Case:
            return Case(op, count, [])

        single = {
            "get": {"kv": case(kv_get), "backend": case(backend_get), "raw": case(raw_get)},
            "set": {"kv": case(kv_set), "backend": case(backend_set), "raw": case(raw_set)},
            "string": {"GET": case(string_get), "SET": case(string_set)},
        }
        batches = {
            "get_many": {
                "kv_batch": case(kv_get_many, batch_iterations),
                "kv_singles": case(kv_get_singles, batch_iterations),
                "raw_batch": case(raw_get_pipeline, batch_iterations),
                "raw_singles": case(raw_get_sequential, batch_iterations),
            },
            "set_many": {
                "kv_batch": case(kv_set_many, batch_iterations),
                "kv_singles": case(kv_set_singles, batch_iterations),
                "raw_batch": case(raw_set_pipeline, batch_iterations),
                "raw_singles": case(raw_set_sequential, batch_iterations),
            },
        }
        groups = [list(g.values()) for g in single.values()]
        groups += [list(g.values()) for g in batches.values()]
        await run_groups(groups, repeats, warmup)
    finally:
        with contextlib.suppress(Exception):
            await _delete_bench_keys(raw)
        await handle.close()
        await backend.close()
        await raw.aclose()

    runs = {
        f"{op} {side}": [t / c.iterations / 1000 for t in c.timings]
        for op, sides in (*single.items(), *batches.items())
        for side, c in sides.items()
    }
    return {"redis_version": str(info.get("redis_version", "?")), "runs": runs}


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=500, help="single operations per repeat")
    parser.add_argument("--batch", type=int, default=100, help="records per batch")
    parser.add_argument(
        "--batch-iterations", type=int, default=4, help="batches (and runs of singles) per repeat"
    )
    parser.add_argument("--repeats", type=int, default=21, help="timings per figure (median)")
    parser.add_argument("--records", type=int, default=1000, help="records on each side")
    parser.add_argument(
        "--warmup", type=int, default=500, help="untimed operations per case before timing"
    )
    parser.add_argument(
        "--url", help="use this Redis server instead of starting a throwaway redis-server"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.records < args.batch:
        parser.error("--records must be at least --batch")

    def run(url: str) -> dict[str, Any]:
        return asyncio.run(
            measure(
                url,
                args.records,
                args.iterations,
                args.batch,
                args.batch_iterations,
                args.repeats,
                args.warmup,
            )
        )

    if args.url is None:
        with redis_server() as url:
            measured = run(url)
        where = f"{url} (throwaway)"
    else:
        measured = run(args.url)
        from satchel.settings import redact_url

        where = redact_url(args.url)

    runs: dict[str, list[float]] = measured["runs"]
    med = {name: statistics.median(values) for name, values in runs.items()}
    value_bytes = statistics.median(len(_encode(make_value(i))) for i in range(args.records))

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
        speedup = paired_ratio(runs[f"{name} kv_singles"], runs[f"{name} kv_batch"])
        batches[name] = {
            "kv_batch_us": round(med[f"{name} kv_batch"], 1),
            "kv_singles_us": round(med[f"{name} kv_singles"], 1),
            "kv_speedup": round(speedup, 2),
            "raw_pipeline_us": round(med[f"{name} raw_batch"], 1),
            "raw_sequential_us": round(med[f"{name} raw_singles"], 1),
            "raw_speedup": round(
                paired_ratio(runs[f"{name} raw_singles"], runs[f"{name} raw_batch"]), 2
            ),
            "target_speedup": BATCH_TARGET,
            "met": speedup >= BATCH_TARGET,
        }
    result = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
        },
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
        "repeats_us": {name: [round(v, 2) for v in values] for name, values in runs.items()},
    }
    missed = [n for n, o in single.items() if not o["met"]]
    missed += [n for n, o in batches.items() if not o["met"]]

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        m = result["machine"]
        print(
            f"satchel redis backend vs raw redis.asyncio: redis {measured['redis_version']} at "
            f"{where}; {args.records} records of {value_bytes:.0f} B JSON"
        )
        print(f"machine: nproc={m['nproc']}, {m['implementation']} {m['python']}, {m['platform']}")
        print(
            f"µs: medians of {args.repeats} repeats; extra, ratios and speed-ups: medians of "
            "each repeat's own (both sides timed back to back)"
        )
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
                    target = f"<= {o['target_ratio']:.2f}x {'met' if o['met'] else 'MISSED'}"
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
            target = f">= {o['target_speedup']:.0f}x {'met' if o['met'] else 'MISSED'}"
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
        print("targets: " + ("all met" if not missed else "MISSED: " + ", ".join(missed)))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
