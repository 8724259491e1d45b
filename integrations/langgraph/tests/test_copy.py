"""Moving threads into a SatchelSaver (``copy_checkpoints``, ``acopy_checkpoints``) from
LangGraph's own checkpointers: ``InMemorySaver``, ``SqliteSaver`` and ``AsyncSqliteSaver``
(langgraph-checkpoint-sqlite), and ``MongoDBSaver`` (langgraph-checkpoint-mongodb, on a
SecantusDB server). Every checkpoint comes over as the source returns it (ids, parents,
metadata, pending writes in their order), a paused graph goes on from the copy, and a
second copy changes nothing."""

from __future__ import annotations

import asyncio
import operator
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from review_graph import build

from satchel import InvalidArgument, Satchel
from satchel_langgraph import SatchelSaver, acopy_checkpoints, copy_checkpoints

PUBLISHED = {
    "topic": "tides",
    "draft": "A note on tides",
    "verdict": "yes",
    "outcome": "published: A note on tides",
    "steps": ["write", "review:yes", "publish"],
}
SHELVED = {
    "topic": "moss",
    "draft": "A note on moss",
    "verdict": "no",
    "outcome": "shelved: A note on moss",
    "steps": ["write", "review:no", "shelve"],
}


class Inner(TypedDict, total=False):
    answer: str


class Outer(TypedDict, total=False):
    answer: str
    log: Annotated[list[str], operator.add]


def nested(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    """A graph whose middle node is a subgraph that asks a question: its checkpoints are
    in a namespace of their own (``inner:<task id>``)."""
    inner = StateGraph(Inner)
    inner.add_node("ask", lambda state: {"answer": interrupt("colour?")})
    inner.add_edge(START, "ask")
    inner.add_edge("ask", END)
    outer = StateGraph(Outer)
    outer.add_node("before", lambda state: {"log": ["before"]})
    outer.add_node("inner", inner.compile())
    outer.add_node("after", lambda state: {"log": [f"after:{state['answer']}"]})
    outer.add_edge(START, "before")
    outer.add_edge("before", "inner")
    outer.add_edge("inner", "after")
    outer.add_edge("after", END)
    return outer.compile(checkpointer=checkpointer)


def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


def fill(saver: BaseCheckpointSaver[Any]) -> None:
    """Three threads: one done, one stopped at its question, one stopped in a subgraph."""
    graph = build(saver)
    graph.invoke({"topic": "tides", "steps": []}, thread("done"))
    graph.invoke(Command(resume="yes"), thread("done"))
    graph.invoke({"topic": "moss", "steps": []}, thread("paused"))
    nested(saver).invoke({"log": []}, thread("nested"))


def finish(saver: BaseCheckpointSaver[Any]) -> tuple[Any, Any]:
    """Answer the questions of the two stopped threads."""
    return (
        build(saver).invoke(Command(resume="no"), thread("paused")),
        nested(saver).invoke(Command(resume="blue"), thread("nested")),
    )


def everything(saver: BaseCheckpointSaver[Any]) -> dict[str, CheckpointTuple]:
    """Every checkpoint of ``saver``, each read by ``get_tuple``, by checkpoint id."""
    found = {}
    for config in [t.config for t in saver.list(None)]:  # SqliteSaver locks while listing
        read = saver.get_tuple(config)
        assert read is not None
        found[read.checkpoint["id"]] = read
    return found


def counters(found: CheckpointTuple) -> CheckpointTuple:
    """``found`` with each channel version as its counter (``"<counter>.<tail>"`` or a
    number)."""

    def counter(version: Any) -> int:
        return int(version.split(".")[0]) if isinstance(version, str) else int(version)

    checkpoint = found.checkpoint.copy()
    checkpoint["channel_versions"] = {
        ch: counter(v) for ch, v in checkpoint["channel_versions"].items()
    }
    checkpoint["versions_seen"] = {
        node: {ch: counter(v) for ch, v in seen.items()}
        for node, seen in checkpoint["versions_seen"].items()
    }
    return found._replace(checkpoint=checkpoint)


def assert_same(
    source: BaseCheckpointSaver[Any], target: SatchelSaver, *, numbered: bool = False
) -> int:
    """``target`` holds every checkpoint of ``source``, exactly as ``source`` returns it,
    and nothing else; with ``numbered`` (a source whose versions are numbers), with each
    version as the string of the same counter."""
    theirs, ours = everything(source), everything(target)
    if not numbered:
        assert ours == theirs
    else:
        assert {k: counters(v) for k, v in ours.items()} == theirs
        versions = [v for t in ours.values() for v in t.checkpoint["channel_versions"].values()]
        assert versions and all(isinstance(v, str) for v in versions)
    return len(ours)


def assert_copied(
    source: BaseCheckpointSaver[Any], target: SatchelSaver, *, numbered: bool = False
) -> None:
    """``copy_checkpoints`` brings every checkpoint over, in every namespace; a second copy
    changes nothing; the threads stopped at a question go on, on the target, as they would
    have on the source."""
    fill(source)
    copied = copy_checkpoints(source, target)
    assert copied == assert_same(source, target, numbered=numbered) == 13
    namespaces = {t.config["configurable"]["checkpoint_ns"] for t in target.list(None)}
    assert "" in namespaces and any(ns.startswith("inner:") for ns in namespaces)
    paused = target.get_tuple(thread("paused"))
    assert paused is not None
    assert [w[1] for w in paused.pending_writes or []] == ["__interrupt__"]
    assert build(target).get_state(thread("done")).values == PUBLISHED

    assert copy_checkpoints(source, target) == copied  # again: the same records
    assert_same(source, target, numbered=numbered)

    shelved, nested_done = finish(target)
    assert shelved == SHELVED
    assert nested_done == {"answer": "blue", "log": ["before", "after:blue"]}
    assert finish(source) == (shelved, nested_done)


async def in_thread(target: SatchelSaver, run: Callable[[], None]) -> None:
    """``run`` (which calls blocking saver methods) in a worker thread."""

    def call() -> None:
        try:
            run()
        finally:
            target.close_loop()

    await asyncio.to_thread(call)


async def test_copy_from_in_memory_saver(store: Satchel) -> None:
    target = SatchelSaver(store=store)
    await in_thread(target, lambda: assert_copied(InMemorySaver(), target))


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_copy_from_sqlite_saver(store: Satchel, tmp_path: Path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    target = SatchelSaver(store=store)

    def run() -> None:
        with SqliteSaver.from_conn_string(str(tmp_path / "checkpoints.db")) as source:
            assert_copied(source, target)

    await in_thread(target, run)


@pytest.mark.parametrize("backend", ["mongodb"], indirect=True)
async def test_copy_from_mongodb_saver(store: Satchel, mongodb_uri: str) -> None:
    from langgraph.checkpoint.mongodb import MongoDBSaver
    from pymongo import MongoClient

    target = SatchelSaver(store=store)
    client: MongoClient[Any] = MongoClient(mongodb_uri)
    try:
        source = MongoDBSaver(client, db_name=f"lg{uuid.uuid4().hex[:8]}")
        assert source.get_next_version(None, None) == 1  # its versions are numbers
        await in_thread(target, lambda: assert_copied(source, target, numbered=True))
    finally:
        client.close()


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_acopy_from_async_sqlite_saver(store: Satchel, tmp_path: Path) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    target = SatchelSaver(store=store)
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "checkpoints.db")) as source:
        graph = build(source)
        await graph.ainvoke({"topic": "moss", "steps": []}, thread("paused"))
        listed = [t async for t in source.alist(None)]
        assert await acopy_checkpoints(source, target, ["paused"]) == len(listed) == 3
        for t in listed:
            assert await target.aget_tuple(t.config) == await source.aget_tuple(t.config)
        assert await acopy_checkpoints(source, target) == 3
        assert [t.checkpoint["id"] async for t in target.alist(None)] == [
            t.checkpoint["id"] for t in listed
        ]
    assert await build(target).ainvoke(Command(resume="no"), thread("paused")) == SHELVED


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_only_the_threads_named(store: Satchel) -> None:
    source, target = InMemorySaver(), SatchelSaver(store=store)

    def run() -> None:
        fill(source)
        done = list(source.list(thread("done")))
        assert copy_checkpoints(source, target, ["done", "done"]) == len(done) == 5
        assert [t.checkpoint["id"] for t in target.list(None)] == [t.checkpoint["id"] for t in done]
        assert target.get_tuple(thread("paused")) is None
        assert copy_checkpoints(source, target, iter(["nowhere"])) == 0

    await in_thread(target, run)


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_pending_writes_keep_their_order_across_tasks(store: Satchel) -> None:
    """The source sorts a checkpoint's writes by task path, which ``PendingWrite`` does not
    carry: the copy keeps the source's order (here unlike the task ids' order)."""
    source = InMemorySaver()
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    stored = source.put(config, empty_checkpoint(), {"source": "loop", "step": 0}, {})
    source.put_writes(stored, [("log", "first"), ("log", "second")], "task-z", "~a")
    source.put_writes(stored, [("log", "third"), ("__error__", "boom")], "task-a", "~b")
    expected = [
        ("task-z", "log", "first"),
        ("task-z", "log", "second"),
        ("task-a", "__error__", "boom"),
        ("task-a", "log", "third"),
    ]
    found = source.get_tuple(stored)
    assert found is not None and found.pending_writes == expected

    target = SatchelSaver(store=store)
    assert await acopy_checkpoints(source, target) == 1
    copied = await target.aget_tuple(stored)
    assert copied is not None and copied.pending_writes == expected
    await acopy_checkpoints(source, target)
    copied = await target.aget_tuple(stored)
    assert copied is not None and copied.pending_writes == expected


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"source": "sqlite:///x.db"}, "source"),
        ({"target": InMemorySaver()}, "target"),
        ({"thread_ids": "done"}, "thread_ids"),
        ({"thread_ids": 3}, "thread_ids"),
        ({"thread_ids": ["done", ""]}, "thread_ids"),
        ({"thread_ids": ["done", 7]}, "thread_ids"),
    ],
)
async def test_bad_arguments_are_refused_by_name_and_copy_nothing(
    store: Satchel, arguments: dict[str, Any], named: str
) -> None:
    source, target = InMemorySaver(), SatchelSaver(store=store)
    fill(source)
    given: dict[str, Any] = {"source": source, "target": target, "thread_ids": None}
    given |= arguments
    with pytest.raises(InvalidArgument, match=rf"^{named}: "):
        await acopy_checkpoints(**given)
    with pytest.raises(InvalidArgument, match=rf"^{named}: "):
        await in_thread(target, lambda: copy_checkpoints(**given) and None)
    assert [t async for t in target.alist(None)] == []
