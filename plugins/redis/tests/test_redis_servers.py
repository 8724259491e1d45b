"""The throwaway servers of conftest.py work: checked with redis-py directly."""

from __future__ import annotations

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.sentinel import Sentinel

from satchel_redis.testing.servers import RedisSentinelSetup, RedisServerFactory


def test_standalone_answers_ping_set_get(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping() is True
        client.set("satchel:test:standalone", b"value")
        assert client.get("satchel:test:standalone") == b"value"
        client.delete("satchel:test:standalone")


async def test_cluster_serves_keys_of_every_node(redis_cluster_url: str) -> None:
    # the asyncio client: redis-py's synchronous Cluster client leaves the connections it
    # makes while mapping the cluster open after close()
    cluster = AsyncRedisCluster.from_url(redis_cluster_url)
    try:
        await cluster.initialize()
        keys = [f"{{k{i}}}x" for i in range(30)]
        nodes = {cluster.get_node_from_key(key).name for key in keys}
        assert len(nodes) == 3
        assert len({cluster.keyslot(key) for key in keys}) == len(keys)
        for key in keys:
            await cluster.set(key, key)
        for key in keys:
            assert await cluster.get(key) == key.encode()
        for key in keys:
            await cluster.delete(key)
        ports = [node.port for node in cluster.get_nodes()]
    finally:
        await cluster.aclose()
    for port in ports:
        with redis.Redis(host="127.0.0.1", port=port) as client:
            info = client.execute_command("CLUSTER INFO")
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_known_nodes"]) == 3
        assert int(info["cluster_slots_ok"]) == 16384


def test_sentinel_resolves_the_master(redis_sentinel: RedisSentinelSetup) -> None:
    host, port = redis_sentinel.sentinels.rsplit(":", 1)
    sentinels = [(host, int(port))]
    with Sentinel(sentinels, socket_timeout=5) as sentinel:  # type: ignore[no-untyped-call]
        master = sentinel.master_for(redis_sentinel.service_name)
        try:
            assert master.connection_pool.get_master_address() == (
                redis_sentinel.master.host,
                redis_sentinel.master.port,
            )
            master.set("satchel:test:sentinel", b"value")
            assert master.get("satchel:test:sentinel") == b"value"
        finally:
            master.close()
            master.connection_pool.disconnect()


def test_appendonly_server_keeps_acknowledged_writes_across_a_kill(
    redis_server_factory: RedisServerFactory,
) -> None:
    server = redis_server_factory(appendonly=True)
    with redis.Redis.from_url(server.url) as client:
        client.set("durable", b"yes")
    port = server.port
    server.stop(kill=True)
    assert not server.running
    with (
        redis.Redis.from_url(server.url, socket_connect_timeout=1) as client,
        pytest.raises(redis.ConnectionError),
    ):
        client.ping()
    server.restart()
    assert server.port == port
    with redis.Redis.from_url(server.url) as client:
        assert client.get("durable") == b"yes"


def test_password_server_refuses_unauthenticated_clients(
    redis_server_factory: RedisServerFactory,
) -> None:
    server = redis_server_factory(password="s3cret/:@pw")
    unauthenticated = f"redis://{server.host}:{server.port}/0"
    with (
        redis.Redis.from_url(unauthenticated) as client,
        pytest.raises(redis.AuthenticationError),
    ):
        client.ping()
    with redis.Redis.from_url(server.url) as client:
        assert client.ping() is True
