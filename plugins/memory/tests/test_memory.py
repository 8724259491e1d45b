"""What is particular to the memory backend: threads, lazy expiry, its settings."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

import satchel
from satchel.backend import Record, utcnow
from satchel.errors import Conflict, InvalidArgument, ValueTooLarge
from satchel_memory import MemoryBackend


def test_threads_with_their_own_event_loops_lose_no_update() -> None:
    backend = MemoryBackend()
    asyncio.run(backend.put(Record("c", "counter", 0)))

    async def increments(n: int) -> None:
        for _ in range(n):
            while True:
                current = await backend.get("c", "counter")
                assert current is not None
                try:
                    await backend.put(
                        Record("c", "counter", current.value + 1), if_version=current.version
                    )
                    break
                except Conflict:
                    continue

    threads = [threading.Thread(target=asyncio.run, args=(increments(200),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = asyncio.run(backend.get("c", "counter"))
    assert final is not None and final.value == 1600 and final.version == 1601


async def test_expiry_is_lazy_and_purge_expired_removes_the_rest() -> None:
    backend = MemoryBackend()
    past = utcnow() - timedelta(seconds=1)
    await backend.put(Record("c", "gone", 1, expires_at=past, index={"i": ("x",)}))
    await backend.put(Record("c", "also", 1, expires_at=past))
    await backend.put(Record("c", "kept", 1))
    assert (await backend.stats())["records"] == 3  # still held until read or purged
    assert await backend.get("c", "gone") is None  # a read removes it
    assert (await backend.stats())["records"] == 2
    assert await backend.purge_expired() == 1
    assert (await backend.stats())["records"] == 1
    assert (await backend.stats())["index_entries"] == 0


async def test_the_size_limit_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_MEMORY_MAX_VALUE_BYTES", "100")
    store = satchel.open()
    kv = store.kv("ns")
    await kv.set("small", "x" * 50)
    with pytest.raises(ValueTooLarge, match="SATCHEL_MEMORY_MAX_VALUE_BYTES"):
        await kv.set("big", "é" * 60)  # 120 bytes of UTF-8
    assert await kv.keys() == ["small"]
    with pytest.raises(InvalidArgument, match="max_value_bytes"):
        MemoryBackend(max_value_bytes=0)


def test_describe_and_repr() -> None:
    assert "memory" in repr(MemoryBackend())
