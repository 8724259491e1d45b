"""satchel-redis logs beyond the conformance kit: the stream per log and its buckets' slots
(standalone and on the three-node Cluster), sequence numbers after Redis expired a log by
itself, what is left in Redis after a log goes, memory per entry, a large log, appends from
several processes, and bad input. Every test talks to a real redis-server that conftest.py
starts; the retried writes are in test_redis_retries.py."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from contention_worker import append_batches
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

import satchel
from satchel.backend import MAX_LOG_BATCH, utcnow
from satchel.errors import (
    BackendUnavailable,
    CorruptRecord,
    InvalidArgument,
    InvalidQuery,
    ValueTooLarge,
)
from satchel.toolkit import encode_json
from satchel_redis import RedisBackend
from satchel_redis.layout import LOG_SLOTS, Layout, log_bucket
from satchel_redis.logs import RANGE_PAGE
from satchel_redis.testing.servers import RedisServerFactory

PREFIX = "satchel-logs:"


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    made = RedisBackend.from_url(redis_url, key_prefix=PREFIX)
    try:
        yield made
    finally:
        for name in await made.collections():
            await made.drop(name)
        await made.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def keys_under(raw: Redis | RedisCluster, pattern: str) -> list[str]:
    """The keys matching ``pattern``, but the outcome log's hashes, which expire by
    themselves (that they do is checked here)."""
    found = sorted({k.decode() async for k in raw.scan_iter(match=pattern, count=1000)})
    for key in found:
        if ":o:" in key:
            ttl = await raw.pttl(key)
            assert 0 < ttl <= 10 * 60 * 1000, (key, ttl)
    return [k for k in found if ":o:" not in k]


def stream_of(collection: str, key: str, prefix: str = PREFIX) -> str:
    return f"{Layout(prefix).log_base(collection, key)}l:{key}"


async def atomic_calls(raw: Redis) -> int:
    """Scripts (``EVALSHA``) and transactions (``EXEC``) the server ran: its atomic calls."""
    stats = await raw.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "exec"))


# -- layout ------------------------------------------------------------------------------------


def test_buckets_are_stable_and_their_tags_are_no_collections() -> None:
    layout = Layout("p:")
    assert log_bucket("alice") == log_bucket("alice") == 663665735 % LOG_SLOTS  # CRC-32
    bases = layout.log_bases("a{b}%c")
    assert len(set(bases)) == LOG_SLOTS
    for bucket, base in enumerate(bases):
        assert base == f"p:{{a%7Bb%7D%25c%L{bucket}}}:"
        assert layout.log_bucket_of(f"{base}lk") == ("a{b}%c", bucket)
        assert layout.collection_of(f"{base}lk") is None
        assert layout.collection_of(f"{base}k") is None  # no record collection has this tag
    assert layout.log_bucket_of(f"{layout.base('x')}k") is None
    assert layout.log_bucket_of(f"p:{{x%L{LOG_SLOTS}}}:lk") is None
    assert layout.log_bucket_of("p:{x%L01}:lk") is None
    assert layout.log_base("a{b}%c", "alice") == bases[log_bucket("alice")]


async def test_a_log_is_a_stream_with_ids_by_sequence_number(
    backend: RedisBackend, raw: Redis
) -> None:
    """What a Redis user sees: XRANGE shows the entries, ids <seq>-0, fields t and v."""
    await backend.log_append("ns:log:chat", "ann", [{"text": "hi", "é": [1]}, "two"])
    stream = stream_of("ns:log:chat", "ann")
    assert await raw.type(stream) == b"stream"
    entries = await raw.xrange(stream)
    assert [e[0] for e in entries] == [b"1-0", b"2-0"]
    assert entries[0][1][b"v"] == encode_json({"text": "hi", "é": [1]})[0]
    assert int(entries[0][1][b"t"]) == int(entries[1][1][b"t"])
    base = Layout(PREFIX).log_base("ns:log:chat", "ann")
    assert await raw.zscore(f"{base}lk", "ann") == 2  # the last number handed out
    assert await raw.pttl(stream) == -1  # no expiry


async def test_every_key_of_a_log_is_in_its_buckets_slot(backend: RedisBackend, raw: Redis) -> None:
    collection = "ns:log:we{ird}"
    later = utcnow() + timedelta(hours=1)
    await backend.log_append(collection, "a", [1, 2], expires_at=later)
    await backend.log_pop(collection, "a", 1)
    await backend.log_append(collection, "b}", [1])
    await backend.log_delete(collection, "b}")  # leaves the floor
    for key in ("a", "b}"):
        base = Layout(PREFIX).log_base(collection, key)
        found = sorted({k.decode() async for k in raw.scan_iter(match=f"{base}*")})
        assert found, key
        assert {key_slot(k.encode()) for k in found} == {key_slot(base.encode())}, found
    base = Layout(PREFIX).log_base(collection, "a")
    assert (await keys_under(raw, f"{base}*")) == sorted([f"{base}l:a", f"{base}lk", f"{base}lx"])


# -- sequence numbers and expiry ---------------------------------------------------------------


async def test_a_log_expired_by_redis_itself_is_never_reborn_at_old_numbers(
    backend: RedisBackend, raw: Redis, redis_url: str
) -> None:
    """Redis drops an expired log's stream by itself, a minute after its expiry, without a
    script seeing it: the last number kept in the log index still raises the floor, and a
    second backend instance that appends again starts above it."""
    soon = utcnow() + timedelta(milliseconds=300)
    await backend.log_append("exp", "k", [1, 2, 3], expires_at=soon)
    stream = stream_of("exp", "k")
    assert 60_000 < await raw.pttl(stream) <= 60_300  # the grace for a server clock ahead
    await asyncio.sleep(0.4)
    await raw.delete(stream)  # what Redis's own expiry does, a minute later
    other = RedisBackend.from_url(redis_url, key_prefix=PREFIX)
    try:
        assert await other.log_length("exp", "k") == 0
        [entry] = await other.log_append("exp", "k", ["again"])
        assert entry.seq == 4
    finally:
        await other.close()


async def test_an_expired_log_is_invisible_before_anything_removes_it(
    backend: RedisBackend, raw: Redis
) -> None:
    soon = utcnow() + timedelta(milliseconds=300)
    await backend.log_append("gone", "k", [1, 2, 3], expires_at=soon)
    await backend.log_append("gone", "stays", [1])
    await asyncio.sleep(0.4)
    assert await raw.exists(stream_of("gone", "k")) == 1  # still held by Redis
    assert await backend.log_range("gone", "k") == []
    assert await backend.log_range("gone", "k", reverse=True, limit=1) == []
    assert await backend.log_length("gone", "k") == 0
    assert [k async for k in backend.log_keys("gone")] == ["stays"]
    assert await backend.log_trim("gone", "k", keep_last=0) == 0
    assert await backend.log_pop("gone", "k", 5) == []
    assert await backend.log_delete("gone", "k") is False
    await backend.log_delete("gone", "stays")
    assert "gone" not in await backend.collections()


async def test_appends_renew_pops_and_trims_keep_the_expiry(
    backend: RedisBackend, raw: Redis
) -> None:
    base = Layout(PREFIX).log_base("ttl", "k")
    first = utcnow() + timedelta(seconds=100)
    await backend.log_append("ttl", "k", [1, 2, 3], expires_at=first)
    assert await raw.zscore(f"{base}lx", "k") == int(first.timestamp() * 1000)
    second = utcnow() + timedelta(seconds=200)
    await backend.log_append("ttl", "k", [4], expires_at=second)
    expected = int(second.timestamp() * 1000)
    assert await raw.zscore(f"{base}lx", "k") == expected
    await backend.log_pop("ttl", "k", 1)
    await backend.log_trim("ttl", "k", before=2)
    assert await raw.zscore(f"{base}lx", "k") == expected
    left = await raw.pttl(stream_of("ttl", "k"))  # Redis's own expiry, a minute later
    assert abs(left - (expected + 60_000 - time.time() * 1000)) < 5_000
    await backend.log_append("ttl", "k", [5])  # no expiry: cleared
    assert await raw.zscore(f"{base}lx", "k") is None
    assert await raw.pttl(stream_of("ttl", "k")) == -1


async def test_the_ttl_setting_applies_to_logs_appended_without_one(redis_url: str) -> None:
    backend = RedisBackend.from_url(redis_url, key_prefix=PREFIX, ttl=3600)
    raw = Redis.from_url(redis_url)
    try:
        before = time.time() * 1000
        await backend.log_append("ttl-set", "k", [1])
        base = Layout(PREFIX).log_base("ttl-set", "k")
        score = await raw.zscore(f"{base}lx", "k")
        assert score is not None and before + 3_599_000 <= score <= before + 3_601_000
        await backend.drop("ttl-set")
    finally:
        await raw.aclose()
        await backend.close()


async def test_a_log_appended_already_expired_keeps_nothing_but_its_numbers(
    backend: RedisBackend, raw: Redis
) -> None:
    past = utcnow() - timedelta(seconds=1)
    entries = await backend.log_append("late", "k", [1, 2], expires_at=past)
    assert [e.seq for e in entries] == [1, 2]
    base = Layout(PREFIX).log_base("late", "k")
    assert await keys_under(raw, f"{base}*") == [f"{base}lf"]
    assert [e.seq for e in await backend.log_append("late", "k", [3])] == [3]


# -- nothing left behind, and memory ----------------------------------------------------------


async def test_no_key_is_left_after_a_log_goes(backend: RedisBackend, raw: Redis) -> None:
    """Deleted, popped empty, trimmed empty, expired and purged, dropped: each time only the
    bucket's floor (one small string) is left, and it holds the log's last number."""
    c = "leak"
    base = Layout(PREFIX).log_base(c, "k")
    only_floor = [f"{base}lf"]

    await backend.log_append(c, "k", [1, 2])
    assert await backend.log_delete(c, "k") is True
    assert await keys_under(raw, f"{base}*") == only_floor
    assert await raw.get(f"{base}lf") == b"2"

    await backend.log_append(c, "k", [3, 4])
    assert [e.value for e in await backend.log_pop(c, "k", 10)] == [3, 4]
    assert await keys_under(raw, f"{base}*") == only_floor

    await backend.log_append(c, "k", [5, 6], expires_at=utcnow() + timedelta(hours=1))
    assert await backend.log_trim(c, "k", keep_last=0) == 2
    assert await keys_under(raw, f"{base}*") == only_floor

    await backend.log_append(c, "k", [7], expires_at=utcnow() + timedelta(milliseconds=200))
    await asyncio.sleep(0.3)
    assert await backend.purge_expired() >= 1
    assert await keys_under(raw, f"{base}*") == only_floor

    await backend.log_append(c, "k", [8])
    assert await backend.drop(c) == 1
    assert await keys_under(raw, f"{base}*") == only_floor
    assert await raw.get(f"{base}lf") == b"8"
    assert [e.seq for e in await backend.log_append(c, "k", [9])] == [9]


async def test_a_write_clears_some_expired_logs_of_its_bucket(
    backend: RedisBackend, raw: Redis
) -> None:
    bucket = log_bucket("old")
    new = next(f"new{i}" for i in range(1000) if log_bucket(f"new{i}") == bucket)
    await backend.log_append("sweep", "old", [1], expires_at=utcnow() + timedelta(milliseconds=200))
    await asyncio.sleep(0.3)
    await backend.log_append("sweep", new, [1])
    base = Layout(PREFIX).log_base("sweep", "old")
    assert await keys_under(raw, f"{base}*") == sorted([f"{base}l:{new}", f"{base}lk", f"{base}lf"])


async def test_an_entry_costs_little_more_than_its_json(backend: RedisBackend, raw: Redis) -> None:
    """A stream keeps entries in listpacks: about 30 bytes per entry beside the value's
    JSON (measured 30 to 35 with Redis 7.0); a sorted set plus a hash would cost over 100."""
    values = [{"role": "user", "text": f"message number {i}"} for i in range(5000)]
    for i in range(0, len(values), 1000):
        await backend.log_append("mem", "k", values[i : i + 1000])
    used = await raw.memory_usage(stream_of("mem", "k"), samples=0)
    json_bytes = sum(len(encode_json(v)[0]) for v in values)
    assert used is not None
    assert (used - json_bytes) / len(values) < 48, (used, json_bytes)


# -- a large log ---------------------------------------------------------------------------------


async def test_a_large_log(backend: RedisBackend, raw: Redis) -> None:
    total = 100_000
    started = time.monotonic()
    for i in range(0, total, MAX_LOG_BATCH):
        batch = [{"i": n} for n in range(i, i + MAX_LOG_BATCH)]
        entries = await backend.log_append("big", "k", batch)
        assert [e.seq for e in entries] == list(range(i + 1, i + MAX_LOG_BATCH + 1))
    assert await backend.log_length("big", "k") == total

    # a read by sequence number is one atomic call (a transaction), wherever in the log it starts
    before = await atomic_calls(raw)
    middle = await backend.log_range("big", "k", after=50_000, limit=3)
    assert [(e.seq, e.value["i"]) for e in middle] == [
        (50_001, 50_000),
        (50_002, 50_001),
        (50_003, 50_002),
    ]
    back = await backend.log_range("big", "k", before=50_001, limit=2, reverse=True)
    assert [e.seq for e in back] == [50_000, 49_999]
    assert await atomic_calls(raw) - before == 2

    # a read of everything comes in pages of RANGE_PAGE, in order, each entry once
    before = await atomic_calls(raw)
    every = await backend.log_range("big", "k")
    assert [e.seq for e in every] == list(range(1, total + 1))
    assert await atomic_calls(raw) - before == -(-total // RANGE_PAGE)
    backwards = await backend.log_range("big", "k", after=10, before=30_000, reverse=True)
    assert [e.seq for e in backwards] == list(range(29_999, 10, -1))

    assert await backend.log_trim("big", "k", before=90_001) == 90_000
    popped = await backend.log_pop("big", "k", 5000)
    assert [e.seq for e in popped] == list(range(95_001, total + 1))
    assert await backend.log_trim("big", "k", keep_last=10) == 4990
    assert [e.seq for e in await backend.log_range("big", "k")] == list(range(94_991, 95_001))
    assert await backend.log_delete("big", "k") is True
    assert await raw.exists(stream_of("big", "k")) == 0
    assert time.monotonic() - started < 120


# -- across processes ----------------------------------------------------------------------------


async def test_appends_from_several_processes_are_all_kept_each_batch_contiguous(
    redis_url: str,
) -> None:
    namespace = f"log-contention-{time.time_ns()}"
    workers, batches = 6, 200
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [
        context.Process(target=append_batches, args=(redis_url, namespace, w, batches, start))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    await asyncio.sleep(2)  # let them start up and wait, so that they append together
    start.set()
    loop = asyncio.get_running_loop()
    for process in processes:
        await loop.run_in_executor(None, process.join, 120)
    assert [p.exitcode for p in processes] == [0] * workers
    environ = {"SATCHEL_BACKEND": "redis", "SATCHEL_REDIS_URL": redis_url}
    async with satchel.open(environ={**environ, "SATCHEL_NAMESPACE": namespace}) as handle:
        logs = handle.logs("events")
        items = [item async for item in logs.items("shared")]
        assert len(items) == workers * batches * 3
        seqs = [item.seq for item in items]
        assert seqs == sorted(set(seqs))
        for i in range(0, len(items), 3):  # every batch of three is contiguous, in order
            w, b, j = items[i].value
            assert j == 0
            assert [item.value for item in items[i : i + 3]] == [[w, b, 0], [w, b, 1], [w, b, 2]]
            assert seqs[i + 2] == seqs[i] + 2
        firsts = [item.value[0] for item in items[::3]]
        runs = sum(1 for a, b in itertools.pairwise(firsts) if a != b)
        assert runs > workers, "the processes never appended together; the test proved nothing"
        for w in range(workers):  # each process's batches in the order it made them
            mine = [item.value[1] for item in items if item.value[0] == w and item.value[2] == 0]
            assert mine == list(range(batches))
        assert await logs.clear() == 1


# -- on the Cluster --------------------------------------------------------------------------------


async def test_on_a_cluster_each_log_has_one_slot_and_a_collection_spreads(
    redis_cluster_url: str,
) -> None:
    prefix = "satchel-cluster-logs:"
    backend = RedisBackend.from_url(redis_cluster_url, cluster=True, key_prefix=prefix)
    raw = RedisCluster.from_url(redis_cluster_url)
    collection = "ns:log:chat"
    keys = [f"user-{i}" for i in range(48)]
    try:
        # long enough that no log expires while the 48 are appended (an expired log swept by
        # a later append raises its bucket's floor), on a loaded machine too
        soon = utcnow() + timedelta(seconds=3)
        for n, key in enumerate(keys):
            expires = soon if n % 4 == 0 else None
            entries = await backend.log_append(
                collection, key, [key, n, {"n": n}], expires_at=expires
            )
            assert [e.seq for e in entries] == [1, 2, 3]
        # every key a log's script touches is in the slot of the log's bucket
        layout = Layout(prefix)
        nodes = set()
        for key in keys:
            base = layout.log_base(collection, key)
            found = await keys_under(raw, f"{base}*")
            assert f"{base}l:{key}" in found
            assert {key_slot(k.encode()) for k in found} == {key_slot(base.encode())}
            nodes.add(raw.get_node_from_key(f"{base}lk").name)
        assert len(nodes) == 3  # the collection's logs are spread over every node
        # every operation, on each node
        assert sorted([k async for k in backend.log_keys(collection)]) == sorted(keys)
        assert [k async for k in backend.log_keys(collection, "user-1?")] != []
        assert [e.value for e in await backend.log_pop(collection, "user-1", 1)] == [{"n": 1}]
        assert await backend.log_trim(collection, "user-2", before=2) == 1
        got = await backend.log_range(collection, "user-2", reverse=True)
        assert [e.seq for e in got] == [3, 2]
        assert await backend.log_length(collection, "user-3") == 3
        assert collection in await backend.collections()
        await asyncio.sleep((soon - utcnow()).total_seconds() + 0.1)
        assert await backend.purge_expired() >= 12
        assert len([k async for k in backend.log_keys(collection)]) == 36
        assert await backend.log_delete(collection, "user-5") is True
        assert [e.seq for e in await backend.log_append(collection, "user-5", ["new"])] == [4]
        assert await backend.drop(collection) == 36
        assert collection not in await backend.collections()
        left = await keys_under(raw, f"{prefix}*")
        assert left and all(k.endswith(":lf") for k in left)
    finally:
        await backend.drop(collection)
        await raw.aclose()
        await backend.close()


# -- bad input and foreign data -----------------------------------------------------------------


async def test_an_entry_over_the_limit_is_refused_before_anything_is_written(
    redis_url: str,
) -> None:
    backend = RedisBackend.from_url(redis_url, key_prefix=PREFIX, max_value_bytes=1000)
    try:
        with pytest.raises(ValueTooLarge) as info:
            await backend.log_append("size", "k", ["small", "x" * 1001])
        assert "values[1] of log 'k' in 'size'" in str(info.value)
        assert "SATCHEL_REDIS_MAX_VALUE_BYTES" in str(info.value)
        assert await backend.log_length("size", "k") == 0
        with pytest.raises(InvalidArgument) as bad:
            await backend.log_append("size", "k", [1, float("nan")])
        assert "values[1]" in str(bad.value)
        with pytest.raises(InvalidArgument):
            await backend.log_append("size", "k", [])
        with pytest.raises(InvalidArgument):
            await backend.log_pop("size", "k", 0)
        with pytest.raises(InvalidArgument):
            await backend.log_trim("size", "k")
        with pytest.raises(InvalidQuery):
            [k async for k in backend.log_keys("size", "[unclosed")]
        assert await backend.collections() == []
    finally:
        await backend.close()


async def test_a_log_key_holding_another_type_is_a_corrupt_log(
    backend: RedisBackend, raw: Redis
) -> None:
    await backend.log_append("foreign", "k", [1])
    stream = stream_of("foreign", "k")
    await raw.delete(stream)
    await raw.set(stream, b"written by another client")
    for read in (
        backend.log_range("foreign", "k"),
        backend.log_length("foreign", "k"),
        backend.log_append("foreign", "k", [2]),
        backend.log_pop("foreign", "k", 1),
        backend.log_trim("foreign", "k", keep_last=0),
    ):
        with pytest.raises(CorruptRecord) as info:
            await read
        assert "log 'k' in 'foreign'" in str(info.value) and stream in str(info.value)
    assert await raw.get(stream) == b"written by another client"  # nothing written over it
    assert await backend.log_delete("foreign", "k") is True  # the repair
    assert [e.seq for e in await backend.log_append("foreign", "k", [3])] == [2]


async def test_a_corrupt_entry_names_the_log(backend: RedisBackend, raw: Redis) -> None:
    await backend.log_append("foreign", "k", [1])
    await raw.xadd(stream_of("foreign", "k"), {"v": b"{not json", "t": b"1"}, id="5-0")
    with pytest.raises(CorruptRecord) as info:
        await backend.log_range("foreign", "k")
    assert "'5-0'" in str(info.value)


async def test_listing_logs_never_scans_the_keyspace(backend: RedisBackend, raw: Redis) -> None:
    for i in range(50):
        await backend.log_append("list", f"k{i}", [i])

    async def calls(name: str) -> int:
        stats = await raw.info("commandstats")
        return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))

    scans, keys = await calls("scan"), await calls("keys")
    found = [k async for k in backend.log_keys("list", "k1*")]
    assert sorted(found) == sorted(["k1", *(f"k1{i}" for i in range(10))])
    assert (await calls("scan"), await calls("keys")) == (scans, keys)


async def test_a_server_out_of_memory_refuses_an_append_but_lets_logs_shrink(
    redis_server_factory: RedisServerFactory,
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url)
    raw = Redis.from_url(server.url)
    try:
        await backend.log_append("oom", "k", [1, 2, 3, 4])
        await raw.config_set("maxmemory", 1)  # noeviction: every allocating write is refused
        with pytest.raises(BackendUnavailable) as info:
            await backend.log_append("oom", "k", [5])
        assert "out of memory" in str(info.value)
        assert [e.value for e in await backend.log_range("oom", "k")] == [1, 2, 3, 4]
        # removals free memory, so the server allows them (they record their outcome after)
        assert [e.value for e in await backend.log_pop("oom", "k", 1)] == [4]
        assert await backend.log_trim("oom", "k", keep_last=2) == 1
        assert await backend.log_delete("oom", "k") is True
        await raw.config_set("maxmemory", 0)
        assert [e.seq for e in await backend.log_append("oom", "k", [5])] == [5]
    finally:
        await raw.config_set("maxmemory", 0)
        await raw.aclose()
        await backend.close()
