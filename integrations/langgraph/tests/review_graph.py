"""The graph of the end-to-end tests, and the program that runs it in a child process.

A draft is written, a person is asked whether to publish it (``interrupt()``), and the
graph then publishes or shelves it. No model, no network: each node is a plain function.

The program configures satchel from its environment only (``SATCHEL_BACKEND`` and the
rest), as a deployed program would, and checkpoints with ``SatchelSaver()``:

``python review_graph.py start THREAD TOPIC``: run the graph on a new thread until it
stops at the question; print the result as JSON.
``python review_graph.py resume THREAD ANSWER``: answer the question of the thread's
latest checkpoint (``Command(resume=ANSWER)``); print the result as JSON.
"""

from __future__ import annotations

import asyncio
import json
import operator
import sys
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt


class State(TypedDict, total=False):
    topic: str
    draft: str
    verdict: str
    outcome: str
    steps: Annotated[list[str], operator.add]


def write(state: State) -> State:
    return {"draft": f"A note on {state['topic']}", "steps": ["write"]}


def review(state: State) -> State:
    verdict = interrupt({"question": "Publish this draft?", "draft": state["draft"]})
    return {"verdict": verdict, "steps": [f"review:{verdict}"]}


def route(state: State) -> str:
    return "publish" if state["verdict"] == "yes" else "shelve"


def publish(state: State) -> State:
    return {"outcome": f"published: {state['draft']}", "steps": ["publish"]}


def shelve(state: State) -> State:
    return {"outcome": f"shelved: {state['draft']}", "steps": ["shelve"]}


def build(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    """write -> review (asks) -> publish | shelve, compiled with ``checkpointer``."""
    builder = StateGraph(State)
    builder.add_node("write", write)
    builder.add_node("review", review)
    builder.add_node("publish", publish)
    builder.add_node("shelve", shelve)
    builder.add_edge(START, "write")
    builder.add_edge("write", "review")
    builder.add_conditional_edges("review", route, ["publish", "shelve"])
    builder.add_edge("publish", END)
    builder.add_edge("shelve", END)
    return builder.compile(checkpointer=checkpointer)


def as_json(result: dict[str, Any]) -> dict[str, Any]:
    """A graph's result, with its interrupts as their values."""
    shown = {k: v for k, v in result.items() if k != "__interrupt__"}
    if "__interrupt__" in result:
        shown["__interrupt__"] = [i.value for i in result["__interrupt__"]]
    return shown


def main(command: str, thread_id: str, argument: str) -> None:
    from satchel_langgraph import SatchelSaver, close_shared_store

    saver = SatchelSaver()  # the process's handle: satchel.open() from the environment
    try:
        graph = build(saver)
        config = {"configurable": {"thread_id": thread_id}}
        if command == "start":
            result = graph.invoke({"topic": argument, "steps": []}, config)
        else:
            result = graph.invoke(Command(resume=argument), config)
        print(json.dumps(as_json(result)), flush=True)
    finally:
        saver.close_loop()  # the blocking methods' loop thread (aclose cannot stop it from a loop)
        asyncio.run(close_shared_store())


if __name__ == "__main__":
    main(*sys.argv[1:])
