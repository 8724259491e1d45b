"""What is particular to the memory backend's logs: threads, lazy expiry, stats, limits."""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import timedelta

import pytest

from satchel.backend import Backend, utcnow
from satchel.errors import ValueTooLarge
from satchel_memory import MemoryBackend


def test_threads_with_their_own_event_loops_keep_every_entry() -> None:
    backend = MemoryBackend()
    threads, each = 8, 200
    start = threading.Barrier(threads)

    async def append(writer: int) -> None:
        for i in range(0, each, 2):
            await backend.log_append("c", "log", [{"w": writer, "i": i}, {"w": writer, "i": i + 1}])

    def run(writer: int) -> None:
        start.wait()
        asyncio.run(append(writer))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so that they race
    try:
        workers = [threading.Thread(target=run, args=(w,)) for w in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(switch)
    log = asyncio.run(backend.log_range("c", "log"))
    assert [e.seq for e in log] == list(range(1, threads * each + 1))
    for n in range(0, len(log), 2):  # each append's two entries are adjacent
        assert log[n].value["w"] == log[n + 1].value["w"]
        assert log[n].value["i"] + 1 == log[n + 1].value["i"]
    for writer in range(threads):
        assert [e.value["i"] for e in log if e.value["w"] == writer] == list(range(each))


async def test_expired_logs_are_held_until_read_or_purged() -> None:
    backend = MemoryBackend()
    past = utcnow() - timedelta(seconds=1)
    await backend.log_append("c", "gone", [1, 2], expires_at=past)
    await backend.log_append("c", "also", [1], expires_at=past)
    await backend.log_append("c", "kept", [1, 2, 3])
    stats = await backend.stats()
    assert (stats["collections"], stats["logs"], stats["log_entries"]) == (1, 1, 3)
    assert stats["expired_not_purged"] == 2
    assert stats["json_chars_held"] == 6  # six entries of one character each
    assert await backend.log_range("c", "gone") == []  # a read removes it
    assert (await backend.stats())["expired_not_purged"] == 1
    assert await backend.purge_expired() == 1
    stats = await backend.stats()
    assert (stats["logs"], stats["expired_not_purged"], stats["json_chars_held"]) == (1, 0, 3)
    # a new log starts above every number of the logs removed from the collection
    assert [e.seq for e in await backend.log_append("c", "also", [1])] == [3]


async def test_an_entry_over_the_size_limit_is_refused_and_nothing_is_appended() -> None:
    backend = MemoryBackend(max_value_bytes=100)
    await backend.log_append("c", "log", ["x" * 90])  # each entry has the limit of a value
    with pytest.raises(ValueTooLarge, match=r"values\[1\] of log 'log' in 'c'"):
        await backend.log_append("c", "log", ["small", "é" * 60])
    assert [e.value for e in await backend.log_range("c", "log")] == ["x" * 90]
    assert [e.seq for e in await backend.log_append("c", "log", ["next"])] == [2]


async def test_records_and_logs_of_one_collection_are_counted_together() -> None:
    backend: Backend = MemoryBackend()
    await backend.log_append("c", "log", [1])
    assert await backend.collections() == ["c"]
    assert [k async for k in backend.iter_keys("c")] == [], "a log is not a record"
    assert await backend.drop("c") == 1
    assert await backend.collections() == []
