"""Conditions on the key become a range of the ``_id`` index: ``startswith`` is
``$gte prefix, $lt successor(prefix)`` (no regular expression), joined with a key-order
cursor into one range; the answers agree with the memory reference at the edges of the
code-point order."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from satchel.backend import Record
from satchel.query import Condition, Query, evaluate
from satchel_mongodb import MongoBackend
from satchel_mongodb.translate import successor, where_filter


def test_the_successor_is_the_least_string_after_the_prefixed_ones() -> None:
    assert successor("t1:") == "t1;"
    assert successor("a\U0010ffff") == "b"
    assert successor("a\U0010ffff\U0010ffff") == "b"
    assert successor("\ud7ff") == "\ue000"  # surrogates are skipped
    assert successor("é") == "ê"
    assert successor("\U0010ffff") is None
    assert successor("") is None


def test_startswith_on_the_key_is_an_id_range() -> None:
    startswith = Condition.of("key", "startswith", "thread-1:")
    assert where_filter([startswith]) == {"_id": {"$gte": "thread-1:", "$lt": "thread-1;"}}
    # only U+10FFFF: no string bounds the range above; the regular expression does
    only_last = Condition.of("key", "startswith", "\U0010ffff")
    assert where_filter([only_last]) == {"_id": {"$gte": "\U0010ffff", "$regex": "^\U0010ffff"}}
    # a key bound joins the range; a repeated operator keeps both conditions
    below = Condition.of("key", "lte", "thread-1:5")
    assert where_filter([startswith, below]) == {
        "_id": {"$gte": "thread-1:", "$lt": "thread-1;", "$lte": "thread-1:5"}
    }
    again = Condition.of("key", "gte", "thread-1:2")
    assert where_filter([startswith, again]) == {
        "$and": [
            {"_id": {"$gte": "thread-1:", "$lt": "thread-1;"}},
            {"_id": {"$gte": "thread-1:2"}},
        ]
    }


class Finds(monitoring.CommandListener):
    """The filters of the ``find`` commands sent by clients built after registration."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.filters.append(dict(event.command["filter"]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def finds() -> Finds:
    listener = Finds()
    monitoring.register(listener)
    return listener


async def test_a_page_of_a_thread_is_read_with_one_id_range(
    finds: Finds, backend: MongoBackend
) -> None:
    await backend.put_many([Record("c", f"t{t}:{n}", {"n": n}) for t in range(3) for n in range(5)])
    query = Query.build([("key", "startswith", "t1:")], limit=2)
    finds.filters.clear()
    page = await backend.query("c", query)
    assert [r.key for r in page] == ["t1:0", "t1:1"]
    assert page.next_cursor is not None
    page = await backend.query("c", Query.build(query.where, limit=2, cursor=page.next_cursor))
    assert [r.key for r in page] == ["t1:2", "t1:3"]
    first, second = finds.filters
    assert first["_id"] == {"$gte": "t1:", "$lt": "t1;"}
    assert second["_id"] == {"$gte": "t1:", "$lt": "t1;", "$gt": "t1:1"}
    # no $and: plain fields; the cheaper filter first, and its pages held only live records
    assert set(first) == set(second) == {"_id"}


EDGE_KEYS = [
    "a",
    "a\x00",
    "a\x00b",
    "ab",
    "a\U0010ffff",
    "a\U0010ffffb",
    "b",
    "\ud7ff",
    "\ud7ffz",
    "\ue000",
    "é",
    "éa",
    "ê",
    "€",
    "😀",
    "😀x",
    "\U0010ffff",
    "\U0010ffffx",
]
PREFIXES = ["a", "a\x00", "a\U0010ffff", "\ud7ff", "é", "😀", "\U0010ffff", "€", "z"]


async def test_key_ranges_agree_with_the_reference_at_the_edges(backend: MongoBackend) -> None:
    keys = EDGE_KEYS
    stored = await backend.put_many([Record("edges", k, {"k": k}) for k in keys])
    for prefix in PREFIXES:
        for extra in ([], [("key", "gt", prefix + "\x00")], [("key", "lt", "é")]):
            where = [("key", "startswith", prefix), *extra]
            for limit in (None, 1, 2):
                query = Query.build(where, limit=limit)
                walked: list[str] = []
                while True:
                    page = await backend.query("edges", query)
                    walked += [r.key for r in page]
                    if page.next_cursor is None:
                        break
                    query = Query.build(where, limit=limit, cursor=page.next_cursor)
                expected = [r.key for r in evaluate(stored, Query.build(where))[0]]
                assert walked == expected, (prefix, extra, limit)
            assert await backend.count("edges", Query.build(where).where) == len(expected)


async def test_a_real_mongod_reads_a_thread_from_the_id_index(real_mongodb_uri: str) -> None:
    """The plan of a thread's page on a real mongod: an ``_id`` index scan bounded by the
    prefix and its successor (SecantusDB scans the collection for any ``_id`` range)."""
    backend = MongoBackend.from_uri(
        real_mongodb_uri, database="satchel_own", collection_prefix=f"t{uuid.uuid4().hex[:10]}."
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(real_mongodb_uri)
    try:
        await backend.put_many([Record("c", f"t{t}:{n}", n) for t in range(20) for n in range(20)])
        coll = client[backend.settings.database][backend._collection("c").name]
        condition = where_filter(Query.build([("key", "startswith", "t7:")]).where)
        plan = await coll.find(condition).sort("_id", 1).limit(2).explain()
        stats = plan["executionStats"]
        assert stats["nReturned"] == 2
        assert stats["totalKeysExamined"] <= 3
        assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])
    finally:
        for name in await backend.collections():
            await backend.drop(name)
        await backend.close()
        await client.close()
