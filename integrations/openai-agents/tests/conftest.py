"""Fixtures of the OpenAI Agents integration's tests: satchel handles on memory, on a
throwaway Redis and on a throwaway MongoDB wire-protocol server (the servers of
:mod:`satchel_redis.testing.fixtures` and :mod:`satchel_mongodb.testing.fixtures`).

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
from satchel_redis.testing.fixtures import redis_binary, redis_url  # noqa: F401

# the scripts beside the tests (run in child processes) import the package from here
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")


def backend_environ(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    """The ``SATCHEL_*`` variables that select ``backend`` (a server started for the test
    session), in a namespace of the test's own."""
    environ = {"SATCHEL_BACKEND": backend, "SATCHEL_NAMESPACE": f"t{uuid.uuid4().hex[:12]}"}
    if backend == "redis":
        environ["SATCHEL_REDIS_URL"] = request.getfixturevalue("redis_url")
    elif backend == "mongodb":
        environ["SATCHEL_MONGODB_URI"] = request.getfixturevalue("mongodb_uri")
    return environ


@pytest.fixture(params=["memory", "redis", "mongodb"])
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
