"""The writer of the MongoDB log tests that stop or kill a writer in the middle of an append:
it lives in a module of its own (found through ``sys.path``, which spawned processes
inherit) so that a spawned child can import it."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from satchel_mongodb import MongoBackend


def append_batches(
    uri: str,
    database: str,
    prefix: str,
    key: str,
    writer: str,
    batches: int,
    size: int,
    report: Any,
) -> None:
    """Append ``batches`` batches of ``size`` entries ``{"w": writer, "b": batch, "i": i}``
    to the log ``key`` of the collection ``"logs"``; put ``("ok", batch, seqs)`` on
    ``report`` after each acknowledged append, and ``("error", traceback)`` on a failure."""

    async def run() -> None:
        backend = MongoBackend.from_uri(uri, database=database, collection_prefix=prefix)
        try:
            for batch in range(batches):
                values = [{"w": writer, "b": batch, "i": i} for i in range(size)]
                entries = await backend.log_append("logs", key, values)
                report.put(("ok", batch, [e.seq for e in entries]))
        finally:
            await backend.close()

    try:
        asyncio.run(run())
    except BaseException:
        report.put(("error", traceback.format_exc()))
