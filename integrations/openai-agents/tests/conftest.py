"""Fixtures of the OpenAI Agents integration's tests: satchel handles on memory, on a
throwaway Redis (standalone, and a master found through a Sentinel) and on a throwaway
MongoDB wire-protocol server (the servers of :mod:`satchel_redis.testing.fixtures` and
:mod:`satchel_mongodb.testing.fixtures`).

Without a ``redis-server`` or SecantusDB the tests that need them are skipped, or fail
when ``CI=true``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import satchel
from satchel import Satchel
from satchel_mongodb.testing.fixtures import mongodb_uri  # noqa: F401
from satchel_redis.testing.fixtures import redis_binary, redis_sentinel, redis_url  # noqa: F401
from satchel_redis.testing.servers import RedisSentinelSetup

# the scripts beside the tests (run in child processes) import the package from here
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")


def backend_environ(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    """The ``SATCHEL_*`` variables that select ``backend`` (a server started for the test
    session), in a namespace of the test's own."""
    environ = {
        "SATCHEL_BACKEND": "redis" if backend.startswith("redis") else backend,
        "SATCHEL_NAMESPACE": f"t{uuid.uuid4().hex[:12]}",
    }
    if backend == "redis":
        environ["SATCHEL_REDIS_URL"] = request.getfixturevalue("redis_url")
    elif backend == "redis-sentinel":
        setup: RedisSentinelSetup = request.getfixturevalue("redis_sentinel")
        environ["SATCHEL_REDIS_SENTINELS"] = setup.sentinels
        environ["SATCHEL_REDIS_SENTINEL_SERVICE"] = setup.service_name
    elif backend == "mongodb":
        environ["SATCHEL_MONGODB_URI"] = request.getfixturevalue("mongodb_uri")
    return environ


#: The backends of the tests that do not choose theirs (the process tests choose Redis and
#: MongoDB: each backend there costs seconds of child processes).
BACKENDS = ["memory", "redis", "redis-sentinel", "mongodb"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def environ(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    return backend_environ(request, backend)


@pytest.fixture
async def store(environ: dict[str, str], backend: str) -> AsyncIterator[Satchel]:
    async with satchel.open(environ=environ) as handle:
        if backend == "redis-sentinel":  # the master is found through the sentinel
            assert (await handle.raw_backend.stats())["mode"] == "sentinel"
        yield handle
