"""End to end, across processes: a ``StateGraph`` that asks a person (``interrupt()``) is
started by one process, which stops at the question; a second process answers it
(``Command(resume=...)``) and the graph completes. Both are configured by ``SATCHEL_*``
variables only and checkpoint with ``SatchelSaver()``. Then the history and time travel:
every checkpoint in order with its values; a replay from the checkpoint that asked, and a
fork of it by ``update_state``, each make a new branch with its own result, while the first
history stays as it was. On Redis and MongoDB."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from langgraph.types import Command
from review_graph import as_json, build

import satchel
from satchel_langgraph import SatchelSaver

PROGRAM = str(Path(__file__).with_name("review_graph.py"))


def question(draft: str) -> dict[str, str]:
    return {"question": "Publish this draft?", "draft": draft}


def run_program(environ: dict[str, str], *args: str) -> Any:
    """Run ``review_graph.py`` in a new process configured by ``environ`` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ
    done = subprocess.run(
        [sys.executable, "-W", "default::ResourceWarning", PROGRAM, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr, done.stderr  # every connection was closed
    return json.loads(done.stdout.splitlines()[-1])


async def snapshots(graph: Any, config: dict[str, Any]) -> list[Any]:
    return [s async for s in graph.aget_state_history(config)]


def summary(snapshot: Any) -> tuple[str, int, tuple[str, ...], dict[str, Any]]:
    return (
        snapshot.metadata["source"],
        snapshot.metadata["step"],
        snapshot.next,
        snapshot.values,
    )


def checkpoint_id(config: Any) -> str:
    found: str = config["configurable"]["checkpoint_id"]
    return found


TIDES = {"topic": "tides", "draft": "A note on tides"}
#: The first run's checkpoints, newest first: (source, step, next nodes, values).
FIRST_RUN = [
    (
        "loop",
        3,
        (),
        {
            **TIDES,
            "verdict": "yes",
            "outcome": "published: A note on tides",
            "steps": ["write", "review:yes", "publish"],
        },
    ),
    ("loop", 2, ("publish",), {**TIDES, "verdict": "yes", "steps": ["write", "review:yes"]}),
    ("loop", 1, ("review",), {**TIDES, "steps": ["write"]}),
    ("loop", 0, ("write",), {"topic": "tides", "steps": []}),
    ("input", -1, ("__start__",), {"steps": []}),
]


@pytest.mark.parametrize("backend", ["redis", "mongodb"], indirect=True)
async def test_stop_resume_in_another_process_history_and_time_travel(
    environ: dict[str, str],
) -> None:
    thread_id = f"article-{uuid.uuid4().hex}"
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}

    # process 1 runs until the question
    paused = await asyncio.to_thread(run_program, environ, "start", thread_id, "tides")
    assert paused == {**TIDES, "steps": ["write"], "__interrupt__": [question("A note on tides")]}

    async with satchel.open(environ=environ) as store:
        graph = build(SatchelSaver(store=store))  # this process: only the store remembers
        waiting = await graph.aget_state(config)
        assert waiting.next == ("review",)
        assert waiting.values == {**TIDES, "steps": ["write"]}
        assert [i.value for t in waiting.tasks for i in t.interrupts] == [
            question("A note on tides")
        ]

        # process 2 answers it, and the graph completes
        done = await asyncio.to_thread(run_program, environ, "resume", thread_id, "yes")
        assert done == FIRST_RUN[0][3]
        assert (await graph.aget_state(config)).values == FIRST_RUN[0][3]

        # the history: every checkpoint, newest first, each the child of the next one
        first = await snapshots(graph, config)
        assert [summary(s) for s in first] == FIRST_RUN
        ids = [checkpoint_id(s.config) for s in first]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
        assert [s.parent_config and checkpoint_id(s.parent_config) for s in first] == [
            *ids[1:],
            None,
        ]
        asked = first[2]  # the checkpoint that asked the question
        assert asked.next == ("review",)

        # time travel 1: replay from the checkpoint that asked; it asks again, and is
        # answered differently
        replayed = await graph.ainvoke(None, asked.config)
        assert as_json(replayed) == {
            **TIDES,
            "steps": ["write"],
            "__interrupt__": [question("A note on tides")],
        }
        shelved = await graph.ainvoke(Command(resume="no"), config)
        assert shelved == {
            **TIDES,
            "verdict": "no",
            "outcome": "shelved: A note on tides",
            "steps": ["write", "review:no", "shelve"],
        }

        # time travel 2: fork the same checkpoint with another draft, and publish that
        forked = await graph.aupdate_state(asked.config, {"draft": "A better note on tides"})
        refork = await graph.ainvoke(None, forked)
        assert refork["__interrupt__"][0].value == question("A better note on tides")
        better = await graph.ainvoke(Command(resume="yes"), config)
        assert better == {
            "topic": "tides",
            "draft": "A better note on tides",
            "verdict": "yes",
            "outcome": "published: A better note on tides",
            "steps": ["write", "review:yes", "publish"],
        }

        # the whole history: the two branches, newest first, above the first run, intact
        everything = await snapshots(graph, config)
        better_values = {"topic": "tides", "draft": "A better note on tides"}
        assert [summary(s) for s in everything] == [
            ("loop", 4, (), better),
            (
                "loop",
                3,
                ("publish",),
                {**better_values, "verdict": "yes", "steps": ["write", "review:yes"]},
            ),
            ("update", 2, ("review",), {**better_values, "steps": ["write"]}),
            ("loop", 4, (), shelved),
            ("loop", 3, ("shelve",), {**TIDES, "verdict": "no", "steps": ["write", "review:no"]}),
            ("fork", 2, ("review",), {**TIDES, "steps": ["write"]}),
            *FIRST_RUN,
        ]
        assert [checkpoint_id(s.config) for s in everything[6:]] == ids
        # each branch is a chain that starts at the checkpoint that asked
        new = [checkpoint_id(s.config) for s in everything[:6]]
        assert [checkpoint_id(s.parent_config) for s in everything[:6]] == [
            new[1],
            new[2],
            ids[2],
            new[4],
            new[5],
            ids[2],
        ]
        # each checkpoint still reads as it was: the first run's end, and the thread's latest
        original_end = await graph.aget_state(first[0].config)
        assert original_end.values == FIRST_RUN[0][3]
        assert (await graph.aget_state(config)).values == better
