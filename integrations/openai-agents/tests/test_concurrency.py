"""Several processes on one session: appends are never lost and each call's items stay
together, in order; concurrent pops never return one item twice. Each process configures
satchel from its environment, and the session does not exist before they start (the
"concurrent first access" case)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from satchel import Satchel
from satchel_openai_agents import SatchelSession

WORKER = str(Path(__file__).with_name("worker.py"))
PROCESSES, CALLS, SIZE = 3, 10, 3

server_backends = pytest.mark.parametrize("backend", ["redis", "mongodb"], indirect=True)


def run_workers(environ: dict[str, str], argvs: list[list[str]]) -> list[str]:
    """Start a worker per argv, start them all at once, return their outputs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, *argv],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0] * len(procs)
    return outputs


def check_calls_contiguous(contents: list[str], workers: int, calls: int, size: int) -> None:
    """Every item is there once, each call's items are adjacent and in order, and each
    worker's calls are in its order."""
    assert len(contents) == workers * calls * size
    assert len(set(contents)) == len(contents)
    next_call = {str(w): 0 for w in range(workers)}
    for start in range(0, len(contents), size):
        worker, call, _ = contents[start].split(":")
        assert contents[start : start + size] == [f"{worker}:{call}:{i}" for i in range(size)]
        assert int(call) == next_call[worker]
        next_call[worker] += 1


@server_backends
async def test_processes_appending_lose_nothing_and_keep_calls_together(
    environ: dict[str, str], store: Satchel
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    argvs = [["add", session_id, str(w), str(CALLS), str(SIZE)] for w in range(PROCESSES)]
    await asyncio.to_thread(run_workers, environ, argvs)
    items = await SatchelSession(session_id, store=store).get_items()
    check_calls_contiguous([i["content"] for i in items], PROCESSES, CALLS, SIZE)


@server_backends
async def test_processes_popping_never_get_one_item_twice(
    environ: dict[str, str], store: Satchel
) -> None:
    session = SatchelSession(f"s-{uuid.uuid4().hex}", store=store)
    added = [{"role": "user", "content": str(n)} for n in range(90)]
    await session.add_items(added)
    outputs = await asyncio.to_thread(
        run_workers, environ, [["pop", session.session_id]] * PROCESSES
    )
    popped = [item for out in outputs for item in json.loads(out.splitlines()[-1])]
    assert sorted(popped, key=lambda i: int(i["content"])) == added
    for out in outputs:  # each process popped newest first
        contents = [int(i["content"]) for i in json.loads(out.splitlines()[-1])]
        assert contents == sorted(contents, reverse=True)
    assert await session.get_items() == []


async def test_tasks_appending_and_popping_in_one_process(store: Satchel) -> None:
    """The same on every backend (memory too), with tasks of one event loop and sessions
    of their own on one conversation."""
    session_id = f"s-{uuid.uuid4().hex}"

    async def add(worker: int) -> None:
        session = SatchelSession(session_id, store=store)
        for call in range(CALLS):
            await session.add_items(
                [{"role": "user", "content": f"{worker}:{call}:{i}"} for i in range(SIZE)]
            )

    await asyncio.gather(*(add(w) for w in range(PROCESSES)))
    session = SatchelSession(session_id, store=store)
    items = await session.get_items()
    check_calls_contiguous([i["content"] for i in items], PROCESSES, CALLS, SIZE)
    popped = await asyncio.gather(*(session.pop_item() for _ in range(len(items) + 5)))
    got = [p for p in popped if p is not None]
    assert len(got) == len(items)
    assert sorted(i["content"] for i in got) == sorted(i["content"] for i in items)
