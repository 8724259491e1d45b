"""The whole conformance kit against the memory backend, the reference implementation."""

from __future__ import annotations

import pytest

from satchel.backend import Backend, Record
from satchel.testing import BackendConformance, MakeBackend
from satchel.testing.fixtures import ago
from satchel_memory import MemoryBackend


class TestMemoryBackend(BackendConformance):
    """The memory backend with its default settings (values up to 16 MiB)."""

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        return MemoryBackend

    @pytest.mark.asyncio
    async def test_purge_expired_counts_what_it_removes(
        self, backend: Backend, collection: str
    ) -> None:
        """The kit accepts any count (a server may purge on its own); memory never does."""
        for key in ("a", "b", "c"):
            await backend.put(Record(collection, key, 1, expires_at=ago()))
        await backend.put(Record(collection, "live", 1))
        assert await backend.purge_expired() == 3
        assert await backend.purge_expired() == 0
        assert (await backend.stats())["records"] == 1


class TestMemoryBackendBuiltAsynchronously(BackendConformance):
    """``make_backend`` may return an awaitable; a small value limit keeps the size tests
    cheap."""

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        async def build() -> Backend:
            return MemoryBackend(max_value_bytes=4096)

        return build
