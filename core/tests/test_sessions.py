"""SessionStore: snapshots by session id, with a TTL per save and a default."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

import satchel
from satchel import Conflict, CorruptRecord, InvalidArgument


class Chat(BaseModel):
    user: str
    turns: list[str] = []


async def test_save_load_has_delete(store: satchel.Satchel) -> None:
    sessions = store.sessions(Chat)
    assert await sessions.load("s1") is None
    assert await sessions.save("s1", Chat(user="ana", turns=["hi"])) == 1
    assert await sessions.save("s1", Chat(user="ana", turns=["hi", "yo"])) == 2
    loaded = await sessions.load("s1")
    assert loaded == Chat(user="ana", turns=["hi", "yo"])
    assert await sessions.exists("s1")
    versioned = await sessions.load_versioned("s1")
    assert versioned is not None and versioned.version == 2
    assert await sessions.load_versioned("nope") is None
    with pytest.raises(Conflict):
        await sessions.save("s1", Chat(user="x"), expected_version=1)
    assert await sessions.delete("s1") is True
    assert await sessions.delete("s1") is False
    assert not await sessions.exists("s1")


async def test_ttl_per_save_and_default(store: satchel.Satchel) -> None:
    sessions = store.sessions(Chat, ttl=0.05)
    await sessions.save("default", Chat(user="a"))
    await sessions.save("longer", Chat(user="b"), ttl=60)
    await sessions.save("forever", Chat(user="c"), ttl=None)
    await asyncio.sleep(0.1)
    assert not await sessions.exists("default")
    assert (await sessions.list()).items == ["forever", "longer"]


async def test_list_pages_through_ids(store: satchel.Satchel) -> None:
    sessions = store.sessions(Chat, name="paged")
    for i in range(5):
        await sessions.save(f"s{i}", Chat(user=str(i)))
    first = await sessions.list(limit=3)
    assert first.items == ["s0", "s1", "s2"]
    second = await sessions.list(limit=3, cursor=first.next_cursor)
    assert second.items == ["s3", "s4"] and second.next_cursor is None


async def test_bad_input(store: satchel.Satchel) -> None:
    sessions = store.sessions(Chat)
    with pytest.raises(InvalidArgument, match="session: must be a Chat"):
        await sessions.save("s1", {"user": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="session_id: must not be empty"):
        await sessions.save("", Chat(user="x"))
    with pytest.raises(InvalidArgument, match="ttl"):
        await sessions.save("s1", Chat(user="x"), ttl=-1)
    with pytest.raises(InvalidArgument, match="model"):
        store.sessions(int)  # type: ignore[type-var]
    assert (await sessions.list()).items == []


async def test_a_stored_value_that_is_not_a_session_is_corrupt(store: satchel.Satchel) -> None:
    sessions = store.sessions(Chat)
    await store.backend.put(satchel.Record(sessions.collection, "bad", [1, 2]))
    with pytest.raises(CorruptRecord, match="session 'bad'"):
        await sessions.load("bad")


async def test_any_session_reads_every_snapshot_as_its_json(store: satchel.Satchel) -> None:
    from satchel.stores.sessions import AnySession

    class Chat(BaseModel):
        user: str
        turns: list[str]

    await store.sessions(Chat).save("s1", Chat(user="ann", turns=["hi", "hello"]))
    found = await store.sessions(AnySession).load_versioned("s1")
    assert found is not None and found.version == 1
    assert found.value.model_dump(mode="json") == {"user": "ann", "turns": ["hi", "hello"]}
