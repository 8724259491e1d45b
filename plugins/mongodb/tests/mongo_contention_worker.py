"""The worker of the cross-process contention test: it lives in a module of its own (found
through ``sys.path``, which spawned processes inherit) so that a spawned child can import
it."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from pydantic import BaseModel

import satchel
from satchel.errors import Conflict


class Counter(BaseModel):
    task_id: str
    n: int = 0


def increment(
    uri: str, database: str, prefix: str, namespace: str, times: int, start: Any, report: Any
) -> None:
    """Add one to the counter ``times`` times, each a load then an update at the loaded
    version, retried on :class:`Conflict`; put ``("ok", conflicts met)`` on ``report``, or
    ``("error", traceback)``."""

    async def run() -> int:
        seen = 0
        environ = {
            "SATCHEL_BACKEND": "mongodb",
            "SATCHEL_MONGODB_URI": uri,
            "SATCHEL_MONGODB_DATABASE": database,
            "SATCHEL_MONGODB_COLLECTION_PREFIX": prefix,
            "SATCHEL_MONGODB_SERVER_SELECTION_TIMEOUT": "10",
            "SATCHEL_NAMESPACE": namespace,
        }
        async with satchel.open(environ=environ) as handle:
            tasks = handle.tasks(Counter)
            await handle.ping()  # connected before the race starts
            await asyncio.to_thread(start.wait, 60)
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

    try:
        report.put(("ok", asyncio.run(run())))
    except BaseException:
        report.put(("error", traceback.format_exc()))
        raise
