"""Benchmark of satchel.transfer: a copy of a Redis namespace to MongoDB and to Redis, and a
backup to a file restored into MongoDB, in records per second, next to the raw clients.

In one run, on the same servers: a source Redis namespace is filled through satchel
(``KVStore.set_many`` in batches of ``--fill-batch``) with ``--records`` records of ~1 KiB
JSON (:func:`workload.make_value`), every tenth with a TTL of a day, each under an index
entry (``status``). Then, each timed whole, in records per second:

- ``copy → mongodb``: ``transfer.copy(source, target, ["kv:agents"])`` into a MongoDB
  handle (a throwaway SecantusDB unless ``--uri``), batches of ``--batch`` (by default
  satchel's own default);
- ``copy → redis``: the same into a second throwaway ``redis-server`` (``--url2``): a copy
  between two servers, as a migration is, and not a second prefix on the source server,
  whose one thread would then serve the reads and the writes;
- the raw clients' best batch throughput for the same movement: redis-py ``SCAN`` (``COUNT``
  = the batch) of the source's record hashes and a pipelined ``HGETALL`` per batch, then
  pymongo ``insert_many(ordered=False)`` of the same documents (the value as a
  sub-document, version, created, updated, expires and the index entry, as satchel stores
  them; into a fresh collection with the same two indexes as ``bench_mongodb.py``'s raw
  side), or a pipelined ``HSET`` of the same hash fields (and ``PEXPIREAT`` where the record
  expires) on the second Redis. The raw side does less than a copy: it keeps no key set,
  index sets or version floor on the Redis target, and inserts into an empty collection
  where satchel replaces by key; a third side (``raw upsert``) writes the same documents as
  a ``bulk_write`` of ``ReplaceOne`` upserts by ``_id``, ordered, as a copy that may run
  again over the same keys must. Each batch size of ``--raw-batches`` is tried on the first
  ``--probe`` records; the best one then moves them all. orjson parses the values on the
  raw side, as satchel does;
- ``read only``: the read side alone, a dry run of the copy against the raw reads in
  batches of ``--batch``;
- ``export`` of the namespace to a ``.jsonl.gz`` file and ``import`` of it into a fresh
  MongoDB namespace (``transfer.export`` / ``transfer.import_``; an import of a path reads
  it twice: it checks every line before writing).

``--repeats`` repeats the copies (each into an emptied target, the sides of a target back
to back, in an order that rotates from repeat to repeat); a rate is the median
of the repeats', a ratio (satchel / raw) the median of each repeat's own. The load average
is taken before every timed step and reported beside it: the machine is shared.

Afterwards the same queries (equality, range, order by a value field with a limit, counts
and an index lookup) run on the Redis source, the Redis copy, the MongoDB copy and the
MongoDB import; every answer (keys, values, versions, times and expiry) must be the same,
or the benchmark exits 1. Everything it wrote is deleted at the end (keys under
``satchel-bench:`` and collections named ``satchel-bench.*`` on servers it was given; the
file). A measurement, not a test.

    uv run python benchmarks/bench_transfer.py --quick
    uv run python benchmarks/bench_transfer.py                 # 100,000 records
    uv run python benchmarks/bench_transfer.py --records 20000 --raw-batches 500,1000 --json
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import cli
import servers
from workload import make_value, median_bytes

REDIS_PREFIX = servers.REDIS_PREFIX
MONGO_PREFIX = servers.MONGO_PREFIX
#: The namespace moved, as transfer names it (``<kind>:<name>`` of the handle's namespace).
NAME = "agents"
MOVED = f"kv:{NAME}"
#: Every TTL_EVERY-th record lives TTL_S seconds; the others never expire.
TTL_EVERY = 10
TTL_S = 86_400
#: The index every record is stored under.
INDEXES = {"status": lambda value: [value["status"]]}

# --------------------------------------------------------------------------------------
# the queries whose answers must agree


def _entry(e: Any) -> tuple[Any, ...]:
    return (e.key, e.value, e.version, e.created_at, e.updated_at, e.expires_at)


async def _all(kv: Any, where: Any, order_by: Any = None) -> list[tuple[Any, ...]]:
    """Every entry a query finds, page after page."""
    out: list[tuple[Any, ...]] = []
    cursor = None
    while True:
        page = await kv.query(where, order_by=order_by, limit=1000, cursor=cursor)
        out += [_entry(e) for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return out


QUERIES: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "equality user.name == user-7": lambda kv: _all(kv, [("user.name", "eq", "user-7")]),
    "range 0.5 <= score < 0.505": lambda kv: _all(
        kv, [("score", "gte", 0.5), ("score", "lt", 0.505)]
    ),
    "status == done, order by -score, limit 50": lambda kv: _page(
        kv, [("status", "eq", "done")], "-score", 50
    ),
    "order by step then key, limit 50": lambda kv: _page(kv, None, "step", 50),
    "count": lambda kv: kv.count(),
    "count status == open": lambda kv: kv.count([("status", "eq", "open")]),
    "find status = failed, limit 100": lambda kv: _find(kv, "failed", 100),
}


async def _page(kv: Any, where: Any, order_by: str, limit: int) -> list[tuple[Any, ...]]:
    page = await kv.query(where, order_by=order_by, limit=limit)
    return [_entry(e) for e in page.items]


async def _find(kv: Any, status: str, limit: int) -> list[tuple[Any, ...]]:
    return [_entry(e) for e in await kv.find("status", status, limit=limit)]


async def answers(kv: Any) -> tuple[dict[str, Any], float]:
    """The answer of every query, and the seconds they took."""
    start = time.perf_counter()
    out = {name: await q(kv) for name, q in QUERIES.items()}
    return out, time.perf_counter() - start


def _describe(got: Any) -> str:
    if isinstance(got, list):
        return f"{len(got)} entries, first {str(got[:1])[:200]}"
    return repr(got)


# --------------------------------------------------------------------------------------


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _ms_time(raw: bytes | None) -> datetime | None:
    return None if raw is None else datetime.fromtimestamp(int(raw) / 1000, timezone.utc)


async def measure(
    srv: servers.Servers,
    url2: str,
    records: int,
    fill_batch: int,
    batch_size: int,
    raw_batches: list[int],
    probe: int,
    repeats: int,
    directory: str,
) -> dict[str, Any]:
    import orjson
    from pymongo import IndexModel, ReplaceOne
    from redis.asyncio import Redis

    import satchel
    from satchel import transfer

    def mongo_handle(side: str) -> Any:
        return servers.open_handle("mongodb", srv, side)

    def redis_handle(url: str, side: str) -> Any:
        return satchel.open(
            backend="redis",
            backend_settings={"url": url, "key_prefix": f"{REDIS_PREFIX}{side}:"},
        )

    source = redis_handle(str(srv.redis_url), "src")
    imported = mongo_handle("im")
    # the copies' targets: a fresh handle on a fresh prefix for every repeat (a backend
    # remembers the collections it has set up, so emptying them under it would not do)
    targets: dict[str, Any] = {"mongodb": mongo_handle("cp0"), "redis": redis_handle(url2, "cp0")}
    handles = [source, imported]
    kv = source.kv(NAME, ttl=None, indexes=INDEXES)
    collection = kv.collection
    raw_src = servers.raw_redis(str(srv.redis_url), source.raw_backend.settings)
    raw_dst = servers.raw_redis(url2, targets["redis"].raw_backend.settings)
    client, db = servers.raw_mongodb(
        str(srv.mongodb_uri), srv.database, imported.raw_backend.settings
    )
    raw_coll = db.get_collection(f"{MONGO_PREFIX}rw.{NAME}")
    src_base = source.raw_backend._layout.base(collection)  # the record hashes' prefix
    dst_base = f"{REDIS_PREFIX}rw:{NAME}:"
    load: dict[str, list[float]] = {"start": _load()}
    out: dict[str, Any] = {"load_average": load}

    async def clean() -> None:
        for url in (str(srv.redis_url), url2):
            r = Redis.from_url(url)
            try:
                await servers.delete_redis_keys(r)
            finally:
                await r.aclose()
        await servers.drop_collections(db)

    async def reset_redis(prefix: str) -> None:
        await servers.delete_redis_keys(raw_dst, prefix)

    async def fresh_target(target: str, r: int) -> None:
        """A new handle for the copy into ``target`` in repeat ``r``; the previous one's
        data deleted."""
        await targets[target].close()
        if target == "mongodb":
            await servers.drop_collections(db, f"{MONGO_PREFIX}cp")
            targets[target] = mongo_handle(f"cp{r}")
        else:
            await reset_redis(f"{REDIS_PREFIX}cp")
            targets[target] = redis_handle(url2, f"cp{r}")

    async def reset_raw_mongo() -> None:
        await raw_coll.drop()
        await raw_coll.create_indexes(
            [
                IndexModel([("tag", 1), ("_id", 1)], name="tag"),
                IndexModel([("expires", 1)], name="ttl", expireAfterSeconds=60),
            ]
        )

    # -- the raw side ------------------------------------------------------------------

    async def raw_pages(batch: int, limit: int) -> AsyncIterator[list[tuple[bytes, Any]]]:
        """The source's record hashes, ``batch`` at a time (SCAN COUNT batch, a pipelined
        HGETALL per batch), the first ``limit`` of them."""
        keys: list[bytes] = []
        taken = 0

        async def fetch(page: list[bytes]) -> list[tuple[bytes, Any]]:
            pipe = raw_src.pipeline(transaction=False)
            for k in page:
                pipe.hgetall(k)
            got = await pipe.execute()
            return [(k, h) for k, h in zip(page, got, strict=True) if h]

        async for key in raw_src.scan_iter(match=f"{src_base}r:*", count=batch):
            keys.append(key)
            taken += 1
            if len(keys) >= batch or taken >= limit:
                yield await fetch(keys)
                keys = []
                if taken >= limit:
                    return
        if keys:
            yield await fetch(keys)

    cut = len(f"{src_base}r:".encode())

    def document(key: bytes, h: dict[bytes, bytes]) -> dict[str, Any]:
        index = orjson.loads(h[b"i"]) if b"i" in h else {}
        return {
            "_id": key[cut:].decode(),
            "value": orjson.loads(h[b"v"]),
            "version": int(h[b"n"]),
            "created": _ms_time(h[b"c"]),
            "updated": _ms_time(h[b"u"]),
            "expires": _ms_time(h.get(b"e")),
            "tag": index.get("status", []),
        }

    async def raw_to_mongo(batch: int, limit: int, upsert: bool = False) -> int:
        """``insert_many(ordered=False)`` into the empty collection; or (``upsert``) what a
        copy that can run again needs, as satchel's does: a ``bulk_write`` of ``ReplaceOne``
        upserts by ``_id``, ordered (a later duplicate of a key wins)."""
        moved = 0
        async for page in raw_pages(batch, limit):
            docs = [document(k, h) for k, h in page]
            if upsert:
                result = await raw_coll.bulk_write(
                    [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs], ordered=True
                )
                written = result.upserted_count + result.matched_count
            else:
                written = len((await raw_coll.insert_many(docs, ordered=False)).inserted_ids)
            if written != len(docs):
                raise SystemExit("the raw write wrote too little; the benchmark is wrong")
            moved += len(docs)
        return moved

    async def raw_to_redis(batch: int, limit: int) -> int:
        moved = 0
        async for page in raw_pages(batch, limit):
            pipe = raw_dst.pipeline(transaction=False)
            for k, h in page:
                target = dst_base.encode() + k[cut:]
                pipe.hset(target, mapping=h)
                if b"e" in h:
                    pipe.pexpireat(target, int(h[b"e"]))
            await pipe.execute()
            moved += len(page)
        return moved

    # -- the satchel side --------------------------------------------------------------

    async def copy_to(target: str, dry_run: bool = False) -> int:
        report = await transfer.copy(
            source, targets[target], [MOVED], batch_size=batch_size, dry_run=dry_run
        )
        return report.total

    async def raw_read(batch: int, limit: int) -> int:
        return sum([len(page) async for page in raw_pages(batch, limit)])

    async def nothing(r: int) -> None:
        return None

    async def timed(label: str, step: Callable[[], Awaitable[int]]) -> float:
        """Records per second of ``step``, which must move every record."""
        load[label] = _load()
        start = time.perf_counter()
        moved = await step()
        seconds = time.perf_counter() - start
        if moved != records:
            raise SystemExit(f"{label} moved {moved} records, not {records}")
        print(
            f"  {label}: {seconds:.1f} s, {records / seconds:,.0f} records/s (load {load[label]})",
            file=sys.stderr,
        )
        return records / seconds

    try:
        await clean()
        info = await client.server_info()

        # -- fill the source through satchel
        load["fill"] = _load()
        start = time.perf_counter()
        sizes = []
        for low in range(0, records, fill_batch):
            values = {
                f"agent-{i:06d}": make_value(i) for i in range(low, min(records, low + fill_batch))
            }
            if low == 0:
                sizes = list(values.values())
            expiring = {k: v for k, v in values.items() if int(k[6:]) % TTL_EVERY == 0}
            lasting = {k: v for k, v in values.items() if k not in expiring}
            await kv.set_many(lasting)
            await kv.set_many(expiring, ttl=TTL_S)
        fill_s = time.perf_counter() - start
        if await kv.count() != records:
            raise SystemExit("the source holds another count; the benchmark is wrong")
        out["fill"] = {"seconds": round(fill_s, 2), "records_per_s": round(records / fill_s)}
        out["value_bytes"] = median_bytes(sizes)
        print(f"  filled {records} records: {fill_s:.1f} s (load {load['fill']})", file=sys.stderr)

        # -- the raw side's best batch size, on the first `probe` records
        trials: dict[str, dict[int, float]] = {"mongodb": {}, "redis": {}}
        raw_ends: list[
            tuple[str, Callable[[], Awaitable[None]], Callable[[int, int], Awaitable[int]]]
        ]
        raw_ends = [
            ("mongodb", reset_raw_mongo, raw_to_mongo),
            ("redis", lambda: reset_redis(dst_base), raw_to_redis),
        ]
        for b in raw_batches:
            for end, empty, carry in raw_ends:
                await empty()
                label = f"raw → {end}, batch {b}, {probe} records"
                load[label] = _load()
                start = time.perf_counter()
                moved = await carry(b, probe)
                seconds = time.perf_counter() - start
                if moved != probe:
                    raise SystemExit(f"{label} moved {moved}; the benchmark is wrong")
                trials[end][b] = probe / seconds
                print(
                    f"  {label}: {probe / seconds:,.0f} records/s (load {load[label]})",
                    file=sys.stderr,
                )
        best = {t: max(rates, key=lambda b: rates[b]) for t, rates in trials.items()}
        out["raw_trials"] = {
            t: {str(b): round(r) for b, r in rates.items()} for t, rates in trials.items()
        }
        out["raw_best_batch"] = best

        # -- the copies, satchel and raw back to back, the order rotating
        best_mongo, best_redis = best["mongodb"], best["redis"]
        best["read only"] = batch_size
        Step = Callable[[int], Awaitable[Any]]
        pairs: dict[str, list[tuple[str, Step, Step]]] = {
            "mongodb": [
                ("satchel", lambda r: fresh_target("mongodb", r), lambda r: copy_to("mongodb")),
                ("raw", lambda r: reset_raw_mongo(), lambda r: raw_to_mongo(best_mongo, records)),
                (
                    "raw upsert",
                    lambda r: reset_raw_mongo(),
                    lambda r: raw_to_mongo(best_mongo, records, upsert=True),
                ),
            ],
            "redis": [
                ("satchel", lambda r: fresh_target("redis", r), lambda r: copy_to("redis")),
                (
                    "raw",
                    lambda r: reset_redis(dst_base),
                    lambda r: raw_to_redis(best_redis, records),
                ),
            ],
            # the read side alone: a dry run of the copy, and the raw reads at its batch size
            "read only": [
                ("satchel", nothing, lambda r: copy_to("redis", dry_run=True)),
                ("raw", nothing, lambda r: raw_read(batch_size, records)),
            ],
        }
        rates: dict[str, list[float]] = {}
        for r in range(repeats):
            for target, sides in pairs.items():
                shift = r % len(sides)
                order = sides[shift:] + sides[:shift]
                for side, reset, move in order:
                    await reset(r)
                    rate = await timed(
                        f"{side} → {target}, repeat {r + 1}", functools.partial(move, r)
                    )
                    rates.setdefault(f"{target} {side}", []).append(rate)

        def ratio(target: str, side: str) -> float:
            """satchel's rate over ``side``'s: the median of the repeats' own ratios."""
            ours, theirs = rates[f"{target} satchel"], rates[f"{target} {side}"]
            return round(statistics.median(a / b for a, b in zip(ours, theirs, strict=True)), 3)

        out["copy"] = {}
        for target, sides in pairs.items():
            names = [side for side, _, _ in sides]
            figures: dict[str, Any] = {
                f"{side.replace(' ', '_')}_records_per_s": round(
                    statistics.median(rates[f"{target} {side}"])
                )
                for side in names
            }
            for side in names[1:]:
                figures["ratio" if side == "raw" else f"ratio_{side.replace(' ', '_')}"] = ratio(
                    target, side
                )
            figures["raw_batch"] = best[target]
            figures["repeats_records_per_s"] = {
                side: [round(x) for x in rates[f"{target} {side}"]] for side in names
            }
            out["copy"][target] = figures

        # -- export to a file, import into a fresh MongoDB namespace
        path = os.path.join(directory, "backup.jsonl.gz")

        async def export() -> int:
            return (await transfer.export(source, path, [MOVED], batch_size=batch_size)).total

        async def import_() -> int:
            return (await transfer.import_(imported, path, [MOVED], batch_size=batch_size)).total

        out["export"] = {"records_per_s": round(await timed("export → .jsonl.gz", export))}
        out["export"]["file_bytes"] = os.stat(path).st_size
        out["import"] = {"records_per_s": round(await timed("import .jsonl.gz → mongodb", import_))}

        # -- the same answers
        load["queries"] = _load()
        ends = {
            "redis source": kv,
            "redis copy": targets["redis"].kv(NAME, indexes=INDEXES),
            "mongodb copy": targets["mongodb"].kv(NAME, indexes=INDEXES),
            "mongodb import": imported.kv(NAME, indexes=INDEXES),
        }
        got: dict[str, dict[str, Any]] = {}
        query_s: dict[str, float] = {}
        for end, store in ends.items():
            got[end], query_s[end] = await answers(store)
            print(f"  queries on {end}: {query_s[end]:.1f} s", file=sys.stderr)
        want = got["redis source"]
        for name in QUERIES:
            if isinstance(want[name], list) and not want[name]:
                raise SystemExit(
                    f"query {name!r} found nothing on the source; the benchmark is wrong"
                )
        for end, answered in got.items():
            for name in QUERIES:
                if answered[name] != want[name]:
                    raise SystemExit(
                        f"NOT the same answers: {name!r} on {end}: {_describe(answered[name])}; "
                        f"on the redis source: {_describe(want[name])}"
                    )
        out["queries"] = {
            "same_answers": True,
            "answers": {name: len(a) if isinstance(a, list) else a for name, a in want.items()},
            "seconds": {end: round(s, 2) for end, s in query_s.items()},
        }
        load["end"] = _load()
    finally:
        with contextlib.suppress(Exception):
            await clean()
        for h in [*handles, *targets.values()]:
            await h.close()
        await raw_src.aclose()
        await raw_dst.aclose()
        await client.close()
    out["server_version"] = str(info.get("version", "?"))
    return out


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from satchel import transfer

    parser = cli.parser(__doc__)
    parser.add_argument(
        "--records", type=int, default=None, help="records moved (default 100000, --quick 10000)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=transfer.DEFAULT_BATCH_SIZE,
        help=f"satchel's batch_size (default {transfer.DEFAULT_BATCH_SIZE}, transfer's own)",
    )
    parser.add_argument(
        "--raw-batches", default="100,500,1000,2000", help="the raw side's batch sizes to try"
    )
    parser.add_argument(
        "--probe",
        type=int,
        default=10_000,
        help="records each raw batch size is tried on (default 10000, at most --records)",
    )
    parser.add_argument(
        "--fill-batch",
        type=int,
        default=1000,
        help="records per set_many filling the source (default 1000)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="copies per side (default 1): medians of them"
    )
    parser.add_argument("--quick", action="store_true", help="10000 records (--records wins)")
    cli.add_servers(parser)
    parser.add_argument("--url2", help="the Redis server copied to (default: a throwaway one)")
    cli.add_output(parser, check=None)
    args = parser.parse_args(argv)
    if args.records is None:
        args.records = 10_000 if args.quick else 100_000
    try:
        raw_batches = [int(b) for b in args.raw_batches.split(",") if b.strip()]
    except ValueError:
        parser.error("--raw-batches: a comma-separated list of whole numbers")
    if not raw_batches or min(raw_batches) < 1:
        parser.error("--raw-batches: a comma-separated list of whole numbers")
    if args.records < 1000 or args.repeats < 1 or args.fill_batch < 1 or args.probe < 1:
        parser.error("--records must be at least 1000; --repeats, --fill-batch, --probe at least 1")
    args.probe = min(args.probe, args.records)

    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        srv = servers.start(stack, ["redis", "mongodb"], args.url, args.uri, args.database)
        second = stack.enter_context(servers.redis(args.url2))
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="satchel-bench-"))
        measured = asyncio.run(
            measure(
                srv,
                second.url,
                args.records,
                args.fill_batch,
                args.batch,
                raw_batches,
                args.probe,
                args.repeats,
                directory,
            )
        )
        described = dict(srv.described, redis_target=second.described)
    total_s = time.perf_counter() - started

    result: dict[str, Any] = {
        "machine": cli.machine(load_average=True),
        "versions": cli.versions(
            ["satchel", "redis", "hiredis", "pymongo", "orjson", "SecantusDB"]
        ),
        "servers": described,
        "mongodb_reports": measured.pop("server_version"),
        "parameters": {
            "records": args.records,
            "batch": args.batch,
            "raw_batches": raw_batches,
            "probe": args.probe,
            "fill_batch": args.fill_batch,
            "repeats": args.repeats,
            "ttl_every": TTL_EVERY,
        },
        **measured,
        "total_seconds": round(total_s, 1),
    }
    if args.json:
        cli.print_json(result)
        return 0

    m = result["machine"]
    print(
        f"satchel.transfer vs raw redis-py + pymongo: {args.records} records of "
        f"{result['value_bytes']:.0f} B JSON (1 in {TTL_EVERY} with a TTL, one index entry each)"
    )
    for name, where in described.items():
        print(f"  {name}: {where}")
    print(cli.machine_line(m))
    print(cli.versions_line(result["versions"]))
    print(
        f"satchel batch_size {args.batch}; raw batch sizes tried on {args.probe} records: "
        f"{', '.join(map(str, raw_batches))}; {args.repeats} repeat(s), medians"
    )
    load = result["load_average"]
    print()
    print(
        f"fill (KVStore.set_many of {args.fill_batch}): {result['fill']['records_per_s']:,} "
        f"records/s  (load {load['fill']})"
    )
    print()
    print(f"{'records/s':<26}{'satchel':>10}{'raw best':>10}{'raw batch':>11}{'ratio':>8}")
    for target, c in result["copy"].items():
        label = "copy redis → " + target if target != "read only" else "read only (dry run)"
        print(
            f"{label:<26}{c['satchel_records_per_s']:>10,}"
            f"{c['raw_records_per_s']:>10,}{c['raw_batch']:>11}{c['ratio']:>7.2f}x"
        )
    upsert = result["copy"]["mongodb"]
    print(
        f"{'  raw → mongodb, upserts':<26}{'':>10}{upsert['raw_upsert_records_per_s']:>10,}"
        f"{upsert['raw_batch']:>11}{upsert['ratio_raw_upsert']:>7.2f}x"
    )
    for target, rates_ in result["raw_trials"].items():
        tried = ", ".join(f"{b}: {r:,}" for b, r in rates_.items())
        print(f"  raw → {target} by batch size ({args.probe} records): {tried}")
    print(
        f"export → .jsonl.gz: {result['export']['records_per_s']:,} records/s "
        f"({result['export']['file_bytes']:,} bytes)"
    )
    print(f"import .jsonl.gz → mongodb: {result['import']['records_per_s']:,} records/s")
    print("load average before each step:")
    for step, values in load.items():
        print(f"  {step}: {values}")
    q = result["queries"]
    print()
    print("queries: " + "; ".join(f"{k} = {v}" for k, v in q["answers"].items()))
    print("  seconds: " + ", ".join(f"{k} {v}" for k, v in q["seconds"].items()))
    print("same answers: yes")
    print(f"total: {result['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
