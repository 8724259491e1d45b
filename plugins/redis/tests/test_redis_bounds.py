"""Every call returns or raises within the documented bound,
``(retries + 1) * (connect_timeout + socket_timeout) + the backoff caps``, and says why.

The faults are real: a server (or one Cluster node) stopped with SIGSTOP keeps its port open
(the kernel still accepts connections) and answers nothing, the worst case for a client;
a TLS client talks to a plain server. The margin added to the bound is generous on purpose:
the bound is the guarantee, the margin only absorbs a busy machine.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.crc import key_slot

from satchel.backend import Record
from satchel.errors import BackendUnavailable
from satchel.settings import load_settings
from satchel_redis import RedisBackend, RedisSettings
from satchel_redis.backend import call_bound
from satchel_redis.layout import encode_tag
from satchel_redis.testing.servers import (
    RedisClusterNodes,
    RedisSentinelSetup,
    RedisServer,
    RedisServerFactory,
)

MARGIN = 1.5  # seconds: scheduling slack on a loaded machine, not part of the guarantee
FAST = {"connect_timeout": 0.5, "socket_timeout": 0.5, "retry_backoff": 0.05}


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, str]:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        await call()
    return time.monotonic() - started, str(info.value)


@pytest.mark.parametrize("retries", [0, 1])
async def test_a_stopped_server_fails_every_call_within_the_bound(
    redis_server_factory: RedisServerFactory, retries: int
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url, retries=retries, **FAST)
    bound = call_bound(backend.settings)
    assert bound == pytest.approx((retries + 1) * 1.0 + 0.05 * retries)
    try:
        await backend.put(Record("c", "k", 1))  # a pooled connection exists
        server.pause()
        for call in (
            lambda: backend.get("c", "k"),
            lambda: backend.put(Record("c", "k", 2)),
            lambda: backend.count("c"),
            lambda: backend.log_append("c", "log", [1]),
            lambda: backend.log_range("c", "log"),
        ):
            elapsed, message = await timed(call)
            assert elapsed <= bound + MARGIN, (elapsed, bound)
            assert f"127.0.0.1:{server.port}" in message
            assert "no answer within" in message, message
    finally:
        server.resume()
        await backend.close()


async def test_a_saturated_pool_on_a_stopped_server_fails_every_call_within_the_bound(
    redis_server_factory: RedisServerFactory,
) -> None:
    """Four times more calls at once than connections, against a stopped server: the bound
    holds for each call as a whole, its wait for a free connection included. A call that
    gets no connection in time says so; no write is half-applied (after the server resumes,
    the record and its index entry hold the first version or one whole write)."""
    secret = "s3cret-pw-7"
    server = redis_server_factory(password=secret)
    backend = RedisBackend.from_url(
        f"redis://:{secret}@127.0.0.1:{server.port}/0", retries=1, max_connections=2, **FAST
    )
    bound = call_bound(backend.settings)
    first = await backend.put(Record("c", "k", "first", index={"v": ("first",)}))

    async def call(i: int) -> tuple[float, str]:
        if i % 2:
            return await timed(lambda: backend.get("c", "k"))
        record = Record("c", "k", f"w{i}", index={"v": (f"w{i}",)})
        return await timed(lambda: backend.put(record, if_version=first.version))

    try:
        server.pause()
        results = await asyncio.gather(*(call(i) for i in range(8)))
        server.resume()
        for elapsed, message in results:
            assert elapsed <= bound + MARGIN, (elapsed, bound, message)
            assert f"127.0.0.1:{server.port}" in message and secret not in message, message
        busy = [m for _, m in results if "all 2 connections" in m]
        assert busy, [m for _, m in results]
        assert all("SATCHEL_REDIS_MAX_CONNECTIONS" in m for m in busy), busy
        # a call that got a connection late, and then no answer, says how long it waited
        late = [m for _, m in results if m not in busy and "waited" in m]
        assert late, [m for _, m in results]
        stored = await backend.get("c", "k")
        assert stored is not None
        assert stored.version in (1, 2) and (stored.version == 1) == (stored.value == "first")
        assert stored.index == {"v": (stored.value,)}
        assert [r.key for r in await backend.find("c", "v", str(stored.value))] == ["k"]
        if stored.value != "first":
            assert await backend.find("c", "v", "first") == []
    finally:
        server.resume()
        await backend.drop("c")
        await backend.close()


async def test_a_fresh_connection_to_a_stopped_server_fails_within_the_bound(
    redis_server_factory: RedisServerFactory,
) -> None:
    """Connecting to a stopped server succeeds (the kernel accepts), then every command of
    the connection's set-up waits: the bound holds for the whole attempt, not per command."""
    server = redis_server_factory(password="pw")
    server.pause()
    backend = RedisBackend.from_url(f"redis://:pw@127.0.0.1:{server.port}/3", retries=1, **FAST)
    try:
        elapsed, message = await timed(lambda: backend.get("c", "k"))
        assert elapsed <= call_bound(backend.settings) + MARGIN, elapsed
        assert f"127.0.0.1:{server.port}" in message and "pw" not in message.split("/")[-1]
    finally:
        server.resume()
        await backend.close()


async def test_a_refused_connection_says_so(redis_server_factory: RedisServerFactory) -> None:
    server = redis_server_factory()
    server.stop()
    backend = RedisBackend.from_url(server.url, retries=0, **FAST)
    try:
        elapsed, message = await timed(backend.ping)
        assert elapsed <= call_bound(backend.settings) + MARGIN
        assert "refused" in message and f"127.0.0.1:{server.port}" in message
    finally:
        await backend.close()


async def test_tls_to_a_plain_server_fails_at_once_and_says_so(redis_url: str) -> None:
    tls_url = redis_url.replace("redis://", "rediss://")
    backend = RedisBackend.from_url(tls_url, retries=3, connect_timeout=2, socket_timeout=2)
    try:
        elapsed, message = await timed(backend.ping)
        # the handshake times out once (connect_timeout); then the server is found to speak
        # plain Redis, which no retry can change
        assert elapsed <= 2 + MARGIN, elapsed
        assert "does not speak TLS" in message and "rediss://" in message, message
    finally:
        await backend.close()


# -- Cluster ----------------------------------------------------------------------------------


@pytest.fixture
def cluster(redis_binary: str) -> Iterator[RedisClusterNodes]:
    """A Cluster of its own (one of its nodes gets stopped)."""
    with RedisClusterNodes(redis_binary) as nodes:
        yield nodes


def collection_on(node: int) -> str:
    """A collection whose slot belongs to the ``node``-th node (slot ranges as formed)."""
    first, last = RedisClusterNodes.SLOT_RANGES[node]
    for i in range(10_000):
        name = f"bound-{i}"
        if first <= key_slot(f"{{{encode_tag(name)}}}".encode()) <= last:
            return name
    raise AssertionError("no collection found")


def log_on(backend: RedisBackend, collection: str, node: int) -> str:
    """A log key of ``collection`` whose bucket's slot belongs to the ``node``-th node."""
    first, last = RedisClusterNodes.SLOT_RANGES[node]
    for i in range(10_000):
        key = f"log-{i}"
        if first <= key_slot(backend._layout.log_base(collection, key).encode()) <= last:
            return key
    raise AssertionError("no log key found")


@pytest.mark.parametrize("retries", [0, 1])
async def test_a_stopped_cluster_node_fails_calls_within_the_bound(
    cluster: RedisClusterNodes, retries: int
) -> None:
    """Every call to the stopped node's slots ends within the bound and names that node,
    also when the attempt's own bound, not a socket timeout, cut it short (a call that
    first reads the slot map again, from the stopped node among others)."""
    backend = RedisBackend.from_url(
        cluster.url,
        cluster=True,
        retries=retries,
        connect_timeout=1,
        socket_timeout=1,
        retry_backoff=0.05,
    )
    bound = call_bound(backend.settings)
    assert bound == pytest.approx((retries + 1) * 2 + 0.05 * retries)
    stopped: RedisServer = cluster.nodes[1]
    on_stopped, elsewhere = collection_on(1), collection_on(2)
    log = log_on(backend, on_stopped, 1)
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("put", lambda: backend.put(Record(on_stopped, "k", 2))),
        ("get", lambda: backend.get(on_stopped, "k")),
        ("put_many", lambda: backend.put_many([Record(on_stopped, "j", 1)])),
        ("delete", lambda: backend.delete(on_stopped, "k", if_version=1)),
        ("count", lambda: backend.count(on_stopped)),
        ("log_append", lambda: backend.log_append(on_stopped, log, [1])),
    ]
    try:
        await backend.put(Record(on_stopped, "k", 1))
        await backend.put(Record(elsewhere, "k", 1))
        stopped.pause()
        for _ in range(2):
            for name, call in calls:
                elapsed, message = await timed(call)
                assert elapsed <= bound + MARGIN, (name, elapsed, bound)
                assert "no answer within" in message, (name, message)
                assert f"cluster node 127.0.0.1:{stopped.port}" in message, (name, message)
        # a collection on a live node is still served, within the bound too
        started = time.monotonic()
        try:
            got = await backend.get(elsewhere, "k")
            assert got is not None and got.value == 1
        except BackendUnavailable:
            pass  # the slot map could not be read in time: allowed, but not slower
        assert time.monotonic() - started <= bound + MARGIN
    finally:
        stopped.resume()
        await backend.close()


async def test_each_cluster_node_has_the_pool_size_of_its_own(cluster: RedisClusterNodes) -> None:
    """``max_connections`` is per node, as redis-py's Cluster pools are: with the three
    nodes stopped, two calls to each node's slots are all in flight at once (six
    connections), and none waits for another node's. Counted, not timed: the nodes answer
    nothing until they resume, and then every call succeeds."""
    backend = RedisBackend.from_url(
        cluster.url,
        cluster=True,
        retries=0,
        max_connections=2,
        connect_timeout=10,
        socket_timeout=10,
    )
    names = [collection_on(node) for node in range(3)]

    def in_flight() -> dict[str, int]:
        nodes = backend._client.nodes_manager.nodes_cache.values()
        return {n.name: len(n._connections) - len(n._free) for n in nodes}

    try:
        for name in names:
            await backend.put(Record(name, "k", 0))
        for node in cluster.nodes:
            node.pause()
        calls = [
            asyncio.ensure_future(backend.put(Record(name, f"k{i}", i)))
            for name in names
            for i in range(3)
        ]
        for _ in range(500):  # at most 5 s; at once when the pools are per node
            if sum(in_flight().values()) >= 6:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # no seventh connection follows
        counted = in_flight()
        for node in cluster.nodes:
            node.resume()
        assert sorted(counted.values()) == [2, 2, 2], counted
        stored = await asyncio.gather(*calls)
        assert sorted(r.value for r in stored) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    finally:
        for node in cluster.nodes:
            node.resume()
        for name in names:
            await backend.drop(name)
        await backend.close()


def test_a_backend_closed_after_a_cluster_node_stopped_leaves_nothing_open(
    cluster: RedisClusterNodes,
) -> None:
    """After calls that timed out on a stopped node (redis-py then marks its Cluster client
    for a new slot map, and its own ``aclose()`` does nothing until it has one),
    ``close()`` still closes every node's connections: no ResourceWarning at a collection."""
    import asyncio
    import gc
    import warnings

    on_stopped = collection_on(1)

    async def outage() -> None:
        backend = RedisBackend.from_url(
            cluster.url, cluster=True, retries=0, connect_timeout=0.5, socket_timeout=0.5
        )
        try:
            # the setup write opens the connections; its 0.5 s bounds may not be enough
            # for the slot map and the first script on a busy machine: it tries again
            for attempt in range(5):
                try:
                    await backend.put(Record(on_stopped, "k", 1))
                    break
                except BackendUnavailable:
                    if attempt == 4:
                        raise
            cluster.nodes[1].pause()
            await timed(lambda: backend.put(Record(on_stopped, "k", 2)))
        finally:
            cluster.nodes[1].resume()
            await backend.close()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(outage())
        gc.collect()
    leaks = [str(w.message)[:120] for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks


# -- Sentinel ---------------------------------------------------------------------------------


@pytest.fixture
def sentinel_setup(redis_binary: str) -> Iterator[RedisSentinelSetup]:
    """A master and a sentinel of their own (one of them gets stopped)."""
    with RedisSentinelSetup(redis_binary) as setup:
        yield setup


def through_sentinel(setup: RedisSentinelSetup, service: str | None = None) -> RedisBackend:
    environ = {
        "SATCHEL_REDIS_SENTINELS": setup.sentinels,
        "SATCHEL_REDIS_SENTINEL_SERVICE": service or setup.service_name,
        "SATCHEL_REDIS_RETRIES": "0",
        "SATCHEL_REDIS_CONNECT_TIMEOUT": "0.5",
        "SATCHEL_REDIS_SOCKET_TIMEOUT": "0.5",
    }
    return RedisBackend(load_settings(RedisSettings, environ=environ))


async def test_a_stopped_or_absent_sentinel_is_named_with_its_cause(
    sentinel_setup: RedisSentinelSetup,
) -> None:
    """No master can be found: the error names each sentinel and what it did (no answer,
    refused), within the bound, and never quotes the driver's client objects."""
    sentinel = f"sentinel 127.0.0.1:{sentinel_setup.sentinel_port}"
    unknown = through_sentinel(sentinel_setup, service="no-such-service")
    try:
        elapsed, message = await timed(lambda: unknown.get("c", "k"))
        assert "'no-such-service'" in message and "SATCHEL_REDIS_SENTINEL_SERVICE" in message
    finally:
        await unknown.close()

    sentinel_setup.sentinel.pause()
    backend = through_sentinel(sentinel_setup)
    try:
        elapsed, message = await timed(lambda: backend.get("c", "k"))
        assert elapsed <= call_bound(backend.settings) + MARGIN, elapsed
        assert f"{sentinel}: no answer within 0.5 s" in message, message
        assert "<redis" not in message and "network:" not in message, message
    finally:
        sentinel_setup.sentinel.resume()
        await backend.close()

    sentinel_setup.sentinel.stop()
    backend = through_sentinel(sentinel_setup)
    try:
        elapsed, message = await timed(lambda: backend.put(Record("c", "k", 1)))
        assert elapsed <= call_bound(backend.settings) + MARGIN, elapsed
        assert f"{sentinel}: the connection was refused" in message, message
        assert "<redis" not in message and "network:" not in message, message
    finally:
        await backend.close()


async def test_a_stopped_master_behind_a_sentinel_is_named_within_the_bound(
    sentinel_setup: RedisSentinelSetup,
) -> None:
    backend = through_sentinel(sentinel_setup)
    try:
        await backend.put(Record("c", "k", 1))
        sentinel_setup.master.pause()
        for call in (lambda: backend.get("c", "k"), lambda: backend.put(Record("c", "k", 2))):
            elapsed, message = await timed(call)
            assert elapsed <= call_bound(backend.settings) + MARGIN, elapsed
            assert f"127.0.0.1:{sentinel_setup.master.port}" in message, message
            assert "no answer within" in message, message
    finally:
        sentinel_setup.master.resume()
        await backend.close()


def test_doctor_waits_out_the_backend_bound_and_names_the_cause(
    redis_server_factory: RedisServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``satchel doctor`` against a stopped server: its own --timeout (a tenth of a second)
    never cuts the backend short, so the report names the host and the cause, within the
    backend's bound (``RedisBackend.call_timeout``) and doctor's grace of one second."""
    import json

    from click.testing import CliRunner

    from satchel.cli import cli

    server = redis_server_factory()
    for name, value in {
        "SATCHEL_BACKEND": "redis",
        "SATCHEL_REDIS_URL": server.url,
        "SATCHEL_REDIS_RETRIES": "0",
        "SATCHEL_REDIS_CONNECT_TIMEOUT": "0.5",
        "SATCHEL_REDIS_SOCKET_TIMEOUT": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    backend = RedisBackend.from_url(server.url, retries=0, **FAST)
    assert backend.call_timeout == call_bound(backend.settings) == pytest.approx(1.0)
    server.pause()
    try:
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["doctor", "--json", "--timeout", "0.1"])
        elapsed = time.monotonic() - started
    finally:
        server.resume()
    assert result.exit_code == 4, result.output
    assert elapsed <= 1.0 + 1 + MARGIN, elapsed
    report = json.loads(result.stdout)
    message = report["error"]["message"]
    assert f"127.0.0.1:{server.port}" in message, message
    assert "no answer within" in message, message
    assert "--timeout" not in message, message


def test_doctor_over_tls_to_a_plain_server_names_it_after_one_connect_timeout(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rediss://`` to a server without TLS, with the default retries: ``satchel doctor``
    reports the mismatch and the host after one connect timeout, not after the retries."""
    import json

    from click.testing import CliRunner

    from satchel.cli import cli

    tls_url = redis_url.replace("redis://", "rediss://")
    for name in list(os.environ):
        if name.startswith("SATCHEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SATCHEL_BACKEND", "redis")
    monkeypatch.setenv("SATCHEL_REDIS_URL", tls_url)
    monkeypatch.setenv("SATCHEL_REDIS_CONNECT_TIMEOUT", "2")
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["doctor", "--json"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 4, result.output
    assert elapsed <= 2 + MARGIN, elapsed
    report = json.loads(result.stdout)
    assert [c["status"] for c in report["checks"]] == ["ok", "fail", "skip"]
    message = report["error"]["message"]
    assert "does not speak TLS" in message and tls_url.split("@")[-1] in message, message
