"""The worker of the cross-process contention test: it lives in a module of its own (found
through ``sys.path``, which spawned processes inherit) so that every test layout can import
it in a child process."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

import satchel
from satchel.errors import Conflict


class Counter(BaseModel):
    task_id: str
    n: int = 0


def increment(url: str, namespace: str, times: int, conflicts: Any) -> None:
    async def run() -> int:
        seen = 0
        environ = {
            "SATCHEL_BACKEND": "redis",
            "SATCHEL_REDIS_URL": url,
            "SATCHEL_NAMESPACE": namespace,
        }
        async with satchel.open(environ=environ) as handle:
            tasks = handle.tasks(Counter)
            for _ in range(times):
                while True:
                    current = await tasks.load_versioned("counter")
                    assert current is not None
                    try:
                        await tasks.update(
                            Counter(task_id="counter", n=current.value.n + 1),
                            expected_version=current.version,
                        )
                    except Conflict:
                        seen += 1
                        continue
                    break
        return seen

    conflicts.put(asyncio.run(run()))


def append_batches(url: str, namespace: str, worker: int, times: int, start: Any) -> None:
    """Once ``start`` is set, append ``times`` batches of three entries, ``[worker, batch,
    0..2]``, to the log ``shared`` of the log store ``events``."""

    async def run() -> None:
        environ = {
            "SATCHEL_BACKEND": "redis",
            "SATCHEL_REDIS_URL": url,
            "SATCHEL_NAMESPACE": namespace,
        }
        async with satchel.open(environ=environ) as handle:
            logs = handle.logs("events")
            await logs.length("shared")  # connected and the scripts loaded before the start
            start.wait(60)
            for batch in range(times):
                await logs.append("shared", *([worker, batch, j] for j in range(3)))

    asyncio.run(run())
