"""ADK's own Runner, with a scripted model (no network), on the satchel session service: a
multi-turn session (a tool call writing user state among the turns) continued by another
process, and two runners (tasks of one process, or two processes) taking turns in one
session at once: nothing is lost, no turn is split by another, and a conflict is raised only
when the other runner did add to the history."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from google.adk.errors._stale_session_error import StaleSessionError
from scripted import APP, ScriptedLlm, render, runner, turn

from satchel import Satchel
from satchel_adk import SatchelSessionService

WORKER = str(Path(__file__).with_name("worker.py"))
USER = "ann"


def child_env(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ


def check_turns(events: Sequence[Any], names: Sequence[str], count: int) -> None:
    """Each turn ``name:i`` is in the history once, complete (the user's message, then the
    answer to it), in each runner's order, and no turn is split by another; a turn whose
    answer was refused left its message alone and was run again later."""
    blocks: list[tuple[str, list[str]]] = []
    for event in events:
        text = render(event.content)
        if blocks and blocks[-1][0] == event.invocation_id:
            blocks[-1][1].append(text)
        else:
            blocks.append((event.invocation_id, [text]))
    invocations = [b[0] for b in blocks]
    assert len(invocations) == len(set(invocations)), "an invocation's events are split"
    done: dict[str, list[int]] = {name: [] for name in names}
    retried = set()
    for _, texts in blocks:
        asked = texts[0].removeprefix("user: ")
        if texts == [f"user: {asked}", f"model: re: {asked}"]:
            name, i = asked.split(":")
            done[name].append(int(i))
        else:
            assert texts == [f"user: {asked}"], f"a malformed turn: {texts}"
            retried.add(asked)
    for name in names:
        assert done[name] == list(range(count)), f"{name}'s turns: {done[name]}"
    assert all(asked.split(":")[0] in names for asked in retried)


@pytest.mark.parametrize("backend", ["redis-cluster", "mongodb"], indirect=True)
async def test_a_session_continues_in_another_process(
    environ: dict[str, str], service: SatchelSessionService
) -> None:
    model = ScriptedLlm(
        script=["Hello!", {"call": "remember", "args": {"color": "blue"}}, "Noted."]
    )
    run = runner(service, model)
    session = await service.create_session(app_name=APP, user_id=USER, session_id="chat")
    await turn(run, USER, session.id, "Hi")
    await turn(run, USER, session.id, "Remember: blue.")
    assert model.sent[1] == ["user: Hi", "model: Hello!", "user: Remember: blue."]
    assert model.sent[2][-2:] == ["model: call remember", "user: result remember"]

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, WORKER, "chat", USER, session.id, "What colour?"],
        env=child_env(environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout.splitlines()[-1])
    assert child["sent"] == [
        "user: Hi",
        "model: Hello!",
        "user: Remember: blue.",
        "model: call remember",
        "user: result remember",
        "model: Noted.",
        "user: What colour?",
    ]
    assert child["state"]["user:color"] == "blue"
    assert child["state"]["times_remembered"] == 1
    assert child["state"]["last_reply"] == "re: What colour?"

    stored = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None and len(stored.events) == 8
    assert await service.get_user_state(app_name=APP, user_id=USER) == {"color": "blue"}
    other = await service.create_session(app_name=APP, user_id=USER)
    assert other.state["user:color"] == "blue"  # the user scope reaches a new session


async def test_two_runners_in_one_session_at_once(
    store: Satchel, service: SatchelSessionService
) -> None:
    session = await service.create_session(app_name=APP, user_id=USER)
    conflicts = {"a": 0, "b": 0}

    async def take_turns(name: str) -> None:
        run = runner(service, ScriptedLlm(delay=0.01))
        for i in range(4):
            while True:
                try:
                    await turn(run, USER, session.id, f"{name}:{i}")
                    break
                except StaleSessionError:
                    conflicts[name] += 1
                    await asyncio.sleep(
                        random.uniform(0.01, 0.1)
                    )  # back off, as an OCC client does

    await asyncio.gather(take_turns("a"), take_turns("b"))
    stored = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    check_turns(stored.events, ["a", "b"], 4)
    assert conflicts["a"] + conflicts["b"] > 0  # they did overlap

    # taking turns one after the other, through two services, raises none
    other = SatchelSessionService(store=store)
    for i in range(3):
        for name, svc in (("a", service), ("b", other)):
            await turn(runner(svc, ScriptedLlm()), USER, session.id, f"{name}:{4 + i}")


@pytest.mark.parametrize("backend", ["redis", "mongodb"], indirect=True)
async def test_two_processes_in_one_session_at_once(
    environ: dict[str, str], service: SatchelSessionService
) -> None:
    session = await service.create_session(app_name=APP, user_id=USER)
    count = 3
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            WORKER,
            "turns",
            USER,
            session.id,
            name,
            str(count),
            env=child_env(environ),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line.strip() == b"ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        outputs = await asyncio.wait_for(
            asyncio.gather(*(proc.communicate() for proc in procs)), 120
        )
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outputs]
    stored = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert stored is not None
    check_turns(stored.events, ["a", "b"], count)
    assert stored.state["last_reply"].startswith("re: ")
