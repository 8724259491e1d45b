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


#: The backends of the tests that do not choose theirs.
BACKENDS = ["memory", "redis", "mongodb"]
#: The modules whose tests of :data:`BACKENDS` run on a Redis master found through a
#: Sentinel too: the session's own (each backend costs the session seconds).
SENTINEL_MODULES = {"test_differential", "test_session"}


def _chooses_its_backends(metafunc: pytest.Metafunc) -> bool:
    """Whether the test parametrizes ``backend`` itself."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        if "backend" in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``backend`` and does not choose its own runs on :data:`BACKENDS`,
    and, in the modules of :data:`SENTINEL_MODULES`, on ``redis-sentinel`` too."""
    if "backend" not in metafunc.fixturenames or _chooses_its_backends(metafunc):
        return
    backends = list(BACKENDS)
    if Path(str(metafunc.module.__file__)).stem in SENTINEL_MODULES:
        backends.insert(backends.index("redis") + 1, "redis-sentinel")
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
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
