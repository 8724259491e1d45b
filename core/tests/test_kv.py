"""KVStore: namespaced values, TTL, batches, queries, and bad input refused whole."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import pytest

import satchel
from satchel import AlreadyExists, Conflict, InvalidArgument, InvalidQuery, NotFound
from satchel.stores import KVStore


@pytest.fixture
def kv(store: satchel.Satchel) -> KVStore:
    return store.kv("agent-state")


async def test_set_get_delete_exists(kv: KVStore) -> None:
    assert await kv.get("a") is None
    assert await kv.get("a", default=0) == 0
    assert await kv.set("a", {"step": 1}) == 1
    assert await kv.set("a", {"step": 2}) == 2
    assert await kv.get("a") == {"step": 2}
    assert await kv.exists("a")
    assert await kv.delete("a") is True
    assert await kv.delete("a") is False
    assert not await kv.exists("a")


async def test_any_json_value(kv: KVStore) -> None:
    values = [0, -1.5, "text", True, None, [1, [2]], {"$set": 1, "a.b": {"c": None}}, "é☃🦀"]
    for i, value in enumerate(values):
        await kv.set(f"k{i}", value)
    for i, value in enumerate(values):
        assert await kv.get(f"k{i}") == value
    await kv.set("t", (1, 2))
    assert await kv.get("t") == [1, 2]  # tuples come back as lists


async def test_conditional_sets(kv: KVStore) -> None:
    assert await kv.set("a", 1, if_absent=True) == 1
    with pytest.raises(AlreadyExists):
        await kv.set("a", 2, if_absent=True)
    with pytest.raises(Conflict):
        await kv.set("a", 2, expected_version=5)
    assert await kv.set("a", 2, expected_version=1) == 2
    with pytest.raises(NotFound):
        await kv.set("b", 1, expected_version=1)
    with pytest.raises(Conflict):
        await kv.delete("a", expected_version=1)
    entry = await kv.get_entry("a")
    assert entry is not None and entry.value == 2 and entry.version == 2
    assert entry.created_at is not None and entry.updated_at is not None
    assert entry.created_at <= entry.updated_at
    assert await kv.get_entry("zzz") is None


async def test_ttl(store: satchel.Satchel, kv: KVStore) -> None:
    await kv.set("short", 1, ttl=0.05)
    await kv.set("td", 1, ttl=timedelta(milliseconds=50))
    await kv.set("long", 1, ttl=60)
    entry = await kv.get_entry("long")
    assert entry is not None and entry.expires_at is not None
    await asyncio.sleep(0.1)
    assert await kv.get("short") is None
    assert await kv.keys() == ["long"]
    assert await kv.count() == 1
    defaulted = store.kv("ns", ttl=0.05)
    await defaulted.set("x", 1)
    await defaulted.set("forever", 1, ttl=None)
    await asyncio.sleep(0.1)
    assert await defaulted.keys() == ["forever"]


async def test_keys_with_glob_patterns(kv: KVStore) -> None:
    for key in ["a*", "ab", "a?", "a[1]", "b:c", "user:1", "user:2", "üser"]:
        await kv.set(key, 1)
    assert await kv.keys("user:*") == ["user:1", "user:2"]
    assert await kv.keys(satchel.escape_glob("a*")) == ["a*"]
    assert await kv.keys(satchel.escape_glob("a[1]")) == ["a[1]"]
    assert await kv.keys("a?") == ["a*", "a?", "ab"]
    assert await kv.keys("[^a]*") == ["b:c", "user:1", "user:2", "üser"]
    assert len(await kv.keys()) == 8
    with pytest.raises(InvalidQuery, match="pattern"):
        await kv.keys("a[")
    with pytest.raises(InvalidArgument, match="pattern"):
        await kv.keys(None)  # type: ignore[arg-type]


async def test_entries_streams_everything_in_key_order(kv: KVStore) -> None:
    await kv.set_many({f"k{i:03}": i for i in range(25)})
    seen = [item async for item in kv.entries(batch_size=7)]
    assert seen == [(f"k{i:03}", i) for i in range(25)]
    with pytest.raises(InvalidArgument, match="batch_size"):
        [x async for x in kv.entries(batch_size=0)]


async def test_get_many_and_set_many(kv: KVStore) -> None:
    assert await kv.set_many({"a": 1, "b": [2], "c": {"x": 3}}) == [1, 1, 1]
    assert await kv.get_many(["c", "missing", "a", "a"]) == {"c": {"x": 3}, "a": 1}
    assert await kv.get_many([]) == {}
    assert await kv.set_many({}) == []


async def test_set_many_with_one_bad_value_writes_nothing(kv: KVStore) -> None:
    with pytest.raises(InvalidArgument, match=r"items\['b'\]"):
        await kv.set_many({"a": 1, "b": {1, 2}, "c": 3})
    with pytest.raises(InvalidArgument, match="items key"):
        await kv.set_many({"a": 1, "": 2})
    assert await kv.keys() == []


async def test_query_count_clear(store: satchel.Satchel, kv: KVStore) -> None:
    await kv.set_many(
        {f"u{i}": {"age": i * 10, "tier": "pro" if i % 2 else "free"} for i in range(6)}
    )
    page = await kv.query([("age", "gte", 20)], order_by="-age", select=["age"], limit=2)
    assert [(e.key, e.value) for e in page] == [("u5", {"age": 50}), ("u4", {"age": 40})]
    nxt = await kv.query(
        [("age", "gte", 20)], order_by="-age", select=["age"], limit=2, cursor=page.next_cursor
    )
    assert [e.key for e in nxt] == ["u3", "u2"]
    assert await kv.count({"tier": "pro"}) == 3
    assert await kv.count({"age": {"gt": 10, "lt": 40}}) == 2
    assert await kv.count() == 6
    other = store.kv("other")
    await other.set("x", 1)
    assert await store.namespaces() == ["agent-state", "other"]
    assert await kv.clear() == 6
    assert await kv.count() == 0
    assert await store.namespaces() == ["other"]


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda kv: kv.set("", 1), "key: must not be empty"),
        (lambda kv: kv.set(5, 1), "key: must be a string"),
        (lambda kv: kv.set("k", {1: "a"}), "object keys must be strings"),
        (lambda kv: kv.set("k", math.nan), "value: nan is not JSON"),
        (lambda kv: kv.set("k", {"when": object()}), r"value\['when'\]: object is not JSON"),
        (lambda kv: kv.set("k", b"bytes"), "value: bytes is not JSON"),
        (lambda kv: kv.set("\ud800", 1), "key: .* lone surrogate"),
        (lambda kv: kv.set("k", {"a": ["ok", "\udfff"]}), r"value\['a'\]\[1\]: .* lone surrogate"),
        (lambda kv: kv.set("k", {"\ud800": 1}), "value key: .* lone surrogate"),
        (lambda kv: kv.set("k", "\ud800"), "value: .* lone surrogate"),
        (lambda kv: kv.set("k", 1, ttl=-1), "ttl: must be a positive number"),
        (lambda kv: kv.set("k", 1, ttl=0), "ttl: must be a positive number"),
        (lambda kv: kv.set("k", 1, ttl="10"), "ttl: must be seconds"),
        (
            lambda kv: kv.set("k", 1, if_absent=True, expected_version=1),
            "if_absent and expected_version",
        ),
        (lambda kv: kv.set("k", 1, expected_version=0), "expected_version"),
        (lambda kv: kv.get(None), "key: must be a string"),
        (lambda kv: kv.get_many("abc"), "keys: must be a list"),
        (lambda kv: kv.get_many(["a", ""]), r"keys\[1\]: must not be empty"),
        (lambda kv: kv.set_many([("a", 1)]), "items: must be a mapping"),
        (lambda kv: kv.query(limit=-1), "limit: must be a whole number"),
        (lambda kv: kv.query(offset=-1), "offset: must be a whole number"),
        (lambda kv: kv.query([("a", "like", 1)]), "unknown operator 'like'"),
        (lambda kv: kv.query([("a", "in", 1)]), "'in' takes a list"),
        (lambda kv: kv.query([("", "eq", 1)]), "must not be empty"),
        (lambda kv: kv.query([("a", "eq", {1, 2})]), "set is not a JSON value"),
        (lambda kv: kv.query(order_by=[("a", "up")]), "direction"),
        (lambda kv: kv.query(select=["key"]), "select"),
        (lambda kv: kv.query(cursor="garbage"), "cursor"),
        (lambda kv: kv.query(cursor="x", offset=2), "offset: cannot be combined"),
        (lambda kv: kv.count([("a", "startswith", 1)]), "'startswith' takes a string"),
        (lambda kv: kv.count([("updated_at", "gt", "yesterday")]), "updated_at takes a datetime"),
    ],
)
async def test_bad_input_is_a_typed_error_naming_the_argument(kv: KVStore, call, argument) -> None:  # type: ignore[no-untyped-def]
    await kv.set("keep", "me")
    with pytest.raises(InvalidArgument, match=argument) as info:
        await call(kv)
    assert isinstance(info.value, satchel.SatchelError)
    assert str(info.value)
    assert await kv.keys() == ["keep"]
    assert await kv.get("keep") == "me"


def test_namespace_names(store: satchel.Satchel) -> None:
    with pytest.raises(InvalidArgument, match="namespace: must not contain NUL"):
        store.kv("a\x00b")
    with pytest.raises(InvalidArgument, match="namespace: must not be empty"):
        store.kv("")
    with pytest.raises(InvalidArgument, match="ttl"):
        store.kv("x", ttl=-3)
    assert store.kv("a:b*c").namespace == "a:b*c"


async def test_namespaces_are_isolated_whatever_their_names(store: satchel.Satchel) -> None:
    a, b = store.kv("a"), store.kv("a:kv:b")
    await a.set("kv:b", 1)
    assert await b.keys() == []
    assert await store.namespaces() == ["a"]


async def test_values_returned_are_copies(kv: KVStore) -> None:
    value = {"list": [1, 2], "nested": {"x": 1}}
    await kv.set("k", value)
    value["list"].append(3)
    got = await kv.get("k")
    assert got == {"list": [1, 2], "nested": {"x": 1}}
    got["nested"]["x"] = 99
    page = await kv.query()
    page.items[0].value["list"].clear()
    assert await kv.get("k") == {"list": [1, 2], "nested": {"x": 1}}


async def test_a_cursor_from_another_ordering_says_so(kv: KVStore) -> None:
    await kv.set_many({f"k{i}": {"n": i} for i in range(5)})
    page = await kv.query(order_by="n", limit=2)
    with pytest.raises(InvalidQuery, match="belongs to a query with other where/order_by"):
        await kv.query(limit=2, cursor=page.next_cursor)
    with pytest.raises(InvalidQuery, match="belongs to a query with other where/order_by"):
        await kv.query([("n", "gt", 0)], order_by="n", limit=2, cursor=page.next_cursor)


async def test_stored_datetime_strings_compare_as_instants(kv: KVStore) -> None:
    from datetime import datetime, timedelta, timezone

    await kv.set_many(
        {
            "zulu": {"due": "2024-05-01T12:00:00Z"},
            "offset": {"due": "2024-05-01T14:00:00.5+02:00"},  # 12:00:00.5 UTC
            "compact-offset": {"due": "2024-05-01 11:00:00-0100"},  # 12:00 UTC
            "date": {"due": "2024-05-01"},
            "not-iso": {"due": "May 1st"},
            "bad-month": {"due": "2024-13-01"},
        }
    )
    noon = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert await kv.keys() and sorted(e.key for e in await kv.query([("due", "eq", noon)])) == [
        "compact-offset",
        "zulu",
    ]
    assert sorted(e.key for e in await kv.query([("due", "gt", noon)])) == ["offset"]
    assert sorted(e.key for e in await kv.query([("due", "lt", noon)])) == ["date"]
    naive = datetime(2024, 5, 1, 12) + timedelta(milliseconds=500)
    assert [e.key for e in await kv.query([("due", "eq", naive)])] == ["offset"]
