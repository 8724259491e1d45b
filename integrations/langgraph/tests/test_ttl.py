"""SatchelSaver(ttl=...): a checkpoint expires ttl after its put, with its pending writes
and the channel values it reads; each put renews the values its checkpoint reads; so a
thread is gone, with no record left, ttl after its last put."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from satchel import InvalidArgument, Satchel
from satchel_langgraph import SatchelSaver

#: Seconds: long enough that a loaded machine checks the second checkpoint before it expires.
TTL = 2.0


def checkpoint(values: dict[str, Any], versions: dict[str, str]) -> Any:
    made = empty_checkpoint()
    made["channel_values"] = values
    made["channel_versions"] = versions
    return made


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def counts(saver: SatchelSaver) -> tuple[int, int, int]:
    return (await saver.checkpoints.count(), await saver.blobs.count(), await saver.writes.count())


async def test_a_thread_expires_ttl_after_its_last_put(every_store: dict[str, Satchel]) -> None:
    # on every backend at once, so that the test waits for the ttl once
    outcomes = await asyncio.gather(
        *(expires_after_last_put(store) for store in every_store.values()), return_exceptions=True
    )
    for backend, outcome in zip(every_store, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            raise AssertionError(f"on {backend}: {outcome!r}") from outcome


async def expires_after_last_put(store: Satchel) -> None:
    saver = SatchelSaver(store=store, ttl=TTL)
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    started = time.monotonic()
    first = await saver.aput(
        config, checkpoint({"a": 1, "b": 2}, {"a": "1", "b": "1"}), {}, {"a": "1", "b": "1"}
    )
    await saver.aput_writes(first, [("a", 10)], "task-1")

    await sleep_until(started + TTL / 2)
    renewed = time.monotonic()
    # only `a` changes; `b`'s value (put with the first checkpoint) is read by the second
    second = await saver.aput(
        {"configurable": {**first["configurable"]}},
        checkpoint({"a": 3, "b": 2}, {"a": "2", "b": "1"}),
        {},
        {"a": "2"},
    )
    await saver.aput_writes(second, [("b", 20)], "task-2")

    # the first checkpoint has expired, with its writes and the value only it read
    await sleep_until(started + TTL + 0.1)
    latest = await saver.aget_tuple(config)
    assert time.monotonic() < renewed + TTL, "too slow to check before the second expired"
    assert latest is not None
    assert latest.config == second
    assert latest.checkpoint["channel_values"] == {"a": 3, "b": 2}, "b's value was renewed"
    assert latest.pending_writes == [("task-2", "b", 20)]
    assert latest.parent_config == first  # the parent is named, though it expired
    assert await saver.aget_tuple(first) is None
    assert [t.config for t in [t async for t in saver.alist(config)]] == [second]
    assert await counts(saver) == (1, 2, 1)  # a@2 and b@1; a@1 expired

    # ttl after the last put, nothing of the thread is left
    await sleep_until(renewed + TTL + 0.1)
    assert await saver.aget_tuple(config) is None
    assert [t async for t in saver.alist(config)] == []
    assert [t async for t in saver.alist(None)] == []
    assert await counts(saver) == (0, 0, 0), "no record outlives the thread"


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_records_expire_with_their_checkpoint(store: Satchel) -> None:
    saver = SatchelSaver(store=store, ttl=timedelta(hours=1))
    assert saver.ttl == 3600
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    stored = await saver.aput(config, checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
    await asyncio.sleep(0.01)
    await saver.aput_writes(stored, [("a", 2)], "task")
    (cp,) = (await saver.checkpoints.query()).items
    (blob,) = (await saver.blobs.query()).items
    (write,) = (await saver.writes.query()).items
    assert cp.expires_at is not None
    assert cp.expires_at == blob.expires_at == write.expires_at, "writes expire with it"

    await asyncio.sleep(0.01)
    await saver.acopy_thread("t", "copy")
    copies = [
        e
        for kv in (saver.checkpoints, saver.blobs, saver.writes)
        for e in (await kv.query([("thread_id", "eq", "copy")])).items
    ]
    assert len(copies) == 3
    assert len({e.expires_at for e in copies}) == 1, "a copy's records expire together"
    assert copies[0].expires_at is not None and copies[0].expires_at > cp.expires_at

    without = SatchelSaver(store=store, namespace="forever")
    await without.aput(config, checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
    assert [e.expires_at for e in (await without.checkpoints.query()).items] == [None]


@pytest.mark.parametrize(
    "ttl", [0, -1, "60", True, float("inf"), float("nan"), timedelta(0), 10**10]
)
def test_a_bad_ttl_is_refused_naming_it(ttl: Any) -> None:
    with pytest.raises(InvalidArgument, match=r"^ttl: "):
        SatchelSaver(ttl=ttl)
