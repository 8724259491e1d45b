"""The whole conformance kit, with the stateful test, against a throwaway standalone
redis-server and a throwaway three-node Redis Cluster (both started by conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from satchel.backend import Backend, Record
from satchel.testing import BackendConformance, MakeBackend, SilentServer
from satchel_redis import RedisBackend
from satchel_redis.testing.servers import RedisClusterNodes, RedisServerFactory

#: Settings of the silent server's backend: a call bound of 2.05 s, a pool of two.
QUICK: dict[str, Any] = {
    "retries": 1,
    "connect_timeout": 0.5,
    "socket_timeout": 0.5,
    "retry_backoff": 0.05,
    "max_connections": 2,
}


def raw_client(backend: Backend) -> tuple[Redis | RedisCluster, str]:
    """``(client, hash key prefix)``: a plain client of the backend's server (another
    client, as an application's), and the prefix of a collection's record hashes but the
    collection (``f"{prefix}{{{collection}}}:r:{key}"``)."""
    assert isinstance(backend, RedisBackend)
    settings = backend.settings
    assert settings.url is not None
    url = settings.url.get_secret_value()
    raw: Redis | RedisCluster
    raw = RedisCluster.from_url(url) if settings.cluster else Redis.from_url(url)
    return raw, settings.key_prefix


async def plant_string(backend: Backend, collection: str, key: str, garbage: bytes) -> None:
    """What another client of the server could do: write a plain string over the hash of a
    satchel record (the key stays listed in the collection, as it was)."""
    await backend.put(Record(collection, key, {"soon": "overwritten"}))
    raw, prefix = raw_client(backend)
    try:
        await raw.set(f"{prefix}{{{collection}}}:r:{key}", garbage)
    finally:
        await raw.aclose()


async def remove_value_field(backend: Backend, collection: str, key: str) -> None:
    """What another client of the server could do: ``HDEL`` the value field ``v`` of a
    record's hash, its metadata left in place."""
    raw, prefix = raw_client(backend)
    try:
        assert await raw.hdel(f"{prefix}{{{collection}}}:r:{key}", "v") == 1
    finally:
        await raw.aclose()


class TestStandalone(BackendConformance):
    """A standalone server."""

    @pytest.fixture
    def make_backend(self, redis_url: str) -> MakeBackend:
        return lambda: RedisBackend.from_url(redis_url, key_prefix="satchel-kit:")

    @pytest.fixture
    def process_backend(self, redis_url: str) -> tuple[str, dict[str, Any]]:
        return ("redis", {"url": redis_url, "key_prefix": "satchel-kit:"})

    @pytest.fixture
    def silent_server(self, redis_server_factory: RedisServerFactory) -> SilentServer:
        server = redis_server_factory()
        return SilentServer(
            lambda: RedisBackend.from_url(server.url, **QUICK),
            QUICK["max_connections"],
            server.pause,
            server.resume,
        )

    async def plant_corrupt_record(self, backend: Backend, collection: str, key: str) -> None:
        await plant_string(backend, collection, key, b"not a hash")

    async def remove_record_value(self, backend: Backend, collection: str, key: str) -> None:
        await remove_value_field(backend, collection, key)


class TestCluster(BackendConformance):
    """A three-node Cluster: every collection in one slot, every script on one node."""

    stateful_max_examples = 15

    @pytest.fixture
    def make_backend(self, redis_cluster_url: str) -> MakeBackend:
        return lambda: RedisBackend.from_url(
            redis_cluster_url, cluster=True, key_prefix="satchel-kit:"
        )

    @pytest.fixture
    def process_backend(self, redis_cluster_url: str) -> tuple[str, dict[str, Any]]:
        return ("redis", {"url": redis_cluster_url, "cluster": True, "key_prefix": "satchel-kit:"})

    @pytest.fixture
    def silent_server(self, redis_binary: str) -> Iterator[SilentServer]:
        """A Cluster of its own, every node stopped at once (a pool of two per node)."""
        with RedisClusterNodes(redis_binary) as cluster:

            def pause() -> None:
                for node in cluster.nodes:
                    node.pause()

            def resume() -> None:
                for node in cluster.nodes:
                    node.resume()

            yield SilentServer(
                lambda: RedisBackend.from_url(cluster.url, cluster=True, **QUICK),
                QUICK["max_connections"],
                pause,
                resume,
            )

    async def plant_corrupt_record(self, backend: Backend, collection: str, key: str) -> None:
        await plant_string(backend, collection, key, json.dumps([1, 2]).encode())

    async def remove_record_value(self, backend: Backend, collection: str, key: str) -> None:
        await remove_value_field(backend, collection, key)
