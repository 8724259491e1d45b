"""LogStore: ordered logs, typed or JSON, paged reads, atomic pop, bad input refused whole;
log operations go through the hook layer and the codecs like every other operation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

import satchel
from satchel import Codec, CorruptRecord, InvalidArgument, LogStore
from satchel.backend import MAX_LOG_BATCH
from satchel.handle import Satchel
from satchel.plugins import load_plugins
from satchel.settings import SatchelSettings
from satchel_memory import MemoryBackend

from .test_hooks import CodecPlugin, Recorder, compressing


class Message(BaseModel):
    role: str
    text: str


@pytest.fixture
def chat(store: satchel.Satchel) -> LogStore[Any]:
    return store.logs("chat")


async def test_append_read_pop_trim_delete(chat: LogStore[Any]) -> None:
    assert await chat.append("c1", {"n": 1}, {"n": 2}) == [1, 2]
    assert await chat.append("c1", {"n": 3}) == [3]
    assert await chat.length("c1") == 3
    assert [i.value for i in await chat.last("c1", 2)] == [{"n": 2}, {"n": 3}]
    assert [i.seq for i in (await chat.read("c1")).items] == [1, 2, 3]
    assert [i.seq for i in (await chat.read("c1", reverse=True)).items] == [3, 2, 1]
    assert [i.seq for i in (await chat.read("c1", after=1, before=3)).items] == [2]
    popped = await chat.pop("c1")
    assert [(i.seq, i.value) for i in popped] == [(3, {"n": 3})]
    assert await chat.append("c1", {"n": 4}) == [4]  # 3 is never handed out again
    assert await chat.trim("c1", keep_last=1) == 2
    assert [i.seq for i in await chat.last("c1", 10)] == [4]
    assert await chat.keys() == ["c1"]
    assert await chat.delete("c1") is True
    assert await chat.delete("c1") is False
    assert await chat.length("c1") == 0 and await chat.keys() == []
    assert (await chat.append("c1", "again"))[0] > 4


async def test_reads_page_with_cursors_in_either_direction(chat: LogStore[Any]) -> None:
    await chat.append("c", *range(10))
    for reverse in (False, True):
        seen, cursor = [], None
        while True:
            page = await chat.read("c", limit=3, reverse=reverse, cursor=cursor)
            seen += [i.value for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == (list(range(9, -1, -1)) if reverse else list(range(10)))
    page = await chat.read("c", limit=3)
    assert page.next_cursor is not None
    with pytest.raises(InvalidArgument, match="reverse"):
        await chat.read("c", limit=3, reverse=True, cursor=page.next_cursor)
    for bad in ("x", "f-1", "f\u0661", 7, "f" + "9" * 30):
        with pytest.raises(InvalidArgument, match="cursor"):
            await chat.read("c", cursor=bad)  # type: ignore[arg-type]
    # an exact page has no next cursor
    assert (await chat.read("c", limit=10)).next_cursor is None
    assert [i.value async for i in chat.items("c", batch_size=4)] == list(range(10))


async def test_a_typed_store_takes_and_returns_models(store: satchel.Satchel) -> None:
    history = store.logs("history", Message)
    await history.append("s", Message(role="user", text="hi"), Message(role="ai", text="hello"))
    got = await history.last("s", 2)
    assert [m.value for m in got] == [
        Message(role="user", text="hi"),
        Message(role="ai", text="hello"),
    ]
    with pytest.raises(InvalidArgument, match=r"items\[1\]: must be a Message"):
        await history.append("s", Message(role="user", text="x"), {"role": "user"})  # type: ignore[arg-type]
    assert await history.length("s") == 2  # nothing of the refused append was written
    await store.logs("history").append("s", {"role": 5})  # not a Message
    with pytest.raises(CorruptRecord, match="entry 3 of log 's'"):
        await history.last("s", 1)
    with pytest.raises(InvalidArgument, match="model"):
        store.logs("x", dict)  # type: ignore[call-overload]


async def test_bad_input_is_refused_whole_naming_the_argument(chat: LogStore[Any]) -> None:
    await chat.append("k", 1)
    cases: list[tuple[Any, str]] = [
        (chat.append("", 1), "key"),
        (chat.append("k"), "items"),
        (chat.append("k", 1, {1: 2}), "object keys"),
        (chat.append("k", 1, float("nan")), r"items\[1\]"),
        (chat.append("k", 1, ttl=-1), "ttl"),
        (chat.pop("k", 0), "count"),
        (chat.pop("k", True), "count"),
        (chat.trim("k"), "keep_last and before"),
        (chat.trim("k", keep_last=-1), "keep_last"),
        (chat.trim("k", before="3"), "before"),
        (chat.read("k", limit=0), "limit"),
        (chat.read("k", after=-1), "after"),
        (chat.read("k", reverse=1), "reverse"),
        (chat.last("k", -1), "count"),
        (chat.keys("[a"), "pattern"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            await call
    with pytest.raises(InvalidArgument, match="1 to 10000"):
        await chat.append("k", *range(MAX_LOG_BATCH + 1))
    assert [i.value for i in await chat.last("k", 5)] == [1]
    with pytest.raises(InvalidArgument, match="name"):
        satchel.open().logs("")


async def test_entries_are_copies(chat: LogStore[Any]) -> None:
    value: dict[str, Any] = {"tags": ["a"]}
    await chat.append("k", value)
    value["tags"].append("b")
    got = await chat.last("k", 1)
    got[0].value["tags"].append("c")
    assert [i.value for i in await chat.last("k", 1)] == [{"tags": ["a"]}]


async def test_each_append_renews_the_time_to_live(store: satchel.Satchel) -> None:
    logs = store.logs("short", ttl=0.3)
    await logs.append("k", 1)
    await asyncio.sleep(0.2)
    await logs.append("k", 2)  # renews: the log lives 0.3 s from here
    await asyncio.sleep(0.2)
    assert await logs.length("k") == 2
    await logs.append("forever", 1, ttl=None)
    await asyncio.sleep(0.35)
    assert await logs.length("k") == 0 and await logs.keys() == ["forever"]
    assert (await logs.read("k")).items == []
    await logs.append("k", 3, ttl=timedelta(seconds=60))
    assert await logs.length("k") == 1


async def test_concurrent_pops_never_return_an_entry_twice(chat: LogStore[Any]) -> None:
    await chat.append("q", *range(200))
    results = await asyncio.gather(*(chat.pop("q", 3) for _ in range(80)))
    popped = [i.value for batch in results for i in batch]
    assert sorted(popped) == list(range(200))


async def test_clear_removes_every_log_and_stores_are_apart(store: satchel.Satchel) -> None:
    a, b = store.logs("a"), store.logs("b")
    await a.append("k", 1)
    await a.append("j", 1)
    await b.append("k", 2)
    await store.kv("a").set("k", "record")
    assert await a.clear() == 2
    assert await a.keys() == [] and [i.value for i in await b.last("k", 1)] == [2]
    assert await store.kv("a").get("k") == "record"
    assert await store.namespaces() == ["a"]  # logs are not KV namespaces


async def test_log_operations_go_through_the_hook_and_the_codecs() -> None:
    recorder, log = Recorder(), []
    loaded = load_plugins(
        extra_plugins=(
            ("recorder", recorder),
            ("codecs", CodecPlugin(compressing(1, "z", log))),
        )
    )
    store = Satchel(MemoryBackend(), SatchelSettings(), loaded)
    chat = store.logs("chat")
    await chat.append("k", {"secret": 1}, {"secret": 2})
    assert [i.value for i in await chat.last("k", 2)] == [{"secret": 1}, {"secret": 2}]
    assert [i.value for i in await chat.pop("k")] == [{"secret": 2}]
    await chat.length("k")
    await chat.trim("k", before=1)
    await chat.keys()
    await chat.delete("k")
    collection = "default:log:chat"
    assert recorder.seen == [
        ("log_append", collection, "k", 2),
        ("log_range", collection, "k", 1),
        ("log_pop", collection, "k", 1),
        ("log_length", collection, "k", 1),
        ("log_trim", collection, "k", 1),
        ("log_keys", collection, None, 1),
        ("log_delete", collection, "k", 1),
    ]
    assert recorder.outcomes == ["ok"] * 7
    assert log.count("encode z") == 2
    await chat.append("k", {"secret": 3})
    raw = await store.raw_backend.log_range(collection, "k")
    assert [set(e.value) for e in raw] == [{"$z"}]  # at rest: transformed


async def test_a_backend_returning_the_wrong_thing_from_a_log_operation_is_named() -> None:
    class Broken(MemoryBackend):
        async def log_length(self, collection: str, key: str) -> int:
            return "three"  # type: ignore[return-value]

    store = Satchel(Broken(), SatchelSettings(), load_plugins())
    with pytest.raises(satchel.PluginError, match="returned str from log_length, not an int"):
        await store.logs("x").length("k")


async def test_a_pop_whose_entry_does_not_decode_hands_over_what_it_removed(
    store: satchel.Satchel,
) -> None:
    await store.logs("history").append("s", {"role": "user", "text": "hi"}, {"role": 5})
    history = store.logs("history", Message)
    with pytest.raises(CorruptRecord) as info:
        await history.pop("s", 2)
    assert info.value.popped is not None
    assert [e.value for e in info.value.popped] == [{"role": "user", "text": "hi"}, {"role": 5}]
    assert await history.length("s") == 0  # removed, and handed over on the error


async def test_a_pop_a_codec_cannot_decode_hands_over_the_stored_entries() -> None:
    wrapping = Codec("wrapping", lambda v, c, k: {"$b": v}, lambda v, c, k: v["$b"], 1)
    loaded = load_plugins(extra_plugins=(("codecs", CodecPlugin(wrapping)),))
    store = Satchel(MemoryBackend(), SatchelSettings(), loaded)
    chat = store.logs("chat")
    await chat.append("k", 1)
    await store.raw_backend.log_append(chat.collection, "k", [2])  # written without it
    with pytest.raises(CorruptRecord, match="cannot decode") as info:
        await chat.pop("k")
    assert info.value.popped is not None
    assert [e.value for e in info.value.popped] == [2]
    assert [i.value for i in await chat.last("k", 5)] == [1]
