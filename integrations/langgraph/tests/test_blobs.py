"""Channel values as records of their own: a state larger than MongoDB's 16 MiB document
limit is stored and read back faithfully when each channel fits; a channel that does not
fit is refused with ValueTooLarge and nothing is written; what base64 costs in size."""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph

from satchel import Satchel, ValueTooLarge
from satchel_langgraph import SatchelSaver

MIB = 1024 * 1024
#: MongoDB's document limit, and every backend's default record limit.
LIMIT = 16 * MIB


class Big(TypedDict, total=False):
    a: bytes
    b: bytes
    c: bytes
    note: str


def filler(channel: str, payload: bytes) -> Any:
    return lambda state: {channel: payload}


@pytest.mark.parametrize("backend", ["mongodb"], indirect=True)
async def test_a_state_over_16_mib_across_channels_is_kept_faithfully(store: Satchel) -> None:
    payloads = {ch: os.urandom(11 * MIB // 2) for ch in "abc"}  # 16.5 MiB, 22 as base64
    builder = StateGraph(Big)
    for ch, payload in payloads.items():
        builder.add_node(f"fill_{ch}", filler(ch, payload))
    builder.add_edge(START, "fill_a")
    builder.add_edge("fill_a", "fill_b")
    builder.add_edge("fill_b", "fill_c")
    builder.add_node("annotate", lambda state: {"note": "done"})
    builder.add_edge("fill_c", "annotate")
    builder.add_edge("annotate", END)
    config: Any = {"configurable": {"thread_id": f"big-{uuid.uuid4().hex}"}}

    saver = SatchelSaver(store=store)
    result = await builder.compile(checkpointer=saver).ainvoke({"note": "start"}, config)
    assert result == {**payloads, "note": "done"}

    # a new saver reads the state back from MongoDB alone
    state = await builder.compile(checkpointer=SatchelSaver(store=store)).aget_state(config)
    assert state.values == {**payloads, "note": "done"}
    assert all(isinstance(state.values[ch], bytes) for ch in payloads)

    # each value was written once, by the step that changed it, in a record of its own
    # (which the backend refuses over 16 MiB); together they are over 16 MiB
    page = await saver.blobs.query(select=["channel"])
    assert sorted(e.value["channel"] for e in page.items if e.value["channel"] in payloads) == [
        "a",
        "b",
        "c",
    ]
    assert sum(len(base64.b64encode(p)) for p in payloads.values()) > LIMIT


@pytest.mark.parametrize("backend", ["memory", "mongodb"], indirect=True)
async def test_a_channel_over_the_limit_is_refused_and_nothing_is_written(
    store: Satchel,
) -> None:
    saver = SatchelSaver(store=store)
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"small": "fits", "huge": os.urandom(13 * MIB)}
    checkpoint["channel_versions"] = {"small": "1", "huge": "1"}

    with pytest.raises(ValueTooLarge, match="channel 'huge'") as info:
        await saver.aput(config, checkpoint, {"step": 0}, {"small": "1", "huge": "1"})
    assert "nothing was written" in str(info.value)
    assert await saver.checkpoints.count() == 0
    assert await saver.blobs.count() == 0  # not even the small channel's value
    assert await saver.aget_tuple(config) is None

    checkpoint["channel_values"] = {"small": "fits"}
    checkpoint["channel_versions"] = {"small": "1"}
    # the checkpoint's own record refused (its metadata is too large): its values go too
    with pytest.raises(ValueTooLarge):
        await saver.aput(config, checkpoint, {"step": 0, "log": "x" * 17 * MIB}, {"small": "1"})
    assert (await saver.checkpoints.count(), await saver.blobs.count()) == (0, 0)

    stored = await saver.aput(config, checkpoint, {"step": 0}, {"small": "1"})
    with pytest.raises(ValueTooLarge, match="pending write of channel 'huge' of task 'task'"):
        await saver.aput_writes(stored, [("small", 1), ("huge", os.urandom(13 * MIB))], "task")
    assert await saver.writes.count() == 0  # not even the small write
    found = await saver.aget_tuple(config)
    assert found is not None
    assert found.checkpoint["channel_values"] == {"small": "fits"}
    assert found.pending_writes == []


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_base64_costs_a_third_more_bytes(store: Satchel) -> None:
    saver = SatchelSaver(store=store)
    payload = os.urandom(MIB)
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"payload": payload}
    checkpoint["channel_versions"] = {"payload": "1"}
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    await saver.aput(config, checkpoint, {}, {"payload": "1"})

    _, serialized = saver.serde.dumps_typed(payload)
    (blob,) = [v async for _, v in saver.blobs.entries()]
    record = len(json.dumps(blob, separators=(",", ":")).encode())
    assert len(blob["data"]) == 4 * ((len(serialized) + 2) // 3)
    assert 1.33 < record / len(serialized) < 1.34  # the record's other fields are ~100 bytes
