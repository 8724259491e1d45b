"""SatchelSaver's configuration and the layout of its records."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT

from satchel import InvalidArgument, Satchel
from satchel.shared import close_shared_store
from satchel_langgraph import SatchelSaver
from satchel_langgraph.records import load_blob


async def test_without_a_store_the_environment_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    await close_shared_store()  # the process's handle is opened again, from the variable
    saver = SatchelSaver()
    try:
        assert saver.store.settings.backend == "memory"
        assert await saver.aget_tuple({"configurable": {"thread_id": "t"}}) is None
    finally:
        await saver.aclose()
        await close_shared_store()


async def test_open_gives_a_handle_of_its_own(handle_arguments: dict[str, Any]) -> None:
    saver = SatchelSaver.open(**handle_arguments, ttl=60)
    assert saver.store.settings.namespace == handle_arguments["namespace"]
    assert saver.ttl == 60
    await saver.aput({"configurable": {"thread_id": "t"}}, empty_checkpoint(), {}, {})
    handle = saver.store
    await saver.aclose()
    assert handle._closed
    with pytest.raises(InvalidArgument, match="ttl"):
        SatchelSaver.open(**handle_arguments, ttl=-1)


def test_a_store_that_is_not_a_handle_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="store"):
        SatchelSaver(store="redis://localhost")  # type: ignore[arg-type]


async def test_a_config_without_thread_id_is_refused(store: Satchel) -> None:
    with pytest.raises(InvalidArgument, match="thread_id"):
        await SatchelSaver(store=store).aget_tuple({"configurable": {}})


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_the_layout_of_the_records(store: Satchel) -> None:
    saver = SatchelSaver(store=store, namespace="lg")
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    first = empty_checkpoint()
    first["channel_values"] = {"blob": b"\x00\xff", "text": "kept"}
    first["channel_versions"] = {"blob": "1", "text": "1"}
    stored = await saver.aput(
        config,
        first,
        {"source": "input", "step": -1, "tag": {1}},
        {
            "blob": "1",
            "text": "1",
        },
    )
    second = empty_checkpoint()
    second["channel_values"] = {"blob": b"\x01", "text": "kept"}
    second["channel_versions"] = {"blob": "2", "text": "1"}
    latest = await saver.aput(stored, second, {"source": "loop", "step": 0}, {"blob": "2"})

    # a checkpoint record holds no channel value; it names the versions it reads
    records = (await store.kv("lg.checkpoints").query()).items
    assert [r.value["checkpoint_id"] for r in records] == [second["id"], first["id"]]
    assert all(r.key.startswith('["t", "", ') for r in records), "newest first, by key"
    value = records[0].value
    assert value["blobs"] == {"blob": "2", "text": "1"}
    assert value["parent_checkpoint_id"] == first["id"]
    assert "channel_values" not in load_blob(saver.serde, value["checkpoint"])
    assert records[1].value["filter"] == {"source": "input", "step": -1}  # a set is not JSON

    # one record per channel and version: the second put wrote only the channel it changed
    page = await store.kv("lg.blobs").query()
    blobs = {(e.value["channel"], e.value["version"]): e.value for e in page.items}
    assert sorted(blobs) == [("blob", "1"), ("blob", "2"), ("text", "1")]
    kind, data = blobs["blob", "1"]["type"], blobs["blob", "1"]["data"]
    assert saver.serde.loads_typed((kind, base64.b64decode(data))) == b"\x00\xff"

    found = await saver.aget_tuple(latest)
    assert found is not None
    assert found.checkpoint["channel_values"] == {"blob": b"\x01", "text": "kept"}
    older = await saver.aget_tuple(stored)
    assert older is not None
    assert older.checkpoint["channel_values"] == {"blob": b"\x00\xff", "text": "kept"}

    # filters run as queries; a value queries cannot compare is compared on the metadata
    assert [t.checkpoint["id"] async for t in saver.alist(None, filter={"step": -1})] == [
        first["id"]
    ]
    assert [t async for t in saver.alist(None, filter={"step": 5})] == []
    assert len([t async for t in saver.alist(None, filter={"tag": {1}})]) == 1
    assert [t async for t in saver.alist(None, filter={"tag": {2}})] == []


async def test_writes_are_stored_once_per_task_and_index(store: Satchel) -> None:
    saver = SatchelSaver(store=store)
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    stored = await saver.aput(config, empty_checkpoint(), {}, {})

    await saver.aput_writes(stored, [("a", 1), ("a", 2)], "task")
    await saver.aput_writes(stored, [("a", 3)], "task")  # idx 0 is stored already: kept
    await asyncio.gather(
        *(saver.aput_writes(stored, [("a", 4), ("a", 5)], "task") for _ in range(5))
    )
    await saver.aput_writes(stored, [(ERROR, "first"), (INTERRUPT, "first")], "task")
    # special channels are replaced, also in a batch that holds regular writes
    await saver.aput_writes(stored, [("a", 6), (INTERRUPT, "second")], "task")
    await saver.aput_writes(stored, [(ERROR, "second")], "task")
    await saver.aput_writes(stored, [("a", 7)], "other")

    found = await saver.aget_tuple(stored)
    assert found is not None
    assert found.pending_writes == [  # in LangGraph's order: task path, task id, index
        ("other", "a", 7),
        ("task", INTERRUPT, "second"),  # index -3
        ("task", ERROR, "second"),  # index -1
        ("task", "a", 1),
        ("task", "a", 2),
    ]
    assert await saver.writes.count() == 5


def test_versions_increase_with_a_random_tail() -> None:
    saver = SatchelSaver()
    first = saver.get_next_version(None, None)
    second = saver.get_next_version(first, None)
    assert first < second
    assert second.split(".")[0] == f"{2:032}"
    assert saver.get_next_version(first, None) != second, "a fork gets other versions"
    assert saver.get_next_version(7, None).startswith(f"{8:032}.")


async def test_a_filter_on_any_metadata_key_finds_what_in_memory_finds(store: Satchel) -> None:
    # a metadata key no query path can name (the empty one) is compared on the loaded
    # metadata, as InMemorySaver compares every key; a filter that is not a mapping is
    # refused by name, before anything is read
    saver, reference = SatchelSaver(store=store), InMemorySaver()
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    ids = []
    for n, metadata in enumerate([{"": 1, "a.b": 1}, {"": 2, "a.b": 2}]):
        checkpoint = empty_checkpoint()
        checkpoint["id"] = f"id{n}"
        ids.append(checkpoint["id"])
        reference.put(config, checkpoint, metadata, {})  # type: ignore[arg-type]
        await saver.aput(config, checkpoint, metadata, {})  # type: ignore[arg-type]
    for filter in ({"": 1}, {"": 2, "a.b": 2}, {"": 1, "a.b": 2}, {"a.b": 1}):
        expected = [t.checkpoint["id"] for t in reference.list(None, filter=filter)]
        found = [t.checkpoint["id"] async for t in saver.alist(None, filter=filter)]
        assert found == expected, filter
    assert [t.checkpoint["id"] async for t in saver.alist(config, filter={"": 2})] == [ids[1]]
    with pytest.raises(InvalidArgument, match=r"^filter"):
        _ = [t async for t in saver.alist(None, filter=[("", 1)])]  # type: ignore[arg-type]


async def test_a_thread_is_deleted_copied_and_pruned_by_the_id_it_was_run_with(
    store: Satchel,
) -> None:
    # a config's thread_id may be a number or a UUID (the saver keeps it as text, as
    # LangGraph's savers do): the thread is then deleted, copied and pruned by that id too
    saver, reference = SatchelSaver(store=store), InMemorySaver()
    number, ident = 42, uuid.uuid4()
    for thread_id in (number, ident, "other"):
        config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        reference.put(config, empty_checkpoint(), {}, {})
        await saver.aput(config, empty_checkpoint(), {}, {})
    await saver.acopy_thread(number, ident)  # type: ignore[arg-type]
    await saver.aprune([ident], strategy="keep_latest")  # type: ignore[list-item]
    await saver.adelete_thread(number)  # type: ignore[arg-type]
    reference.delete_thread(number)  # type: ignore[arg-type]
    assert await saver.aget_tuple({"configurable": {"thread_id": number}}) is None
    assert reference.get_tuple({"configurable": {"thread_id": number}}) is None
    await saver.aprune([ident], strategy="delete")  # type: ignore[list-item]
    assert await saver.aget_tuple({"configurable": {"thread_id": str(ident)}}) is None
    assert await saver.aget_tuple({"configurable": {"thread_id": "other"}}) is not None
    for bad in (True, 1.5, None, "", b"t"):
        with pytest.raises(InvalidArgument, match=r"^thread_id"):
            await saver.adelete_thread(bad)  # type: ignore[arg-type]


async def test_text_that_is_not_unicode_is_refused_by_name_on_every_backend(
    store: Satchel,
) -> None:
    # a lone surrogate cannot be sent to a server: it is refused by name before anything
    # is read or written (MongoDB said BackendUnavailable, and a put left values behind)
    saver = SatchelSaver(store=store)
    good: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    stored = await saver.aput(good, empty_checkpoint(), {}, {})
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"c": 1}
    checkpoint["channel_versions"] = {"c": "1"}
    for config, named in [
        ({"configurable": {"thread_id": "\ud800"}}, "config: configurable.thread_id"),
        (
            {"configurable": {"thread_id": "t", "checkpoint_ns": "\ud800"}},
            "config: configurable.checkpoint_ns",
        ),
        (
            {"configurable": {"thread_id": "t", "checkpoint_id": "\ud800"}},
            "config: configurable.checkpoint_id",
        ),
    ]:
        with pytest.raises(InvalidArgument, match=f"^{named}"):
            await saver.aget_tuple(config)
        with pytest.raises(InvalidArgument, match=f"^{named}"):
            _ = [t async for t in saver.alist(config)]
        with pytest.raises(InvalidArgument, match=f"^{named}"):
            await saver.aput(config, checkpoint, {}, {"c": "1"})
        with pytest.raises(InvalidArgument, match=f"^{named}"):
            await saver.aput_writes(config, [("c", 1)], "task")
    with pytest.raises(InvalidArgument, match=r"^checkpoint: id"):
        await saver.aput(good, {**checkpoint, "id": "\ud800"}, {}, {"c": "1"})
    with pytest.raises(InvalidArgument, match=r"^checkpoint: channel"):
        await saver.aput(
            good,
            {**checkpoint, "channel_values": {"\ud800": 1}, "channel_versions": {"\ud800": "1"}},
            {},
            {"\ud800": "1"},
        )
    for writes, task_id, task_path, named in [
        ([("\ud800", 1)], "task", "", "writes"),
        ([("c", 1)], "\ud800", "", "task_id"),
        ([("c", 1)], "task", "\ud800", "task_path"),
    ]:
        with pytest.raises(InvalidArgument, match=f"^{named}"):
            await saver.aput_writes(stored, writes, task_id, task_path)
    with pytest.raises(InvalidArgument, match=r"^thread_id"):
        await saver.adelete_thread("\ud800")
    assert await saver.checkpoints.count() == 1
    assert await saver.blobs.count() == 0
    assert await saver.writes.count() == 0


async def test_a_filter_on_none_also_matches_metadata_without_the_key(store: Satchel) -> None:
    # as in InMemorySaver, SqliteSaver and MongoDBSaver: {"k": None} is "k is null or
    # missing" (it found only the checkpoints whose metadata held k: None)
    saver, reference = SatchelSaver(store=store), InMemorySaver()
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    for n, metadata in enumerate([{"k": None, "s": 1}, {"s": 1}, {"k": 0, "s": 2}]):
        checkpoint = empty_checkpoint()
        checkpoint["id"] = f"id{n}"
        reference.put(config, checkpoint, metadata, {})  # type: ignore[arg-type]
        await saver.aput(config, checkpoint, metadata, {})  # type: ignore[arg-type]
    for filter in ({"k": None}, {"k": None, "s": 1}, {"k": None, "s": 2}, {"k": 0}):
        expected = [t.checkpoint["id"] for t in reference.list(config, filter=filter)]
        found = [t.checkpoint["id"] async for t in saver.alist(config, filter=filter)]
        assert found == expected, filter
        found = [t.checkpoint["id"] async for t in saver.alist(None, filter=filter, limit=1)]
        assert found == expected[:1], filter


@pytest.mark.parametrize("backend", ["memory", "mongodb"], indirect=True)
async def test_what_the_serializer_refuses_is_refused_by_name(store: Satchel) -> None:
    # a value LangGraph's serializer cannot serialize raised its bare TypeError
    saver = SatchelSaver(store=store)
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    stored = await saver.aput(config, empty_checkpoint(), {}, {})
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"c": threading.Lock()}
    checkpoint["channel_versions"] = {"c": "1"}
    with pytest.raises(InvalidArgument, match=r"^checkpoint: channel_values\['c'\]"):
        await saver.aput(config, checkpoint, {}, {"c": "1"})
    checkpoint["channel_values"] = {"c": 1}
    for metadata in ({"\ud800": 1}, {"k": threading.Lock()}):
        with pytest.raises(InvalidArgument, match=r"^metadata"):
            await saver.aput(config, checkpoint, metadata, {"c": "1"})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"^writes: the value written to 'c'"):
        await saver.aput_writes(stored, [("c", 1), ("c", threading.Lock())], "task")
    assert await saver.checkpoints.count() == 1
    assert await saver.blobs.count() == 0
    assert await saver.writes.count() == 0
