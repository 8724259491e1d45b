"""Workers in separate operating-system processes, for the rules that only processes can
prove: many processes appending to one log, two popping it.

A worker opens the backend as a program would, ``satchel.open(backend=name,
backend_settings=settings)``, so a backend takes part when the test class gives the
``process_backend`` fixture (see :class:`~satchel.testing.fixtures.ConformanceFixtures`).
Every worker connects first and says so; the parent then lets them all go at once, so that
their work overlaps. Run one by hand with ``python -m satchel.testing.processes '<task>'``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import datetime
from typing import Any, TypeAlias

from satchel.backend import LogEntry

__all__ = ["ProcessBackend", "run_workers"]

#: How another process opens the backend: ``(name, backend_settings)``, as
#: ``satchel.open(backend=name, backend_settings=backend_settings)`` takes them (settings
#: that JSON can carry).
ProcessBackend: TypeAlias = "tuple[str, dict[str, Any]]"

#: Seconds a worker may take to start and connect, and to do its work.
START_TIMEOUT = 120.0
WORK_TIMEOUT = 300.0


def _entry(entry: LogEntry) -> list[Any]:
    return [entry.seq, entry.value, entry.appended_at.isoformat()]


def entry_from(row: list[Any]) -> LogEntry:
    """A :class:`LogEntry` from what a worker printed."""
    seq, value, at = row
    return LogEntry(seq, value, datetime.fromisoformat(at))


async def _work(task: dict[str, Any]) -> Any:
    import satchel
    from satchel.testing.logs import append_batches, pop_all

    async with satchel.open(backend=task["backend"], backend_settings=task["settings"]) as store:
        backend = store.raw_backend
        await backend.ping()
        print("ready", flush=True)
        sys.stdin.readline()  # "go"
        collection, key, worker = task["collection"], task["key"], task["worker"]
        if task["op"] == "append":
            batches = await append_batches(backend, collection, key, worker, task["entries"])
            return [[w, [_entry(e) for e in entries]] for w, entries in batches]
        if task["op"] == "pop":
            return [_entry(e) for e in await pop_all(backend, collection, key, worker)]
        raise ValueError(f"unknown op {task['op']!r}")


def run_workers(spec: ProcessBackend, tasks: list[dict[str, Any]]) -> list[Any]:
    """Run one worker process per task against the backend ``spec`` names, all at once;
    return what each returned, in the order of ``tasks``. A worker that fails fails the
    call, with its error output."""
    name, settings = spec
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "satchel.testing.processes",
                json.dumps({**task, "backend": name, "settings": settings}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for task in tasks
    ]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        for proc in procs:  # every worker connected before any starts
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready" or time.monotonic() > deadline:
                _, err = proc.communicate(timeout=10)
                raise AssertionError(f"a worker did not start: {line!r} {err[-2000:]}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=WORK_TIMEOUT)
            if proc.returncode != 0:
                raise AssertionError(f"a worker failed (exit {proc.returncode}): {err[-4000:]}")
            results.append(json.loads(out))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def main() -> None:
    result = asyncio.run(_work(json.loads(sys.argv[1])))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
