"""delete_for_runs, copy_thread and prune beyond what the conformance suite checks: the
channel values they leave or remove, DeltaChannel histories through prune, a copied thread
that resumes, the blocking twins, bad arguments, and that no operation on a thread reads
another thread's records."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

import satchel
from satchel import InvalidArgument, Satchel
from satchel.backend import Page, Query, Record
from satchel_langgraph import SatchelSaver
from satchel_langgraph.records import checkpoint_key, key_prefix
from satchel_memory.backend import MemoryBackend

# -- graphs -----------------------------------------------------------------------------------


def extend(state: list[int], writes: Sequence[list[int]]) -> list[int]:
    return [*state, *(item for write in writes for item in write)]


class Counting(TypedDict):
    items: Annotated[list[int], DeltaChannel(extend, snapshot_frequency=3)]
    n: int


def counting(saver: SatchelSaver, steps: int) -> Any:
    """A graph whose ``items`` (a DeltaChannel) grows by one per step, for ``steps`` steps."""
    builder = StateGraph(Counting)
    builder.add_node("step", lambda s: {"items": [s["n"]], "n": s["n"] + 1})
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda s: END if s["n"] % steps == 0 else "step")
    return builder.compile(checkpointer=saver)


class Review(TypedDict):
    draft: str
    verdict: str


def reviewed(saver: SatchelSaver) -> Any:
    """A graph that drafts, then waits for a human verdict (``interrupt``)."""
    builder = StateGraph(Review)
    builder.add_node("write", lambda s: {"draft": s["draft"] + " v1"})
    builder.add_node("review", lambda s: {"verdict": interrupt("verdict?")})
    builder.add_edge(START, "write")
    builder.add_edge("write", "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=saver)


def thread(name: str = "", run: str | None = None) -> Any:
    """A config of the thread ``name`` (a new one by default), in the run ``run``: as on
    LangGraph's platform, the run id reaches each checkpoint's metadata."""
    config: Any = {"configurable": {"thread_id": name or f"t-{uuid.uuid4().hex}"}}
    if run is not None:
        config["metadata"] = {"run_id": run}
    return config


async def counts(saver: SatchelSaver) -> tuple[int, int, int]:
    return (await saver.checkpoints.count(), await saver.blobs.count(), await saver.writes.count())


async def history(saver: SatchelSaver, config: Any) -> list[Any]:
    return [(t.checkpoint["id"], t.pending_writes) async for t in saver.alist(config)]


# -- delete_for_runs --------------------------------------------------------------------------


async def test_delete_for_runs_removes_what_only_the_run_reads(store: Satchel) -> None:
    saver = SatchelSaver(store=store)
    graph = counting(saver, steps=3)
    config, first, second = thread(), str(uuid.uuid4()), str(uuid.uuid4())
    name = config["configurable"]["thread_id"]
    await graph.ainvoke({"items": [], "n": 0}, thread(name, first))
    kept = await history(saver, config)
    await graph.ainvoke({"items": [], "n": 3}, thread(name, second))  # 3 more steps
    other = thread(run=second)
    await graph.ainvoke({"items": [], "n": 0}, other)
    before = (await graph.aget_state(config)).values
    assert before == {"items": [0, 1, 2, 3, 4, 5], "n": 6}

    await saver.adelete_for_runs([second])

    assert await history(saver, config) == kept, "the first run's checkpoints are intact"
    state = await graph.aget_state(config)
    assert state.values == {"items": [0, 1, 2], "n": 3} != before
    assert await saver.aget_tuple(other) is None, "the run's checkpoints in every thread"
    # no value is left that no checkpoint reads, and every value a checkpoint reads is there
    read = set()
    async for entry in saver.checkpoints.entries():
        for ch, version in entry[1]["blobs"].items():
            read.add((entry[1]["thread_id"], ch, version))
    stored = {(v["thread_id"], v["channel"], v["version"]) async for _, v in saver.blobs.entries()}
    assert stored == read
    assert await saver.writes.count([("thread_id", "eq", other["configurable"]["thread_id"])]) == 0


# -- prune ------------------------------------------------------------------------------------


async def test_prune_keeps_what_delta_channels_are_rebuilt_from(store: Satchel) -> None:
    saver = SatchelSaver(store=store)
    graph = counting(saver, steps=7)
    config = thread()
    await graph.ainvoke({"items": [], "n": 0}, config)
    before = await graph.aget_state(config)
    assert before.values == {"items": list(range(7)), "n": 7}
    # the latest checkpoint holds no value of `items`: it is rebuilt from earlier writes
    latest = await saver.aget_tuple(config)
    assert latest is not None and "items" not in latest.checkpoint["channel_values"]

    await saver.aprune([config["configurable"]["thread_id"]])

    after = await graph.aget_state(config)
    assert after.values == before.values
    assert after.config == before.config
    kept = [t async for t in saver.alist(config)]
    assert 1 < len(kept) < 10, "the latest and the ancestors back to a snapshot of items"
    assert "items" in kept[-1].checkpoint["channel_values"]
    assert all("items" not in t.checkpoint["channel_values"] for t in kept[:-1])
    read = {(ch, v) for t in kept for ch, v in t.checkpoint["channel_versions"].items()}
    stored = {(v["channel"], v["version"]) async for _, v in saver.blobs.entries()}
    assert stored <= read, "values no kept checkpoint reads are deleted"
    # the pruned thread runs on
    await graph.ainvoke({"items": [100], "n": 7}, config)
    assert (await graph.aget_state(config)).values["items"][:8] == [*range(7), 100]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_prune_delete_and_keep_latest_without_delta_channels(store: Satchel) -> None:
    saver = SatchelSaver(store=store)
    graph = reviewed(saver)
    one, two = thread("one"), thread("two")
    for config in (one, two):
        await graph.ainvoke({"draft": "text", "verdict": ""}, config)
    waiting = await graph.aget_state(one)
    records_of_two = await thread_counts(saver, "two")

    await saver.aprune(["one"], strategy="keep_latest")

    assert len([t async for t in saver.alist(one)]) == 1
    state = await graph.aget_state(one)
    assert (state.values, state.next, state.tasks) == (waiting.values, waiting.next, waiting.tasks)
    latest = await saver.aget_tuple(one)
    assert latest is not None
    values, writes = len(latest.checkpoint["channel_values"]), len(latest.pending_writes or ())
    assert await thread_counts(saver, "one") == (1, values, writes)
    assert await thread_counts(saver, "two") == records_of_two
    assert (await graph.ainvoke(Command(resume="ok"), one))["verdict"] == "ok"

    await saver.aprune(["one", "two"], strategy="delete")
    assert await counts(saver) == (0, 0, 0)


async def thread_counts(saver: SatchelSaver, name: str) -> tuple[int, ...]:
    return tuple(
        [
            await kv.count([("thread_id", "eq", name)])
            for kv in (saver.checkpoints, saver.blobs, saver.writes)
        ]
    )


# -- copy_thread ------------------------------------------------------------------------------


async def test_a_copied_thread_resumes_on_its_own(store: Satchel) -> None:
    saver = SatchelSaver(store=store)
    graph = reviewed(saver)
    source, target = thread(), thread()
    await graph.ainvoke({"draft": "text", "verdict": ""}, source)
    source_history = await history(saver, source)

    await graph.ainvoke({"draft": "own", "verdict": ""}, target)
    own = await history(saver, target)

    await saver.acopy_thread(
        source["configurable"]["thread_id"], target["configurable"]["thread_id"]
    )

    # the target's own checkpoints are kept beside the copies (newest first)
    assert await history(saver, target) == sorted(
        own + source_history, key=lambda h: h[0], reverse=True
    )
    for checkpoint_id, _ in own:
        await saver.checkpoints.delete(
            checkpoint_key(target["configurable"]["thread_id"], "", checkpoint_id)
        )
    assert await history(saver, target) == source_history
    state = await graph.aget_state(target)
    assert state.next == ("review",)
    assert [i.value for i in state.interrupts] == ["verdict?"]
    done = await graph.ainvoke(Command(resume="approved"), target)
    assert done == {"draft": "text v1", "verdict": "approved"}
    assert (await graph.aget_state(source)).next == ("review",), "the source waits still"
    assert await history(saver, source) == source_history


# -- the blocking twins -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_the_blocking_methods(store: Satchel) -> None:
    saver = SatchelSaver(store=store)
    graph = reviewed(saver)
    run = str(uuid.uuid4())

    def work() -> list[int]:
        try:
            graph.invoke({"draft": "x", "verdict": ""}, thread("a", run))
            saver.copy_thread("a", "b")
            found = [len(list(saver.list(thread(name)))) for name in ("a", "b")]
            saver.prune(["a"])
            found.append(len(list(saver.list(thread("a")))))
            saver.delete_for_runs([run])
            found += [len(list(saver.list(thread(name)))) for name in ("a", "b")]
            return found
        finally:
            saver.close_loop()

    assert await asyncio.to_thread(work) == [3, 3, 1, 0, 0]


# -- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_bad_arguments_are_refused_naming_them(store: Satchel) -> None:
    saver = SatchelSaver(store=store)
    with pytest.raises(InvalidArgument, match=r"^strategy: .*'keep_oldest'"):
        await saver.aprune(["t"], strategy="keep_oldest")
    with pytest.raises(InvalidArgument, match=r"^thread_ids: must be a list"):
        await saver.aprune("t")
    with pytest.raises(InvalidArgument, match=r"^run_ids: must be a list"):
        await saver.adelete_for_runs("run")
    with pytest.raises(InvalidArgument, match=r"^run_ids item: must be a non-empty string"):
        await saver.adelete_for_runs([""])
    with pytest.raises(InvalidArgument, match=r"^target_thread_id: must differ"):
        await saver.acopy_thread("t", "t")
    with pytest.raises(InvalidArgument, match=r"^source_thread_id: must be a non-empty"):
        await saver.acopy_thread(1.5, "t")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"^thread_id: must be a non-empty"):
        await saver.adelete_thread("")


# -- what is read -----------------------------------------------------------------------------


class RecordingBackend(MemoryBackend):
    """The memory backend, noting every query and index lookup it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, Any]] = []

    async def query(self, collection: str, query: Query) -> Page[Record]:
        keys = [(c.op, c.value) for c in query.where if c.field == ("key",)]
        self.reads.append((collection.rsplit(".", 1)[-1], keys))
        return await super().query(collection, query)

    async def find(self, collection: str, index_name: str, value: str) -> list[Record]:
        self.reads.append((collection.rsplit(".", 1)[-1], [("index " + index_name, value)]))
        return await super().find(collection, index_name, value)


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[SatchelSaver, RecordingBackend]]:
    backend = RecordingBackend()
    async with satchel.open(backend=backend, namespace="recorded") as store:
        yield SatchelSaver(store=store), backend


async def test_an_operation_on_a_thread_reads_its_key_range_alone(
    recorded: tuple[SatchelSaver, RecordingBackend],
) -> None:
    saver, backend = recorded
    graph = counting(saver, steps=4)
    run = str(uuid.uuid4())
    for name in ("a", "b", "a[", "a*"):
        await graph.ainvoke({"items": [], "n": 0}, thread(name, run if name == "a" else name))
    a = {"configurable": {"thread_id": "a", "checkpoint_ns": ""}}
    operations = {
        "get_tuple": saver.aget_tuple(a),
        "get_state": graph.aget_state(a),
        "list": history(saver, a),
        "list without namespace": history(saver, thread("a")),
        "history": graph.aget_state_history(a).__anext__(),
        "copy_thread": saver.acopy_thread("a", "c"),
        "prune": saver.aprune(["a"]),
        "delete_for_runs": saver.adelete_for_runs([run]),
        "delete_thread": saver.adelete_thread("c"),
    }
    allowed = {"a": key_prefix("a"), "c": key_prefix("c")}
    for name, operation in operations.items():
        backend.reads.clear()
        await operation
        assert backend.reads, name
        for namespace, conditions in backend.reads:
            assert conditions, f"{name} read all of {namespace}"
            for op, value in conditions:
                assert op in ("startswith", "eq", "index run_id"), (name, op)
                if op != "index run_id":
                    assert value.startswith(tuple(allowed.values())), (name, value)
