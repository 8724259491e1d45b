"""Benchmark of satchel's logs (``handle.logs()``) against the raw client doing the same work.

Measures, in one run per backend and on the same ~1 KiB chat messages (see
:func:`make_message`), two operations:

- **append** of one entry to a log that holds ``--entries`` entries;
- **last 20**: read the last ``--last`` entries of such a log, oldest first;

each three ways:

- through ``satchel.open()`` (``SATCHEL_BACKEND=...``) and ``handle.logs()``:
  ``LogStore.append(key, message)`` and ``LogStore.last(key, 20)``, what users call, with the
  core's validation and the ``metrics`` plugin's hook around every call;
- directly on the backend (``log_append`` / ``log_range(limit=20, reverse=True)``), built
  on its own, without the hook layer;
- the raw client doing the plainest equivalent:

  - memory: a ``list`` per log; append = ``list.append(copy.deepcopy(message))``, last 20 =
    ``copy.deepcopy(list[-20:])`` (awaited in a coroutine, as satchel's calls are);
  - Redis: raw ``redis.asyncio`` with the settings satchel gives its own client; a list per
    log: ``RPUSH`` of the JSON text / ``LRANGE key -20 -1`` and ``json.loads`` of each; and,
    as context, a stream per log: ``XADD key * v <json>`` / ``XREVRANGE key + - COUNT 20``,
    reversed, ``json.loads`` of each (a stream hands out ids with a time and a sequence
    number, as satchel's entries have);
  - MongoDB: raw pymongo ``AsyncMongoClient`` (the client satchel-mongodb uses) with the
    settings satchel gives its own; one collection of entry documents ``{log, seq, at, v}``
    under a unique index ``(log, seq)``; append = ``insert_one`` with the next sequence number
    from a counter in this process (the raw side needs no agreement with other processes,
    satchel's sequence numbers hold across processes), last 20 =
    ``find({"log": key}).sort("seq", -1).limit(20)``, reversed.

Every side has ``--logs`` logs of its own, filled with the same ``--entries`` messages before
timing; each append goes to the next log in turn, each read to another one. After every
repeat, untimed, every side's logs are trimmed back to ``--entries`` entries, so that every
repeat appends to and reads from logs of the same length.

Each repeat times ``--iterations`` operations of every case with ``time.perf_counter_ns``,
all in one event loop, after a warm-up; the cases of one operation (satchel and raw) run back
to back, in an order that rotates from repeat to repeat, so that a busy moment of the machine
weighs on all alike. Times are the medians of ``--repeats`` repeats, in µs; the extra time
and the ratio of satchel over raw are the medians of each repeat's own, which a noisy machine
moves far less than figures made of two medians taken apart.

The benchmark starts its own servers as the other benchmarks do: a throwaway
``redis-server`` (from PATH) and a throwaway SecantusDB in a process of its own (see
``servers.py``). ``--url`` and ``--uri`` (or ``SATCHEL_BENCH_MONGODB_URI``) name servers to
use instead; there the benchmark writes only keys under ``satchel-bench:`` and collections
whose names start with ``satchel-bench.``, and deletes them before and after. This is a
measurement, not a test: it prints the numbers and whether each target is met (``--check``
makes a missed target exit 1).

    uv run python benchmarks/bench_logs.py
    uv run python benchmarks/bench_logs.py --backends redis,mongodb --repeats 31
    uv run python benchmarks/bench_logs.py --json
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import cli
import servers
from rounds import US, Case, Operation, medians, paired_extra, paired_ratio, rounded, time_cases
from workload import encode

#: Targets: satchel (through satchel.open() + LogStore) / the raw client's plainest
#: equivalent, per backend and operation. Memory has none.
TARGETS = {
    "redis": {"append": 1.25, "last": 1.25},
    "mongodb": {"append": 1.25, "last": 1.25},
}
BACKENDS = ("memory", "redis", "mongodb")
OPERATIONS = ("append", "last")

#: Every key (Redis) and collection (MongoDB) this benchmark writes starts with these; each
#: side's prefix has the same length, so that every side sends names of the same size.
REDIS_PREFIX = servers.REDIS_PREFIX
MONGO_PREFIX = servers.MONGO_PREFIX
SIDE_PREFIXES = {"store": "lgs", "backend": "lgb", "raw": "lgr", "stream": "lgx", "script": "lgc"}

STORE_NAME = "chat"


def make_message(i: int) -> dict[str, Any]:
    """A chat message of 1 KiB as JSON (compact): role, author, turn, time, token counts,
    a tool call on the assistant's turns, and the text."""
    assistant = i % 2 == 1
    message: dict[str, Any] = {
        "id": f"msg-{i:08d}",
        "role": "assistant" if assistant else "user",
        "author": {"id": f"user-{i % 97:03d}", "name": f"User {i % 97}"},
        "turn": i,
        "created_at": f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z",
        "tokens": {"prompt": 200 + i % 800, "completion": 10 + i % 300},
        "tool_calls": (
            [
                {
                    "id": f"call-{i:08d}",
                    "name": "search_documents",
                    "arguments": {"query": f"invoices of customer {i % 500}", "limit": 5},
                }
            ]
            if assistant
            else []
        ),
        "content": "",
    }
    room = 1024 - len(encode(message))
    sentence = f"Message {i}: the quick brown fox jumps over the lazy dog. "
    message["content"] = (sentence * (room // len(sentence) + 1))[:room]
    return message


class Sides:
    """The cases of one backend: ``append`` and ``last`` callables per side, a reset, and
    a check that every side holds the same entries."""

    def __init__(self) -> None:
        self.ops: dict[str, dict[str, Operation]] = {"append": {}, "last": {}}
        self.resets: list[Callable[[], Awaitable[None]]] = []
        self.reads: dict[str, Callable[[str], Awaitable[list[Any]]]] = {}

    def add(
        self,
        side: str,
        append: Operation | None,
        last: Operation,
        reset: Callable[[], Awaitable[None]] | None,
        read: Callable[[str], Awaitable[list[Any]]],
    ) -> None:
        """A side; one without ``append`` (and ``reset``) only reads, another side's logs."""
        if append is not None:
            self.ops["append"][side] = append
        self.ops["last"][side] = last
        if reset is not None:
            self.resets.append(reset)
        self.reads[side] = read

    async def reset(self) -> None:
        for reset in self.resets:
            await reset()

    async def check(self, keys: list[str], expected: Callable[[str], list[Any]]) -> None:
        """Every side's last entries of a few logs are the expected messages."""
        for key in (keys[0], keys[len(keys) // 2], keys[-1]):
            want = expected(key)
            for side, read in self.reads.items():
                got = await read(key)
                if got != want:
                    raise SystemExit(
                        f"{side} read back other entries of {key!r} "
                        f"({len(got)} vs {len(want)}); the benchmark is wrong"
                    )

    async def run(self, iterations: int, repeats: int, warmup: int) -> dict[str, list[float]]:
        cases = {
            op: {side: Case(fn, iterations) for side, fn in sides.items()}
            for op, sides in self.ops.items()
        }
        return await time_cases(cases, repeats, warmup, US, self.reset)


class Workload:
    """The logs, the messages and which log each operation uses, shared by every side."""

    def __init__(self, logs: int, entries: int, last: int) -> None:
        self.keys = [f"conv-{j:05d}" for j in range(logs)]
        self.entries = entries
        self.last = last
        # a pool of messages larger than what any log holds; entry e of every log is
        # messages[e % len(messages)] at the start
        self.messages = [make_message(i) for i in range(max(4 * entries, 256))]
        self.texts = [encode(m) for m in self.messages]

    def append_key(self, i: int) -> str:
        return self.keys[i % len(self.keys)]

    def read_key(self, i: int) -> str:
        return self.keys[(i * 7 + 3) % len(self.keys)]

    def message(self, i: int) -> int:
        """Which message the ``i``-th append writes."""
        return (self.entries + i) % len(self.messages)

    def initial(self) -> list[dict[str, Any]]:
        return [self.messages[e % len(self.messages)] for e in range(self.entries)]


def _store_sides(sides: Sides, work: Workload, store: Any, backend: Any, collection: str) -> None:
    """The ``store`` (LogStore through satchel.open()) and ``backend`` (the backend's own
    ``log_*`` methods) sides."""
    messages, last = work.messages, work.last

    async def store_append(i: int) -> Any:
        return await store.append(work.append_key(i), messages[work.message(i)])

    async def store_last(i: int) -> Any:
        return await store.last(work.read_key(i), last)

    async def store_reset() -> None:
        for key in work.keys:
            await store.trim(key, keep_last=work.entries)

    async def store_read(key: str) -> list[Any]:
        return [item.value for item in await store.last(key, last)]

    async def backend_append(i: int) -> Any:
        return await backend.log_append(collection, work.append_key(i), [messages[work.message(i)]])

    async def backend_last(i: int) -> Any:
        entries = await backend.log_range(collection, work.read_key(i), limit=last, reverse=True)
        entries.reverse()
        return entries

    async def backend_reset() -> None:
        for key in work.keys:
            await backend.log_trim(collection, key, keep_last=work.entries)

    async def backend_read(key: str) -> list[Any]:
        entries = await backend.log_range(collection, key, limit=last, reverse=True)
        return [e.value for e in reversed(entries)]

    sides.add("store", store_append, store_last, store_reset, store_read)
    sides.add("backend", backend_append, backend_last, backend_reset, backend_read)


async def _fill_store_sides(
    work: Workload, store: Any | None, backend: Any, collection: str
) -> None:
    initial = work.initial()
    for key in work.keys:
        for start in range(0, len(initial), 100):
            if store is not None:
                await store.append(key, *initial[start : start + 100])
            await backend.log_append(collection, key, initial[start : start + 100])


# --------------------------------------------------------------------------------------
# memory: satchel against a list + deepcopy


async def measure_memory(work: Workload, iterations: int, repeats: int, warmup: int) -> Any:
    import satchel
    from satchel_memory.backend import MemoryBackend

    handle = satchel.open(environ={"SATCHEL_BACKEND": "memory"})
    store = handle.logs(STORE_NAME)
    backend = MemoryBackend()
    lists: dict[str, list[Any]] = {key: [] for key in work.keys}
    messages, last = work.messages, work.last
    try:
        sides = Sides()
        _store_sides(sides, work, store, backend, store.collection)

        async def raw_append(i: int) -> Any:
            log = lists[work.append_key(i)]
            log.append(copy.deepcopy(messages[work.message(i)]))
            return len(log)

        async def raw_last(i: int) -> Any:
            return copy.deepcopy(lists[work.read_key(i)][-last:])

        async def raw_reset() -> None:
            for log in lists.values():
                del log[: -work.entries]

        async def raw_read(key: str) -> list[Any]:
            return copy.deepcopy(lists[key][-last:])

        sides.add("raw", raw_append, raw_last, raw_reset, raw_read)
        await _fill_store_sides(work, store, backend, store.collection)
        for key in work.keys:
            lists[key].extend(copy.deepcopy(work.initial()))
        await sides.check(work.keys, lambda key: work.initial()[-last:])
        runs = await sides.run(iterations, repeats, warmup)
    finally:
        await handle.close()
        await backend.close()
    return {"server": "in process", "runs": runs}


# --------------------------------------------------------------------------------------
# Redis: satchel against raw redis.asyncio (a list; a stream as context)


async def _script_side(
    sides: Sides, work: Workload, raw: Any, scripted: Any, collection: str
) -> None:
    """The ``script`` side: the raw client calling satchel-redis's own ``log_append`` and
    ``log_range`` scripts (``EVALSHA``) with the arguments ``satchel_redis.logs`` sends, on
    logs laid out by ``scripted``, a backend of their own; the replies parsed as little as
    the raw list's (sequence numbers as ints, values by ``json.loads``). The script's
    server-side work and redis-py's packing and parsing, without satchel's Python."""
    from satchel_redis.scripts import SCRIPTS

    append, range_ = SCRIPTS["log_append"], SCRIPTS["log_range"]
    await raw.script_load(append.source)
    await raw.script_load(range_.source)
    layout, keep = scripted._layout, scripted._keep_ms
    tokens = itertools.count()
    token_base = os.urandom(6).hex()
    texts, last, loads = work.texts, work.last, json.loads
    top = f"{2**64 - 1}-0"

    def where(key: str) -> tuple[str, str]:
        base = layout.log_base(collection, key)
        return base, f"{base}l:{key}"

    async def script_append(i: int) -> Any:
        key = work.append_key(i)
        base, stream = where(key)
        token = f"{token_base}{next(tokens):x}"
        # ARGV: base, now, key, expires ('' none), token, keep, value...
        args = [base, _now_ms(), key, "", token, keep, texts[work.message(i)]]
        reply = await raw.evalsha(append.sha, 1, stream, *args)
        if reply[0] != b"ok":
            raise RuntimeError(f"the log_append script answered {reply!r}")
        return int(reply[1])

    async def script_entries(key: str) -> list[tuple[int, Any]]:
        base, stream = where(key)
        # ARGV: base, now, key, low id, high id, count, reverse ('1')
        args = [base, _now_ms(), key, "1-0", top, str(last), "1"]
        reply = await raw.evalsha(range_.sha, 1, stream, *args)
        out = [
            (int(reply[j].partition(b"-")[0]), loads(reply[j + 2])) for j in range(1, len(reply), 3)
        ]
        out.reverse()
        return out

    async def script_last(i: int) -> Any:
        return await script_entries(work.read_key(i))

    async def script_reset() -> None:
        for key in work.keys:
            await scripted.log_trim(collection, key, keep_last=work.entries)

    async def script_read(key: str) -> list[Any]:
        return [value for _, value in await script_entries(key)]

    sides.add("script", script_append, script_last, script_reset, script_read)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def measure_redis(
    url: str, work: Workload, iterations: int, repeats: int, warmup: int
) -> Any:
    import satchel
    from satchel_redis.backend import RedisBackend
    from satchel_redis.scripts import SCRIPTS

    def prefix(side: str) -> str:
        return f"{REDIS_PREFIX}{SIDE_PREFIXES[side]}:"

    handle = satchel.open(
        environ={
            "SATCHEL_BACKEND": "redis",
            "SATCHEL_REDIS_URL": url,
            "SATCHEL_REDIS_KEY_PREFIX": prefix("store"),
        }
    )
    store = handle.logs(STORE_NAME)
    collection = store.collection
    backend = RedisBackend.from_url(url, key_prefix=prefix("backend"))
    # the logs the raw client runs satchel's own scripts on (laid out, filled and trimmed by
    # a backend of their own)
    scripted = RedisBackend.from_url(url, key_prefix=prefix("script"))
    raw = servers.raw_redis(url, backend.settings)
    texts, last = work.texts, work.last
    list_keys = {key: f"{prefix('raw')}{collection}:{key}" for key in work.keys}
    stream_keys = {key: f"{prefix('stream')}{collection}:{key}" for key in work.keys}
    loads = json.loads
    try:
        await servers.delete_redis_keys(raw)
        info = await raw.info("server")
        sides = Sides()
        _store_sides(sides, work, store, backend, collection)

        async def list_append(i: int) -> Any:
            return await raw.rpush(list_keys[work.append_key(i)], texts[work.message(i)])

        async def list_last(i: int) -> Any:
            return [loads(t) for t in await raw.lrange(list_keys[work.read_key(i)], -last, -1)]

        async def list_reset() -> None:
            async with raw.pipeline(transaction=False) as pipe:
                for name in list_keys.values():
                    pipe.ltrim(name, -work.entries, -1)
                await pipe.execute()

        async def list_read(key: str) -> list[Any]:
            return [loads(t) for t in await raw.lrange(list_keys[key], -last, -1)]

        async def stream_append(i: int) -> Any:
            return await raw.xadd(stream_keys[work.append_key(i)], {"v": texts[work.message(i)]})

        async def stream_entries(key: str) -> list[Any]:
            entries: Any = await raw.xrevrange(stream_keys[key], "+", "-", count=last)
            entries.reverse()
            return [(entry_id, loads(fields[b"v"])) for entry_id, fields in entries]

        async def stream_last(i: int) -> Any:
            return await stream_entries(work.read_key(i))

        async def stream_reset() -> None:
            async with raw.pipeline(transaction=False) as pipe:
                for name in stream_keys.values():
                    pipe.xtrim(name, maxlen=work.entries, approximate=False)
                await pipe.execute()

        async def stream_read(key: str) -> list[Any]:
            return [value for _, value in await stream_entries(key)]

        sides.add("raw", list_append, list_last, list_reset, list_read)
        sides.add("stream", stream_append, stream_last, stream_reset, stream_read)
        await _fill_store_sides(work, store, backend, collection)
        if "log_append" in SCRIPTS:  # satchel-redis keeps logs natively
            await _script_side(sides, work, raw, scripted, collection)
            await _fill_store_sides(work, None, scripted, collection)
        initial = [encode(m) for m in work.initial()]
        async with raw.pipeline(transaction=False) as pipe:
            for key in work.keys:
                pipe.rpush(list_keys[key], *initial)
                for text in initial:
                    pipe.xadd(stream_keys[key], {"v": text})
            await pipe.execute()
        await sides.check(work.keys, lambda key: work.initial()[-last:])
        runs = await sides.run(iterations, repeats, warmup)
    finally:
        with contextlib.suppress(Exception):
            await servers.delete_redis_keys(raw)
        await handle.close()
        await backend.close()
        await scripted.close()
        await raw.aclose()
    return {"server": f"redis {info.get('redis_version', '?')}", "runs": runs}


# --------------------------------------------------------------------------------------
# MongoDB: satchel against raw pymongo AsyncMongoClient


async def measure_mongodb(
    uri: str, database: str, work: Workload, iterations: int, repeats: int, warmup: int
) -> Any:
    from pymongo import ASCENDING, DESCENDING, IndexModel

    import satchel
    from satchel_mongodb import MongoBackend

    def prefix(side: str) -> str:
        return f"{MONGO_PREFIX}{SIDE_PREFIXES[side]}."

    handle = satchel.open(
        environ={
            "SATCHEL_BACKEND": "mongodb",
            "SATCHEL_MONGODB_URI": uri,
            "SATCHEL_MONGODB_DATABASE": database,
            "SATCHEL_MONGODB_COLLECTION_PREFIX": prefix("store"),
        }
    )
    store = handle.logs(STORE_NAME)
    collection = store.collection
    backend = MongoBackend.from_uri(uri, database=database, collection_prefix=prefix("backend"))
    client, db = servers.raw_mongodb(uri, database, backend.settings)
    raw = db.get_collection(prefix("raw") + collection)
    messages, last = work.messages, work.last
    counters = dict.fromkeys(work.keys, 0)  # the raw side's last sequence number per log
    try:
        await servers.drop_collections(db)
        info = await client.server_info()
        sides = Sides()
        _store_sides(sides, work, store, backend, collection)

        async def raw_append(i: int) -> Any:
            key = work.append_key(i)
            counters[key] += 1
            document = {
                "log": key,
                "seq": counters[key],
                "at": datetime.now(timezone.utc),
                "v": messages[work.message(i)],
            }
            await raw.insert_one(document)
            return counters[key]

        async def raw_entries(key: str) -> list[Any]:
            cursor = raw.find({"log": key}).sort("seq", DESCENDING).limit(last)
            documents: list[Any] = await cursor.to_list(None)
            documents.reverse()
            return documents

        async def raw_last(i: int) -> Any:
            return await raw_entries(work.read_key(i))

        async def raw_reset() -> None:
            for key in work.keys:
                await raw.delete_many({"log": key, "seq": {"$lte": counters[key] - work.entries}})

        async def raw_read(key: str) -> list[Any]:
            return [d["v"] for d in await raw_entries(key)]

        # context: the same reads as a range of sequence numbers, which the raw side knows
        # (a planner that reads every entry of the log for a sort with a limit, as
        # SecantusDB's does, reads only these)
        async def range_entries(key: str) -> list[Any]:
            low = counters[key] - last + 1
            cursor = raw.find({"log": key, "seq": {"$gte": low}}).sort("seq", DESCENDING)
            documents: list[Any] = await cursor.to_list(None)
            documents.reverse()
            return documents

        async def range_last(i: int) -> Any:
            return await range_entries(work.read_key(i))

        async def range_read(key: str) -> list[Any]:
            return [d["v"] for d in await range_entries(key)]

        sides.add("raw", raw_append, raw_last, raw_reset, raw_read)
        sides.add("range", None, range_last, None, range_read)
        await raw.create_indexes(
            [IndexModel([("log", ASCENDING), ("seq", ASCENDING)], name="log_seq", unique=True)]
        )
        await _fill_store_sides(work, store, backend, collection)
        now = datetime.now(timezone.utc)
        documents = []
        for key in work.keys:
            for message in work.initial():
                counters[key] += 1
                documents.append({"log": key, "seq": counters[key], "at": now, "v": message})
        await raw.insert_many(documents, ordered=False)
        await sides.check(work.keys, lambda key: work.initial()[-last:])
        runs = await sides.run(iterations, repeats, warmup)
    finally:
        with contextlib.suppress(Exception):
            await servers.drop_collections(db)
        await handle.close()
        await backend.close()
        await client.close()
    return {"server_version": str(info.get("version", "?")), "runs": runs}


# --------------------------------------------------------------------------------------

#: Operations per repeat, by backend.
ITERATIONS = {"memory": 2000, "redis": 500, "mongodb": 200}
SIDE_LABELS = {
    "memory": {"store": "LogStore", "backend": "MemoryBackend", "raw": "list + deepcopy"},
    "redis": {
        "store": "LogStore",
        "backend": "RedisBackend",
        "raw": "raw list",
        "stream": "raw stream",
        "script": "raw, satchel's script",
    },
    "mongodb": {
        "store": "LogStore",
        "backend": "MongoBackend",
        "raw": "raw pymongo",
        "range": "raw pymongo, seq range",
    },
}
#: The context baseline nearest to what satchel does, by backend: satchel-redis keeps a log
#: as a stream; on SecantusDB a read by a range of sequence numbers reads 20 entries, the
#: sort with a limit the whole log.
CONTEXT = {"redis": "stream", "mongodb": "range"}
RAW_COMMANDS = {
    "memory": {"append": "list.append(deepcopy)", "last": "deepcopy(list[-20:])"},
    "redis": {
        "append": "RPUSH (stream: XADD; script: EVALSHA log_append)",
        "last": "LRANGE -20 -1 (stream: XREVRANGE COUNT 20; script: EVALSHA log_range)",
    },
    "mongodb": {
        "append": "insert_one",
        "last": "find(log).sort(seq,-1).limit(20) (seq range: find(log, seq >= top-19))",
    },
}


def summarise(backend: str, runs: dict[str, list[float]]) -> dict[str, Any]:
    """Medians, extras and ratios of one backend's runs (each side against ``raw``)."""
    med = medians(runs)
    out: dict[str, Any] = {}
    for op in OPERATIONS:
        raw = runs[f"{op} raw"]
        entry: dict[str, Any] = {"raw_us": round(med[f"{op} raw"], 2)}
        for side in SIDE_LABELS[backend]:
            if side == "raw" or f"{op} {side}" not in runs:
                continue
            ours = runs[f"{op} {side}"]
            entry[side] = {
                "us": round(med[f"{op} {side}"], 2),
                "extra_us": round(paired_extra(ours, raw), 2),
                "ratio": round(paired_ratio(ours, raw), 3),
            }
        context = CONTEXT.get(backend)
        if context is not None and f"{op} {context}" in runs:
            # what the store costs over the context baseline: the raw client's closest form
            theirs = runs[f"{op} {context}"]
            for side in ("store", "backend"):
                entry[side][f"ratio_over_{context}"] = round(
                    paired_ratio(runs[f"{op} {side}"], theirs), 3
                )
        target = TARGETS.get(backend, {}).get(op)
        entry["target_ratio"] = target
        entry["met"] = None if target is None else entry["store"]["ratio"] <= target
        out[op] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    cli.add_list(parser, "--backends", BACKENDS, "comma-separated", "all")
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="operations per repeat (default: "
        + ", ".join(f"{k} {v}" for k, v in ITERATIONS.items())
        + ")",
    )
    cli.add_repeats(parser, 21)
    cli.add_warmup(parser, 200)
    parser.add_argument("--logs", type=int, default=100, help="logs on each side")
    parser.add_argument(
        "--entries", type=int, default=100, help="entries of each log (kept by trimming)"
    )
    parser.add_argument("--last", type=int, default=20, help="entries each read returns")
    cli.add_servers(parser)
    cli.add_output(parser)
    args = parser.parse_args(argv)
    backends = cli.parse_list(parser, args.backends, "--backends", BACKENDS)
    if (
        args.repeats < 1
        or args.logs < 1
        or args.warmup < 0
        or (args.iterations is not None and (args.iterations < 1))
    ):
        parser.error("--repeats, --logs and --iterations must be at least 1")
    if not 1 <= args.last <= args.entries:
        parser.error("--last must be from 1 to --entries")

    work = Workload(args.logs, args.entries, args.last)
    message_bytes = statistics.median(len(t.encode()) for t in work.texts)
    measured: dict[str, dict[str, Any]] = {}
    for backend in backends:
        iterations = args.iterations or ITERATIONS[backend]
        if backend == "memory":
            m = asyncio.run(measure_memory(work, iterations, args.repeats, args.warmup))
            where = "in process"
        elif backend == "redis":
            with servers.redis(args.url) as server:
                m = asyncio.run(
                    measure_redis(server.url, work, iterations, args.repeats, args.warmup)
                )
            where = server.where
        else:
            with servers.mongodb(args.uri) as server:
                m = asyncio.run(
                    measure_mongodb(
                        server.url, args.database, work, iterations, args.repeats, args.warmup
                    )
                )
            where = server.where
            m["server"] = server.mongodb(m["server_version"])
        measured[backend] = {
            "server": m["server"],
            "where": where,
            "iterations": iterations,
            "operations": summarise(backend, m["runs"]),
            # every repeat's figure, in the order taken: µs per operation
            "repeats_us": rounded(m["runs"], 2),
        }

    missed = [
        f"{backend} {op}"
        for backend, r in measured.items()
        for op, o in r["operations"].items()
        if o["met"] is False
    ]
    result = {
        "machine": cli.machine(),
        "parameters": {
            "repeats": args.repeats,
            "warmup": args.warmup,
            "logs": args.logs,
            "entries": args.entries,
            "last": args.last,
            "message_bytes": message_bytes,
        },
        "backends": measured,
    }
    if args.json:
        cli.print_json(result)
        return 1 if (args.check and missed) else 0

    m = result["machine"]
    print(
        f"satchel logs vs the raw client: {args.logs} logs of {args.entries} chat messages "
        f"({message_bytes:.0f} B JSON) per side; append one, read the last {args.last}"
    )
    print(cli.machine_line(m))
    print(cli.method_line("µs/op", args.repeats, "extra and ratios", "both sides"))
    for backend, r in measured.items():
        print()
        at = "" if r["where"] == r["server"] else f" at {r['where']}"
        print(f"{backend}: {r['server']}{at}; {r['iterations']} operations per repeat")
        labels = SIDE_LABELS[backend]
        print(f"{'':<36}{'µs/op':>10}{'extra':>10}{'ratio':>8}  target")
        for op in OPERATIONS:
            o = r["operations"][op]
            name = "append" if op == "append" else f"last {args.last}"
            for side, label in labels.items():
                if side == "raw":
                    print(f"{name + ' via ' + label:<36}{o['raw_us']:>10.1f}{'':>10}{'':>8}  -")
                    continue
                if side not in o:
                    continue
                s = o[side]
                target = "-"
                if side == "store" and o["target_ratio"] is not None:
                    target = cli.verdict("<=", o["target_ratio"], 2, o["met"])
                print(
                    f"{name + ' via ' + label:<36}{s['us']:>10.1f}{s['extra_us']:>+10.1f}"
                    f"{s['ratio']:>7.2f}x  {target}"
                )
        context = CONTEXT.get(backend)
        for op in OPERATIONS:
            store = r["operations"][op]["store"]
            if context is not None and f"ratio_over_{context}" in store:
                name = "append" if op == "append" else f"last {args.last}"
                print(
                    f"  {name} via LogStore over {labels[context]}: "
                    f"{store[f'ratio_over_{context}']:.2f}x"
                )
        for op, command in RAW_COMMANDS[backend].items():
            print(f"  raw {op}: {command}")
    print()
    print(cli.targets_line(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
