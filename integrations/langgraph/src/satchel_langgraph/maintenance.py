"""What :class:`~satchel_langgraph.SatchelSaver` does to whole threads: delete one, delete
the checkpoints of runs, copy one, prune one.

Every read is a key range (a thread, a namespace of it, a checkpoint's writes) or a record
index (a run's checkpoints); none reads other threads. Channel values, which may be large,
are never listed: their keys come from the checkpoints that read them (``blobs``), and
they are fetched a few at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from satchel.backend import JSONValue, Record, expiry_after
from satchel.errors import Conflict
from satchel.stores.kv import Entry, KVStore
from satchel.toolkit import iter_pages
from satchel_langgraph.records import (
    RUN_INDEX,
    blob_key,
    checkpoint_key,
    key_prefix,
    load_blob,
    parse_key,
    retarget,
    run_index,
)

if TYPE_CHECKING:
    from satchel_langgraph.saver import SatchelSaver

__all__ = [
    "PAGE",
    "blob_keys",
    "copy_thread",
    "delete_for_runs",
    "delete_keys",
    "delete_thread",
    "keep_latest",
    "walk",
]

#: Records read per query.
PAGE: Final = 500
#: Channel values read (and written) per call when copying: they may be large.
VALUE_BATCH: Final = 16
#: Deletes in flight at once.
_CONCURRENT: Final = 64
#: What the whole-thread operations read of a checkpoint.
_OUTLINE: Final = ["checkpoint_ns", "checkpoint_id", "parent_checkpoint_id", "blobs"]


async def walk(
    kv: KVStore, prefix: str, *, select: Sequence[str] | None = None
) -> AsyncIterator[Entry]:
    """The records of ``kv`` whose key starts with ``prefix``, in key order, a page at a
    time."""
    async for page in iter_pages(
        lambda cursor: kv.query(
            [("key", "startswith", prefix)], select=select, limit=PAGE, cursor=cursor
        )
    ):
        for entry in page.items:
            yield entry


async def delete_keys(kv: KVStore, keys: Iterable[str]) -> None:
    """Delete the records under ``keys`` (those that exist)."""
    pending = list(keys)
    for start in range(0, len(pending), _CONCURRENT):
        await asyncio.gather(*(kv.delete(k) for k in pending[start : start + _CONCURRENT]))


async def _delete_range(kv: KVStore, prefix: str, keep: set[str] | None = None) -> None:
    """Delete the records whose key starts with ``prefix``, except, in a range of writes,
    those of the checkpoints whose ids are in ``keep``."""
    doomed = [
        e.key
        async for e in walk(kv, prefix, select=[])
        if keep is None or parse_key(e.key)[2] not in keep
    ]
    await delete_keys(kv, doomed)


def blob_keys(thread_id: str, checkpoint_ns: str, outline: Any) -> set[str]:
    """The keys of the channel values a checkpoint reads, from its record's outline."""
    return {blob_key(thread_id, checkpoint_ns, ch, v) for ch, v in outline["blobs"].items()}


#: How many times :func:`delete_thread` sweeps a thread that gets new checkpoints meanwhile
#: before it gives up (a put racing it undoes itself, so two sweeps are the rule).
MAX_SWEEPS = 50


async def delete_thread(saver: SatchelSaver, thread_id: str) -> None:
    """Delete every record of ``thread_id``: the checkpoints first (so that no reader finds
    a checkpoint whose values are gone), then the writes and the values; again until the
    thread has no checkpoint left.

    A put racing the deletion either finishes before the thread's checkpoints are read for
    the last time (and is deleted with them), or checks, once written, that its parent is
    still there (see ``SatchelSaver.aput``): so no checkpoint is left without its values.

    :raises Conflict: the thread still had checkpoints after :data:`MAX_SWEEPS` sweeps
        (writers that never stop); what was swept is deleted, whole checkpoints only."""
    prefix = key_prefix(thread_id)
    swept = False
    for _sweep in range(MAX_SWEEPS):
        keys, values = [], set()
        async for entry in walk(saver.checkpoints, prefix, select=_OUTLINE):
            keys.append(entry.key)
            values |= blob_keys(thread_id, entry.value["checkpoint_ns"], entry.value)
        if swept and not keys:
            return
        await delete_keys(saver.checkpoints, keys)
        await _delete_range(saver.writes, prefix)
        await delete_keys(saver.blobs, values)
        # what is left had no checkpoint (a put that failed between its values and itself,
        # or one still under way)
        await _delete_range(saver.blobs, prefix)
        swept = True
    raise Conflict(
        f"thread_id: {thread_id!r} got new checkpoints through {MAX_SWEEPS} sweeps of its "
        "deletion; stop the graphs that write it and delete it again"
    )


async def delete_for_runs(saver: SatchelSaver, run_ids: Sequence[str]) -> None:
    """Delete the checkpoints of ``run_ids`` (found by the record index ``run_id``), their
    writes, and the values that no remaining checkpoint of their namespace reads."""
    unread: dict[tuple[str, str], set[str]] = {}
    for run_id in run_ids:
        found = await saver.store.backend.find(saver.checkpoints.collection, RUN_INDEX, run_id)
        await delete_keys(saver.checkpoints, [r.key for r in found])
        for record in found:
            thread_id, checkpoint_ns = record.value["thread_id"], record.value["checkpoint_ns"]
            prefix = key_prefix(thread_id, checkpoint_ns, record.value["checkpoint_id"])
            await _delete_range(saver.writes, prefix)
            unread.setdefault((thread_id, checkpoint_ns), set()).update(
                blob_keys(thread_id, checkpoint_ns, record.value)
            )
    for (thread_id, checkpoint_ns), candidates in unread.items():
        async for entry in walk(
            saver.checkpoints, key_prefix(thread_id, checkpoint_ns), select=["blobs"]
        ):
            candidates -= blob_keys(thread_id, checkpoint_ns, entry.value)
        await delete_keys(saver.blobs, candidates)


async def keep_latest(saver: SatchelSaver, thread_id: str) -> None:
    """Keep, in each namespace of the thread, the latest checkpoint and the ancestors its
    ``DeltaChannel`` values are rebuilt from; delete the other checkpoints, their writes,
    and the values no kept checkpoint reads."""
    namespaces: dict[str, list[Any]] = {}
    async for entry in walk(saver.checkpoints, key_prefix(thread_id), select=_OUTLINE):
        namespaces.setdefault(entry.value["checkpoint_ns"], []).append(entry.value)
    for checkpoint_ns, outlines in namespaces.items():
        kept = await _kept(saver, thread_id, checkpoint_ns, outlines)
        dropped = [o for o in outlines if o["checkpoint_id"] not in kept]
        if not dropped:
            continue
        await delete_keys(
            saver.checkpoints,
            [checkpoint_key(thread_id, checkpoint_ns, o["checkpoint_id"]) for o in dropped],
        )
        await _delete_range(saver.writes, key_prefix(thread_id, checkpoint_ns), kept)
        unread = set().union(*(blob_keys(thread_id, checkpoint_ns, o) for o in dropped))
        for outline in outlines:
            if outline["checkpoint_id"] in kept:
                unread -= blob_keys(thread_id, checkpoint_ns, outline)
        await delete_keys(saver.blobs, unread)


async def _kept(
    saver: SatchelSaver, thread_id: str, checkpoint_ns: str, outlines: list[Any]
) -> set[str]:
    """The ids of the checkpoints ``keep_latest`` keeps in one namespace (``outlines``,
    newest first): the latest, and its ancestors up to the nearest that holds the value of
    each channel the latest rebuilds from writes (its metadata's
    ``counters_since_delta_snapshot``), as ``get_delta_channel_history`` walks them."""
    latest = outlines[0]
    kept = {latest["checkpoint_id"]}
    record = await saver.checkpoints.get(
        checkpoint_key(thread_id, checkpoint_ns, latest["checkpoint_id"])
    )
    if record is None:
        return kept
    metadata = load_blob(saver.serde, record["metadata"])
    rebuilt = set(metadata.get("counters_since_delta_snapshot") or ())
    by_id = {o["checkpoint_id"]: o for o in outlines}
    current = latest
    while rebuilt and current["parent_checkpoint_id"] in by_id:
        current = by_id[current["parent_checkpoint_id"]]
        kept.add(current["checkpoint_id"])
        rebuilt -= set(current["blobs"])
    return kept


async def copy_thread(saver: SatchelSaver, source: str, target: str) -> None:
    """Copy every record of ``source`` to ``target``: the values, then the writes, then
    the checkpoints (so that no reader finds a copied checkpoint without its values)."""
    expires = expiry_after(saver.ttl)
    backend = saver.store.backend
    checkpoints = [e async for e in walk(saver.checkpoints, key_prefix(source))]
    values: set[str] = set()
    for entry in checkpoints:
        values |= blob_keys(source, entry.value["checkpoint_ns"], entry.value)

    def copied(kv: KVStore, key: str, value: JSONValue) -> Record:
        return Record(
            kv.collection,
            retarget(key, target),
            {**value, "thread_id": target},
            expires_at=expires,
            index=run_index(value["filter"]) if "filter" in value else {},
        )

    ordered = sorted(values)
    for start in range(0, len(ordered), VALUE_BATCH):
        found = await saver.blobs.get_many(ordered[start : start + VALUE_BATCH])
        if found:
            await backend.put_many([copied(saver.blobs, k, v) for k, v in found.items()])
    batch: list[Record] = []
    async for entry in walk(saver.writes, key_prefix(source)):
        batch.append(copied(saver.writes, entry.key, entry.value))
        if len(batch) >= VALUE_BATCH:
            await backend.put_many(batch)
            batch = []
    if batch:
        await backend.put_many(batch)
    for start in range(0, len(checkpoints), PAGE):
        await backend.put_many(
            [copied(saver.checkpoints, e.key, e.value) for e in checkpoints[start : start + PAGE]]
        )
