"""The whole conformance kit, with the stateful test, against a throwaway standalone
redis-server and a throwaway three-node Redis Cluster (both started by conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from satchel.backend import Backend, Record
from satchel.testing import BackendConformance, MakeBackend
from satchel_redis import RedisBackend


async def plant_string(backend: Backend, collection: str, key: str, garbage: bytes) -> None:
    """What another client of the server could do: write a plain string over the hash of a
    satchel record (the key stays listed in the collection, as it was)."""
    assert isinstance(backend, RedisBackend)
    await backend.put(Record(collection, key, {"soon": "overwritten"}))
    settings = backend.settings
    assert settings.url is not None
    url = settings.url.get_secret_value()
    raw: Redis | RedisCluster
    raw = RedisCluster.from_url(url) if settings.cluster else Redis.from_url(url)
    try:
        base = f"{settings.key_prefix}{{{collection}}}:"
        await raw.set(f"{base}r:{key}", garbage)
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

    async def plant_corrupt_record(self, backend: Backend, collection: str, key: str) -> None:
        await plant_string(backend, collection, key, b"not a hash")


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

    async def plant_corrupt_record(self, backend: Backend, collection: str, key: str) -> None:
        await plant_string(backend, collection, key, json.dumps([1, 2]).encode())
