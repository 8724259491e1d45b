"""SatchelSaver's configuration and the layout of its records."""

from __future__ import annotations

import base64

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from satchel import InvalidArgument, Satchel
from satchel_langgraph import SatchelSaver


async def test_without_a_store_the_environment_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    saver = SatchelSaver()
    try:
        assert saver.store.settings.backend == "memory"
        assert await saver.aget_tuple({"configurable": {"thread_id": "t"}}) is None
    finally:
        await saver.aclose()


def test_a_store_that_is_not_a_handle_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="store"):
        SatchelSaver(store="redis://localhost")  # type: ignore[arg-type]


async def test_a_config_without_thread_id_is_refused(store: Satchel) -> None:
    with pytest.raises(InvalidArgument, match="thread_id"):
        await SatchelSaver(store=store).aget_tuple({"configurable": {}})


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_blobs_are_base64_text_and_filters_run_as_queries(store: Satchel) -> None:
    saver = SatchelSaver(store=store, namespace="lg")
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"blob": b"\x00\xff"}
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    stored = await saver.aput(config, checkpoint, {"source": "input", "step": -1, "tag": {1}}, {})
    await saver.aput_writes(stored, [("a", 1), ("a", 2)], "task")
    await saver.aput_writes(stored, [("a", 3)], "task")  # idx 0 is stored already: kept

    (record,) = (await store.kv("lg.checkpoints").query()).items
    assert isinstance(record.value, dict)
    kind, data = record.value["checkpoint"]["type"], record.value["checkpoint"]["data"]
    assert isinstance(kind, str)
    assert saver.serde.loads_typed((kind, base64.b64decode(data)))["channel_values"] == {
        "blob": b"\x00\xff"
    }
    assert record.value["filter"] == {"source": "input", "step": -1}  # the set is not JSON

    found = await saver.aget_tuple(stored)
    assert found is not None
    assert found.pending_writes == [("task", "a", 1), ("task", "a", 2)]
    assert [t.checkpoint["id"] async for t in saver.alist(None, filter={"step": -1})] == [
        checkpoint["id"]
    ]
    assert [t async for t in saver.alist(None, filter={"step": 0})] == []
    # a value queries cannot compare is compared on the loaded metadata
    assert len([t async for t in saver.alist(None, filter={"tag": {1}})]) == 1
    assert [t async for t in saver.alist(None, filter={"tag": {2}})] == []
