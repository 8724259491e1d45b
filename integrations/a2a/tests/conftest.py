"""Fixtures of the A2A integration's tests: satchel handles on memory, on a throwaway Redis
(standalone and a three-node Cluster) and on a throwaway MongoDB wire-protocol server (the
servers of :mod:`satchel_redis.testing.fixtures` and :mod:`satchel_mongodb.testing.fixtures`).

Without a ``redis-server`` or SecantusDB the tests that need them are skipped, or fail
when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import satchel
from satchel import Satchel
from satchel.testing.matrix import backend_environ, open_arguments
from satchel_mongodb.testing.fixtures import mongodb_uri  # noqa: F401
from satchel_redis.testing.fixtures import (  # noqa: F401
    redis_binary,
    redis_cluster_url,
    redis_url,
)

# the helpers beside the tests (a2a_samples) import from here
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

BACKENDS = ["memory", "redis", "redis-cluster", "mongodb"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def handle_arguments(request: pytest.FixtureRequest, backend: str) -> dict[str, Any]:
    """``satchel.open`` arguments for a handle of the test's own on ``backend`` (each call
    of ``satchel.open`` with them opens another handle on the same records)."""
    return open_arguments(request, backend)


@pytest.fixture
def environ(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    return backend_environ(request, backend)


@pytest.fixture
async def store(handle_arguments: dict[str, Any]) -> AsyncIterator[Satchel]:
    async with satchel.open(**handle_arguments) as handle:
        yield handle


@pytest.fixture
async def every_store(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Satchel]]:
    """A handle on each backend, for a test that runs on all of them at once (one that
    waits for time to pass)."""
    async with contextlib.AsyncExitStack() as stack:
        handles = {}
        for name in BACKENDS:
            opened = satchel.open(**open_arguments(request, name))
            handles[name] = await stack.enter_async_context(opened)
        yield handles
