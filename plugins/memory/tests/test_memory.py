"""What is particular to the memory backend: threads, lazy expiry, its settings."""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import timedelta

import pytest

import satchel
from satchel.backend import Record, utcnow
from satchel.errors import Conflict, InvalidArgument, ValueTooLarge
from satchel_memory import MemoryBackend


def race_increments(backend: MemoryBackend, threads: int, each: int) -> tuple[int, int]:
    """``threads`` threads, each with its own event loop, do ``each`` conditional increments
    of one record, retrying on Conflict; returns (final value, conflicts seen)."""
    asyncio.run(backend.put(Record("c", "counter", 0)))
    start = threading.Barrier(threads)
    conflicts = 0
    counting = threading.Lock()

    async def increments() -> None:
        nonlocal conflicts
        for _ in range(each):
            while True:
                current = await backend.get("c", "counter")
                assert current is not None
                try:
                    await backend.put(
                        Record("c", "counter", current.value + 1), if_version=current.version
                    )
                    break
                except Conflict:
                    with counting:
                        conflicts += 1

    def run() -> None:
        start.wait()
        asyncio.run(increments())

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so that they race
    try:
        workers = [threading.Thread(target=run) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(switch)
    final = asyncio.run(backend.get("c", "counter"))
    assert final is not None
    return final.value, conflicts


def test_threads_with_their_own_event_loops_lose_no_update() -> None:
    backend = MemoryBackend()
    value, conflicts = race_increments(backend, threads=8, each=200)
    assert value == 1600
    assert conflicts > 0  # the threads did race: the version checks were exercised


def test_without_its_lock_the_backend_would_lose_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the race test above can fail: the same race on a backend whose lock does
    nothing loses increments."""
    import contextlib

    backend = MemoryBackend()
    monkeypatch.setattr(backend, "_lock", contextlib.nullcontext())
    lost = False
    for _ in range(5):
        # long enough that the threads overlap even when they start one by one
        value, _conflicts = race_increments(backend, threads=8, each=2000)
        if value != 16000:
            lost = True
            break
        backend = MemoryBackend()
        monkeypatch.setattr(backend, "_lock", contextlib.nullcontext())
    assert lost


async def test_expiry_is_lazy_and_purge_expired_removes_the_rest() -> None:
    backend = MemoryBackend()
    past = utcnow() - timedelta(seconds=1)
    await backend.put(Record("c", "gone", 1, expires_at=past, index={"i": ("x",)}))
    await backend.put(Record("c", "also", 1, expires_at=past))
    await backend.put(Record("c", "kept", 1))
    stats = await backend.stats()
    assert stats["records"] == 1  # expired records are never counted as records...
    assert stats["expired_not_purged"] == 2  # ...but are still held until read or purged
    assert await backend.get("c", "gone") is None  # a read removes it
    assert (await backend.stats())["expired_not_purged"] == 1
    assert await backend.purge_expired() == 1
    stats = await backend.stats()
    assert (stats["records"], stats["expired_not_purged"], stats["index_entries"]) == (1, 0, 0)


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
