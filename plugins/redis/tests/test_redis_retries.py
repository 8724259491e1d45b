"""A retried write is applied exactly once and returns what its first attempt did.

Every test sends its writes through a loopback proxy (:mod:`satchel.testing.proxy`) to a real
redis-server; the proxy loses the reply of one write (the write ran) and, before the client
sees its connection cut and retries, a second writer writes the same key. Another test holds
a write back and delivers it after its retry, as a server that was stopped and resumed would
run it.

Each test runs on a standalone server and on a three-node Cluster whose nodes announce the
ports of proxies in front of them (``cluster-announce-port``), so that the Cluster client,
which learns the nodes' addresses from the slot map, talks to every node through a proxy;
the test arms the proxy of the node that holds the collection (and its log).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import redis
from redis.asyncio import Redis
from redis.crc import key_slot

from satchel.backend import Record
from satchel.testing.proxy import FaultProxy
from satchel_redis import RedisBackend
from satchel_redis.layout import Layout
from satchel_redis.scripts import SCRIPTS
from satchel_redis.testing.servers import RedisClusterNodes, free_port

PREFIX = "satchel-retry:"
_names = itertools.count()


@dataclass
class Writers:
    proxy: FaultProxy
    mine: RedisBackend  # through the proxy
    other: RedisBackend  # straight to the server
    collection: str
    acknowledged: list[Record]

    def other_puts(self, key: str, value: object) -> None:
        """Between the lost reply and the retry, the other writer writes ``key``."""

        async def between() -> None:
            self.acknowledged.append(await self.other.put(Record(self.collection, key, value)))

        self.proxy.lose_next_reply(between)


@dataclass
class ProxiedCluster:
    """A Cluster whose nodes announce ``ports`` (one per node, in order) as their own."""

    nodes: RedisClusterNodes
    ports: list[int]


@pytest.fixture(scope="module")
def proxied_cluster(redis_binary: str) -> Iterator[ProxiedCluster]:
    with RedisClusterNodes(redis_binary) as nodes:
        ports = [free_port() for _ in nodes.nodes]
        for node, port in zip(nodes.nodes, ports, strict=True):
            with redis.Redis(port=node.port) as client:
                client.config_set("cluster-announce-port", port)
        deadline = time.monotonic() + 20
        for node in nodes.nodes:  # every node tells the proxies' ports in its slot map
            with redis.Redis(port=node.port) as client:
                while {int(s[2][1]) for s in client.execute_command("CLUSTER SLOTS")} != set(ports):
                    assert time.monotonic() < deadline, "the nodes never announced the ports"
                    time.sleep(0.05)
        yield ProxiedCluster(nodes, ports)


def owner(nodes: RedisClusterNodes, redis_key: str) -> int:
    """The index of the node whose slot range holds ``redis_key``."""
    slot = key_slot(redis_key.encode())
    return next(i for i, (a, b) in enumerate(nodes.SLOT_RANGES) if a <= slot <= b)


@pytest.fixture(params=["standalone", "cluster"])
async def writers(request: pytest.FixtureRequest) -> AsyncIterator[Writers]:
    timeouts = {"connect_timeout": 2.0, "socket_timeout": 2.0}
    retrying = {"retries": 2, "retry_backoff": 0.01, **timeouts}
    name = f"retry-{next(_names)}"
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "standalone":
            redis_url: str = request.getfixturevalue("redis_url")
            parts = urlsplit(redis_url)
            assert parts.hostname is not None and parts.port is not None
            proxy = await stack.enter_async_context(FaultProxy(parts.port, parts.hostname))
            proxied = redis_url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
            mine = RedisBackend.from_url(proxied, key_prefix=PREFIX, **retrying)
            other = RedisBackend.from_url(redis_url, key_prefix=PREFIX, **timeouts)
            collection = name
            upstream = [parts.port]
        else:
            cluster: ProxiedCluster = request.getfixturevalue("proxied_cluster")
            nodes = cluster.nodes.nodes
            proxies = [
                await stack.enter_async_context(FaultProxy(node.port, port=port))
                for node, port in zip(nodes, cluster.ports, strict=True)
            ]
            layout = Layout(PREFIX)
            # a collection whose records and whose log "log" live on one node, whose proxy
            # the test arms
            collection = next(
                c
                for c in (f"{name}-{i}" for i in range(1000))
                if owner(cluster.nodes, layout.base(c))
                == owner(cluster.nodes, layout.log_base(c, "log"))
            )
            proxy = proxies[owner(cluster.nodes, layout.base(collection))]
            mine = RedisBackend.from_url(
                f"redis://127.0.0.1:{cluster.ports[0]}", cluster=True, key_prefix=PREFIX, **retrying
            )
            # the slot map names the proxies: the other writer's calls pass them too, unharmed
            other = RedisBackend.from_url(
                cluster.nodes.url, cluster=True, key_prefix=PREFIX, **timeouts
            )
            upstream = [node.port for node in nodes]
        try:
            # the scripts are loaded and the connections are open: the next reply is the write's
            for port in upstream:
                async with Redis(port=port) as admin:
                    for script in SCRIPTS.values():
                        await admin.script_load(script.source)
            await mine.ping()
            await mine.count(collection)
            await mine.log_length(collection, "log")
            yield Writers(proxy, mine, other, collection, [])
        finally:
            await other.drop(collection)
            await mine.close()
            await other.close()


#: Runs a test on the standalone server only.
standalone_only = pytest.mark.parametrize("writers", ["standalone"], indirect=True)


async def test_a_retried_put_returns_its_own_version_and_keeps_the_later_write(
    writers: Writers,
) -> None:
    c = writers.collection
    await writers.mine.put(Record(c, "k", "first"))
    writers.other_puts("k", "other")
    got = await writers.mine.put(Record(c, "k", "mine"))
    assert writers.proxy.lost == 1
    assert (got.version, got.value) == (2, "mine")
    [theirs] = writers.acknowledged
    assert theirs.version == 3
    stored = await writers.other.get(c, "k")
    assert stored is not None and (stored.version, stored.value) == (3, "other")


async def test_a_retried_put_if_version_is_not_a_conflict_with_itself(writers: Writers) -> None:
    c = writers.collection
    await writers.mine.put(Record(c, "k", "first"))
    writers.other_puts("k", "other")
    got = await writers.mine.put(Record(c, "k", "mine"), if_version=1)
    assert writers.proxy.lost == 1
    assert (got.version, got.value) == (2, "mine")
    stored = await writers.other.get(c, "k")
    assert stored is not None and (stored.version, stored.value) == (3, "other")


async def test_a_retried_create_does_not_collide_with_itself(writers: Writers) -> None:
    c = writers.collection
    writers.other_puts("k", "other")
    got = await writers.mine.put(Record(c, "k", "mine"), if_absent=True)
    assert writers.proxy.lost == 1
    assert (got.version, got.value) == (1, "mine")
    [theirs] = writers.acknowledged
    stored = await writers.other.get(c, "k")
    assert stored is not None and (stored.version, stored.value) == (theirs.version, "other")
    assert theirs.version == 2


async def test_a_retried_put_many_returns_the_versions_it_wrote(writers: Writers) -> None:
    c = writers.collection
    await writers.mine.put(Record(c, "a", "first"))
    writers.other_puts("a", "other")
    got = await writers.mine.put_many([Record(c, "a", "mine-a"), Record(c, "b", "mine-b")])
    assert writers.proxy.lost == 1
    assert [(r.key, r.version, r.value) for r in got] == [("a", 2, "mine-a"), ("b", 1, "mine-b")]
    a, b = await writers.other.get_many(c, ["a", "b"])
    assert a is not None and (a.version, a.value) == (3, "other")
    assert b is not None and (b.version, b.value) == (1, "mine-b")


@standalone_only  # a pipeline of several collections' scripts is the standalone path
async def test_a_retried_put_many_over_several_collections_writes_each_once(
    writers: Writers,
) -> None:
    """A batch over two collections is one pipeline of two scripts, each with its own write
    id: the retry recalls both outcomes, and the other writer's version stays on top."""
    c, d = writers.collection, f"{writers.collection}-2"
    try:
        await writers.mine.put_many([Record(c, "a", "first"), Record(d, "a", "first")])
        writers.other_puts("a", "other")  # in collection c
        got = await writers.mine.put_many(
            [Record(c, "a", "mine-c"), Record(d, "a", "mine-d"), Record(d, "b", "mine-d")]
        )
        assert writers.proxy.lost == 1
        assert [(r.collection, r.key, r.version) for r in got] == [
            (c, "a", 2),
            (d, "a", 2),
            (d, "b", 1),
        ]
        stored_c = await writers.other.get(c, "a")
        assert stored_c is not None and (stored_c.version, stored_c.value) == (3, "other")
        stored_d = await writers.other.get_many(d, ["a", "b"])
        assert [(r.version, r.value) for r in stored_d if r is not None] == [
            (2, "mine-d"),
            (1, "mine-d"),
        ]
    finally:
        await writers.other.drop(d)


@pytest.mark.parametrize("if_version", [None, 1])
async def test_a_retried_delete_does_not_remove_a_later_create(
    writers: Writers, if_version: int | None
) -> None:
    c = writers.collection
    await writers.mine.put(Record(c, "k", "first"))
    writers.other_puts("k", "other")
    assert await writers.mine.delete(c, "k", if_version=if_version) is True
    assert writers.proxy.lost == 1
    [theirs] = writers.acknowledged
    stored = await writers.other.get(c, "k")
    assert stored is not None and stored.value == "other" and stored.version == theirs.version


async def test_a_delete_of_nothing_retried_stays_nothing(writers: Writers) -> None:
    """The first attempt found no record (False); the retry says the same, although the
    other writer created the key in between, and leaves that record alone."""
    c = writers.collection
    writers.other_puts("k", "other")
    assert await writers.mine.delete(c, "k") is False
    stored = await writers.other.get(c, "k")
    assert stored is not None and stored.value == "other"


async def test_a_write_that_arrives_after_its_retry_is_not_applied_again(
    writers: Writers,
) -> None:
    c = writers.collection
    await writers.mine.put(Record(c, "k", "first"))
    writers.proxy.delay_next_request()
    got = await writers.mine.put(Record(c, "k", "mine"))  # the retry runs first
    assert (got.version, got.value) == (2, "mine")
    theirs = await writers.other.put(Record(c, "k", "other"))
    assert theirs.version == 3
    writers.proxy.release()  # now the first attempt reaches the server
    await writers.proxy.late_reply.wait()
    stored = await writers.other.get(c, "k")
    assert stored is not None and (stored.version, stored.value) == (3, "other")


@standalone_only  # maxmemory is set on the standalone server
@pytest.mark.parametrize("batch", [False, True])
async def test_a_write_retried_when_the_server_is_out_of_memory_returns_its_first_result(
    writers: Writers, redis_url: str, batch: bool
) -> None:
    """The first attempt ran; by the retry the server refuses writes (maxmemory reached).
    The retry still answers what the first attempt did: recalling an outcome writes nothing."""
    from redis.asyncio import Redis

    c = writers.collection
    admin = Redis.from_url(redis_url)
    (before,) = (await admin.config_get("maxmemory")).values()

    async def server_fills_up() -> None:
        await admin.config_set("maxmemory", 1)

    writers.proxy.lose_next_reply(server_fills_up)
    try:
        if batch:
            got = (await writers.mine.put_many([Record(c, "k", "mine")]))[0]
        else:
            got = await writers.mine.put(Record(c, "k", "mine"))
    finally:
        await admin.config_set("maxmemory", before)
        await admin.aclose()
    assert writers.proxy.lost == 1
    assert (got.version, got.value) == (1, "mine")


# -- logs: an append or a pop retried is applied once --------------------------------------------


async def test_a_retried_log_append_returns_its_own_numbers_and_appends_once(
    writers: Writers,
) -> None:
    c = writers.collection
    await writers.mine.log_append(c, "log", ["first"])

    async def other_appends() -> None:
        await writers.other.log_append(c, "log", ["theirs"])

    writers.proxy.lose_next_reply(other_appends)
    got = await writers.mine.log_append(c, "log", ["m1", "m2"])
    assert writers.proxy.lost == 1
    assert [(e.seq, e.value) for e in got] == [(2, "m1"), (3, "m2")]
    stored = await writers.other.log_range(c, "log")
    assert [(e.seq, e.value) for e in stored] == [
        (1, "first"),
        (2, "m1"),
        (3, "m2"),
        (4, "theirs"),
    ]


async def test_a_retried_log_pop_returns_what_it_popped_and_pops_once(writers: Writers) -> None:
    c = writers.collection
    await writers.mine.log_append(c, "log", ["a", "b", "c"])

    async def other_appends() -> None:
        await writers.other.log_append(c, "log", ["theirs"])

    writers.proxy.lose_next_reply(other_appends)
    got = await writers.mine.log_pop(c, "log", 2)
    assert writers.proxy.lost == 1
    assert [(e.seq, e.value) for e in got] == [(2, "b"), (3, "c")]
    stored = await writers.other.log_range(c, "log")
    assert [(e.seq, e.value) for e in stored] == [(1, "a"), (4, "theirs")]


async def test_a_retried_log_pop_of_nothing_stays_nothing(writers: Writers) -> None:
    c = writers.collection

    async def other_appends() -> None:
        await writers.other.log_append(c, "log", ["theirs"])

    writers.proxy.lose_next_reply(other_appends)
    assert await writers.mine.log_pop(c, "log", 1) == []
    assert [e.value for e in await writers.other.log_range(c, "log")] == ["theirs"]


async def test_a_retried_log_trim_removes_once(writers: Writers) -> None:
    c = writers.collection
    await writers.mine.log_append(c, "log", [1, 2, 3])

    async def other_appends() -> None:
        await writers.other.log_append(c, "log", [4, 5])

    writers.proxy.lose_next_reply(other_appends)
    assert await writers.mine.log_trim(c, "log", keep_last=1) == 2
    assert writers.proxy.lost == 1
    assert [e.value for e in await writers.other.log_range(c, "log")] == [3, 4, 5]


async def test_a_retried_log_delete_does_not_remove_a_later_log(writers: Writers) -> None:
    c = writers.collection
    await writers.mine.log_append(c, "log", ["old"])

    async def other_appends() -> None:
        await writers.other.log_append(c, "log", ["new"])

    writers.proxy.lose_next_reply(other_appends)
    assert await writers.mine.log_delete(c, "log") is True
    assert writers.proxy.lost == 1
    assert [(e.seq, e.value) for e in await writers.other.log_range(c, "log")] == [(2, "new")]


async def test_a_log_append_that_arrives_after_its_retry_is_not_applied_again(
    writers: Writers,
) -> None:
    c = writers.collection
    await writers.mine.log_append(c, "log", ["first"])
    writers.proxy.delay_next_request()
    got = await writers.mine.log_append(c, "log", ["mine"])  # the retry runs first
    assert [e.seq for e in got] == [2]
    await writers.other.log_append(c, "log", ["theirs"])
    writers.proxy.release()  # now the first attempt reaches the server
    await writers.proxy.late_reply.wait()
    stored = await writers.other.log_range(c, "log")
    assert [(e.seq, e.value) for e in stored] == [(1, "first"), (2, "mine"), (3, "theirs")]


@standalone_only  # maxmemory is set on the standalone server
async def test_a_log_append_retried_when_the_server_is_out_of_memory_returns_its_numbers(
    writers: Writers, redis_url: str
) -> None:
    from redis.asyncio import Redis

    c = writers.collection
    admin = Redis.from_url(redis_url)
    (before,) = (await admin.config_get("maxmemory")).values()

    async def server_fills_up() -> None:
        await admin.config_set("maxmemory", 1)

    writers.proxy.lose_next_reply(server_fills_up)
    try:
        got = await writers.mine.log_append(c, "log", ["mine"])
    finally:
        await admin.config_set("maxmemory", before)
        await admin.aclose()
    assert writers.proxy.lost == 1
    assert [(e.seq, e.value) for e in got] == [(1, "mine")]
    assert await writers.other.log_length(c, "log") == 1
