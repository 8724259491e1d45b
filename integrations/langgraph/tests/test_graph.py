"""A small LangGraph ``StateGraph`` checkpointed by :class:`SatchelSaver`: it stops before
a node, and a second run (by another saver on the same store) resumes from the stored
checkpoint; with the blocking ``invoke`` and with ``ainvoke``."""

from __future__ import annotations

import asyncio
import operator
import uuid
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from satchel import Satchel
from satchel_langgraph import SatchelSaver


class State(TypedDict):
    steps: Annotated[list[str], operator.add]


def build(saver: SatchelSaver) -> Any:
    builder = StateGraph(State)
    builder.add_node("first", lambda state: {"steps": ["first"]})
    builder.add_node("second", lambda state: {"steps": ["second"]})
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder.compile(checkpointer=saver, interrupt_before=["second"])


def config() -> Any:
    return {"configurable": {"thread_id": f"thread-{uuid.uuid4().hex}"}}


async def test_ainvoke_resumes_from_the_stored_checkpoint(store: Satchel) -> None:
    cfg = config()
    paused = await build(SatchelSaver(store=store)).ainvoke({"steps": ["start"]}, cfg)
    assert paused == {"steps": ["start", "first"]}

    graph = build(SatchelSaver(store=store))  # a new saver: only the store remembers
    state = await graph.aget_state(cfg)
    assert state.next == ("second",)
    assert state.values == {"steps": ["start", "first"]}
    assert await graph.ainvoke(None, cfg) == {"steps": ["start", "first", "second"]}
    assert len([s async for s in graph.aget_state_history(cfg)]) >= 4


async def test_invoke_resumes_from_the_stored_checkpoint(store: Satchel) -> None:
    cfg = config()

    def run() -> tuple[Any, Any, Any]:
        saver = SatchelSaver(store=store)
        try:
            paused = build(saver).invoke({"steps": ["start"]}, cfg)
            resumer = SatchelSaver(store=store)
            graph = build(resumer)
            try:
                return paused, graph.get_state(cfg).next, graph.invoke(None, cfg)
            finally:
                resumer.close_loop()
        finally:
            saver.close_loop()

    paused, waiting, done = await asyncio.to_thread(run)
    assert paused == {"steps": ["start", "first"]}
    assert waiting == ("second",)
    assert done == {"steps": ["start", "first", "second"]}


async def test_delete_thread_forgets_the_graph(store: Satchel) -> None:
    cfg = config()
    saver = SatchelSaver(store=store)
    await build(saver).ainvoke({"steps": ["start"]}, cfg)
    assert await saver.aget_tuple(cfg) is not None
    await saver.adelete_thread(cfg["configurable"]["thread_id"])
    assert await saver.aget_tuple(cfg) is None
    assert await saver.checkpoints.count() == 0
    assert await saver.blobs.count() == 0
    assert await saver.writes.count() == 0


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_a_fork_leaves_the_branch_it_forks_from_unchanged(store: Satchel) -> None:
    cfg = config()
    graph = build(SatchelSaver(store=store))
    await graph.ainvoke({"steps": ["start"]}, cfg)
    paused = await graph.aget_state(cfg)
    await graph.ainvoke(None, cfg)
    done = await graph.aget_state(cfg)
    assert done.values == {"steps": ["start", "first", "second"]}

    # a new branch from the paused checkpoint writes `steps` again, at the version number
    # the first branch wrote next: its value must not replace that branch's
    forked = await graph.aupdate_state(paused.config, {"steps": ["fork"]})
    assert (await graph.aget_state(forked)).values == {"steps": ["start", "first", "fork"]}
    assert (await graph.aget_state(done.config)).values == done.values
    assert (await graph.aget_state(cfg)).values == {"steps": ["start", "first", "fork"]}
