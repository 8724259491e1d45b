"""Benchmark of satchel against raw clients and key-value peers, side by side in one run.

Measures, interleaved in one event loop and against one server, on ~1 KiB JSON records
shaped like an agent's state (:func:`workload.make_value`), every operation four ways where
the side has it:

- ``satchel``: ``satchel.open()`` and ``handle.kv()`` (the ``metrics`` plugin on, as users
  run it), or ``handle.tasks()`` for the task rows;
- ``raw``: ``redis.asyncio`` doing the plain operation on the same JSON (``GET`` +
  ``json.loads``, ``SET``, ``SET PX``, ``EXISTS``, ``DEL``, ``MGET``, ``MSET``; a query
  is ``SCAN`` + ``MGET`` + filter and order in Python; a task update is a hand-written Lua
  version check of the same document); in memory, a ``dict`` and ``copy.deepcopy`` (the
  copies satchel keeps);
- ``py-key-value-aio`` (``RedisStore`` / ``MemoryStore``) and ``aiocache``
  (``RedisCache`` / ``SimpleMemoryCache`` with its JSON serializer), where they have the
  operation.

Every figure is a ratio to the raw side: the median of each repeat's own ratio, the sides
of an operation timed back to back in an order that rotates from repeat to repeat (see
:mod:`rounds`). satchel's ratio is held to a target. Then a fresh process each of: import
satchel, open memory, one set and one get; the same with aiocache's memory cache; and plain
python with asyncio, alternated, medians of their wall times; and which modules
``satchel --help`` and ``satchel backends`` import.

The benchmark starts its own throwaway ``redis-server`` (from PATH) unless ``--url`` names
one, where it writes only keys under ``satchel-bench:`` and deletes them before and after.
A measurement, not a test: ``--check`` makes a missed target exit 1.

    uv run python benchmarks/bench_peers.py
    uv run python benchmarks/bench_peers.py --quick
    uv run python benchmarks/bench_peers.py --repeats 31 --json
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import cli
import servers
from rounds import US, Case, Operation, medians, paired_ratio, rounded, time_cases
from workload import STATUSES, Records, encode, make_value, median_bytes

PREFIX = servers.REDIS_PREFIX
#: satchel's targets: the ratio of satchel to the raw side, per row.
TARGETS: dict[str, float] = {
    "redis get": 1.10,
    "redis set": 1.30,
    "redis set ttl": 1.30,
    "redis exists": 1.15,
    "redis delete": 1.15,
    "redis get_many": 1.25,
    "redis set_many": 2.00,
    "redis query": 1.20,
    "redis task update": 1.25,
    "redis task workload": 1.25,
    "memory get": 0.90,
    "memory set": 1.50,
}
#: The sides, in the order the tables show them.
SIDES = ("satchel", "raw", "py-key-value-aio", "aiocache")
PEERS = ("py-key-value-aio", "aiocache")
TTL_S = 3600
#: A query no index covers: one status, highest score first, 20 of them.
QUERY_STATUS = STATUSES[0]
QUERY_LIMIT = 20

# the Lua of the raw task side: a version check and the write, as a hand-written app would
CREATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', 1)
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""
UPDATE_LUA = """
local n = redis.call('HGET', KEYS[1], 'n')
if not n then return -1 end
if n ~= ARGV[1] then return -2 end
local new = tonumber(n) + 1
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'n', new)
redis.call('SET', KEYS[2], ARGV[3])
return new
"""


def task_model() -> Any:
    """A ~3 KiB agent task, as Teal Agents keeps them."""
    from pydantic import BaseModel

    class Item(BaseModel):
        request_id: str
        role: str
        content: str
        tokens: int

    class Task(BaseModel):
        task_id: str
        session_id: str
        user_id: str
        status: str
        created_at: float
        items: list[Item]

    return Task


def make_task(model: Any, i: int, step: int) -> Any:
    items = [
        {
            "request_id": f"req-{i}-{n}",
            "role": "user" if n % 2 == 0 else "assistant",
            "content": f"turn {n} of task {i}: " + "lorem ipsum dolor sit amet " * 8,
            "tokens": 17 * n + step,
        }
        for n in range(10)
    ]
    return model(
        task_id=f"task-{i:06d}",
        session_id=f"session-{i % 13}",
        user_id=f"user-{i % 97}",
        status="Running" if step < 10 else "Completed",
        created_at=1_700_000_000.0 + i,
        items=items,
    )


# --------------------------------------------------------------------------------------
# Redis


async def measure_redis(
    url: str, records: int, iterations: int, batch: int, batch_iterations: int, repeats: int,
    warmup: int, peers: list[str], unavailable: dict[str, str],
) -> tuple[dict[str, list[float]], str]:  # fmt: skip
    import satchel

    data = Records(records, batch)
    keys, values, n = data.keys, data.values, data.n
    chunks, chunk_items = data.chunks, data.chunk_items
    texts = [encode(v) for v in values]
    srv = servers.Servers(url, None, "")
    handle = satchel.open(
        backend="redis",
        backend_settings={"url": url, "key_prefix": f"{PREFIX}sa:"},
    )
    kv = handle.kv("bench")
    kv_del = handle.kv("del")
    model = task_model()
    tasks = handle.tasks(model)
    raw = servers.raw_redis(url, handle.raw_backend.settings)
    closers: list[Callable[[], Any]] = [handle.close, raw.aclose]
    rp = f"{PREFIX}rw:"

    cases: dict[str, dict[str, Case]] = {}
    refills: list[Callable[[], Any]] = []

    def add(op: str, side: str, fn: Operation, its: int = iterations) -> None:
        cases.setdefault(op, {})[side] = Case(fn, its)

    # -- satchel
    async def s_get(i: int) -> Any:
        return await kv.get(keys[i % n])

    async def s_set(i: int) -> Any:
        return await kv.set(keys[i % n], values[i % n])

    async def s_set_ttl(i: int) -> Any:
        return await kv.set(keys[i % n], values[i % n], ttl=TTL_S)

    async def s_exists(i: int) -> Any:
        return await kv.exists(keys[i % n])

    async def s_delete(i: int) -> Any:
        return await kv_del.delete(keys[i % n])

    async def s_get_many(i: int) -> Any:
        return await kv.get_many(chunks[i % len(chunks)])

    async def s_set_many(i: int) -> Any:
        return await kv.set_many(chunk_items[i % len(chunks)])

    async def s_query(i: int) -> Any:
        page = await kv.query({"status": QUERY_STATUS}, order_by="-score", limit=QUERY_LIMIT)
        return [(e.key, e.value) for e in page.items]

    for op, fn in {
        "get": s_get, "set": s_set, "set ttl": s_set_ttl, "exists": s_exists,
        "delete": s_delete,
    }.items():  # fmt: skip
        add(op, "satchel", fn)
    add("get_many", "satchel", s_get_many, batch_iterations)
    add("set_many", "satchel", s_set_many, batch_iterations)
    add("query", "satchel", s_query, batch_iterations)

    async def s_refill() -> None:
        await kv_del.set_many(data.items())

    refills.append(s_refill)

    # -- raw
    async def r_get(i: int) -> Any:
        got = await raw.get(f"{rp}{keys[i % n]}")
        return None if got is None else json.loads(got)

    async def r_set(i: int) -> Any:
        return await raw.set(f"{rp}{keys[i % n]}", encode(values[i % n]))

    async def r_set_ttl(i: int) -> Any:
        return await raw.set(f"{rp}{keys[i % n]}", encode(values[i % n]), px=TTL_S * 1000)

    async def r_exists(i: int) -> Any:
        return await raw.exists(f"{rp}{keys[i % n]}") == 1

    async def r_delete(i: int) -> Any:
        return await raw.delete(f"{rp}d:{keys[i % n]}") == 1

    async def r_get_many(i: int) -> Any:
        chunk = chunks[i % len(chunks)]
        got = await raw.mget([f"{rp}{k}" for k in chunk])
        return {k: json.loads(v) for k, v in zip(chunk, got, strict=True) if v is not None}

    async def r_set_many(i: int) -> Any:
        items = chunk_items[i % len(chunks)]
        return await raw.mset({f"{rp}{k}": encode(v) for k, v in items.items()})

    async def r_query(i: int) -> Any:
        found = [key async for key in raw.scan_iter(match=f"{rp}agent-*", count=1000)]
        hits = []
        for start in range(0, len(found), 500):
            part = found[start : start + 500]
            for key, text in zip(part, await raw.mget(part), strict=True):
                if text is None:
                    continue
                value = json.loads(text)
                if value.get("status") == QUERY_STATUS:
                    hits.append((key.decode()[len(rp) :], value))
        hits.sort(key=lambda kv_: (-kv_[1]["score"], kv_[0]))
        return hits[:QUERY_LIMIT]

    for op, fn in {
        "get": r_get, "set": r_set, "set ttl": r_set_ttl, "exists": r_exists,
        "delete": r_delete,
    }.items():  # fmt: skip
        add(op, "raw", fn)
    add("get_many", "raw", r_get_many, batch_iterations)
    add("set_many", "raw", r_set_many, batch_iterations)
    add("query", "raw", r_query, batch_iterations)

    async def r_refill() -> None:
        await raw.mset({f"{rp}d:{k}": t for k, t in zip(keys, texts, strict=True)})

    refills.append(r_refill)

    # -- py-key-value-aio
    if "py-key-value-aio" in peers:
        try:
            from key_value.aio.stores.redis import RedisStore

            pkv = RedisStore(url=url, default_collection=f"{PREFIX}kv")
            await pkv.setup() if hasattr(pkv, "setup") else None
            closers.append(pkv.close if hasattr(pkv, "close") else (lambda: asyncio.sleep(0)))

            async def p_get(i: int) -> Any:
                return await pkv.get(keys[i % n])

            async def p_set(i: int) -> Any:
                return await pkv.put(keys[i % n], values[i % n])

            async def p_set_ttl(i: int) -> Any:
                return await pkv.put(keys[i % n], values[i % n], ttl=TTL_S)

            async def p_delete(i: int) -> Any:
                return await pkv.delete(keys[i % n], collection=f"{PREFIX}kvd")

            async def p_get_many(i: int) -> Any:
                chunk = chunks[i % len(chunks)]
                got = await pkv.get_many(chunk)
                return {k: v for k, v in zip(chunk, got, strict=True) if v is not None}

            async def p_set_many(i: int) -> Any:
                items = chunk_items[i % len(chunks)]
                return await pkv.put_many(list(items), list(items.values()))

            for op, fn in {
                "get": p_get, "set": p_set, "set ttl": p_set_ttl, "delete": p_delete,
            }.items():  # fmt: skip
                add(op, "py-key-value-aio", fn)
            add("get_many", "py-key-value-aio", p_get_many, batch_iterations)
            add("set_many", "py-key-value-aio", p_set_many, batch_iterations)

            async def p_refill() -> None:
                await pkv.put_many(keys, values, collection=f"{PREFIX}kvd")

            refills.append(p_refill)
        except Exception as exc:  # a peer that cannot run here is reported, not fatal
            unavailable["py-key-value-aio"] = f"{type(exc).__name__}: {exc}"[:300]

    # -- aiocache
    if "aiocache" in peers:
        try:
            from aiocache import RedisCache
            from aiocache.serializers import JsonSerializer

            host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
            where = {"endpoint": host, "port": int(port), "serializer": JsonSerializer()}
            ac = RedisCache(namespace=f"{PREFIX}ac:", **where)
            acd = RedisCache(namespace=f"{PREFIX}acd:", **where)
            closers += [ac.close, acd.close]

            async def a_get(i: int) -> Any:
                return await ac.get(keys[i % n])

            async def a_set(i: int) -> Any:
                return await ac.set(keys[i % n], values[i % n])

            async def a_set_ttl(i: int) -> Any:
                return await ac.set(keys[i % n], values[i % n], ttl=TTL_S)

            async def a_exists(i: int) -> Any:
                return await ac.exists(keys[i % n])

            async def a_delete(i: int) -> Any:
                return await acd.delete(keys[i % n])

            async def a_get_many(i: int) -> Any:
                chunk = chunks[i % len(chunks)]
                got = await ac.multi_get(chunk)
                return {k: v for k, v in zip(chunk, got, strict=True) if v is not None}

            async def a_set_many(i: int) -> Any:
                return await ac.multi_set(list(chunk_items[i % len(chunks)].items()))

            for op, fn in {
                "get": a_get, "set": a_set, "set ttl": a_set_ttl, "exists": a_exists,
                "delete": a_delete,
            }.items():  # fmt: skip
                add(op, "aiocache", fn)
            add("get_many", "aiocache", a_get_many, batch_iterations)
            add("set_many", "aiocache", a_set_many, batch_iterations)

            async def a_refill() -> None:
                await acd.multi_set(list(zip(keys, values, strict=True)))

            refills.append(a_refill)
        except Exception as exc:
            unavailable["aiocache"] = f"{type(exc).__name__}: {exc}"[:300]

    # -- tasks: one update(expected_version=), and a whole agent task
    task_keys = 64
    version: dict[str, int] = {}
    task_docs = [[make_task(model, i, s) for s in range(12)] for i in range(task_keys)]
    update_lua = raw.register_script(UPDATE_LUA)
    create_lua = raw.register_script(CREATE_LUA)
    raw_version: dict[str, int] = {}
    # a fresh task per workload, its request ids its own: made before timing
    runs_each = batch_iterations * repeats + min(batch_iterations, warmup) + 2
    fresh = {
        side: [
            [make_task(model, 10_000 * (k + 1) + j, step) for step in range(11)]
            for j in range(runs_each)
        ]
        for k, side in enumerate(("satchel", "raw"))
    }
    counter = {"satchel": 0, "raw": 0}

    async def s_update(i: int) -> Any:
        task = task_docs[i % task_keys][1 + i % 10]
        key = task.task_id
        version[key] = await tasks.update(task, expected_version=version[key])
        return version[key]

    async def r_update(i: int) -> Any:
        task = task_docs[i % task_keys][1 + i % 10]
        key = task.task_id
        text = task.model_dump_json()
        got = await update_lua(
            keys=[f"{rp}t:{key}", f"{rp}rid:{task.items[-1].request_id}"],
            args=[raw_version[key], text, key],
        )
        if got < 0:
            raise RuntimeError(f"raw update refused: {got}")
        raw_version[key] = got
        return got

    async def s_workload(i: int) -> Any:
        docs = fresh["satchel"][counter["satchel"]]
        counter["satchel"] += 1
        v = await tasks.create(docs[0])
        for step in range(1, 11):
            v = await tasks.update(docs[step], expected_version=v)
        return await tasks.load_by_request_id(docs[10].items[-1].request_id)

    async def r_workload(i: int) -> Any:
        docs = fresh["raw"][counter["raw"]]
        counter["raw"] += 1
        key = docs[0].task_id
        tk = f"{rp}t:{key}"
        await create_lua(
            keys=[tk, f"{rp}rid:{docs[0].items[-1].request_id}"],
            args=[docs[0].model_dump_json(), key],
        )
        v = 1
        for step in range(1, 11):
            doc = docs[step]
            v = await update_lua(
                keys=[tk, f"{rp}rid:{doc.items[-1].request_id}"],
                args=[v, doc.model_dump_json(), key],
            )
        found = await raw.get(f"{rp}rid:{docs[10].items[-1].request_id}")
        text = await raw.hget(f"{rp}t:{found.decode()}", "v")
        return model.model_validate_json(text)

    add("task update", "satchel", s_update)
    add("task update", "raw", r_update)
    add("task workload", "satchel", s_workload, batch_iterations)
    add("task workload", "raw", r_workload, batch_iterations)

    try:
        await servers.delete_redis_keys(raw)
        info = await raw.info("server")
        # every side starts from the same records
        await kv.set_many(data.items())
        await raw.mset({f"{rp}{k}": t for k, t in zip(keys, texts, strict=True)})
        if "py-key-value-aio" in cases["get"]:
            await pkv.put_many(keys, values)
        if "aiocache" in cases["get"]:
            await ac.multi_set(list(zip(keys, values, strict=True)))
        for refill in refills:
            await refill()
        for docs in task_docs:
            task = docs[0]
            version[task.task_id] = await tasks.create(task)
            await create_lua(
                keys=[f"{rp}t:{task.task_id}", f"{rp}rid:{task.items[-1].request_id}"],
                args=[task.model_dump_json(), task.task_id],
            )
            raw_version[task.task_id] = 1
        # every side reads back the same
        for op in ("get", "get_many", "query", "task workload"):
            got = {side: await case.op(0) for side, case in cases[op].items()}
            first = got.pop("raw")
            for side, other in got.items():
                if op == "task workload":  # two tasks of their own: the same steps
                    other = (other.status, [item.tokens for item in other.items])
                    first_ = (first.status, [item.tokens for item in first.items])
                else:
                    first_ = first
                if other != first_:
                    raise SystemExit(f"{side} read back other data than raw in {op}")

        async def reset() -> None:
            for refill in refills:
                await refill()

        runs = await time_cases(
            {f"redis {op}": sides for op, sides in cases.items()}, repeats, warmup, US, reset
        )
    finally:
        with contextlib.suppress(Exception):
            await servers.delete_redis_keys(raw)
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()
    del srv
    return runs, str(info.get("redis_version", "?"))


# --------------------------------------------------------------------------------------
# memory


async def measure_memory(
    records: int, iterations: int, repeats: int, warmup: int, peers: list[str],
    unavailable: dict[str, str],
) -> dict[str, list[float]]:  # fmt: skip
    import satchel

    data = Records(records)
    keys, values, n = data.keys, data.values, data.n
    handle = satchel.open(backend="memory")
    kv = handle.kv("bench")
    store: dict[str, Any] = {}
    cases: dict[str, dict[str, Case]] = {"get": {}, "set": {}}

    async def s_get(i: int) -> Any:
        return await kv.get(keys[i % n])

    async def s_set(i: int) -> Any:
        return await kv.set(keys[i % n], values[i % n])

    async def r_get(i: int) -> Any:
        found = store.get(keys[i % n])
        return None if found is None else copy.deepcopy(found)

    async def r_set(i: int) -> Any:
        store[keys[i % n]] = copy.deepcopy(values[i % n])

    cases["get"] |= {"satchel": Case(s_get, iterations), "raw": Case(r_get, iterations)}
    cases["set"] |= {"satchel": Case(s_set, iterations), "raw": Case(r_set, iterations)}
    closers: list[Callable[[], Any]] = [handle.close]
    if "py-key-value-aio" in peers:
        try:
            from key_value.aio.stores.memory import MemoryStore

            pkv = MemoryStore()

            async def p_get(i: int) -> Any:
                return await pkv.get(keys[i % n])

            async def p_set(i: int) -> Any:
                return await pkv.put(keys[i % n], values[i % n])

            cases["get"]["py-key-value-aio"] = Case(p_get, iterations)
            cases["set"]["py-key-value-aio"] = Case(p_set, iterations)
            for k, v in zip(keys, values, strict=True):
                await pkv.put(k, v)
        except Exception as exc:
            unavailable["py-key-value-aio"] = f"{type(exc).__name__}: {exc}"[:300]
    if "aiocache" in peers:
        try:
            from aiocache import SimpleMemoryCache
            from aiocache.serializers import JsonSerializer

            # JSON serialised, as the Redis cache: a copy per read and write, as satchel's
            ac = SimpleMemoryCache(serializer=JsonSerializer())

            async def a_get(i: int) -> Any:
                return await ac.get(keys[i % n])

            async def a_set(i: int) -> Any:
                return await ac.set(keys[i % n], values[i % n])

            cases["get"]["aiocache"] = Case(a_get, iterations)
            cases["set"]["aiocache"] = Case(a_set, iterations)
            for k, v in zip(keys, values, strict=True):
                await ac.set(k, v)
        except Exception as exc:
            unavailable["aiocache"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        await kv.set_many(data.items())
        for k, v in zip(keys, values, strict=True):
            store[k] = copy.deepcopy(v)
        for side, case in cases["get"].items():
            if await case.op(1) != values[1]:
                raise SystemExit(f"{side} read back another value in memory get")
        return await time_cases(
            {f"memory {op}": sides for op, sides in cases.items()}, repeats, warmup, US
        )
    finally:
        for close in closers:
            await close()


# --------------------------------------------------------------------------------------
# fresh processes

COLD = {
    "satchel": (
        "import asyncio, satchel\n"
        "async def main():\n"
        "    h = satchel.open(backend='memory')\n"
        "    kv = h.kv('a')\n"
        "    await kv.set('k', {'a': 1})\n"
        "    assert await kv.get('k') == {'a': 1}\n"
        "    await h.close()\n"
        "asyncio.run(main())\n"
    ),
    "aiocache": (
        "import asyncio\n"
        "from aiocache import SimpleMemoryCache\n"
        "async def main():\n"
        "    c = SimpleMemoryCache()\n"
        "    await c.set('k', {'a': 1})\n"
        "    assert await c.get('k') == {'a': 1}\n"
        "asyncio.run(main())\n"
    ),
    "raw": (
        "import asyncio, copy\n"
        "async def main():\n"
        "    d = {}\n"
        "    d['k'] = copy.deepcopy({'a': 1})\n"
        "    assert copy.deepcopy(d['k']) == {'a': 1}\n"
        "asyncio.run(main())\n"
    ),
}
#: Database drivers, and the settings machinery.
HEAVY = ("redis", "pymongo", "bson", "motor", "pydantic_settings")
#: What each command must not import: ``--help`` nothing of HEAVY; ``backends`` shows the
#: selected backend's settings and the core's, so only the drivers.
COMMANDS = {
    "satchel --help": (["--help"], HEAVY),
    "satchel backends": (["backends"], HEAVY[:-1]),
}
_PROBE = (
    "import sys, contextlib, io\n"
    "from satchel.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
    "    main(sys.argv[1:])\n"
    "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))\n"
)


def cold_start(rounds: int, sides: list[str]) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Wall ms of a fresh process per side, alternated, ``rounds`` times; and the heavy
    modules each command imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    times: dict[str, list[float]] = {f"cold {side}": [] for side in sides}
    for r in range(rounds + 1):  # the first round warms the disk cache, untimed
        order = sides[r % len(sides) :] + sides[: r % len(sides)]
        for side in order:
            start = time.perf_counter_ns()
            subprocess.run([sys.executable, "-c", COLD[side]], check=True, env=env)
            if r:
                times[f"cold {side}"].append((time.perf_counter_ns() - start) / 1e6)
    imported: dict[str, Any] = {}
    for name, (args, heavy) in COMMANDS.items():
        out = subprocess.run(
            [sys.executable, "-c", _PROBE % (heavy,), *args],
            check=True, env=env, capture_output=True, text=True,
        )  # fmt: skip
        imported[name] = out.stdout.split()
    return times, imported


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--iterations", type=int, default=300, help="single operations per repeat")
    parser.add_argument("--batch", type=int, default=100, help="records per batch")
    parser.add_argument(
        "--batch-iterations", type=int, default=5, help="batches, queries, workloads per repeat"
    )
    parser.add_argument("--records", type=int, default=1000, help="records on each side")
    parser.add_argument("--cold-rounds", type=int, default=11, help="fresh processes per side")
    parser.add_argument("--quick", action="store_true", help="few repeats: a smoke run")
    cli.add_repeats(parser, 21)
    cli.add_warmup(parser, 200)
    cli.add_list(parser, "--peers", PEERS, "peers to run beside satchel", "all")
    cli.add_servers(parser, redis="use this Redis server instead of a throwaway one", mongodb=False)
    cli.add_output(parser)
    args = parser.parse_args(argv)
    peers = cli.parse_list(parser, args.peers, "--peers", PEERS)
    if args.quick:
        args.repeats, args.iterations, args.batch_iterations = 5, 100, 2
        args.warmup, args.cold_rounds = 50, 3
    if args.records < args.batch:
        parser.error("--records must be at least --batch")

    unavailable: dict[str, str] = {}
    with servers.redis(args.url) as server:
        runs, redis_version = asyncio.run(
            measure_redis(
                server.url, args.records, args.iterations, args.batch, args.batch_iterations,
                args.repeats, args.warmup, peers, unavailable,
            )
        )  # fmt: skip
    runs |= asyncio.run(
        measure_memory(args.records, args.iterations, args.repeats, args.warmup, peers, unavailable)
    )
    cold_sides = ["satchel", "raw"] + (["aiocache"] if "aiocache" in peers else [])
    cold, imported = cold_start(args.cold_rounds, cold_sides)

    med = medians(runs)
    rows: dict[str, dict[str, Any]] = {}
    ops: list[str] = []
    for key in runs:
        for side in SIDES:
            if key.endswith(" " + side):
                op = key[: -len(side) - 1]
                if op not in ops:
                    ops.append(op)
    missed: list[str] = []
    for op in ops:
        row: dict[str, Any] = {"raw_us": round(med[f"{op} raw"], 2)}
        for side in SIDES:
            if side != "raw" and f"{op} {side}" in runs:
                row[side] = round(paired_ratio(runs[f"{op} {side}"], runs[f"{op} raw"]), 3)
        target = TARGETS.get(op)
        if target is not None:
            row["target"] = target
            row["met"] = row["satchel"] <= target
            if not row["met"]:
                missed.append(op)
        rows[op] = row
    cold_ms = {side: round(statistics.median(cold[f"cold {side}"]), 1) for side in cold_sides}
    cold_row: dict[str, Any] = {"ms": cold_ms}
    if "aiocache" in cold_ms:
        ratio = paired_ratio(cold["cold satchel"], cold["cold aiocache"])
        cold_row["satchel_over_aiocache"] = round(ratio, 3)
        cold_row["met"] = ratio <= 1.0
        if not cold_row["met"]:
            missed.append("cold start")
    for name, mods in imported.items():
        if mods:
            missed.append(f"{name} imports {','.join(mods)}")

    from satchel_redis.backend import RedisBackend  # noqa: F401  (for the versions below)

    result = {
        "machine": cli.machine(load_average=True),
        "versions": cli.versions(["satchel", "redis", "hiredis", "py-key-value-aio", "aiocache"]),
        "server": {"url": server.where, "redis_version": redis_version},
        "parameters": {
            "iterations": args.iterations,
            "batch": args.batch,
            "batch_iterations": args.batch_iterations,
            "repeats": args.repeats,
            "records": args.records,
            "warmup": args.warmup,
            "value_bytes": median_bytes([make_value(i) for i in range(50)]),
        },
        "ratios": rows,
        "cold_start": cold_row,
        "imports": imported,
        "unavailable": unavailable,
        "repeats_us": rounded(runs, 2),
    }
    if args.json:
        cli.print_json(result)
    else:
        print(
            f"satchel beside raw clients and peers: redis {redis_version} at {server.where}; "
            f"{args.records} records of {result['parameters']['value_bytes']:.0f} B JSON"
        )
        print(cli.machine_line(result["machine"]))
        print(cli.versions_line(result["versions"]))
        print(cli.method_line("µs", args.repeats, "ratios to raw", "all sides"))
        print()
        head = f"{'':<22}{'raw µs':>10}" + "".join(f"{s:>18}" for s in SIDES if s != "raw")
        print(head + "  target")
        for op, row in rows.items():
            cells = "".join(
                f"{row[s]:>17.2f}x" if s in row else f"{'-':>18}" for s in SIDES if s != "raw"
            )
            target = "-"
            if "target" in row:
                target = cli.verdict("<=", row["target"], 2, row["met"])
            print(f"{op:<22}{row['raw_us']:>10.1f}{cells}  {target}")
        print()
        shown = ", ".join(f"{s} {ms:.0f} ms" for s, ms in cold_ms.items())
        print(f"fresh process, import + open memory + set + get (median wall): {shown}")
        if "satchel_over_aiocache" in cold_row:
            print(
                f"  satchel / aiocache: {cold_row['satchel_over_aiocache']:.2f}x  "
                f"{cli.verdict('<=', 1.0, 2, cold_row['met'])}"
            )
        for name, mods in imported.items():
            allowed = "no driver" + (" or settings machinery" if name.endswith("help") else "")
            print(f"{name}: imports {', '.join(mods) if mods else allowed}")
        for name, why in unavailable.items():
            print(f"unavailable: {name}: {why}")
        print()
        print(cli.targets_line(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
