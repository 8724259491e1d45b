"""The stored form: natural documents a MongoDB user can query, index and aggregate; what
the server narrows and the client refines; records stored in the earlier form."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring

from satchel.backend import Record, utcnow
from satchel.query import Query, evaluate, matches
from satchel_mongodb import MongoBackend
from satchel_mongodb.migrate import LegacyForm, migrate

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Filters(monitoring.CommandListener):
    """The ``find`` and ``count`` commands sent by clients built after registration."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "aggregate", "count"):
            self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


FILTERS = Filters()
monitoring.register(FILTERS)


@pytest.fixture
async def raw(mongodb_uri: str) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        yield client["satchel_own"]  # the database of conftest.backend
    finally:
        await client.close()


VALUE = {"user": {"name": "ann", "tags": ["x", "y"]}, "seen": "2026-01-02T03:04:05Z", "n": 3}


async def test_a_record_is_a_natural_document(backend: MongoBackend, raw: Any) -> None:
    expires = datetime(2030, 1, 1, tzinfo=timezone.utc)
    stored = await backend.put(
        Record("people", "ann", VALUE, expires_at=expires, index={"by_name": ["ann"]})
    )
    coll = raw[backend.mongo_name("people")]
    doc = await coll.find_one({"_id": "ann"})
    assert doc is not None
    assert doc["value"] == VALUE
    assert list(doc["value"]) == ["user", "seen", "n"], "keys keep their order"
    assert doc["instants"] == [1767323045000000], "the instant of the datetime string"
    assert (doc["version"], doc["created"], doc["updated"], doc["expires"]) == (
        1,
        stored.created_at,
        stored.updated_at,
        expires,
    )
    assert doc["index_entries"] == ["7:by_nameann"]
    assert "v" not in doc and "d" not in doc
    # what a MongoDB user does with satchel's data, unchanged
    assert [d["_id"] async for d in coll.find({"value.user.name": "ann"})] == ["ann"]
    assert [d["_id"] async for d in coll.find({"value.user.tags": "y"})] == ["ann"]
    await coll.create_index("value.user.name")
    await backend.put(Record("people", "bob", {"user": {"name": "bob"}, "n": 4}))
    cursor = await coll.aggregate(
        [
            {"$match": {"seq": {"$exists": False}}},
            {"$group": {"_id": None, "n": {"$sum": "$value.n"}}},
        ]
    )
    assert [d["n"] for d in await cursor.to_list(None)] == [7]
    # the index entries, as docs/mongodb.md reads them
    await backend.put(Record("people", "al", {"n": 1}, index={"by_name": ["ann", "al"]}))
    by_entry = coll.find({"index_entries": "7:by_nameann"}).sort({"_id": 1})
    assert [d["_id"] async for d in by_entry] == ["al", "ann"]
    cursor = await coll.aggregate(
        [
            {"$match": {"seq": {"$exists": False}, "index_entries": {"$regex": "^7:by_name"}}},
            {"$unwind": "$index_entries"},
            {"$match": {"index_entries": {"$regex": "^7:by_name"}}},
            {"$group": {"_id": {"$substrCP": ["$index_entries", 9, 1000]}, "records": {"$sum": 1}}},
        ]
    )
    per_name = {d["_id"]: d["records"] for d in await cursor.to_list(None)}
    assert per_name == {"ann": 2, "al": 1}
    got = await backend.get("people", "ann")
    assert got is not None
    assert got.value == VALUE


async def test_a_refined_query_narrows_its_candidates_on_the_server(
    backend: MongoBackend,
) -> None:
    records = [
        await backend.put(Record("narrow", f"k{i}", {"tags": [f"u{i % 10}", "x"], "i": i}))
        for i in range(40)
    ]
    FILTERS.sent.clear()
    # equality with a list: MongoDB compares arrays otherwise (objects in key order), so
    # the server selects candidates and the client decides
    query = Query.build(where=[("tags", "eq", ["u3", "x"])], order_by="-i", limit=3)
    page = await backend.query("narrow", query)
    assert [r.key for r in page] == [r.key for r in evaluate(records, query)[0]]
    assert [r.key for r in page] == ["k33", "k23", "k13"]
    sent = [c for c in FILTERS.sent if c.get("find") == backend.mongo_name("narrow")]
    assert len(sent) == 1
    assert "value.tags.0" in str(sent[0]["filter"]), "the server narrows the candidates"


async def test_ordering_by_a_value_path_runs_on_the_server_when_it_is_exact(
    backend: MongoBackend,
) -> None:
    records = [
        await backend.put(Record("sorted", f"k{i:02}", {"g": i % 3, "i": i})) for i in range(30)
    ]
    query = Query.build(where=[("g", "eq", 1)], order_by="-i", limit=3)
    FILTERS.sent.clear()
    page = await backend.query("sorted", query)
    assert [r.key for r in page] == [r.key for r in evaluate(records, query)[0]]
    sent = [c for c in FILTERS.sent if c.get("find") == backend.mongo_name("sorted")]
    # a check that no candidate holds an array on the path "i", and (at once) the page
    # itself, sorted and limited on the server
    assert sorted(c.get("limit") for c in sent) == [1, 4]
    page_find = next(c for c in sent if c.get("limit") == 4)
    assert dict(page_find["sort"]) == {"value.i": -1, "_id": 1}
    # candidates holding an object, an array, or a list on the way at "i": ordered by the
    # client, as satchel orders them
    records.append(await backend.put(Record("sorted", "obj", {"g": 1, "i": {"a": 1}})))
    records.append(await backend.put(Record("sorted", "arr", {"g": 1, "i": [100]})))
    records.append(await backend.put(Record("sorted", "big", {"g": 1, "i": 2**70})))
    walked: list[str] = []
    cursor = None
    while True:
        page = await backend.query(
            "sorted", Query.build(where=[("g", "eq", 1)], order_by="-i", limit=3, cursor=cursor)
        )
        walked += [r.key for r in page]
        cursor = page.next_cursor
        if cursor is None:
            break
    everything = Query.build(where=[("g", "eq", 1)], order_by="-i")
    assert walked == [r.key for r in evaluate(records, everything)[0]]
    assert walked[:3] == ["arr", "obj", "big"], "lists, then objects, after numbers"


async def test_records_in_the_earlier_form_are_refused_until_migrated(
    backend: MongoBackend, raw: Any
) -> None:
    await backend.put(Record("old", "new", {"a": 1}))
    entries = await backend.log_append("old", "log", [{"a.b": [1]}])
    coll = raw[backend.mongo_name("old")]
    # what the earlier release stored: the shadow form under "v", datetimes under "d", the
    # metadata under ver, ca, ua, exp (records, log heads and log entries alike)
    shadow = {"n": 3, "o": {"a%2Eb": {"l": [1, "2026-01-02"]}, "%24x": {"n": 0, "o": {}}, "a": 2}}
    await coll.insert_one(
        {
            "_id": "old",
            "v": shadow,
            "d": {"o": {"a%2Eb": {"l": {"1": 1767312000000000}, "e": [1767312000000000]}}},
            "ver": 1,
            "ca": NOW,
            "ua": NOW,
            "exp": None,
            "w": "earlier",
        }
    )
    earlier = {"version": "ver", "created": "ca", "updated": "ua", "expires": "exp"}
    await coll.update_many({"_id": {"$ne": "old"}}, {"$rename": earlier})
    await coll.update_one(
        {"log": "log", "seq": entries[0].seq},
        {"$set": {"v": {"n": 1, "o": {"a%2Eb": {"l": [1]}}}}, "$unset": {"value": ""}},
    )
    await coll.update_one({"_id": "new"}, {"$set": {"v": 1}, "$unset": {"value": ""}})
    fresh = MongoBackend.from_uri(
        backend.settings.uri.get_secret_value(),
        database=backend.settings.database,
        collection_prefix=backend.settings.collection_prefix,
    )
    try:
        for attempt in (
            fresh.query("old", Query.build(where=[("a", "eq", 2)])),
            fresh.count("old", Query.build(where=[("a", "eq", 2)]).where),
            fresh.get("old", "old"),
            fresh.put(Record("old", "other", 1)),
            fresh.log_range("old", "log"),
        ):
            with pytest.raises(LegacyForm, match="migrate"):
                await attempt
        assert await migrate(fresh) == 4  # two records, a log's head and its entry
        got = await fresh.get("old", "old")
        assert got is not None
        assert (got.version, got.created_at) == (1, NOW)
        got = await fresh.get("old", "new")
        assert got is not None
        assert (got.value, got.version) == (1, 1)
        got = await fresh.get("old", "old")
        assert got is not None
        assert got.value == {"a.b": [1, "2026-01-02"], "$x": {}, "a": 2}
        found = await fresh.query("old", Query.build(where=[("a", "eq", 2)]))
        assert [r.key for r in found] == ["old"]
        assert await fresh.count("old", Query.build(where=[(("a.b",), "contains", 1)]).where) == 1
        assert [e.value for e in await fresh.log_range("old", "log")] == [{"a.b": [1]}]
        doc = await coll.find_one({"_id": "old"})
        assert doc is not None
        assert doc["value"] == {"%a%2Eb": [1, "2026-01-02"], "%%24x": {}, "a": 2}
        assert "v" not in doc and "d" not in doc and doc["instants"] == [1767312000000000]
        assert "ver" not in doc and doc["version"] == 1 and doc["expires"] is None
        await fresh.log_append("old", "log", [2])
        assert [e.value for e in await fresh.log_range("old", "log")] == [{"a.b": [1]}, 2]
        assert await migrate(fresh) == 0
    finally:
        await fresh.close()


async def test_documents_with_short_metadata_names_are_refused_until_migrated(
    backend: MongoBackend, raw: Any
) -> None:
    """The first release of natural documents named the metadata briefly (``ix``, ``ixe``,
    ``kd``, ``w``; a log head's ``lo``, ``n``, ``cut``, ``inc``, ``ee``, ``w``, ``cw``; an
    entry's ``at``) under the index ``satchel_index``: refused until ``migrate`` renames
    them, then read as they were."""
    moment = "2026-01-02T03:04:05Z"  # a key that reads as a datetime: its instant was "kd"
    await backend.put(Record("short", "ann", {"n": 1}, index={"tag": ["x"], "none": []}))
    await backend.put(Record("short", moment, {"n": 2}))
    await backend.log_append("short", "chat", ["hi", {"a": 1}])
    coll = raw[backend.mongo_name("short")]
    records = {"index_entries": "ix", "empty_indexes": "ixe", "key_instant": "kd", "write_id": "w"}
    await coll.update_many({"seq": {"$exists": False}}, {"$rename": records})
    head = {
        "bottom": "lo",
        "length": "n",
        "cuts": "cut",
        "incarnation": "inc",
        "entries_expire": "ee",
        "write_id": "w",
        "cut_write_ids": "cw",
    }
    await coll.update_many({"seq": 0}, {"$rename": head})
    await coll.update_many({"seq": {"$gte": 1}}, {"$rename": {"appended": "at"}})
    # a writer's claim on a key, left by a process that died
    claim = {"version": 0, "created": NOW, "updated": NOW, "expires": EPOCH, "w": "gone-1"}
    await coll.insert_one({"_id": "claimed", **claim})
    await coll.drop_index("satchel_index_entries")
    await coll.create_index([("ix", 1), ("_id", 1)], name="satchel_index")
    doc = await coll.find_one({"_id": "ann"})
    assert doc is not None and doc["ix"] == ["3:tagx"] and doc["ixe"] == ["none"]
    fresh = MongoBackend.from_uri(
        backend.settings.uri.get_secret_value(),
        database=backend.settings.database,
        collection_prefix=backend.settings.collection_prefix,
    )
    try:
        for attempt in (
            fresh.query("short", Query.build(where=[("n", "eq", 1)])),
            fresh.count("short", Query.build(where=[("n", "eq", 1)]).where),
            fresh.find("short", "tag", "x"),
            fresh.get("short", "ann"),
            fresh.get_many("short", [moment]),
            fresh.put(Record("short", "other", 1)),
            fresh.put_many([Record("short", "other", 1)]),
            fresh.log_range("short", "chat"),
            fresh.log_length("short", "chat"),
            fresh.log_append("short", "chat", ["more"]),
        ):
            with pytest.raises(LegacyForm, match="migrate"):
                await attempt
        with pytest.raises(LegacyForm):
            _ = [key async for key in fresh.log_keys("short")]
        # two records, the claim, the log's head and its two entries
        assert await migrate(fresh) == 6
        indexes = {i["name"] async for i in await coll.list_indexes()}
        assert "satchel_index" not in indexes
        got = await fresh.get("short", "ann")
        assert got is not None
        assert (got.value, got.version, got.index) == ({"n": 1}, 1, {"tag": ("x",), "none": ()})
        assert [r.key for r in await fresh.find("short", "tag", "x")] == ["ann"]
        found = await fresh.query("short", Query.build(where=[("key", "eq", NOW)]))
        assert [r.key for r in found] == [moment]
        assert await fresh.count("short", Query.build(where=[("n", "gte", 1)]).where) == 2
        assert [e.value for e in await fresh.log_range("short", "chat")] == ["hi", {"a": 1}]
        assert await fresh.log_length("short", "chat") == 2
        assert [key async for key in fresh.log_keys("short")] == ["chat"]
        doc = await coll.find_one({"_id": "ann"})
        assert doc is not None
        assert (doc["index_entries"], doc["empty_indexes"]) == (["3:tagx"], ["none"])
        assert not {"ix", "ixe", "w"} & set(doc) and isinstance(doc["write_id"], str)
        doc = await coll.find_one({"_id": moment})
        assert doc is not None and doc["key_instant"] == 1767323045000000 and "kd" not in doc
        doc = await coll.find_one({"_id": "claimed"})
        assert doc is not None and doc["write_id"] == "gone-1" and "w" not in doc
        doc = await coll.find_one({"_id": "chat"})
        assert doc is not None
        assert (doc["bottom"], doc["top"], doc["length"], doc["cuts"]) == (1, 2, 2, 0)
        assert not set(head.values()) & set(doc)
        entries = await coll.find({"seq": {"$gte": 1}}).to_list(None)
        assert all(isinstance(e["appended"], datetime) and "at" not in e for e in entries)
        # and they are written as any other
        assert (await fresh.put(Record("short", "ann", {"n": 3}))).version == 2
        assert (await fresh.put(Record("short", "claimed", 1), if_absent=True)).version >= 1
        assert [e.seq for e in await fresh.log_append("short", "chat", ["more"])] == [3]
        assert await fresh.log_pop("short", "chat", 1) != []
        indexes = {i["name"] async for i in await coll.list_indexes()}
        assert "satchel_index_entries" in indexes and "satchel_index" not in indexes
        assert await migrate(fresh) == 0
        assert await migrate(fresh, "never-written") == 0
    finally:
        await fresh.close()


async def test_a_refined_count_fetches_only_what_its_conditions_read(
    backend: MongoBackend,
) -> None:
    records = [
        await backend.put(
            Record("counted", f"k{i}", {"tags": [f"u{i % 3}", "x"], "pad": "p" * 500, "i": i})
        )
        for i in range(12)
    ]
    records.append(await backend.put(Record("counted", "scalar", 5)))
    records.append(await backend.put(Record("counted", "list", [{"tags": ["u1", "x"]}])))
    name = backend.mongo_name("counted")
    for where, expected in (
        ([("tags", "eq", ["u1", "x"])], 4),  # a list: refined
        ([("tags", "neq", ["u1", "x"])], 10),  # a missing field and a list value too
        ([("tags", "eq", ["u1", "x"]), ("i", "gt", 3)], 3),
    ):
        conditions = Query.build(where=where).where
        FILTERS.sent.clear()
        assert await backend.count("counted", conditions) == expected
        assert expected == sum(1 for r in records if matches(r, conditions))
        [sent] = [c for c in FILTERS.sent if c.get("find") == name]
        fields = set(sent["projection"])
        assert {"value.tags", "version", "created", "updated", "expires"} <= fields
        assert not {"value", "value.pad", "instants", "index_entries"} & fields
    # a condition on the value itself reads the whole value, and still nothing else of it
    conditions = Query.build(where=[("value", "eq", [{"tags": ["u1", "x"]}])]).where
    FILTERS.sent.clear()
    assert await backend.count("counted", conditions) == 1
    [sent] = [c for c in FILTERS.sent if c.get("find") == name]
    assert "value" in sent["projection"] and "instants" not in sent["projection"]


async def test_dropping_a_long_named_collection_removes_its_name_from_the_catalog(
    backend: MongoBackend, raw: Any
) -> None:
    name = "L" * 300  # too long for MongoDB: stored under a digest, named in the catalog
    await backend.put(Record(name, "k", 1))
    mongo = backend.mongo_name(name)
    assert "%~" in mongo
    floors = raw[backend.settings.collection_prefix + "%floors"]
    assert await floors.find_one({"_id": "%name:" + mongo}) == {
        "_id": "%name:" + mongo,
        "name": name,
    }
    assert name in await backend.collections()
    assert await backend.drop(name) == 1
    assert await floors.find_one({"_id": "%name:" + mongo}) is None
    assert name not in await backend.collections()
    assert name not in [n for n, _ in await backend.mongo_collections()]
    await backend.put(Record(name, "k", 2))  # written again: named again
    assert await floors.find_one({"_id": "%name:" + mongo}) is not None
    assert name in await backend.collections()


async def test_the_stored_value_round_trips_hostile_and_big_values(backend: MongoBackend) -> None:
    value = {
        "%": 1,
        "%%": {"": [{"$": None, ".": 2**64, "\x00": -(2**70)}]},
        "ok": utcnow().isoformat(),
    }
    await backend.put(Record("trip", "k", value))
    got = await backend.get("trip", "k")
    assert got is not None
    assert got.value == value
    assert list(got.value) == list(value)


@pytest.mark.parametrize(
    "value",
    [
        {"user": {"name": "ann", "tags": ["x", ["y", "z"]]}, "n": 3},
        {"%": 1, "a.b": {"$c": [{"": 2**64}]}, "d": ["e", {"f": None}]},
    ],
    ids=["plain", "escaped keys and a big integer"],
)
async def test_a_put_returns_the_value_as_its_own_copy(backend: MongoBackend, value: Any) -> None:
    # the second put replaces the first in one write: the record it returns holds the copy
    # made while encoding (a plain value) or a copy made apart (a value stored otherwise)
    await backend.put(Record("copies", "k", copy.deepcopy(value)))
    given = copy.deepcopy(value)
    stored = await backend.put(Record("copies", "k", given))
    assert stored.version == 2
    assert stored.value == value
    assert list(stored.value) == list(value)
    for name in list(given):
        if isinstance(given[name], dict):
            given[name].clear()
        elif isinstance(given[name], list):
            given[name].append("more")
    given["new"] = True
    assert stored.value == value
    got = await backend.get("copies", "k")
    assert got is not None
    assert got.value == value


async def test_an_exact_query_is_filtered_sorted_and_limited_on_the_server(
    backend: MongoBackend,
) -> None:
    """An exact query is one ``find`` with its sort and limit, first by a cheaper filter
    without the array guards, the liveness and the test for log documents: its page stands
    when every document on it is a live record that matches, else the exact filter is sent.
    Either way the page is the reference's."""
    records = [
        await backend.put(Record("exact", f"k{i:02}", {"user": {"name": f"u{i % 10}"}, "i": i}))
        for i in range(40)
    ]
    records.append(await backend.put(Record("exact", "x-list", {"user": {"name": ["u3"]}})))
    records.append(await backend.put(Record("exact", "y-deep", {"user": [{"name": "u3"}]})))
    await backend.put(Record("exact", "z-gone", {"user": {"name": "u3"}}, expires_at=EPOCH))

    async def finds(order_by: str) -> tuple[list[str], list[dict[str, Any]]]:
        FILTERS.sent.clear()
        query = Query.build(where=[("user.name", "eq", "u3")], order_by=order_by, limit=2)
        page = await backend.query("exact", query)
        assert [r.key for r in page] == [r.key for r in evaluate(records, query)[0]]
        sent = [c for c in FILTERS.sent if c.get("find") == backend.mongo_name("exact")]
        for command in sent:
            assert command["limit"] == 3, "one more than the page, to know whether another follows"
            assert dict(command["sort"]) == {"_id": 1 if order_by == "key" else -1}
        return [r.key for r in page], sent

    # ascending, the page (and the one after it) holds only live records that match: the
    # cheap filter alone
    keys, sent = await finds("key")
    assert keys == ["k03", "k13"]
    assert len(sent) == 1
    assert sent[0]["filter"] == {"value.user.name": "u3"}
    # descending, the cheap filter's page holds records with a list on the way: the exact
    # filter, with its guards (no step of the path, nor the value there, is an array)
    keys, sent = await finds("-key")
    assert keys == ["k33", "k23"]
    assert len(sent) == 2
    assert sent[0]["filter"] == {"value.user.name": "u3"}
    assert "value.user" in str(sent[1]["filter"]) and "$not" in str(sent[1]["filter"])
    assert "expires" in sent[1]["filter"] and "seq" in sent[1]["filter"]
    everything = Query.build(where=[("user.name", "eq", "u3")])
    assert await backend.count("exact", everything.where) == 4


async def test_a_large_page_an_offset_or_a_projection_sends_the_exact_filter_at_once(
    backend: MongoBackend,
) -> None:
    """The cheaper filter's page is checked on the client; a page it cannot check whole
    (an offset skips documents unseen, a projection leaves fields out) or one too large to
    fetch twice is asked for with the exact filter alone."""
    from satchel_mongodb.backend import LIGHT_LIMIT

    await backend.put(Record("once", "k", {"s": "x"}))
    where = [("s", "eq", "x")]
    for build in (
        {"limit": LIGHT_LIMIT + 1},
        {"limit": 5, "offset": 1},
        {"limit": 5, "select": ["s"]},
        {},
    ):
        FILTERS.sent.clear()
        await backend.query("once", Query.build(where=where, **build))  # type: ignore[arg-type]
        sent = [c for c in FILTERS.sent if c.get("find") == backend.mongo_name("once")]
        assert len(sent) == 1, build
        assert "expires" in sent[0]["filter"] and "seq" in sent[0]["filter"], build
    FILTERS.sent.clear()
    await backend.query("once", Query.build(where=where, limit=LIGHT_LIMIT))
    sent = [c for c in FILTERS.sent if c.get("find") == backend.mongo_name("once")]
    assert [c["filter"] for c in sent] == [{"value.s": "x"}]


async def test_a_cheap_query_page_with_an_expired_record_or_a_log_document_is_asked_again(
    backend: MongoBackend,
) -> None:
    """An expired record, or a log's document in the same collection, on the cheap filter's
    page sends the exact filter: neither is ever returned."""
    await backend.put(Record("mixed", "b", {"s": "x"}))
    await backend.put(Record("mixed", "a", {"s": "x"}, expires_at=EPOCH))
    for key in ("b", "c"):
        await backend.log_append("mixed", "a-log", [{"s": "x"}])
        await backend.put(Record("mixed", key, {"s": "x"}))
    query = Query.build(where=[("s", "eq", "x")], limit=1)
    page = await backend.query("mixed", query)
    assert [r.key for r in page] == ["b"]
    assert page.next_cursor is not None
    rest = await backend.query("mixed", Query.build(where=[("s", "eq", "x")], limit=5))
    assert [r.key for r in rest] == ["b", "c"]


async def test_paging_through_objects_and_booleans_agrees_with_the_reference(
    backend: MongoBackend,
) -> None:
    """A cursor positioned on an object (which satchel ties with every object) continues
    with the other objects, then the booleans, whichever side runs the next page."""
    values = {
        "n1": 1,
        "n2": 2,
        "n3": 3,
        "o1": {"z": 1},
        "o2": {"a": 1},
        "o3": {"m": 2},
        "t1": True,
        "t2": False,
        "s1": "text",
    }
    records = [
        await backend.put(Record("paged", key, {"g": 1, "i": value}))
        for key, value in values.items()
    ]
    for order in ("i", "-i"):
        for size in (1, 2, 4):
            walked: list[str] = []
            cursor = None
            while True:
                query = Query.build(
                    where=[("g", "eq", 1)], order_by=order, limit=size, cursor=cursor
                )
                page = await backend.query("paged", query)
                walked += [r.key for r in page]
                cursor = page.next_cursor
                if cursor is None:
                    break
            everything = Query.build(where=[("g", "eq", 1)], order_by=order)
            assert walked == [r.key for r in evaluate(records, everything)[0]], (order, size)


def _types(value: Any) -> set[type]:
    if isinstance(value, dict):
        return {dict}.union(*(_types(v) for v in value.values()))
    if isinstance(value, list):
        return {list}.union(*(_types(v) for v in value))
    return {type(value)}


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, "s", None, True, {"b": [[], {}]}]},
        [{"x": 2**40}, {"y": [2**62, -(2**63)]}],  # 64-bit integers: the driver's Int64
        {"deep": [{"deeper": {"%esc": 1}}]},  # one escaped key, far down
        {"deep": [{"deeper": [1, {"k": 10**30}]}]},  # one Decimal128, far down
        {"a.b": 1, "$c": {"": 2}},
    ],
    ids=["plain", "int64", "escaped key deep", "decimal128 deep", "escaped keys"],
)
def test_a_stored_value_decodes_to_its_json_value_with_plain_python_types(value: Any) -> None:
    """What the driver decodes from a stored value (Int64, Decimal128, escaped keys,
    wherever they are) comes back as the JSON value with plain ``int``s and its own keys."""
    import bson
    from bson.codec_options import CodecOptions

    from satchel_mongodb.codec import decode, encode

    stored, _ = encode(value)
    read = bson.decode(bson.encode({"v": stored}), CodecOptions(tz_aware=True))["v"]
    got = decode(read)
    assert got == value
    assert _types(got) <= {dict, list, int, float, str, bool, type(None)}
    assert json_text(got) == json_text(value)


def json_text(value: Any) -> str:
    import json

    return json.dumps(value)


@pytest.mark.parametrize(
    "foreign",
    [NOW, b"bytes", ObjectId()],
    ids=["date", "binary", "objectid"],
)
def test_a_value_holding_what_json_has_not_is_refused_wherever_it_is(foreign: Any) -> None:
    """A value another client wrote with a BSON type JSON has not (a date, binary data, an
    ObjectId), deep inside an otherwise plain value, is not a satchel value."""
    from satchel_mongodb.codec import decode

    with pytest.raises(ValueError):
        decode({"a": [1, {"b": ["x", foreign]}]})
    with pytest.raises(ValueError):
        decode([{"c": foreign}])
