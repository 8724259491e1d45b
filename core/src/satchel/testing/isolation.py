"""Rules about isolation: keys and collection names are opaque strings that never reach
another record, values are stored exactly as given, and what a backend returns is the
caller's own copy."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from satchel.backend import Backend, Record
from satchel.query import escape_glob, glob_match
from satchel.testing.fixtures import (
    ConformanceFixtures,
    all_keys,
    query_keys,
    rec,
    run_query,
)

__all__ = ["CollectionIsolationRules", "CopyRules", "KeyIsolationRules", "SPECIAL_KEYS"]

#: Keys that a backend building keys, patterns, paths or queries out of strings could
#: confuse with one another.
SPECIAL_KEYS: tuple[str, ...] = (
    "a",
    "ab",
    "abc",
    "b",
    "*",
    "a*",
    "a?",
    "?",
    "a[b]",
    "[a]",
    "a[",
    "a]",
    "a\\",
    "a\\*",
    "a:b",
    "a:",
    ":",
    "a$b",
    "$a",
    "$",
    "a.b",
    ".",
    "a\x00b",
    "a\x00",
    "\x00",
    "a b",
    "a\nb",
    "%",
    "'",
    '"',
    "a/b",
    "{a}",
    "ä",
    "\uff21",
    "日本",
    "🎒",
    "a🎒",
)

#: Glob patterns checked against :data:`SPECIAL_KEYS` (with the reference matcher's answer).
PATTERNS: tuple[str, ...] = (
    "*",
    "a*",
    "a\\*",
    "a?",
    "?",
    "a[b]",
    "a\\[b\\]",
    "[a-c]",
    "[a-c]*",
    "[^a]*",
    "[!a]",
    "*b",
    "*\\**",
    "*\\?*",
    "a\x00*",
    "*:*",
    "*.*",
    "$*",
    "*🎒",
    "??",
    "a\\\\",
    "[ä]",
)

#: Labels of collection names that a backend could confuse with one another.
SPECIAL_LABELS: tuple[str, ...] = (
    "c",
    "c*",
    "cx",
    "c?",
    "c[x]",
    "c.",
    "c.x",
    "c:x",
    "c:",
    "c$",
    "c\\",
    "c x",
    "ä",
    "🎒",
)

_DOC: dict[str, Any] = {"list": [1, {"x": 2}], "o": {"y": [3], "z": "z"}, "n": 1}


class KeyIsolationRules(ConformanceFixtures):
    """Keys containing ``* ? [ ] : $ . \\ NUL``, spaces, newlines, non-ASCII and emoji each
    reach exactly their own record in ``get``, ``get_many``, ``put``, ``delete``, queries
    and ``iter_keys``; glob patterns follow :func:`satchel.query.compile_glob`, and a key
    escaped with :func:`satchel.query.escape_glob` matches only itself."""

    async def _seed_special_keys(self, backend: Backend, collection: str) -> None:
        for i, key in enumerate(SPECIAL_KEYS):
            await backend.put(rec(collection, key, {"key": key, "i": i}))

    @pytest.mark.asyncio
    async def test_each_key_reaches_only_its_own_record(
        self, backend: Backend, collection: str
    ) -> None:
        await self._seed_special_keys(backend, collection)
        for i, key in enumerate(SPECIAL_KEYS):
            got = await backend.get(collection, key)
            assert got is not None, f"get({key!r})"
            assert (got.key, got.value) == (key, {"key": key, "i": i})
        many = await backend.get_many(collection, list(SPECIAL_KEYS))
        assert [r.key if r else None for r in many] == list(SPECIAL_KEYS)
        assert await all_keys(backend, collection) == sorted(SPECIAL_KEYS)
        assert await query_keys(backend, collection) == sorted(SPECIAL_KEYS), "key order"
        assert await backend.count(collection) == len(SPECIAL_KEYS)
        for absent in ("a\x00c", "A", "a.", "*b", "🎒🎒", "a\\b"):
            assert await backend.get(collection, absent) is None, f"get({absent!r})"

    @pytest.mark.asyncio
    async def test_writes_and_deletes_touch_only_their_key(
        self, backend: Backend, collection: str
    ) -> None:
        await self._seed_special_keys(backend, collection)
        for key in ("*", "a*", "a\x00", "a[b]", "a.b"):
            await backend.put(rec(collection, key, "changed"))
            assert await backend.delete(collection, key + "x") is False
        assert await backend.delete(collection, "?") is True
        assert await backend.delete(collection, "a:") is True
        changed = {"*", "a*", "a\x00", "a[b]", "a.b"}
        for i, key in enumerate(SPECIAL_KEYS):
            got = await backend.get(collection, key)
            if key in ("?", "a:"):
                assert got is None, f"{key!r} was deleted"
            elif key in changed:
                assert got is not None
                assert (got.value, got.version) == ("changed", 2)
            else:
                assert got is not None, f"{key!r} was deleted by another key's delete"
                assert (got.value, got.version) == ({"key": key, "i": i}, 1), f"{key!r}"

    @pytest.mark.asyncio
    async def test_escaped_keys_match_only_themselves(
        self, backend: Backend, collection: str
    ) -> None:
        await self._seed_special_keys(backend, collection)
        for key in SPECIAL_KEYS:
            assert await all_keys(backend, collection, escape_glob(key)) == [key], key
        assert await all_keys(backend, collection, escape_glob("a*") + "*") == ["a*"]
        assert "ab" in await all_keys(backend, collection, "a*"), "an unescaped * is a wildcard"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("pattern", PATTERNS, ids=[repr(p)[1:-1] for p in PATTERNS])
    async def test_glob_patterns(self, backend: Backend, collection: str, pattern: str) -> None:
        await self._seed_special_keys(backend, collection)
        expected = sorted(k for k in SPECIAL_KEYS if glob_match(pattern, k))
        assert await all_keys(backend, collection, pattern) == expected

    @pytest.mark.asyncio
    async def test_glob_pattern_examples(self, backend: Backend, collection: str) -> None:
        """A few answers spelt out, so that the reference matcher itself is checked."""
        await self._seed_special_keys(backend, collection)
        assert await all_keys(backend, collection, "a?") == sorted(
            ["ab", "a*", "a?", "a[", "a]", "a\\", "a:", "a\x00", "a🎒"]
        )
        assert await all_keys(backend, collection, "[a-b]") == ["a", "b"]
        assert await all_keys(backend, collection, "[^a]") == sorted(
            ["b", "*", "?", ":", "$", ".", "\x00", "%", "'", '"', "ä", "\uff21", "🎒"]
        )
        assert await all_keys(backend, collection, "a[b]") == ["ab"]
        assert await all_keys(backend, collection, "a\\[b\\]") == ["a[b]"]
        assert await all_keys(backend, collection, "*\\**") == ["*", "a*", "a\\*"]

    @pytest.mark.asyncio
    async def test_queries_on_keys_take_them_literally(
        self, backend: Backend, collection: str
    ) -> None:
        await self._seed_special_keys(backend, collection)
        assert await query_keys(backend, collection, where=[("key", "eq", "a*")]) == ["a*"]
        assert await query_keys(backend, collection, where=[("key", "startswith", "a.")]) == ["a.b"]
        assert await query_keys(backend, collection, where=[("key", "contains", "\x00")]) == [
            "\x00",
            "a\x00",
            "a\x00b",
        ]
        assert await query_keys(
            backend, collection, where=[("key", "in", ["a\x00b", "🎒", "zz"])]
        ) == ["a\x00b", "🎒"]

    @pytest.mark.asyncio
    async def test_value_keys_with_dollar_and_dots_are_kept(
        self, backend: Backend, collection: str
    ) -> None:
        value = {
            "$set": {"a.b": 1},
            "a.b": {"$gt": 1, "$in": [1, 2]},
            "$where": "sleep(1000)",
            ".": ".",
            "x": {"$ref": "y", "$id": 1, "$oid": "5f0c", "$date": 0},
            "$": [{"$": "$"}],
            "z": {"b": 1, "a": {"d": 2, "c": 3}},  # keys out of order: their order is kept
        }
        in_order = json.dumps(value)
        stored = await backend.put(rec(collection, "k", value, index={"tag": ["t"]}))
        assert json.dumps(stored.value) == in_order
        got = await backend.get(collection, "k")
        assert got is not None
        assert json.dumps(got.value) == in_order, "the value, with its keys in their order"
        assert [json.dumps(r.value) for r in (await run_query(backend, collection)).items] == [
            in_order
        ]
        assert [json.dumps(r.value) for r in await backend.find(collection, "tag", "t")] == [
            in_order
        ]
        assert await query_keys(backend, collection, where=[(("$set", "a.b"), "eq", 1)]) == ["k"]
        assert await query_keys(backend, collection, where=[(("a.b", "$gt"), "eq", 1)]) == ["k"]
        assert await query_keys(backend, collection, where=[("x.$id", "eq", 1)]) == ["k"]


class CollectionIsolationRules(ConformanceFixtures):
    """Collection names containing pattern characters, separators, non-ASCII and emoji
    never share records, listings, counts, indexes or drops with one another, and a
    separator in a collection name cannot make ``(collection, key)`` pairs collide."""

    @pytest.mark.asyncio
    async def test_each_collection_holds_only_its_own_records(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        names = {label: new_collection(label) for label in SPECIAL_LABELS}
        for label, name in names.items():
            await backend.put(rec(name, "k", label, index={"tag": ["t"]}))
            await backend.put(rec(name, label, label))
        for label, name in names.items():
            got = await backend.get(name, "k")
            assert got is not None, f"collection {label!r}"
            assert got.value == label, f"collection {label!r}"
            assert await all_keys(backend, name) == sorted({"k", label})
            assert await all_keys(backend, name, "*") == sorted({"k", label})
            assert await backend.count(name) == len({"k", label})
            assert [r.value for r in await backend.find(name, "tag", "t")] == [label]
            assert [r.value for r in (await run_query(backend, name)).items] == [label] * len(
                {"k", label}
            )
        listed = await backend.collections()
        assert [c for c in listed if c in names.values()] == sorted(names.values())
        assert await backend.drop(names["c*"]) == 2
        assert names["c*"] not in await backend.collections()
        for label, name in names.items():
            if label != "c*":
                got = await backend.get(name, "k")
                assert got is not None, f"drop('c*') reached {label!r}"
                assert got.value == label, f"drop('c*') reached {label!r}"

    @pytest.mark.asyncio
    async def test_a_separator_in_a_name_does_not_join_collection_and_key(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        # "p" + "q:r" and "p:q" + "r" must stay two records, whatever joins them in storage
        for i, sep in enumerate((":", "/", ".", "|", "#", "\\", "\n")):
            outer, inner = new_collection(f"p{i}"), new_collection(f"p{i}{sep}q")
            key = f"q{sep}r"
            await backend.put(rec(outer, key, "outer", index={"i": ["x"]}))
            await backend.put(rec(inner, "r", "inner", index={"i": ["x"]}))
            got_outer, got_inner = await backend.get(outer, key), await backend.get(inner, "r")
            assert got_outer is not None, repr(sep)
            assert got_outer.value == "outer", repr(sep)
            assert got_inner is not None, repr(sep)
            assert got_inner.value == "inner", repr(sep)
            assert await backend.get(outer, "r") is None
            assert await backend.get(inner, key) is None
            assert await all_keys(backend, outer) == [key]
            assert await all_keys(backend, inner) == ["r"]
            assert [r.value for r in await backend.find(outer, "i", "x")] == ["outer"]
            assert [r.value for r in await backend.find(inner, "i", "x")] == ["inner"]
            assert await backend.drop(outer) == 1
            got_inner = await backend.get(inner, "r")
            assert got_inner is not None, repr(sep)
            assert got_inner.value == "inner", repr(sep)

    @pytest.mark.asyncio
    async def test_a_collection_name_is_not_a_prefix_pattern(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        short, longer = new_collection("x"), new_collection("xy")
        star = new_collection("x*")
        await backend.put(rec(short, "k", 1))
        await backend.put(rec(longer, "k", 2))
        await backend.put(rec(star, "k", 3))
        assert await all_keys(backend, short) == ["k"]
        assert await backend.count(short) == 1
        assert await backend.count(star) == 1
        assert await backend.drop(star) == 1
        assert await backend.drop(short) == 1
        got = await backend.get(longer, "k")
        assert got is not None
        assert got.value == 2

    @pytest.mark.asyncio
    async def test_a_long_collection_name_works_like_any_other(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        """A name of 300 characters (and one of 300 four-byte characters, differing from it
        only at the end) is a collection like any other: written, read, queried, listed,
        logged and dropped on its own."""
        first, second = new_collection("L" * 300 + "a"), new_collection("\U0001f600" * 300 + "b")
        third = first[:-1] + "b"
        for number, name in enumerate((first, second, third)):
            await backend.put(rec(name, "k", number, index={"i": ["x"]}))
        for number, name in enumerate((second, third), 1):
            await backend.log_append(name, "log", [number])
        for number, name in enumerate((first, second, third)):
            got = await backend.get(name, "k")
            assert got is not None
            assert got.value == number
            assert [r.value for r in await backend.find(name, "i", "x")] == [number]
            page = await run_query(backend, name, where=[("value", "eq", number)])
            assert [r.value for r in page] == [number]
            if number:
                assert [e.value for e in await backend.log_range(name, "log")] == [number]
        listed = await backend.collections()
        assert {first, second, third} <= set(listed)
        assert await backend.drop(first) == 1
        assert await backend.get(first, "k") is None
        got = await backend.get(third, "k")
        assert got is not None
        assert got.value == 2
        assert first not in await backend.collections()


class CopyRules(ConformanceFixtures):
    """What a backend returns is the caller's own copy, and what it was given is copied
    too: mutating a value (or index mapping) after ``put``, or mutating a value returned
    by ``put``, ``put_many``, ``get``, ``get_many``, ``query`` (also with ``select``) or
    ``find``, changes nothing stored."""

    @staticmethod
    def _mutate_deeply(value: Any) -> None:
        value["list"][1]["x"] = "mutated"
        value["list"].append("more")
        value["o"]["y"].append(4)
        value["o"]["new"] = True
        value["n"] = 99

    async def _assert_unchanged(self, backend: Backend, collection: str, key: str) -> None:
        got = await backend.get(collection, key)
        assert got is not None, "a mutation reached the stored value"
        assert got.value == _DOC, "a mutation reached the stored value"

    @pytest.mark.asyncio
    async def test_mutating_what_was_given(self, backend: Backend, collection: str) -> None:
        value = copy.deepcopy(_DOC)
        index = {"tag": ("a",)}
        await backend.put(Record(collection, "k", value, index=index))
        self._mutate_deeply(value)
        index["tag"] = ("b",)
        await self._assert_unchanged(backend, collection, "k")
        assert [r.key for r in await backend.find(collection, "tag", "a")] == ["k"]
        assert await backend.find(collection, "tag", "b") == []
        many = [copy.deepcopy(_DOC), copy.deepcopy(_DOC)]
        await backend.put_many([rec(collection, "m1", many[0]), rec(collection, "m2", many[1])])
        for value in many:
            self._mutate_deeply(value)
        await self._assert_unchanged(backend, collection, "m1")
        await self._assert_unchanged(backend, collection, "m2")

    @pytest.mark.asyncio
    async def test_mutating_what_was_returned(self, backend: Backend, collection: str) -> None:
        stored = await backend.put(rec(collection, "k", copy.deepcopy(_DOC), index={"t": ["x"]}))
        self._mutate_deeply(stored.value)
        await self._assert_unchanged(backend, collection, "k")
        (again,) = await backend.put_many([rec(collection, "k", copy.deepcopy(_DOC))])
        self._mutate_deeply(again.value)
        await self._assert_unchanged(backend, collection, "k")
        await backend.put(rec(collection, "k", copy.deepcopy(_DOC), index={"t": ["x"]}))
        reads: list[Callable[[], Any]] = [
            lambda: backend.get(collection, "k"),
            lambda: _first(backend.get_many(collection, ["k"])),
            lambda: _first(_items(run_query(backend, collection))),
            lambda: _first(backend.find(collection, "t", "x")),
        ]
        for read in reads:
            record = await read()
            assert record is not None
            assert record.value == _DOC
            self._mutate_deeply(record.value)
            await self._assert_unchanged(backend, collection, "k")
        projected = (await run_query(backend, collection, select=["list", "o.y"])).items[0]
        projected.value["list"][1]["x"] = "mutated"
        projected.value["o"]["y"].append(4)
        await self._assert_unchanged(backend, collection, "k")


async def _first(awaitable: Any) -> Any:
    return (await awaitable)[0]


async def _items(awaitable: Any) -> Any:
    return (await awaitable).items
