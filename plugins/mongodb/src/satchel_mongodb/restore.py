"""``restore_many`` of satchel-mongodb: records stored with their version and times as given
(see :meth:`satchel.backend.Backend.restore_many`).

Per collection, in this order:

1. the documents under the batch's keys are read (their versions);
2. the floor rises (``$max``) to every version the batch removes: a replaced record's when
   it is above the restored one's, and an already expired record's own (with what it
   replaces), so a later incarnation of the key starts above them;
3. the floor's expiry entries (``e``) are raised for the records with an expiry, as every
   write of such a record does, before the TTL monitor can remove them;
4. one ordered bulk write replaces each key's document with the record's (an upsert:
   whatever was there, a record, a claim of another writer, a foreign document) or, for a
   record that has expired already, deletes it.

Each record is one document written in one operation, so it is restored whole; the batch is
not atomic as a whole (an error part-way leaves the earlier keys restored, and the same call
made again completes it). A writer that claimed a key the restore replaced finds its claim
gone and tries again, over the restored record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pymongo import DeleteOne, ReplaceOne

from satchel.backend import Record, check_restore, utcnow
from satchel.toolkit import MAX_STORED_DEPTH, encode_json

if TYPE_CHECKING:
    from datetime import datetime

    from satchel_mongodb.backend import MongoBackend

__all__ = ["restore_many"]


async def restore_many(backend: MongoBackend, records: Sequence[Record]) -> None:
    """:meth:`MongoBackend.restore_many`: every record checked and encoded first (nothing is
    written when one is refused), then each collection's records in one bulk write."""
    checked = check_restore(records)
    last: dict[tuple[str, str], Record] = {}
    for record in checked:
        last.pop((record.collection, record.key), None)  # a later duplicate wins
        last[(record.collection, record.key)] = record
    groups: dict[str, list[tuple[Record, Any]]] = {}
    for record in last.values():
        assert record.created_at is not None  # check_restore made sure of both
        assert record.updated_at is not None
        backend._collection(record.collection)  # a name MongoDB refuses writes nothing
        # what the stores refuse in a value (NaN, infinity, a lone surrogate), refused here
        # as by every backend's restore: BSON would store the first two and raise an
        # untyped error for the third
        encode_json(record.value, f"value of {record.key!r}", max_depth=MAX_STORED_DEPTH)
        # encoded (and checked) once, each with its own write id, before anything is written
        doc = backend._document(
            record, record.version, record.created_at, record.updated_at, backend._write_id()
        )
        groups.setdefault(record.collection, []).append((record, doc))
    now = utcnow()
    for collection, group in groups.items():
        await _restore_collection(backend, collection, group, now)


async def _restore_collection(
    backend: MongoBackend, collection: str, encoded: list[tuple[Record, Any]], now: datetime
) -> None:
    group = [record for record, _ in encoded]
    docs_of = {record.key: doc for record, doc in encoded}
    coll = backend._collection(collection)
    if collection not in backend._indexed:
        await backend._prepare(collection, coll)
    cursor = coll.find({"_id": {"$in": [r.key for r in group]}}, {"version": 1})
    docs = await backend._call(cursor.to_list(None), "read from", collection)
    held: dict[str, int] = {}
    for doc in docs:
        version: Any = doc.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
            held[doc["_id"]] = version
    top = 0
    covers: dict[int, int] = {}
    operations: list[Any] = []
    for record in group:
        old = held.get(record.key, 0)
        expired = record.expires_at is not None and record.expires_at <= now
        if expired:
            top = max(top, old, record.version)
            operations.append(DeleteOne({"_id": record.key}))
            continue
        if old > record.version:
            top = max(top, old)
        if record.expires_at is not None:
            minute = backend._counts_from(record.expires_at, now)
            covers[minute] = max(covers.get(minute, 0), record.version)
        operations.append(ReplaceOne({"_id": record.key}, docs_of[record.key], upsert=True))
    if top:
        await backend._raise_floor(collection, top)
    if covers:
        await backend._cover(collection, covers)
    for record in group:
        backend._versions.pop((collection, record.key), None)
    await backend._call(coll.bulk_write(operations, ordered=True), "write to", collection)
    for record in group:  # a read made meanwhile may have remembered the replaced record
        backend._versions.pop((collection, record.key), None)
