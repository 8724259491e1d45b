"""satchel.transfer across real servers: memory -> Redis -> MongoDB (SecantusDB) keeps every
record with its metadata and gives the same query answers; an export of Redis imported into
MongoDB does too; an interrupted copy run again finishes the job."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import satchel
from satchel import transfer
from satchel.testing.restore import assert_same_records
from satchel_mongodb import MongoBackend
from satchel_mongodb.testing.fixtures import mongodb_uri  # noqa: F401
from satchel_redis import RedisBackend
from satchel_redis.testing.fixtures import redis_binary, redis_url  # noqa: F401

NAMESPACES = ["kv:cache", "kv:users", "session:sessions", "task:tasks"]


class Note(BaseModel):
    text: str


class Job(BaseModel):
    task_id: str
    status: str
    priority: int


def _team(value: Any) -> list[str]:
    return [value["team"]]


async def fill(handle: satchel.Satchel, count: int = 120) -> None:
    users = handle.kv("users", indexes={"team": _team})
    await users.set_many(
        {f"u{i:04d}": {"team": f"t{i % 4}", "n": i, "f": i / 2} for i in range(count)}
    )
    for i in range(0, count, 5):
        await users.set(f"u{i:04d}", {"team": "moved", "n": -i, "f": 0.5}, ttl=3600)
    await users.delete("u0001")
    await handle.kv("cache", ttl=7200).set_many({f"c{i}": [i, {"x": None}] for i in range(9)})
    await handle.sessions(Note).save("s1", Note(text="hi"))
    tasks = handle.tasks(Job)
    for i in range(6):
        await tasks.create(Job(task_id=f"j{i}", status="new", priority=i))
    await handle.logs("chat").append("room", ["a", "b"])


async def assert_same_data(one: satchel.Satchel, other: satchel.Satchel) -> int:
    return await assert_same_records(
        one.backend, f"{one.namespace}:", other.backend, f"{other.namespace}:", NAMESPACES
    )


async def answers(handle: satchel.Satchel) -> list[Any]:
    """The answers of a few queries, finds and reads, as plain data."""
    users = handle.kv("users", indexes={"team": _team})
    out: list[Any] = []
    for build in (
        {"where": [("team", "eq", "t2")]},
        {"where": [("n", "gte", 50)], "order_by": [("f", "desc")], "limit": 7},
        {"where": [("version", "eq", 2)]},
        {"order_by": "-updated_at", "limit": 5},
        {"where": [("key", "startswith", "u00")]},
    ):
        page = await users.query(**build)
        out.append([(e.key, e.value, e.version) for e in page.items])
    out.append([(e.key, e.version) for e in await users.find("team", "moved")])
    out.append(await users.count())
    out.append(await handle.sessions(Note).load("s1"))
    return out


@pytest.fixture
async def redis_handle(redis_url: str) -> AsyncIterator[satchel.Satchel]:  # noqa: F811
    prefix = f"xfer-{uuid.uuid4().hex[:8]}:"
    async with satchel.open(backend=RedisBackend.from_url(redis_url, key_prefix=prefix)) as h:
        try:
            yield h
        finally:
            for name in await h.backend.collections():
                await h.backend.drop(name)


@pytest.fixture
async def mongo_handle(mongodb_uri: str) -> AsyncIterator[satchel.Satchel]:  # noqa: F811
    backend = MongoBackend.from_uri(
        mongodb_uri,
        database="satchel_transfer",
        collection_prefix=f"x{uuid.uuid4().hex[:8]}.",
        server_selection_timeout=5,
    )
    async with satchel.open(backend=backend) as h:
        try:
            yield h
        finally:
            for name in await h.backend.collections():
                await h.backend.drop(name)


async def test_memory_to_redis_to_mongodb_keeps_every_record_and_answer(
    redis_handle: satchel.Satchel, mongo_handle: satchel.Satchel
) -> None:
    async with satchel.open(backend="memory") as memory:
        await fill(memory)
        expected = await answers(memory)
        first = await transfer.copy(memory, redis_handle, batch_size=32, verify=True)
        assert first.mismatched == []
        assert first.skipped == ["log:chat"]
        assert await assert_same_data(memory, redis_handle) == first.total == 119 + 9 + 1 + 6
        second = await transfer.copy(redis_handle, mongo_handle, batch_size=50, verify=True)
        assert second.mismatched == []
        assert second.records == first.records
        assert await assert_same_data(memory, mongo_handle) == first.total
        assert first.source == second.target, "one checksum on all three backends"
        for handle in (redis_handle, mongo_handle):
            assert await answers(handle) == expected
            # versions go on from the copied ones
            users = handle.kv("users", indexes={"team": _team})
            entry = await users.get_entry("u0005")
            assert entry is not None
            assert entry.version == 2
            assert await users.set("u0005", {"team": "t1", "n": 5, "f": 2.5}) == 3
            assert await users.delete("u0005")
            assert await users.set("u0005", {"team": "t1", "n": 5, "f": 2.5}) > 3


async def test_a_redis_export_imported_into_mongodb(
    redis_handle: satchel.Satchel, mongo_handle: satchel.Satchel, tmp_path: Path
) -> None:
    await fill(redis_handle)
    path = tmp_path / "redis.jsonl.gz"
    exported = await transfer.export(redis_handle, path, batch_size=40)
    imported = await transfer.import_(mongo_handle, path, batch_size=25)
    assert imported.records == exported.records
    assert await assert_same_data(redis_handle, mongo_handle) == exported.total
    assert await answers(mongo_handle) == await answers(redis_handle)


class Interrupted(Exception):
    pass


async def test_an_interrupted_copy_run_again_finishes_the_job(
    redis_handle: satchel.Satchel, mongo_handle: satchel.Satchel
) -> None:
    await fill(redis_handle)
    events: list[transfer.Progress] = []

    def stop(event: transfer.Progress) -> None:
        events.append(event)
        if event.done >= 60:
            raise Interrupted

    with pytest.raises(Interrupted):
        await transfer.copy(redis_handle, mongo_handle, batch_size=20, progress=stop)
    report = await transfer.copy(redis_handle, mongo_handle, batch_size=20, verify=True)
    assert report.mismatched == []
    assert await assert_same_data(redis_handle, mongo_handle) == report.total
    # and back the other way, over what is there already: nothing changes
    again = await transfer.copy(mongo_handle, redis_handle, verify=True)
    assert again.mismatched == []
