"""Benchmark of satchel's MongoDB backend against raw pymongo ``AsyncMongoClient``, same work.

Measures, in one run, against the same server and on the same ~1 KiB JSON values:

- single ``get`` and ``put`` three ways:

  - through ``satchel.open()`` (``SATCHEL_BACKEND=mongodb``) and ``handle.kv()``: what users
    call, with the core's validation and the ``metrics`` plugin's hook around every call;
  - directly on ``MongoBackend.get`` / ``MongoBackend.put`` (built with
    ``MongoBackend.from_uri``) with ready-made ``Record`` objects;
  - raw pymongo on documents of its own, laid out as an application would: the value as a
    plain sub-document ``value`` (as satchel stores it) beside the same metadata (``ver``,
    ``ca``, ``ua``, ``exp``) and a tag array, under the same two indexes satchel creates
    (``(tag, _id)``, and a TTL index on ``exp``); get = ``find_one({"_id": key})``; put =
    ``replace_one({"_id": key}, doc, upsert=True)``. The raw client has the settings
    satchel gives its own (timeouts, pool size, tz-aware UTC codec options, primary reads,
    the same write concern). It sends no liveness condition to the server (an application
    relies on the TTL index) but drops expired documents from what it reads, as satchel's
    ``get`` does;

- reads over ``--records`` records:

  - an indexed ``MongoBackend.find(collection, "tag", value)`` returning 10 records, against
    the raw ``find({"tag": value}).sort("_id")``;
  - a pushed-down query, ``where status == "open"``, ``limit`` 20, in key order (exact on
    the server: a plain ``find`` for satchel), and the same ordered by the value field
    ``score`` (exact as well, but MongoDB orders arrays otherwise than satchel: satchel asks
    at once whether any candidate holds an array on the way to ``score``, a ``find_one``
    that finds none here, and for the page sorted by the server), via ``KVStore.query`` and
    ``MongoBackend.query``, against the raw ``find({"value.status": "open"})`` sorted by
    ``_id`` (or by ``value.score`` then ``_id``) with ``limit(21)`` (satchel also asks for
    one more than the page, to know whether another follows);
  - a query refined on the client, ``where tags.1 == "beta"``, ``limit`` 20, in key order
    (an all-digit path segment is a list index or an object key to MongoDB: satchel sends a
    superset filter, and refines, orders and cuts the candidates itself), against the raw
    ``find({"value.tags.1": "beta"})`` sorted by ``_id`` with ``limit(21)`` (which means
    the same on these values);

  and, as context, raw pymongo on satchel's own documents with the very filter satchel
  sends (``raw*``: for ``get`` and ``find``; for the query by key, the cheaper filter it
  sends first, without the array guards and liveness); for the query ordered by
  ``score`` and the refined one, ``raw*`` is that query done by hand: the candidates
  fetched with the same filter, then refined, ordered and cut in Python
  (``satchel.query.evaluate``). ``MongoBackend`` over ``raw*`` is what satchel's client side
  adds, ``raw*`` over raw what its filters and refinement cost;
- batches of ``--batch`` records: ``KVStore.get_many`` / ``set_many`` (one ``find`` with
  ``$in`` / one ``bulk_write``) against as many single ``get`` / ``set`` awaited one after
  the other; and, as context, the raw client's ``find`` with ``$in`` / ``bulk_write`` of
  ``ReplaceOne`` upserts against its singles.

Each repeat times every case (``--iterations`` single operations, ``--find-iterations``
finds, ``--query-iterations`` queries, ``--batch-iterations`` batches) with
``time.perf_counter_ns``, all in one event loop, after a warm-up; the cases of one
operation (satchel and raw) run back to back, in an order that rotates from repeat to
repeat, so that a busy moment of the machine weighs on all alike. Times are the medians of
``--repeats`` repeats, in µs; the extra time and the ratio of satchel over raw, and the
speed-up of a batch over singles, are the medians of each repeat's own, which a noisy machine
moves far less than figures made of two medians taken apart.

The benchmark starts its own throwaway SecantusDB server (PyPI ``SecantusDB``, a MongoDB
wire-protocol server written in Python) in a separate process, so that it does not share
the benchmark's interpreter, on a free port of 127.0.0.1 over a temporary directory, and
stops it at the end. Its client URIs carry ``retryWrites=false`` (its retryable-write table
slows writes down as it grows), and it sweeps expired documents every minute rather than
every second (nothing expires here, and a sweep stalls the server). ``--uri`` (or
``SATCHEL_BENCH_MONGODB_URI``) names a server to use instead, e.g. a real ``mongod``; there
the benchmark writes only collections whose names start with ``satchel-bench.`` in the
database ``--database`` and drops them before and after. This is a measurement, not a test:
it prints the numbers and whether each target is met (``--check`` makes a missed target
exit 1).

    uv run python benchmarks/bench_mongodb.py
    uv run python benchmarks/bench_mongodb.py --quick
    uv run python benchmarks/bench_mongodb.py --iterations 500 --repeats 31 --json
    uv run python benchmarks/bench_mongodb.py --uri mongodb://127.0.0.1:27017
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import datetime, timezone
from typing import Any

import cli
import servers
from rounds import US, Case, Operation, medians, paired_extra, paired_ratio, rounded, time_cases
from workload import Records, batch_cases, batch_figures, kv_operations, median_bytes

# Targets: satchel / raw pymongo, per operation (get and put through satchel.open() +
# KVStore, find through MongoBackend, queries through KVStore); and the speed-up of one
# put_many over as many single puts.
TARGETS = {"get": 1.10, "put": 1.20, "find": 1.2, "query": 1.2, "query_by_score": 1.2}
BATCH_TARGET = 10.0

#: Every collection this benchmark writes starts with this; the three sides' prefixes have
#: the same length, so that every side's collection names are of the same size.
PREFIX = servers.MONGO_PREFIX
PREFIX_KV = PREFIX + "kv."
PREFIX_BACKEND = PREFIX + "be."
PREFIX_RAW = PREFIX + "rw."
#: Records each tag of the indexed find holds.
FIND_HITS = 10
#: The queries' page size.
LIMIT = 20
WHERE = [("status", "eq", "open")]
#: A condition MongoDB means otherwise than satchel in general (an all-digit path segment is
#: a list index or an object key to MongoDB): satchel sends a superset filter and refines.
WHERE_REFINED = [("tags.1", "eq", "beta")]


# --------------------------------------------------------------------------------------
# the measurements


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _expired(doc: Any, now: datetime) -> bool:
    """Whether a document the raw client read has expired: the raw side sends no liveness
    condition to the server (it relies on the TTL index), and drops what expired itself, as
    satchel's ``get`` does."""
    expires = doc.get("expires")
    return expires is not None and expires <= now


def _value_if_live(doc: Any) -> Any:
    """What the raw client makes of a document it read: its value, or ``None`` when there is
    none or it expired."""
    if doc is None or _expired(doc, _now()):
        return None
    return doc["value"]


def _live_values(docs: list[Any]) -> list[tuple[str, Any]]:
    """``(key, value)`` of the documents that have not expired."""
    now = _now()
    return [(doc["_id"], doc["value"]) for doc in docs if not _expired(doc, now)]


async def measure(
    uri: str,
    database: str,
    records: int,
    iterations: int,
    find_iterations: int,
    query_iterations: int,
    batch: int,
    batch_iterations: int,
    repeats: int,
    warmup: int,
) -> dict[str, Any]:
    from pymongo import IndexModel, ReplaceOne

    import satchel
    from satchel.backend import Query, Record
    from satchel.query import evaluate
    from satchel_mongodb import MongoBackend, translate
    from satchel_mongodb.codec import decode

    data = Records(records, batch)
    keys, values, n = data.keys, data.values, data.n
    chunks, positions = data.chunks, data.positions
    groups = max(1, n // FIND_HITS)
    tags = [f"t{i % groups:05d}" for i in range(n)]

    handle = satchel.open(
        environ={
            "SATCHEL_BACKEND": "mongodb",
            "SATCHEL_MONGODB_URI": uri,
            "SATCHEL_MONGODB_DATABASE": database,
            "SATCHEL_MONGODB_COLLECTION_PREFIX": PREFIX_KV,
        }
    )
    kv = handle.kv("bench")
    collection = kv.collection
    backend = MongoBackend.from_uri(uri, database=database, collection_prefix=PREFIX_BACKEND)
    client, db = servers.raw_mongodb(uri, database, backend.settings)
    raw = db.get_collection(PREFIX_RAW + collection)
    # satchel's own documents (read by the raw* context cases only); checked below
    shadow = db.get_collection(PREFIX_BACKEND + collection)

    records_ = [
        Record(collection, k, v, index={"tag": (t,)})
        for k, v, t in zip(keys, values, tags, strict=True)
    ]
    created = _now()
    versions = [0] * n
    kv_ops = kv_operations(kv, data)
    kv_get = kv_ops["get"]

    def raw_document(j: int, now: datetime) -> dict[str, Any]:
        versions[j] += 1
        return {
            "_id": keys[j],
            "value": values[j],
            "version": versions[j],
            "created": created,
            "updated": now,
            "expires": None,
            "tag": [tags[j]],
        }

    query_by_key = Query.build(where=WHERE, limit=LIMIT)
    query_by_score = Query.build(where=WHERE, order_by="score", limit=LIMIT)
    query_refined = Query.build(where=WHERE_REFINED, limit=LIMIT)
    shadow_where = translate.where_filter(query_by_key.where)
    shadow_refined = translate.where_filter(query_refined.where)

    try:
        await servers.drop_collections(db)
        info = await client.server_info()

        # -- single operations ----------------------------------------------------------

        async def backend_get(i: int) -> Any:
            return await backend.get(collection, keys[i % n])

        async def backend_put(i: int) -> Any:
            return await backend.put(records_[i % n])

        async def raw_get(i: int) -> Any:
            return _value_if_live(await raw.find_one({"_id": keys[i % n]}))

        async def raw_put(i: int) -> Any:
            j = i % n
            result = await raw.replace_one({"_id": keys[j]}, raw_document(j, _now()), upsert=True)
            if result.matched_count + (result.upserted_id is not None) != 1:
                raise RuntimeError(f"replace_one wrote nothing: {result.raw_result!r}")
            return versions[j]

        async def shadow_get(i: int) -> Any:
            return await shadow.find_one({"_id": keys[i % n]})

        # -- reads over the records -------------------------------------------------------

        def tag(i: int) -> str:
            return tags[(i * 37) % groups]  # a different tag each time

        async def backend_find(i: int) -> Any:
            return await backend.find(collection, "tag", tag(i))

        async def raw_find(i: int) -> Any:
            cursor = raw.find({"tag": tag(i)}).sort("_id", 1)
            return [value for _, value in _live_values(await cursor.to_list(None))]

        async def shadow_find(i: int) -> Any:
            entry = f"3:tag{tag(i)}"
            cursor = shadow.find({"index_entries": entry}).sort("_id", 1)
            now = _now()
            return [doc for doc in await cursor.to_list(None) if not _expired(doc, now)]

        async def kv_query(i: int) -> Any:
            return await kv.query(WHERE, limit=LIMIT)

        async def backend_query(i: int) -> Any:
            return await backend.query(collection, query_by_key)

        async def raw_query(i: int) -> Any:
            cursor = raw.find({"value.status": "open"}).sort("_id", 1).limit(LIMIT + 1)
            return _live_values(await cursor.to_list(None))[:LIMIT]

        async def shadow_query(i: int) -> Any:
            # the filter satchel sends first (its page holds live records that match here)
            condition = translate.light_filter(query_by_key.where)
            cursor = shadow.find(condition).sort([("_id", 1)]).limit(LIMIT + 1)
            return await cursor.to_list(None)

        async def kv_query_by_score(i: int) -> Any:
            return await kv.query(WHERE, order_by="score", limit=LIMIT)

        async def backend_query_by_score(i: int) -> Any:
            return await backend.query(collection, query_by_score)

        async def raw_query_by_score(i: int) -> Any:
            cursor = (
                raw.find({"value.status": "open"})
                .sort([("value.score", 1), ("_id", 1)])
                .limit(LIMIT + 1)
            )
            return _live_values(await cursor.to_list(None))[:LIMIT]

        async def by_hand(where: dict[str, Any], query: Query) -> Any:
            """A query done by hand on satchel's documents: the live candidates of the
            server filter ``where``, then refined, ordered and cut in Python."""
            condition = translate.all_of([where, translate.live(_now()), translate.RECORDS])
            docs = await shadow.find(condition).to_list(None)
            candidates = [
                Record(
                    collection,
                    d["_id"],
                    decode(d["value"]),
                    d["version"],
                    d["created"],
                    d["updated"],
                    d.get("expires"),
                    {},
                )
                for d in docs
            ]
            page, _ = evaluate(candidates, query)
            return [{"_id": r.key, "value": r.value} for r in page]

        async def shadow_query_by_score(i: int) -> Any:
            # by hand: the candidates of the same filter, ordered and cut in Python
            return await by_hand(shadow_where, query_by_score)

        async def kv_query_refined(i: int) -> Any:
            return await kv.query(WHERE_REFINED, limit=LIMIT)

        async def backend_query_refined(i: int) -> Any:
            return await backend.query(collection, query_refined)

        async def raw_query_refined(i: int) -> Any:
            # on these values MongoDB's "tags.1" is satchel's: the raw client sends it as is
            cursor = raw.find({"value.tags.1": "beta"}).sort("_id", 1).limit(LIMIT + 1)
            return _live_values(await cursor.to_list(None))[:LIMIT]

        async def shadow_query_refined(i: int) -> Any:
            # by hand: the candidates of satchel's superset filter, refined, ordered and cut
            # in Python
            return await by_hand(shadow_refined, query_refined)

        # -- batches ----------------------------------------------------------------------

        async def raw_get_batch(i: int) -> Any:
            chunk = chunks[i % len(chunks)]
            cursor = raw.find({"_id": {"$in": chunk}})
            found = dict(_live_values(await cursor.to_list(None)))
            return {k: found[k] for k in chunk if k in found}

        async def raw_get_singles(i: int) -> Any:
            return [_value_if_live(await raw.find_one({"_id": k})) for k in chunks[i % len(chunks)]]

        async def raw_put_batch(i: int) -> Any:
            now = _now()
            operations = [
                ReplaceOne({"_id": k}, raw_document(positions[k], now), upsert=True)
                for k in chunks[i % len(chunks)]
            ]
            result = await raw.bulk_write(operations, ordered=False)
            if result.matched_count + result.upserted_count != len(operations):
                raise RuntimeError(f"bulk_write wrote too little: {result.bulk_api_result!r}")
            return [versions[positions[k]] for k in chunks[i % len(chunks)]]

        async def raw_put_singles(i: int) -> Any:
            return [await raw_put(positions[k]) for k in chunks[i % len(chunks)]]

        # every side starts from the same records, and reads back what it wrote
        await raw.create_indexes(
            [
                IndexModel([("tag", 1), ("_id", 1)], name="tag"),
                IndexModel([("expires", 1)], name="ttl", expireAfterSeconds=60),
            ]
        )
        await kv.set_many(data.items())
        await backend.put_many(records_)
        now = _now()
        await raw.bulk_write(
            [ReplaceOne({"_id": k}, raw_document(j, now), upsert=True) for j, k in enumerate(keys)],
            ordered=False,
        )
        if shadow.name not in await db.list_collection_names():
            raise SystemExit(f"satchel's collection is not {shadow.name!r}; the benchmark is wrong")
        for j in (0, n // 2, n - 1):
            got = (
                await kv_get(j),
                (await backend_get(j)).value,
                await raw_get(j),
                decode((await shadow_get(j))["value"]),
            )
            if any(g != values[j] for g in got):
                raise SystemExit("a side read back another value; the benchmark is wrong")
        first = data.chunk_items[0]
        if await kv_ops["get_many"](0) != first or await raw_get_batch(0) != first:
            raise SystemExit("a batch read back other values; the benchmark is wrong")
        for j in (0, 1):
            hits = [r.key for r in await backend_find(j)]
            if (
                len(hits) != FIND_HITS
                or [k for k, t in zip(keys, tags, strict=True) if t == tag(j)] != hits
                or [d["_id"] for d in await shadow_find(j)] != hits
                or await raw_find(j) != [values[positions[k]] for k in hits]
            ):
                raise SystemExit("the finds found other records; the benchmark is wrong")
        for satchel_kv, satchel_backend, raw_side, shadow_side in (
            (kv_query, backend_query, raw_query, shadow_query),
            (kv_query_by_score, backend_query_by_score, raw_query_by_score, shadow_query_by_score),
            (kv_query_refined, backend_query_refined, raw_query_refined, shadow_query_refined),
        ):
            entries = (await satchel_kv(0)).items
            expected = [(e.key, e.value) for e in entries]
            if (
                len(expected) != LIMIT
                or [(r.key, r.value) for r in (await satchel_backend(0)).items] != expected
                or await raw_side(0) != expected
                or [d["_id"] for d in await shadow_side(0)][:LIMIT] != [k for k, _ in expected]
            ):
                raise SystemExit("the queries found other records; the benchmark is wrong")

        def case(op: Operation, count: int = iterations) -> Case:
            return Case(op, count)

        single = {
            "get": {
                "kv": case(kv_get),
                "backend": case(backend_get),
                "raw": case(raw_get),
                "shadow": case(shadow_get),
            },
            "put": {"kv": case(kv_ops["set"]), "backend": case(backend_put), "raw": case(raw_put)},
        }
        reads = {
            "find": {
                "backend": case(backend_find, find_iterations),
                "raw": case(raw_find, find_iterations),
                "shadow": case(shadow_find, find_iterations),
            },
            "query": {
                "kv": case(kv_query, query_iterations),
                "backend": case(backend_query, query_iterations),
                "raw": case(raw_query, query_iterations),
                "shadow": case(shadow_query, query_iterations),
            },
            "query_by_score": {
                "kv": case(kv_query_by_score, query_iterations),
                "backend": case(backend_query_by_score, query_iterations),
                "raw": case(raw_query_by_score, query_iterations),
                "shadow": case(shadow_query_by_score, query_iterations),
            },
            "query_refined": {
                "kv": case(kv_query_refined, query_iterations),
                "backend": case(backend_query_refined, query_iterations),
                "raw": case(raw_query_refined, query_iterations),
                "shadow": case(shadow_query_refined, query_iterations),
            },
        }
        raw_batches = {
            "get": (raw_get_batch, raw_get_singles),
            "set": (raw_put_batch, raw_put_singles),
        }
        batches = batch_cases(kv_ops, raw_batches, batch_iterations)
        runs = await time_cases({**single, **reads, **batches}, repeats, warmup, US)
    finally:
        with contextlib.suppress(Exception):
            await servers.drop_collections(db)
        await handle.close()
        await backend.close()
        await client.close()

    return {"server_version": str(info.get("version", "?")), "runs": runs}


# --------------------------------------------------------------------------------------


#: The defaults of the counts, and what --quick makes them.
DEFAULTS = {
    "iterations": 200,
    "find_iterations": 20,
    "query_iterations": 3,
    "batch_iterations": 1,
    "repeats": 11,
    "warmup": 200,
}
QUICK = {
    "iterations": 100,
    "find_iterations": 10,
    "query_iterations": 2,
    "batch_iterations": 1,
    "repeats": 7,
    "warmup": 50,
}
HELP = {
    "iterations": "single operations per repeat",
    "find_iterations": "indexed finds per repeat",
    "query_iterations": "queries per repeat",
    "batch_iterations": "batches (and runs of singles) per repeat",
    "repeats": "timings per figure (median)",
    "warmup": "untimed operations per case before timing",
}


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    for name, default in DEFAULTS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            help=f"{HELP[name]} (default {default}, --quick {QUICK[name]})",
        )
    parser.add_argument("--batch", type=int, default=100, help="records per batch")
    parser.add_argument("--records", type=int, default=1000, help="records on each side")
    parser.add_argument(
        "--quick", action="store_true", help="a short run (counts given as well win)"
    )
    cli.add_servers(parser, redis=None)
    cli.add_output(parser)
    args = parser.parse_args(argv)
    for name, default in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, QUICK[name] if args.quick else default)
        elif getattr(args, name) < (0 if name == "warmup" else 1):
            parser.error(f"--{name.replace('_', '-')} is too small")
    if args.records < args.batch:
        parser.error("--records must be at least --batch")
    if args.records < 4 * LIMIT + 4:
        parser.error(f"--records must be at least {4 * LIMIT + 4}")

    with servers.mongodb(args.uri) as started:
        measured = asyncio.run(
            measure(
                started.url,
                args.database,
                args.records,
                args.iterations,
                args.find_iterations,
                args.query_iterations,
                args.batch,
                args.batch_iterations,
                args.repeats,
                args.warmup,
            )
        )
    where = started.where
    server = started.mongodb(measured["server_version"])

    runs: dict[str, list[float]] = measured["runs"]
    med = medians(runs)
    value_bytes = median_bytes(Records(args.records).values)

    def compare(name: str, side: str) -> dict[str, Any]:
        ours, theirs = runs[f"{name} {side}"], runs[f"{name} raw"]
        return {
            "us": round(med[f"{name} {side}"], 2),
            "raw_us": round(med[f"{name} raw"], 2),
            "extra_us": round(paired_extra(ours, theirs), 2),
            "ratio": round(paired_ratio(ours, theirs), 3),
        }

    # the side each target is judged on: what users call where there is one
    judged = {
        "get": "kv",
        "put": "kv",
        "find": "backend",
        "query": "kv",
        "query_by_score": "kv",
        "query_refined": "kv",
    }
    operations: dict[str, dict[str, Any]] = {}
    for name, side in judged.items():
        sides = ("kv", "backend") if name != "find" else ("backend",)
        entry: dict[str, Any] = {side_: compare(name, side_) for side_ in sides}
        ratio = entry[side]["ratio"]
        target = TARGETS.get(name)
        entry.update(target_ratio=target, judged=side, met=target is None or ratio <= target)
        if f"{name} shadow" in runs:
            shadow = runs[f"{name} shadow"]
            entry["raw_on_satchel_documents"] = {
                "us": round(med[f"{name} shadow"], 2),
                "backend_ratio": round(paired_ratio(runs[f"{name} backend"], shadow), 3),
                "over_raw": round(paired_ratio(shadow, runs[f"{name} raw"]), 3),
            }
        operations[name] = entry
    batches = {name: batch_figures(runs, name) for name in ("get_many", "set_many")}
    batches["set_many"].update(target_speedup=BATCH_TARGET)
    batches["set_many"]["met"] = batches["set_many"]["kv_speedup"] >= BATCH_TARGET
    result: dict[str, Any] = {
        "machine": cli.machine(),
        "server": {"uri": where, "server": server},
        "parameters": {
            "iterations": args.iterations,
            "find_iterations": args.find_iterations,
            "query_iterations": args.query_iterations,
            "batch": args.batch,
            "batch_iterations": args.batch_iterations,
            "repeats": args.repeats,
            "records": args.records,
            "warmup": args.warmup,
            "value_bytes": value_bytes,
            "find_hits": FIND_HITS,
            "limit": LIMIT,
        },
        "operations": operations,
        "batch": batches,
        # every repeat's figure, in the order taken: µs per operation, or per batch
        "repeats_us": rounded(runs, 2),
    }
    missed = [name for name, o in operations.items() if not o["met"]]
    missed += [name for name, o in batches.items() if not o.get("met", True)]

    if args.json:
        cli.print_json(result)
        return 1 if (args.check and missed) else 0

    m = result["machine"]
    print(
        f"satchel mongodb backend vs raw pymongo AsyncMongoClient: {server} at {where}; "
        f"{args.records} records of {value_bytes:.0f} B JSON"
    )
    print(cli.machine_line(m))
    print(cli.method_line("µs", args.repeats, "extra, ratios and speed-ups", "both sides"))
    labels = {
        "get": "get",
        "put": "put",
        "find": f"find ({FIND_HITS} hits)",
        "query": f"query by key, limit {LIMIT}",
        "query_by_score": "query by score",
        "query_refined": "query refined (tags.1)",
    }
    names = {"kv": "KVStore", "backend": "MongoBackend"}
    header = f"{'':<40}{'satchel':>9}{'raw':>9}{'extra':>9}{'ratio':>8}  target"

    def rows(which: tuple[str, ...]) -> None:
        for name in which:
            o = operations[name]
            for side in ("kv", "backend"):
                if side not in o:
                    continue
                s = o[side]
                target = "-"
                if side == o["judged"] and o["target_ratio"] is not None:
                    target = cli.verdict("<=", o["target_ratio"], 2, o["met"])
                print(
                    f"{labels[name] + ' via ' + names[side]:<40}{s['us']:>9.1f}{s['raw_us']:>9.1f}"
                    f"{s['extra_us']:>+9.1f}{s['ratio']:>7.2f}x  {target}"
                )

    print()
    print(f"single operations, {args.iterations} per repeat, µs/op:")
    print(header)
    rows(("get", "put"))
    print()
    print(
        f"reads over {args.records} records, {args.find_iterations} finds and "
        f"{args.query_iterations} queries per repeat, µs/op:"
    )
    print(header)
    rows(("find", "query", "query_by_score", "query_refined"))
    print()
    print(
        "context: raw* = raw pymongo on satchel's own documents, with the filter satchel sends, "
        "µs/op:"
    )
    print(f"{'':<40}{'raw*':>9}{'backend/raw*':>14}{'raw*/raw':>10}")
    commands = {
        "get": "get: find_one",
        "find": "find: find index_entries, sort _id",
        "query": "query by key: cheap filter, sort _id",
        "query_by_score": "query by score: by hand (find, evaluate)",
        "query_refined": "query refined: by hand (find, evaluate)",
    }
    for name, label in commands.items():
        c = operations[name]["raw_on_satchel_documents"]
        print(f"{label:<40}{c['us']:>9.1f}{c['backend_ratio']:>13.2f}x{c['over_raw']:>9.2f}x")
    print()
    print(
        f"batches of {args.batch}, {args.batch_iterations} per repeat, µs per {args.batch} records:"
    )
    print(f"{'':<40}{'batch':>9}{'singles':>10}{'speed-up':>10}  target")
    for name, o in batches.items():
        target = "-"
        if "target_speedup" in o:
            target = cli.verdict(">=", o["target_speedup"], 0, o["met"])
        label = "KVStore " + ("get_many" if name == "get_many" else "set_many (put_many)")
        print(
            f"{label:<40}{o['kv_batch_us']:>9.1f}{o['kv_singles_us']:>10.1f}"
            f"{o['kv_speedup']:>9.2f}x  {target}"
        )
        command = "raw find $in" if name == "get_many" else "raw bulk_write ReplaceOne"
        print(
            f"{command:<40}{o['raw_batch_us']:>9.1f}{o['raw_singles_us']:>10.1f}"
            f"{o['raw_speedup']:>9.2f}x  -"
        )
    print()
    print(cli.targets_line(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
