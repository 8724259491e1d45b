"""Fixtures of the ADK integration's tests: satchel handles on memory, on a throwaway Redis
(standalone and a three-node Cluster) and on a throwaway MongoDB wire-protocol server (the
servers of :mod:`satchel_redis.testing.fixtures` and :mod:`satchel_mongodb.testing.fixtures`),
and the ``SATCHEL_*`` environment that selects the same records in a child process.

Without a ``redis-server`` or SecantusDB the tests that need them are skipped, or fail
when ``CI=true``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import satchel
from satchel import Satchel
from satchel.testing.matrix import backend_environ
from satchel_adk import SatchelSessionService
from satchel_mongodb.testing.fixtures import mongodb_uri  # noqa: F401
from satchel_redis.testing.fixtures import (  # noqa: F401
    redis_binary,
    redis_cluster_url,
    redis_url,
)

BACKENDS = ["memory", "redis", "redis-cluster", "mongodb"]
#: The backends several processes share.
SERVERS = ["redis", "redis-cluster", "mongodb"]

# the scripts beside the tests (run in child processes) import the package from here
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def environ(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    return backend_environ(request, backend)


@pytest.fixture
async def store(environ: dict[str, str]) -> AsyncIterator[Satchel]:
    async with satchel.open(environ=environ) as handle:
        yield handle


@pytest.fixture
def service(store: Satchel) -> SatchelSessionService:
    return SatchelSessionService(store=store)
