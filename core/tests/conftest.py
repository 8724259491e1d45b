"""Fixtures of core's tests: a clean environment and a handle on the memory backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

import satchel


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable satchel reads (SATCHEL_*, TA_*, KV_STORE_*, REDIS_URL) leaks into a test
    from the caller's environment."""
    for name in list(os.environ):
        if name.upper().startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL")):
            monkeypatch.delenv(name)


@pytest.fixture
async def store() -> AsyncIterator[satchel.Satchel]:
    async with satchel.open() as handle:
        yield handle
