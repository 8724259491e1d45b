"""One RedisBackend (and one handle over it) serves every event loop that calls it: a client
per loop, made on first use there and closed when that loop shuts down; standalone, Cluster
and Sentinel. Warnings are errors in this test suite, so an unclosed connection or socket
of a loop that is gone fails the test."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable

import pytest

from satchel.backend import Record
from satchel.settings import load_settings
from satchel_redis import RedisBackend, RedisSettings
from satchel_redis.testing.servers import RedisSentinelSetup


def sentinel_backend(setup: RedisSentinelSetup) -> RedisBackend:
    return RedisBackend(
        load_settings(
            RedisSettings,
            environ={
                "SATCHEL_REDIS_SENTINELS": setup.sentinels,
                "SATCHEL_REDIS_SENTINEL_SERVICE": setup.service_name,
                "SATCHEL_REDIS_KEY_PREFIX": "satchel-loops:",
            },
        )
    )


@pytest.fixture(params=["standalone", "cluster", "sentinel"])
def make(request: pytest.FixtureRequest) -> Callable[[], RedisBackend]:
    if request.param == "standalone":
        url: str = request.getfixturevalue("redis_url")
        return lambda: RedisBackend.from_url(url, key_prefix="satchel-loops:")
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
        return lambda: RedisBackend.from_url(url, cluster=True, key_prefix="satchel-loops:")
    setup: RedisSentinelSetup = request.getfixturevalue("redis_sentinel")
    return lambda: sentinel_backend(setup)


async def turn(backend: RedisBackend, n: int) -> int:
    stored = await backend.put(Record("loops", f"k{n}", n))
    got = await backend.get("loops", f"k{n}")
    assert got is not None and got.version == stored.version
    return await backend.count("loops")


def test_successive_loops_threads_and_a_loop_closed_by_hand(
    make: Callable[[], RedisBackend],
) -> None:
    backend = make()  # built outside any loop
    try:
        assert [asyncio.run(turn(backend, n)) for n in range(3)] == [1, 2, 3]
        # a loop closed without finalising its async generators (not through asyncio.run)
        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(turn(backend, 3)) == 4
        loop.close()
        counts: list[int] = []
        thread = threading.Thread(target=lambda: counts.append(asyncio.run(turn(backend, 4))))
        thread.start()
        thread.join(30)
        assert counts == [5]
        assert asyncio.run(turn(backend, 5)) == 6
    finally:

        async def clean_up() -> None:
            try:
                await backend.drop("loops")
            finally:
                await backend.close()

        asyncio.run(clean_up())
    gc.collect()  # a connection left open would warn (an error here) now
    assert not backend._states


def test_a_closed_loop_clients_are_dropped_when_another_loop_comes(redis_url: str) -> None:
    backend = RedisBackend.from_url(redis_url, key_prefix="satchel-loops:")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(backend.ping())
    first = backend._states[loop]
    loop.close()
    asyncio.run(backend.ping())  # finds the closed loop's clients and drops them
    assert first.released and loop not in backend._states
    asyncio.run(backend.close())
    gc.collect()


def test_a_backend_closed_from_another_running_loop_closes_there(redis_url: str) -> None:
    backend = RedisBackend.from_url(redis_url, key_prefix="satchel-loops:")
    ready, done = threading.Event(), threading.Event()

    def serve() -> None:
        async def main() -> None:
            await backend.ping()
            ready.set()
            await asyncio.get_running_loop().run_in_executor(None, done.wait, 30)

        asyncio.run(main())

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert ready.wait(10)
        asyncio.run(backend.close())
        assert not backend._states
    finally:
        done.set()
        thread.join(10)
    gc.collect()
