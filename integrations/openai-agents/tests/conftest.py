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
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import satchel
from satchel import Satchel
from satchel.testing.matrix import backend_environ, parametrize_backends
from satchel_mongodb.testing.fixtures import mongodb_uri  # noqa: F401
from satchel_redis.testing.fixtures import redis_binary, redis_sentinel, redis_url  # noqa: F401

# the scripts beside the tests (run in child processes) import the package from here
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")


#: The backends of the tests that do not choose theirs.
BACKENDS = ["memory", "redis", "mongodb"]
#: The modules whose tests of :data:`BACKENDS` run on a Redis master found through a
#: Sentinel too: the session's own (each backend costs the session seconds).
SENTINEL_MODULES = {"test_differential", "test_session"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, BACKENDS, sentinel_modules=SENTINEL_MODULES)


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
