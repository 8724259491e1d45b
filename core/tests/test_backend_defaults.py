"""The Backend base class's default methods agree with the memory backend's own."""

from __future__ import annotations

from typing import Any

import pytest

from satchel.backend import Backend, BackendSpec, Page, Record, missing_methods
from satchel.errors import InvalidArgument
from satchel.query import Condition, Query
from satchel_memory import MemoryBackend


class Minimal(Backend):
    """Implements only the abstract methods (by delegation), so the defaults run."""

    name = "minimal"

    def __init__(self) -> None:
        self.inner = MemoryBackend()

    async def get(self, collection: str, key: str) -> Record | None:
        return await self.inner.get(collection, key)

    async def find(self, collection: str, index_name: str, value: str) -> list[Record]:
        return await self.inner.find(collection, index_name, value)

    async def query(self, collection: str, query: Query) -> Page[Record]:
        return await self.inner.query(collection, query)

    async def collections(self) -> list[str]:
        return await self.inner.collections()

    async def put(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> Record:
        return await self.inner.put(record, if_absent=if_absent, if_version=if_version)

    async def delete(self, collection: str, key: str, *, if_version: int | None = None) -> bool:
        return await self.inner.delete(collection, key, if_version=if_version)

    async def drop(self, collection: str) -> int:
        return await self.inner.drop(collection)

    async def purge_expired(self) -> int:
        return await self.inner.purge_expired()


async def test_defaults_match_the_reference() -> None:
    backend = Minimal()
    stored = await backend.put_many([Record("c", f"k{i:04}", {"n": i}) for i in range(2500)])
    assert [r.version for r in stored[:3]] == [1, 1, 1]
    got = await backend.get_many("c", ["k0001", "nope", "k2499"])
    assert [r.value if r else None for r in got] == [{"n": 1}, None, {"n": 2499}]
    assert await backend.count("c") == 2500
    assert await backend.count("c", [Condition.of("n", "lt", 1500)]) == 1500
    keys = [k async for k in backend.iter_keys("c", "k00[0-1]?")]
    assert sorted(keys) == [f"k{i:04}" for i in range(20)]
    assert len([k async for k in backend.iter_keys("c")]) == 2500
    await backend.ping()
    assert await backend.stats() == {}
    assert backend.describe() == "minimal"
    await backend.close()


def test_missing_methods() -> None:
    class Partial:
        async def get(self, collection: str, key: str) -> Any: ...

        def put(self) -> None: ...  # not async

    missing = missing_methods(Partial)
    assert "put" in missing and "get" not in missing and "query" in missing
    assert missing_methods(MemoryBackend) == []

    class Abstract(Backend):
        pass

    assert "get" in missing_methods(Abstract)


def test_backend_spec_validates_its_name_and_factory() -> None:
    with pytest.raises(InvalidArgument, match="lower-case"):
        BackendSpec("Redis", lambda s, c: MemoryBackend())
    with pytest.raises(InvalidArgument, match="not callable"):
        BackendSpec("redis", "nope")  # type: ignore[arg-type]
