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


def race_batches(
    uri: str, database: str, prefix: str, keys: int, seconds: float, start: Any, report: Any
) -> None:
    """Eight tasks writing ``keys`` keys for ``seconds``: batches of several keys
    (``put_many``) and single updates at the version just read (``put(if_version=)``), each
    value unique. Put ``("ok", [(key, version, value), ...])`` on ``report``: every write
    acknowledged, with the version it was acknowledged at; or ``("error", traceback)``."""
    import os
    import random
    import time

    from satchel.backend import Record
    from satchel_mongodb import MongoBackend

    async def run() -> list[tuple[str, int, str]]:
        backend = MongoBackend.from_uri(uri, database=database, collection_prefix=prefix)
        acknowledged: list[tuple[str, int, str]] = []
        names = [f"k{i}" for i in range(keys)]
        counter = iter(range(10**9))

        async def writer() -> None:
            while time.monotonic() < deadline:
                if random.random() < 0.5:
                    chosen = random.sample(names, random.randint(2, 5))
                    values = [f"{os.getpid()}-{next(counter)}" for _ in chosen]
                    stored = await backend.put_many(
                        [Record("race", k, v) for k, v in zip(chosen, values, strict=True)]
                    )
                    acknowledged.extend((r.key, r.version, r.value) for r in stored)
                else:
                    key = random.choice(names)
                    current = await backend.get("race", key)
                    if current is None:
                        continue
                    value = f"{os.getpid()}-{next(counter)}"
                    try:
                        stored = await backend.put(
                            Record("race", key, value), if_version=current.version
                        )
                    except Conflict:
                        continue
                    acknowledged.append((key, stored.version, value))

        try:
            await backend.ping()
            await asyncio.to_thread(start.wait, 60)
            deadline = time.monotonic() + seconds
            await asyncio.gather(*(writer() for _ in range(8)))
        finally:
            await backend.close()
        return acknowledged

    try:
        report.put(("ok", asyncio.run(run())))
    except BaseException:
        report.put(("error", traceback.format_exc()))
        raise
