"""Versions on MongoDB: ``put_many`` learns each record's outcome from its own bulk write (a
record is written once, however other writers interleave), a version read from one
incarnation of a key never matches another, and the server, not the client's memory of
versions, decides every conditional write."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring

from satchel.backend import Record
from satchel.errors import Conflict, NotFound
from satchel_mongodb import MongoBackend


@pytest.fixture
def prefix() -> str:
    return f"v{uuid.uuid4().hex[:10]}."


def make(uri: str, prefix: str) -> MongoBackend:
    return MongoBackend.from_uri(
        uri, database="satchel_versions", collection_prefix=prefix, server_selection_timeout=5
    )


@pytest.fixture
async def backend(mongodb_uri: str, prefix: str) -> AsyncIterator[MongoBackend]:
    made = make(mongodb_uri, prefix)
    try:
        yield made
    finally:
        for name in await made.collections():
            await made.drop(name)
        await made.close()


@pytest.fixture
async def other(mongodb_uri: str, prefix: str) -> AsyncIterator[MongoBackend]:
    """A second client of the same collections (another process, as far as versions go)."""
    made = make(mongodb_uri, prefix)
    try:
        yield made
    finally:
        await made.close()


class AfterBulkWrite(monitoring.CommandListener):
    """Once armed, runs ``action`` (blocking) right after the next ``update`` command
    succeeds: another writer getting in between a batch's bulk write and anything the batch
    does next."""

    def __init__(self) -> None:
        self.action: Any = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "update" and self.action is not None:
            action, self.action = self.action, None
            action()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def after_bulk_write() -> Iterator[AfterBulkWrite]:
    listener = AfterBulkWrite()
    monitoring.register(listener)
    yield listener
    listener.action = None


async def test_put_many_never_writes_a_record_twice(
    mongodb_uri: str, prefix: str, after_bulk_write: AfterBulkWrite
) -> None:
    """``j`` is written by the batch, then overwritten by another writer before the batch
    could look; ``k`` had been changed by another writer before the batch. The batch must
    write ``j`` once (the other writer's version stays on top) and ``k`` once, on top of
    what it finds."""
    backend, other = make(mongodb_uri, prefix), make(mongodb_uri, prefix)
    sync: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        await backend.put(Record("raced", "j", "j1"))
        await backend.put(Record("raced", "k", "k1"))  # both remembered at version 1
        await other.put(Record("raced", "k", "k2"))  # k is at version 2 behind its back
        coll = sync["satchel_versions"][backend._collection("raced").name]

        def overwrite_j() -> None:  # what another satchel writer does: the next version
            doc = coll.find_one({"_id": "j"})
            assert doc is not None
            coll.update_one(
                {"_id": "j", "write_id": doc["write_id"]},
                {"$set": {"value": "other", "write_id": "other-writer"}, "$inc": {"version": 1}},
            )

        after_bulk_write.action = overwrite_j
        stored = await backend.put_many([Record("raced", "j", "j2"), Record("raced", "k", "k3")])
        assert after_bulk_write.action is None, "the bulk write was never seen"
        assert [(r.key, r.version) for r in stored] == [("j", 2), ("k", 3)]
        j, k = await other.get("raced", "j"), await other.get("raced", "k")
        assert j is not None and (j.value, j.version) == ("other", 3)
        assert k is not None and (k.value, k.version) == ("k3", 3)
    finally:
        sync.close()
        for name in await backend.collections():
            await backend.drop(name)
        await backend.close()
        await other.close()


# -- incarnations ------------------------------------------------------------------------------


async def test_a_fresh_collection_starts_at_version_one(backend: MongoBackend) -> None:
    assert (await backend.put(Record("fresh", "a", 1))).version == 1
    assert [r.version for r in await backend.put_many([Record("fresh", "b", 1)])] == [1]
    assert (await backend.put(Record("fresh", "c", 1), if_absent=True)).version == 1


async def test_a_version_of_a_deleted_record_never_matches_its_successor(
    backend: MongoBackend, other: MongoBackend
) -> None:
    """The holder read version 1; another process deleted the key and created it again."""
    assert (await backend.put(Record("inc", "k", "first"))).version == 1
    assert await other.delete("inc", "k")
    again = await other.put(Record("inc", "k", "second"), if_absent=True)
    assert again.version > 1
    with pytest.raises(Conflict):
        await backend.put(Record("inc", "k", "stale"), if_version=1)
    with pytest.raises(Conflict):
        await backend.delete("inc", "k", if_version=1)
    got = await other.get("inc", "k")
    assert got is not None and (got.value, got.version) == ("second", again.version)


async def test_each_way_of_removing_a_record_keeps_its_versions_from_coming_back(
    backend: MongoBackend, other: MongoBackend
) -> None:
    await backend.put(Record("gone", "a", 1))
    await backend.put(Record("gone", "a", 2))  # version 2
    assert await other.delete("gone", "a", if_version=2)
    assert (await other.put_many([Record("gone", "a", 3)]))[0].version == 3
    await other.drop("gone")
    assert (await backend.put(Record("gone", "a", 4))).version == 4
    with pytest.raises(NotFound):
        await backend.put(Record("gone", "b", 1), if_version=1)


async def test_a_write_over_an_expired_record_continues_its_versions(
    backend: MongoBackend, other: MongoBackend
) -> None:
    from datetime import timedelta

    from satchel.backend import utcnow

    await backend.put(Record("expires", "a", 1))
    soon = utcnow() + timedelta(milliseconds=300)
    assert (await backend.put(Record("expires", "a", 2, expires_at=soon))).version == 2
    import asyncio

    await asyncio.sleep(0.4)
    assert await other.get("expires", "a") is None
    assert (await other.put(Record("expires", "a", 3), if_absent=True)).version == 3
    soon = utcnow() + timedelta(milliseconds=300)
    assert (await other.put(Record("expires", "a", 4, expires_at=soon))).version == 4
    await asyncio.sleep(0.4)
    assert await other.purge_expired() == 1
    stored = await backend.put_many([Record("expires", "a", 5)])
    assert stored[0].version == 5


async def test_the_server_decides_a_conditional_write_not_the_remembered_version(
    backend: MongoBackend, mongodb_uri: str
) -> None:
    """Another client raised the stored version without changing the write id: a process
    that remembers version 1 must not accept ``if_version=1``."""
    await backend.put(Record("cache", "k", "one"))  # remembered: version 1
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        coll = raw["satchel_versions"][backend._collection("cache").name]
        await coll.update_one({"_id": "k"}, {"$set": {"version": 2}})
    finally:
        await raw.close()
    with pytest.raises(Conflict):
        await backend.put(Record("cache", "k", "stale"), if_version=1)
    with pytest.raises(Conflict):
        await backend.delete("cache", "k", if_version=1)
    stored = await backend.put(Record("cache", "k", "fresh"), if_version=2)
    assert stored.version == 3
    stored = (await backend.put_many([Record("cache", "k", "batch")]))[0]
    assert stored.version == 4


# -- nesting -----------------------------------------------------------------------------------


def bson_depth(document: Any) -> int:
    """Levels of a BSON document as MongoDB counts them for its limit of 100: the document
    itself is one, and each embedded document or array one more."""
    if isinstance(document, dict):
        return 1 + max((bson_depth(v) for v in document.values()), default=0)
    if isinstance(document, list):
        return 1 + max((bson_depth(v) for v in document), default=0)
    return 0


def deepest(levels: int, shape: str) -> Any:
    """A value of ``levels`` nested objects and lists whose every level also holds a string
    that reads as a datetime (so the ``d`` tree is as deep as it gets)."""
    value: Any = {"t": "2024-01-01T00:00:00Z"} if shape != "lists" else ["2024-01-01T00:00:00Z"]
    for level in range(levels - 1):
        as_list = shape == "lists" or (shape == "mixed" and level % 2 == 0)
        value = ["2024-01-01T00:00:00Z", value] if as_list else {"t": "2024-01-01", "k": value}
    return value


@pytest.mark.parametrize("shape", ["objects", "lists", "mixed"])
async def test_the_deepest_value_satchel_accepts_is_a_document_mongodb_accepts(
    backend: MongoBackend, mongodb_uri: str, shape: str
) -> None:
    """MongoDB refuses documents nested past 100 levels (SecantusDB does not check): the
    stored form of the deepest value satchel's validation accepts stays within that."""
    from satchel.validation import MAX_DEPTH, check_json

    value = deepest(MAX_DEPTH, shape)
    check_json(value)  # accepted
    await backend.put(Record("deep", "k", value))
    await backend.put_many([Record("deep", "k", value), Record("deep", "new", value)])
    await backend.log_append("deep-log", "l", [value, value])
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        coll = raw["satchel_versions"][backend._collection("deep").name]
        for key in ("k", "new"):
            doc = await coll.find_one({"_id": key})
            assert doc is not None and "instants" in doc
            assert bson_depth(doc) <= 100, f"{shape}: {bson_depth(doc)} levels"
        # a log's head and entries: every document of its collection
        log = raw["satchel_versions"][backend._collection("deep-log").name]
        depths = [bson_depth(doc) async for doc in log.find({})]
        assert len(depths) >= 2 and max(depths) <= 100, f"{shape}: log documents {depths}"
    finally:
        await raw.close()
    got = await backend.get("deep", "k")
    assert got is not None and got.value == value


# -- claims ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ahead", [60.0, 3600.0])
async def test_a_claim_dated_in_the_future_does_not_block_the_key(
    backend: MongoBackend, mongodb_uri: str, ahead: float
) -> None:
    """A writer whose clock runs fast left a claim on a new key (and died, or is slow): the
    claim holds the key for at most the claim window of this process's time, not until the
    other clock's date."""
    from datetime import timedelta

    from satchel.backend import utcnow
    from satchel_mongodb.backend import CLAIM_SECONDS, _claim_document

    await backend.put(Record("claims", "other", 1))  # the collection and its indexes exist
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        coll = raw["satchel_versions"][backend._collection("claims").name]
        future = utcnow() + timedelta(seconds=ahead)
        await coll.insert_one(_claim_document("k", "a-fast-clock's-claim", future))
        await coll.insert_one(_claim_document("b", "a-fast-clock's-claim", future))
    finally:
        await raw.close()
    assert await backend.get("claims", "k") is None, "a claim is no record"
    started = utcnow()
    stored = await backend.put(Record("claims", "k", "mine"), if_absent=True)
    [batch] = await backend.put_many([Record("claims", "b", "mine")])
    took = (utcnow() - started).total_seconds()
    assert (stored.version, batch.version) == (1, 1)
    assert took < 10 * CLAIM_SECONDS, f"blocked for {took:.1f} s"
    got = await backend.get("claims", "k")
    assert got is not None and got.value == "mine"


async def test_drop_leaves_no_empty_collection_behind_and_keeps_the_floor(
    backend: MongoBackend, mongodb_uri: str
) -> None:
    """Dropped collections do not pile up in the database (collections() and purge_expired()
    visit every MongoDB collection), and the versions of what was dropped are not reused."""
    await backend.put(Record("dropped", "k", 1))
    await backend.put(Record("dropped", "k", 2))
    mongo_name = backend._collection("dropped").name
    assert await backend.drop("dropped") == 1
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        assert mongo_name not in await raw["satchel_versions"].list_collection_names()
    finally:
        await raw.close()
    again = await backend.put(Record("dropped", "k", 3))
    assert again.version > 2


# -- the floors' documents ----------------------------------------------------------------------


def started_entry(seconds_ago: float) -> str:
    """The name of an entry of a floor's expiry floors that counts already (it started
    ``seconds_ago``)."""
    import time

    from satchel_mongodb.backend import _BUCKET

    return str(int((time.time() - seconds_ago) // _BUCKET))


@pytest.fixture
async def raw_db(mongodb_uri: str) -> AsyncIterator[Any]:
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        yield raw["satchel_versions"]
    finally:
        await raw.close()


async def test_a_floor_under_the_earlier_names_counts_and_migrate_folds_it(
    backend: MongoBackend, raw_db: Any
) -> None:
    """A floor document an earlier release wrote (``f``, ``e``) keeps its versions from
    coming back: a new key starts above both; ``migrate`` moves them to ``floor`` and
    ``expiry_floors``, and they still count."""
    from satchel_mongodb.migrate import migrate

    await backend.put(Record("old", "k", 1))
    assert await backend.delete("old", "k")  # a floor in the plain names: 1
    mongo = backend.mongo_name("old")
    floors = raw_db[backend.floors_name]
    past, future = started_entry(100), started_entry(-3600)
    # what an earlier release wrote beside it (its deletes and its records with an expiry)
    await floors.update_one(
        {"_id": mongo}, {"$max": {"f": 7, f"e.{past}": 9, f"e.{future}": 40}}, upsert=True
    )
    assert (await backend.put(Record("old", "a", 1), if_absent=True)).version == 10
    # the entry that counts is folded into the plain floor; the rest is left as it was
    doc = await floors.find_one({"_id": mongo})
    assert doc == {"_id": mongo, "floor": 9, "f": 7, "e": {future: 40}}
    await floors.update_one({"_id": mongo}, {"$max": {"f": 20}})  # an earlier process again
    assert [r.version for r in await backend.put_many([Record("old", "b", 1)])] == [21]
    [entry] = await backend.log_append("old", "log", ["x"])  # a log starts above it too
    assert entry.seq == 21
    assert await migrate(backend, "old") >= 1
    doc = await floors.find_one({"_id": mongo})
    assert doc == {"_id": mongo, "floor": 20, "expiry_floors": {future: 40}}
    assert (await backend.put(Record("old", "c", 1), if_absent=True)).version == 21
    assert await migrate(backend) == 0


async def test_migrate_folds_the_floors_of_dropped_collections_too(
    backend: MongoBackend, raw_db: Any
) -> None:
    from satchel_mongodb.migrate import migrate

    floors = raw_db[backend.floors_name]
    mongo = backend.mongo_name("gone")  # no MongoDB collection: only its floor is left
    past = started_entry(100)
    await floors.insert_one({"_id": mongo, "f": 5, "e": {past: 8}, "floor": 6})
    assert await migrate(backend) == 1
    assert await floors.find_one({"_id": mongo}) == {
        "_id": mongo,
        "floor": 6,
        "expiry_floors": {past: 8},
    }
    assert (await backend.put(Record("gone", "k", 1))).version == 9


class BeforeUpdateOf(monitoring.CommandListener):
    """Once armed, runs ``action`` (blocking) right before the next ``update`` of the
    collection ``name`` reaches the server: another writer getting in between a read and the
    update made from it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.action: Any = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update" and event.command.get("update") == self.name:
            action, self.action = self.action, None
            if action is not None:
                action()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_migrate_reads_again_a_floor_raised_between_its_read_and_its_update(
    mongodb_uri: str, prefix: str
) -> None:
    """A process of the earlier release raises ``f`` and ``e`` after ``migrate`` read the
    floor and before its update: the update (filtered on what it read) changes nothing, the
    floor is read again, and what was raised is folded in, not lost."""
    from satchel_mongodb.migrate import migrate

    listener = BeforeUpdateOf(prefix + "%floors")
    monitoring.register(listener)
    backend = make(mongodb_uri, prefix)
    sync: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        mongo = backend.mongo_name("raced")
        floors = sync["satchel_versions"][backend.floors_name]
        past = started_entry(100)
        floors.insert_one({"_id": mongo, "f": 3, "e": {past: 4}})

        def earlier_process() -> None:
            floors.update_one({"_id": mongo}, {"$max": {"f": 30, f"e.{past}": 40}})

        listener.action = earlier_process
        assert await migrate(backend, "raced") == 1
        assert listener.action is None, "the update was never seen"
        assert floors.find_one({"_id": mongo}) == {
            "_id": mongo,
            "floor": 30,
            "expiry_floors": {past: 40},
        }
        assert (await backend.put(Record("raced", "k", 1))).version == 41
    finally:
        listener.action = None
        sync.close()
        for name in await backend.collections():
            await backend.drop(name)
        await backend.close()


async def test_writers_of_the_earlier_names_beside_this_release_never_reuse_a_version(
    backend: MongoBackend, other: MongoBackend, raw_db: Any
) -> None:
    """During a rolling upgrade a process of the earlier release raises ``f`` and ``e``
    (``$max``) while this release's processes create and delete keys and ``migrate`` folds the
    earlier names in: every key created after a raise was acknowledged starts above it, and
    the folded document holds the greatest of everything raised."""
    from satchel_mongodb.migrate import migrate

    await backend.put(Record("mixed", "seed", 1))
    mongo = backend.mongo_name("mixed")
    floors = raw_db[backend.floors_name]
    raised: list[int] = [0]
    done = asyncio.Event()

    async def earlier_process() -> None:
        for i in range(1, 41):
            version = 10 * i
            if i % 2:
                update = {"$max": {"f": version}}
            else:
                update = {"$max": {f"e.{started_entry(100 + i * 10)}": version}}
            await floors.update_one({"_id": mongo}, update, upsert=True)
            raised.append(version)
            await asyncio.sleep(0)
        done.set()

    async def this_release(writer: MongoBackend, name: str) -> None:
        n = 0
        while not done.is_set():
            before = max(raised)
            stored = await writer.put(Record("mixed", f"{name}{n}", n), if_absent=True)
            assert stored.version > before, (stored.version, before)
            if n % 3 == 0:
                assert await writer.delete("mixed", f"{name}{n}")
            n += 1

    async def migrating() -> None:
        while not done.is_set():
            await migrate(other, "mixed")
            await asyncio.sleep(0)

    await asyncio.gather(
        earlier_process(), this_release(backend, "a"), this_release(other, "b"), migrating()
    )
    await migrate(backend)
    doc = await floors.find_one({"_id": mongo})
    assert doc is not None and "f" not in doc and "e" not in doc
    assert max([doc.get("floor", 0), *doc.get("expiry_floors", {}).values()]) >= 400
    assert (await backend.put(Record("mixed", "last", 1), if_absent=True)).version > 400


# -- the catalog of long names ------------------------------------------------------------------


@pytest.mark.parametrize("write", ["put", "create", "put_many", "log_append"])
async def test_a_long_name_dropped_by_another_process_is_named_again_by_a_writer(
    backend: MongoBackend, other: MongoBackend, raw_db: Any, write: str
) -> None:
    """``other`` wrote to a long-named collection (it named it in the catalog and made its
    indexes); ``backend`` drops it, which removes its catalog document; ``other`` writes
    again: the collection is listed, purged and indexed as before."""
    from datetime import timedelta

    from satchel.backend import utcnow

    name = "L" * 300  # too long for MongoDB: stored under a digest, named in the catalog
    await other.put(Record(name, "first", 1))
    await other.log_append(name, "first-log", ["x"])
    mongo = other.mongo_name(name)
    assert "%~" in mongo
    assert await backend.drop(name) == 2
    assert await raw_db[backend.floors_name].find_one({"_id": "%name:" + mongo}) is None
    expired = utcnow() - timedelta(seconds=5)
    if write == "put":
        await other.put(Record(name, "k", 1, expires_at=expired))
    elif write == "create":
        await other.put(Record(name, "k", 1, expires_at=expired), if_absent=True)
    elif write == "put_many":
        await other.put_many([Record(name, "k", 1, expires_at=expired)])
    else:
        await other.log_append(name, "k", ["x"], expires_at=expired)
    assert await raw_db[backend.floors_name].find_one({"_id": "%name:" + mongo}) == {
        "_id": "%name:" + mongo,
        "name": name,
    }
    assert name in [n for n, _ in await backend.mongo_collections()]
    await other.put(Record(name, "live", 1))  # its next use makes its indexes again
    indexes = await raw_db[mongo].index_information()
    assert {"satchel_index_entries", "satchel_ttl"} <= set(indexes)
    assert name in await backend.collections()
    assert await backend.purge_expired() >= 1  # the expired record (or log) found and purged
    assert await backend.get(name, "live") is not None
