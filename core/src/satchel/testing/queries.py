"""Rules about queries: the semantics of :func:`satchel.query.evaluate`, which every
backend must reproduce, whether it scans or pushes the query down to its server.

Each query test states its expected keys explicitly and also checks them against the
reference, so a disagreement shows whether the backend or the reference is at fault.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from satchel.backend import Backend, Record
from satchel.errors import InvalidQuery
from satchel.query import MAX_COUNT, Condition, Query
from satchel.testing.fixtures import (
    ConformanceFixtures,
    ago,
    expect_keys,
    later,
    query_keys,
    rec,
    reference_keys,
    run_query,
    seed,
    walk_pages,
)

__all__ = [
    "CountRules",
    "PagingRules",
    "ProjectionRules",
    "QueryMetadataRules",
    "QueryOperatorRules",
    "QueryOrderRules",
    "QueryPathRules",
]

UTC = timezone.utc

# --------------------------------------------------------------------------------------
# data sets: {key: value}

NUMBERS: dict[str, Any] = {
    "int1": {"n": 1},
    "float1": {"n": 1.0},
    "float2.5": {"n": 2.5},
    "neg": {"n": -3},
    "ten": {"n": 10},  # 10 > 2.5 as numbers, "10" < "2.5" as text
    "str1": {"n": "1"},
    "true": {"n": True},
    "false": {"n": False},
    "null": {"n": None},
    "missing": {"other": 1},
    "list": {"n": [1, 2]},
    "obj": {"n": {"x": 1}},
}
_ALL_NUMBERS = set(NUMBERS)

NUMBER_CASES = [
    ("eq", 1, {"int1", "float1"}, "int equals float"),
    ("eq", 1.0, {"int1", "float1"}, "float equals int"),
    ("neq", 1, _ALL_NUMBERS - {"int1", "float1"}, "neq matches missing and other types"),
    ("gt", 1, {"float2.5", "ten"}, "gt numbers only"),
    ("gte", 1, {"int1", "float1", "float2.5", "ten"}, "gte"),
    ("lt", 1, {"neg"}, "lt excludes booleans and null"),
    ("lte", 1.0, {"int1", "float1", "neg"}, "lte"),
    ("gt", -100, {"int1", "float1", "float2.5", "neg", "ten"}, "no list or bool matches"),
    ("in", [1, "x", None], {"int1", "float1", "null"}, "in"),
    ("in", [], set(), "in empty list"),
    ("eq", None, {"null"}, "eq null is not missing"),
    ("neq", None, _ALL_NUMBERS - {"null"}, "neq null matches missing"),
    ("eq", True, {"true"}, "true is not 1"),
    ("eq", 0, set(), "false is not 0"),
    ("gt", False, {"true"}, "booleans order among themselves"),
    ("lt", True, {"false"}, "booleans lt"),
    ("exists", True, _ALL_NUMBERS - {"missing"}, "exists"),
    ("exists", False, {"missing"}, "not exists"),
    ("contains", 1, {"list"}, "contains on a list"),
    ("eq", [1, 2], {"list"}, "eq a whole list"),
    ("eq", {"x": 1}, {"obj"}, "eq a whole object"),
    ("eq", "1", {"str1"}, "a string is not a number"),
    ("gt", "0", {"str1"}, "strings compare with strings only"),
]

STRINGS: dict[str, Any] = {
    "apple": {"s": "apple"},
    "Apple": {"s": "Apple"},
    "app": {"s": "app"},
    "banana": {"s": "banana"},
    "empty": {"s": ""},
    "umlaut": {"s": "äpfel"},
    "emoji": {"s": "🍎"},  # U+1F34E: after U+FF21 by code point, before it in UTF-16
    "fullwidth": {"s": "\uff21"},  # U+FF21
    "dot": {"s": "a.c"},
    "abc": {"s": "abc"},
    "star": {"s": "a*"},
    "paren": {"s": "(x"},
    "num": {"s": 5},
    "missing": {},
}
_ALL_STRINGS = set(STRINGS) - {"num", "missing"}

STRING_CASES = [
    ("eq", "apple", {"apple"}, "eq is case-sensitive"),
    ("neq", "apple", set(STRINGS) - {"apple"}, "neq matches missing and numbers"),
    ("gt", "apple", {"banana", "umlaut", "emoji", "fullwidth"}, "by code point"),
    ("lt", "a", {"empty", "Apple", "paren"}, "lt"),
    ("gt", "\uff21", {"emoji"}, "code point order, not UTF-16"),
    ("lt", "🍎", _ALL_STRINGS - {"emoji"}, "lt an astral character"),
    ("gte", "", _ALL_STRINGS, "every string is >= ''"),
    ("startswith", "app", {"app", "apple"}, "startswith"),
    ("startswith", "a.", {"dot"}, "startswith is not a pattern"),
    ("startswith", "", _ALL_STRINGS, "startswith ''"),
    ("endswith", "le", {"apple", "Apple"}, "endswith"),
    ("endswith", "*", {"star"}, "endswith is not a pattern"),
    ("contains", ".", {"dot"}, "contains is not a pattern"),
    ("contains", "(", {"paren"}, "contains a regex character"),
    ("contains", "pp", {"apple", "Apple", "app"}, "contains"),
    ("contains", "P", set(), "contains is case-sensitive"),
    ("in", ["apple", "banana", 5], {"apple", "banana", "num"}, "in mixed types"),
    ("eq", 5, {"num"}, "a number is not a string"),
]

DATES: dict[str, Any] = {
    "d2023": {"t": "2023-12-31T23:59:59"},  # naive: UTC
    "d2024": {"t": "2024-01-01T00:00:00+00:00"},
    "noonZ": {"t": "2024-06-01T12:00:00Z"},
    "noon+2": {"t": "2024-06-01T14:00:00+02:00"},  # the same instant as noonZ
    "text": {"t": "not a date"},
    "num": {"t": 20240101},
    "missing": {},
}
_NOON = datetime(2024, 6, 1, 12, tzinfo=UTC)
_NEW_YEAR = datetime(2024, 1, 1, tzinfo=UTC)

DATE_CASES = [
    ("eq", _NOON, {"noonZ", "noon+2"}, "eq compares instants"),
    ("eq", _NOON.astimezone(timezone(timedelta(hours=-5))), {"noonZ", "noon+2"}, "any zone"),
    ("gt", _NEW_YEAR, {"noonZ", "noon+2"}, "gt"),
    ("gte", _NEW_YEAR, {"d2024", "noonZ", "noon+2"}, "gte"),
    ("lt", datetime(2024, 1, 1), {"d2023"}, "naive query values are UTC"),
    ("neq", _NOON, {"d2023", "d2024", "text", "num", "missing"}, "neq"),
    ("in", [_NEW_YEAR, _NOON], {"d2024", "noonZ", "noon+2"}, "in"),
    ("gt", "2024-03", {"noonZ", "noon+2", "text"}, "a string query value compares as text"),
]

PATHS: dict[str, Any] = {
    "deep": {
        "user": {"name": "ann", "tags": ["a", "b"], "age": 30},
        "items": [{"role": "x"}, {"role": "y"}],
    },
    "flat": {"user": "ann", "items": []},
    "dotted": {"a.b": {"c": 1}, "a": {"b": {"c": 2}}},
    "dollar": {"$where": "x", "$gt": {"a.b": 1}},
    "scalar5": 5,
    "scalarS": "ann",
    "list": ["a", "b"],
    "inner": {"value": 7},
}

PATH_CASES: list[tuple[Any, str, Any, set[str], str]] = [
    ("user.name", "eq", "ann", {"deep"}, "a dotted path"),
    ("user", "eq", "ann", {"flat"}, "a top-level field"),
    ("user.age", "gte", 30, {"deep"}, "a nested number"),
    ("user.tags.0", "eq", "a", {"deep"}, "a list index"),
    ("user.tags", "contains", "b", {"deep"}, "contains on a nested list"),
    ("items.1.role", "eq", "y", {"deep"}, "a field of a list item"),
    ("items.0.role", "eq", "y", set(), "another list item"),
    ("items.role", "eq", "y", set(), "a path never fans out over a list"),
    ("items.5.role", "neq", "y", set(PATHS), "an index past the end is missing"),
    ("user.tags.\u00b2", "exists", True, set(), "a superscript digit is not an index"),
    ("user.tags.-1", "exists", True, set(), "a negative index is not an index"),
    ("0", "eq", "a", {"list"}, "an index into a list value"),
    (("a.b", "c"), "eq", 1, {"dotted"}, "a tuple path for a name with a dot"),
    ("a.b.c", "eq", 2, {"dotted"}, "a dotted path does not read a name with a dot"),
    ("a.b.c", "eq", 1, set(), "nor the other way round"),
    (("$where",), "eq", "x", {"dollar"}, "a name starting with $"),
    (("$gt", "a.b"), "eq", 1, {"dollar"}, "an operator-like name is just a name"),
    ("value", "eq", 5, {"scalar5"}, "value: the whole value"),
    ("value", "gt", 1, {"scalar5"}, "value compared as a number"),
    ("value", "contains", "a", {"scalarS", "list"}, "value contains"),
    ("value.value", "eq", 7, {"inner"}, "a field called value"),
    (("value",), "eq", 7, {"inner"}, "a tuple path is always into the value"),
]

#: One value of each sort rank, and two of the object and list ranks (which tie).
MIXED: dict[str, Any] = {
    "m_missing": {},
    "m_null": {"x": None},
    "m_num": {"x": 3},
    "m_num2": {"x": -7.5},
    "m_str": {"x": "s"},
    "m_obj": {"x": {"a": 1}},
    "m_obj2": {"x": {}},
    "m_list": {"x": [9]},
    "m_list2": {"x": [-5]},
    "m_true": {"x": True},
    "m_false": {"x": False},
}


def _ids(cases: list[Any]) -> list[str]:
    return [case[-1].replace(" ", "-") for case in cases]


class QueryOperatorRules(ConformanceFixtures):
    """Every operator on numbers (``1 == 1.0``), strings (by code point, case-sensitive,
    no pattern characters), datetimes (ISO strings against ``datetime`` query values, as
    instants), booleans (not numbers), ``null``, missing fields and mixed types: values of
    different types never match ``eq`` or an order comparison, and ``neq`` matches a
    missing field."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("op", "value", "expected", "why"), NUMBER_CASES, ids=_ids(NUMBER_CASES)
    )
    async def test_numbers_booleans_and_null(
        self, backend: Backend, collection: str, op: str, value: Any, expected: set[str], why: str
    ) -> None:
        stored = await seed(backend, collection, NUMBERS)
        await expect_keys(backend, collection, stored, sorted(expected), where=[("n", op, value)])

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("op", "value", "expected", "why"), STRING_CASES, ids=_ids(STRING_CASES)
    )
    async def test_strings(
        self, backend: Backend, collection: str, op: str, value: Any, expected: set[str], why: str
    ) -> None:
        stored = await seed(backend, collection, STRINGS)
        await expect_keys(backend, collection, stored, sorted(expected), where=[("s", op, value)])

    @pytest.mark.asyncio
    @pytest.mark.parametrize(("op", "value", "expected", "why"), DATE_CASES, ids=_ids(DATE_CASES))
    async def test_iso_strings_against_datetimes(
        self, backend: Backend, collection: str, op: str, value: Any, expected: set[str], why: str
    ) -> None:
        stored = await seed(backend, collection, DATES)
        await expect_keys(backend, collection, stored, sorted(expected), where=[("t", op, value)])

    @pytest.mark.asyncio
    async def test_integers_beyond_64_bits_against_doubles(
        self, backend: Backend, collection: str
    ) -> None:
        """Integers compare exactly, whatever their size: ``2**63`` equals the double
        ``2.0**63``, ``10**30`` differs from the double ``1e30``."""
        stored = await seed(
            backend,
            collection,
            {
                "two63": {"n": 2**63},
                "two63f": {"n": float(2**63)},
                "below": {"n": 2**63 - 1},
                "e30": {"n": 1e30},
                "ten30": {"n": 10**30},
                "ten30up": {"n": 10**30 + 1},
            },
        )
        cases: list[tuple[str, Any, list[str]]] = [
            ("gte", float(2**63), ["e30", "ten30", "ten30up", "two63", "two63f"]),
            ("gt", float(2**63), ["e30", "ten30", "ten30up"]),
            ("eq", float(2**63), ["two63", "two63f"]),
            ("eq", 2**63, ["two63", "two63f"]),
            ("lt", 2**63, ["below"]),
            ("eq", 10**30, ["ten30"]),
            ("eq", 1e30, ["e30"]),
            ("gt", 10**30, ["e30", "ten30up"]),
            ("lt", 1e30, ["below", "ten30", "ten30up", "two63", "two63f"]),
            ("in", [10**30 + 1, 2**63 - 1], ["below", "ten30up"]),
            ("neq", 10**30, ["below", "e30", "ten30up", "two63", "two63f"]),
        ]
        for op, value, expected in cases:
            await expect_keys(
                backend, collection, stored, expected, where=[("n", op, value)], order_by="key"
            )

    @pytest.mark.asyncio
    async def test_integers_at_the_64_bit_edges_stay_exact_integers(
        self, backend: Backend, collection: str
    ) -> None:
        """An integer just past a 64-bit edge (below ``-2**63``, with 19 digits; above
        ``2**64 - 1``) reads back as the same ``int``, by ``get``, ``get_many``, a query and
        a log, and a query finds it by its exact value: never a float near it."""
        edges = {
            "min": -(2**63),
            "under": -(2**63) - 1,
            "nines": -(10**19 - 1),
            "max": 2**63 - 1,
            "over": 2**63,
            "u64": 2**64 - 1,
            "past": 2**64,
        }
        stored = await seed(
            backend, collection, {k: {"n": n, "l": [n, {"m": n}]} for k, n in edges.items()}
        )
        for key, n in edges.items():
            record = await backend.get(collection, key)
            assert record is not None
            assert record.value == {"n": n, "l": [n, {"m": n}]}, key
            assert type(record.value["n"]) is int
            assert type(record.value["l"][1]["m"]) is int
        many = await backend.get_many(collection, list(edges))
        assert [r.value["n"] if r else None for r in many] == list(edges.values())
        assert all(type(r.value["n"]) is int for r in many if r)
        for key, n in edges.items():
            await expect_keys(backend, collection, stored, [key], where=[("n", "eq", n)])
        await expect_keys(
            backend,
            collection,
            stored,
            ["nines", "under"],
            where=[("n", "lt", -(2**63))],
            order_by="key",
        )
        page = await backend.query(collection, Query.build(order_by="n"))
        assert [type(r.value["n"]) for r in page.items] == [int] * len(edges)
        assert [r.key for r in page.items] == [
            "nines",
            "under",
            "min",
            "max",
            "over",
            "u64",
            "past",
        ]
        await backend.log_append(collection, "edges", list(edges.values()))
        entries = await backend.log_range(collection, "edges")
        assert [e.value for e in entries] == list(edges.values())
        assert all(type(e.value) is int for e in entries)

    @pytest.mark.asyncio
    async def test_conditions_are_joined_by_and(self, backend: Backend, collection: str) -> None:
        stored = await seed(backend, collection, NUMBERS)
        await expect_keys(
            backend,
            collection,
            stored,
            ["float1", "int1", "ten"],
            where=[("n", "gte", 1), ("n", "neq", 2.5)],
        )
        await expect_keys(backend, collection, stored, [], where=[("n", "eq", 1), ("n", "eq", 2.5)])
        await expect_keys(
            backend, collection, stored, ["int1"], where={"n": 1, "key": {"startswith": "i"}}
        )


class QueryPathRules(ConformanceFixtures):
    """Fields are dotted paths into the value with numeric segments indexing lists (never
    fanning out over a list); a tuple path names fields containing dots; ``value`` is the
    whole value (for scalars); names starting with ``$`` are plain names."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("field", "op", "value", "expected", "why"), PATH_CASES, ids=_ids(PATH_CASES)
    )
    async def test_paths(
        self,
        backend: Backend,
        collection: str,
        field: Any,
        op: str,
        value: Any,
        expected: set[str],
        why: str,
    ) -> None:
        stored = await seed(backend, collection, PATHS)
        await expect_keys(backend, collection, stored, sorted(expected), where=[(field, op, value)])


class QueryMetadataRules(ConformanceFixtures):
    """The metadata fields ``key``, ``version``, ``created_at``, ``updated_at`` and
    ``expires_at`` can be queried and ordered by; timestamps compare as instants with
    ``datetime`` or ISO-8601 query values."""

    @pytest.mark.asyncio
    async def test_key_and_version(self, backend: Backend, collection: str) -> None:
        for key, writes in (("a", 1), ("b", 2), ("c*", 3)):
            for i in range(writes):
                await backend.put(rec(collection, key, i))
        stored = list((await run_query(backend, collection)).items)
        cases: list[tuple[list[str], dict[str, Any]]] = [
            (["b"], {"where": [("key", "eq", "b")]}),
            (["b", "c*"], {"where": [("key", "gt", "a")]}),
            (["c*"], {"where": [("key", "startswith", "c")]}),
            (["a"], {"where": [("key", "in", ["a", "zz"])]}),
            (["a", "c*"], {"where": [("key", "neq", "b")]}),
            (["b"], {"where": [("version", "eq", 2)]}),
            (["b", "c*"], {"where": [("version", "gte", 2)]}),
            (["c*", "b", "a"], {"order_by": "-key"}),
            (["c*", "b", "a"], {"order_by": [("version", "desc")]}),
        ]
        for expected, build in cases:
            await expect_keys(backend, collection, stored, expected, **build)

    @pytest.mark.asyncio
    async def test_created_at_and_updated_at(self, backend: Backend, collection: str) -> None:
        first = await backend.put(rec(collection, "first", 1))
        await asyncio.sleep(0.02)
        second = await backend.put(rec(collection, "second", 2))
        await asyncio.sleep(0.02)
        await backend.put(rec(collection, "first", 3))
        stored = (await run_query(backend, collection)).items
        created, moved = first.created_at, second.updated_at
        assert created is not None
        assert moved is not None
        elsewhere = timezone(timedelta(hours=5, minutes=30))
        cases: list[tuple[list[str], dict[str, Any]]] = [
            (["second"], {"where": [("created_at", "gt", created)]}),
            (["first"], {"where": [("created_at", "lte", created)]}),
            (["first"], {"where": [("created_at", "eq", created)]}),
            (["first"], {"where": [("created_at", "eq", created.isoformat())]}),
            (["first"], {"where": [("created_at", "eq", created.astimezone(elsewhere))]}),
            (["second"], {"where": [("created_at", "neq", created)]}),
            (["first"], {"where": [("updated_at", "gt", moved)]}),
            (["first", "second"], {"order_by": "created_at"}),
            (["first", "second"], {"order_by": "-updated_at"}),
            (["second", "first"], {"order_by": "updated_at"}),
        ]
        for expected, build in cases:
            await expect_keys(backend, collection, stored, expected, **build)

    @pytest.mark.asyncio
    async def test_expires_at(self, backend: Backend, collection: str) -> None:
        soon, later_still = later(3600), later(7200)
        await backend.put(rec(collection, "soon", 1, expires_at=soon))
        await backend.put(rec(collection, "later", 1, expires_at=later_still))
        await backend.put(rec(collection, "never", 1))
        stored = (await run_query(backend, collection)).items
        cases: list[tuple[list[str], dict[str, Any]]] = [
            (["soon"], {"where": [("expires_at", "lt", soon + timedelta(minutes=30))]}),
            (["later", "soon"], {"where": [("expires_at", "gt", soon - timedelta(hours=1))]}),
            (["later"], {"where": [("expires_at", "eq", later_still)]}),
            (["never"], {"where": [("expires_at", "eq", None)]}),
            (["later", "soon"], {"where": [("expires_at", "neq", None)]}),
            (["never", "soon", "later"], {"order_by": "expires_at"}),
            (["later", "soon", "never"], {"order_by": "-expires_at"}),
        ]
        for expected, build in cases:
            await expect_keys(backend, collection, stored, expected, **build)


class QueryOrderRules(ConformanceFixtures):
    """``order_by`` sorts ascending or descending, term by term; ties are broken by key,
    ascending, whatever the direction; numbers sort as numbers and strings by code point;
    values of different types sort by rank (missing and null, numbers, strings, objects,
    lists, booleans, datetimes), objects and lists tying among themselves."""

    @pytest.mark.asyncio
    async def test_ties_are_broken_by_key_ascending(
        self, backend: Backend, collection: str
    ) -> None:
        stored = await seed(
            backend, collection, {"b": {"g": 1}, "a": {"g": 1}, "d": {"g": 2}, "c": {"g": 2}}
        )
        await expect_keys(backend, collection, stored, ["a", "b", "c", "d"], order_by="g")
        await expect_keys(backend, collection, stored, ["c", "d", "a", "b"], order_by="-g")
        await expect_keys(backend, collection, stored, ["a", "b", "c", "d"], order_by=None)

    @pytest.mark.asyncio
    async def test_several_terms(self, backend: Backend, collection: str) -> None:
        stored = await seed(
            backend,
            collection,
            {
                "k1": {"g": 1, "n": 1},
                "k2": {"g": 1, "n": 2},
                "k3": {"g": 2, "n": 1},
                "k4": {"g": 2, "n": 3},
                "k5": {"g": 1, "n": 2},
            },
        )
        await expect_keys(
            backend, collection, stored, ["k2", "k5", "k1", "k4", "k3"], order_by=["g", "-n"]
        )
        await expect_keys(
            backend,
            collection,
            stored,
            ["k4", "k3", "k2", "k5", "k1"],
            order_by=[("g", "desc"), ("n", "desc")],
        )

    @pytest.mark.asyncio
    async def test_a_term_named_twice_sorts_by_its_first_direction(
        self, backend: Backend, collection: str
    ) -> None:
        stored = await seed(backend, collection, {"b": {"g": 1}, "a": {"g": 2}, "c": {"g": 1}})
        stored.append(await backend.put(rec(collection, "a", {"g": 2})))  # a at version 2
        stored = [r for r in stored if r.key != "a" or r.version == 2]
        await expect_keys(backend, collection, stored, ["a", "b", "c"], order_by=["key", "-key"])
        await expect_keys(backend, collection, stored, ["c", "b", "a"], order_by=["-key", "key"])
        await expect_keys(
            backend, collection, stored, ["b", "c", "a"], order_by=["version", "-version"]
        )
        await expect_keys(
            backend, collection, stored, ["a", "b", "c"], order_by=["-version", "version"]
        )
        await expect_keys(backend, collection, stored, ["b", "c", "a"], order_by=["g", "-g"])
        for twice in (["updated_at", "-updated_at"], ["-updated_at", "updated_at"]):
            got = await query_keys(backend, collection, order_by=twice)
            assert got == reference_keys(stored, order_by=twice), twice

    @pytest.mark.asyncio
    async def test_one_leading_dash_says_descending(
        self, backend: Backend, collection: str
    ) -> None:
        """``'-f'`` orders by ``f`` descending; what follows that one dash is the field, so
        ``'--x'`` orders by the value's key ``-x`` (not by ``x``), descending."""
        stored = await seed(
            backend,
            collection,
            {"a": {"-x": 1, "x": 3}, "b": {"-x": 3, "x": 1}, "c": {"-x": 2, "x": 2}},
        )
        await expect_keys(backend, collection, stored, ["b", "c", "a"], order_by="--x")
        await expect_keys(backend, collection, stored, ["a", "c", "b"], order_by="-x")
        await expect_keys(backend, collection, stored, ["a", "c", "b"], order_by=[("-x", "asc")])

    @pytest.mark.asyncio
    async def test_numbers_and_strings(self, backend: Backend, collection: str) -> None:
        numbers = {"a": {"x": 10}, "b": {"x": 2}, "c": {"x": 2.5}, "d": {"x": -1}, "e": {"x": 2.0}}
        stored = await seed(backend, collection, numbers)
        await expect_keys(backend, collection, stored, ["d", "b", "e", "c", "a"], order_by="x")
        strings = {"s1": "b", "s2": "B", "s3": "a", "s4": "é", "s5": "🍎", "s6": "\uff21", "s7": ""}
        other = {k: {"y": v} for k, v in strings.items()}
        stored += await seed(backend, collection, other)
        await expect_keys(
            backend,
            collection,
            stored,
            ["s7", "s2", "s3", "s1", "s4", "s6", "s5"],
            order_by="y",
            where=[("y", "exists", True)],
        )

    @pytest.mark.asyncio
    async def test_mixed_types_sort_by_rank(self, backend: Backend, collection: str) -> None:
        stored = await seed(backend, collection, MIXED)
        ascending = [
            "m_missing",
            "m_null",
            "m_num2",
            "m_num",
            "m_str",
            "m_obj",
            "m_obj2",
            "m_list",
            "m_list2",
            "m_false",
            "m_true",
        ]
        await expect_keys(backend, collection, stored, ascending, order_by="x")
        descending = [
            "m_true",
            "m_false",
            "m_list",
            "m_list2",
            "m_obj",
            "m_obj2",
            "m_str",
            "m_num",
            "m_num2",
            "m_missing",
            "m_null",
        ]
        await expect_keys(backend, collection, stored, descending, order_by="-x")

    @pytest.mark.asyncio
    async def test_ordering_by_the_whole_value(self, backend: Backend, collection: str) -> None:
        stored = await seed(
            backend, collection, {"a": 3, "b": "x", "c": 1.5, "d": None, "e": False}
        )
        await expect_keys(backend, collection, stored, ["d", "c", "a", "b", "e"], order_by="value")

    @pytest.mark.asyncio
    async def test_where_order_and_limit_together(self, backend: Backend, collection: str) -> None:
        stored = await seed(backend, collection, {f"k{i}": {"n": i % 4, "i": i} for i in range(12)})
        await expect_keys(
            backend,
            collection,
            stored,
            ["k3", "k7", "k11", "k2"],
            where=[("n", "gte", 2)],
            order_by=["-n", "i"],
            limit=4,
        )


class ProjectionRules(ConformanceFixtures):
    """``select`` returns only the named value fields (nested ones as nested objects),
    leaves out missing ones, walks objects only, and keeps every record's metadata."""

    @pytest.mark.asyncio
    async def test_select(self, backend: Backend, collection: str) -> None:
        doc = {"a": 1, "b": {"c": 2, "d": 3}, "e": [{"f": 4}], "g.h": 5, "$i": 6}
        await backend.put(rec(collection, "k", doc))
        await backend.put(rec(collection, "k", doc))
        await backend.put(rec(collection, "scalar", 7))
        cases: list[tuple[Any, Any]] = [
            (["a", "b.c"], {"a": 1, "b": {"c": 2}}),
            (["b"], {"b": {"c": 2, "d": 3}}),
            (["zz", "a"], {"a": 1}),
            (["e.0.f"], {}),
            ([("g.h",), ("$i",)], {"g.h": 5, "$i": 6}),
            ([], {}),
            (["value"], doc),
        ]
        for select, expected in cases:
            page = await run_query(backend, collection, select=select, where={"key": "k"})
            assert [(r.key, r.value, r.version) for r in page.items] == [("k", expected, 2)], (
                f"select {select}"
            )
            assert page.items[0].created_at is not None
        page = await run_query(backend, collection, select=["a"], where={"key": "scalar"})
        assert [(r.key, r.value) for r in page.items] == [("scalar", {})]

    @pytest.mark.asyncio
    async def test_select_does_not_change_what_matches_or_the_order(
        self, backend: Backend, collection: str
    ) -> None:
        await seed(backend, collection, {"a": {"n": 2, "s": "x"}, "b": {"n": 1, "s": "y"}})
        page = await run_query(
            backend, collection, select=["s"], where=[("n", "gte", 1)], order_by="n"
        )
        assert [(r.key, r.value) for r in page.items] == [("b", {"s": "y"}), ("a", {"s": "x"})]


class PagingRules(ConformanceFixtures):
    """``limit`` and ``offset`` cut the ordered results; a ``cursor`` continues after the
    last record of the previous page, so walking every page returns each record exactly
    once and in order, even when records are written or deleted between pages;
    ``next_cursor`` is ``None`` exactly on the last page; a cursor from another query, or
    one that satchel did not make, is an :class:`~satchel.errors.InvalidQuery`."""

    async def _seed_ten(self, backend: Backend, collection: str) -> list[Record]:
        return await seed(backend, collection, {f"k{i}": {"g": i // 3, "i": i} for i in range(10)})

    @pytest.mark.asyncio
    async def test_limit_and_offset(self, backend: Backend, collection: str) -> None:
        stored = await self._seed_ten(backend, collection)
        await expect_keys(backend, collection, stored, ["k0", "k1", "k2"], limit=3)
        await expect_keys(backend, collection, stored, ["k3", "k4"], limit=2, offset=3)
        await expect_keys(backend, collection, stored, ["k8", "k9"], offset=8)
        await expect_keys(backend, collection, stored, [], offset=10)
        await expect_keys(backend, collection, stored, [], limit=0)
        await expect_keys(backend, collection, stored, ["k9", "k6", "k7"], limit=3, order_by="-g")

    @pytest.mark.asyncio
    async def test_the_largest_limit_and_offset_are_taken(
        self, backend: Backend, collection: str
    ) -> None:
        # MAX_COUNT is a valid limit and offset: a backend that asks its server for one
        # more record than the limit (to tell whether there is a next page) must not
        # overflow the server's 64-bit integers
        stored = await self._seed_ten(backend, collection)
        every = [f"k{i}" for i in range(10)]
        await expect_keys(backend, collection, stored, every, limit=MAX_COUNT)
        await expect_keys(backend, collection, stored, every[8:], limit=MAX_COUNT, offset=8)
        await expect_keys(backend, collection, stored, [], limit=MAX_COUNT, offset=MAX_COUNT)
        await expect_keys(backend, collection, stored, [], offset=MAX_COUNT)
        await expect_keys(
            backend,
            collection,
            stored,
            ["k9", "k6", "k7", "k8"],
            limit=MAX_COUNT,
            order_by="-g",
            where=[("i", "gt", 5)],
        )
        assert (await run_query(backend, collection, limit=MAX_COUNT)).next_cursor is None

    @pytest.mark.asyncio
    async def test_next_cursor_is_none_exactly_at_the_end(
        self, backend: Backend, collection: str
    ) -> None:
        await self._seed_ten(backend, collection)
        assert (await run_query(backend, collection, limit=9)).next_cursor is not None
        assert (await run_query(backend, collection, limit=10)).next_cursor is None
        assert (await run_query(backend, collection, limit=11)).next_cursor is None
        assert (await run_query(backend, collection)).next_cursor is None
        assert (await run_query(backend, collection, limit=0)).next_cursor is None
        assert (await run_query(backend, collection, limit=2, offset=8)).next_cursor is None
        assert (await run_query(backend, collection, limit=2, offset=7)).next_cursor is not None
        empty = await run_query(backend, collection, where=[("i", "gt", 100)], limit=5)
        assert (empty.items, empty.next_cursor) == ([], None)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("page_size", [1, 3, 5, 10])
    async def test_walking_every_page_returns_each_record_once_in_order(
        self, backend: Backend, collection: str, page_size: int
    ) -> None:
        await self._seed_ten(backend, collection)
        for order_by in (None, "-g", ["g", "-i"]):
            everything = await query_keys(backend, collection, order_by=order_by)
            pages = await walk_pages(backend, collection, page_size, order_by=order_by)
            walked = [r.key for page in pages for r in page.items]
            assert walked == everything, f"order_by={order_by}, pages of {page_size}"
            assert [len(p.items) for p in pages[:-1]] == [page_size] * (len(pages) - 1)
            assert len(pages) == -(-10 // page_size), "no empty page at the end"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("page_size", [1, 2, 3])
    async def test_pages_pass_over_what_does_not_match_at_every_boundary(
        self, backend: Backend, collection: str, page_size: int
    ) -> None:
        """Records that nearly match sit between those that do, in every position a page
        can end on: expired ones, and ones holding a list where the condition looks (the
        field itself, or a step on the way to it), which some servers read through. Every
        page holds only live matches, each once, in order, whatever the page size, in
        both directions and ordered by a value field too."""
        matching = {f"m{i}": {"s": "x", "u": {"s": "x"}, "n": i} for i in range(4)}
        near: dict[str, Any] = {
            "m0a": {"s": ["x"], "u": [{"s": "x"}], "n": 10},
            "m1a": {"s": ["x", "y"], "u": {"s": ["x"]}, "n": 11},
            "m2a": [{"s": "x", "u": {"s": "x"}, "n": 12}],
        }
        await seed(backend, collection, {**matching, **near})
        gone = {"s": "x", "u": {"s": "x"}, "n": 20}
        for key in ("a", "m1b", "m3b"):  # expired: first, between near ones, last
            await backend.put(rec(collection, key, gone, expires_at=ago()))
        for field in ("s", "u.s"):
            for order_by in ("key", "-key", "n", "-n"):
                pages = await walk_pages(
                    backend, collection, page_size, where=[(field, "eq", "x")], order_by=order_by
                )
                walked = [r.key for page in pages for r in page.items]
                expected = sorted(
                    matching, key=lambda k: (matching[k]["n"], k), reverse=order_by[0] == "-"
                )
                assert walked == expected, f"{field} == 'x' by {order_by} in pages of {page_size}"
                assert all(len(p.items) == page_size for p in pages[:-1])
                assert pages[-1].next_cursor is None

    @pytest.mark.asyncio
    async def test_a_cursor_survives_writes_between_pages(
        self, backend: Backend, collection: str
    ) -> None:
        await seed(backend, collection, {k: {"g": 1} for k in ("b", "d", "f", "h")})
        first = await run_query(backend, collection, limit=2)
        assert [r.key for r in first.items] == ["b", "d"]
        # before the cursor (never returned), after it (returned once), and the record the
        # cursor points after is deleted
        await seed(backend, collection, {"a": {"g": 1}, "c": {"g": 1}, "e": {"g": 1}})
        await backend.delete(collection, "d")
        await backend.put(rec(collection, "f", {"g": 1, "changed": True}))
        second = await run_query(backend, collection, limit=2, cursor=first.next_cursor)
        assert [r.key for r in second.items] == ["e", "f"]
        assert second.items[1].value == {"g": 1, "changed": True}
        third = await run_query(backend, collection, limit=2, cursor=second.next_cursor)
        assert [r.key for r in third.items] == ["h"]
        assert third.next_cursor is None

    @pytest.mark.asyncio
    async def test_a_cursor_on_an_ordered_query_survives_writes(
        self, backend: Backend, collection: str
    ) -> None:
        await seed(
            backend, collection, {"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 3}, "d": {"n": 4}}
        )
        first = await run_query(backend, collection, order_by="-n", limit=2)
        assert [r.key for r in first.items] == ["d", "c"]
        # ties with the last record: a key after it comes next, a key before it does not
        await seed(backend, collection, {"ca": {"n": 3}, "bb": {"n": 3}, "z": {"n": 0}})
        rest = await walk_pages(backend, collection, 2, order_by="-n", cursor=first.next_cursor)
        assert [r.key for page in rest for r in page.items] == ["ca", "b", "a", "z"]

    @pytest.mark.asyncio
    async def test_a_cursor_works_with_another_limit_and_select(
        self, backend: Backend, collection: str
    ) -> None:
        await self._seed_ten(backend, collection)
        first = await run_query(backend, collection, order_by="-i", limit=2)
        rest = await run_query(
            backend, collection, order_by="-i", limit=5, select=["i"], cursor=first.next_cursor
        )
        assert [(r.key, r.value) for r in rest.items] == [
            (f"k{i}", {"i": i}) for i in (7, 6, 5, 4, 3)
        ]

    @pytest.mark.asyncio
    async def test_a_cursor_from_another_query_is_refused(
        self, backend: Backend, collection: str
    ) -> None:
        await self._seed_ten(backend, collection)
        page = await run_query(backend, collection, where=[("i", "gt", 0)], limit=2)
        assert page.next_cursor is not None
        for where, order_by in (([("i", "gt", 1)], ()), ([], ()), ([("i", "gt", 0)], ("-i",))):
            with pytest.raises(InvalidQuery):
                Query.build(where, list(order_by), cursor=page.next_cursor)
            # the backend checks too, for queries built without Query.build
            raw = Query(
                tuple(Condition.of(*c) for c in where),
                Query.build(order_by=list(order_by)).order_by,
                cursor=page.next_cursor,
            )
            with pytest.raises(InvalidQuery):
                await backend.query(collection, raw)

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        "cursor",
        [
            "garbage!",
            "",
            "AAAA",
            base64.urlsafe_b64encode(b"[1]").decode(),
            base64.urlsafe_b64encode(b'{"a": 1}').decode(),
            "ü",
        ],
        ids=["punctuation", "empty", "zero-bytes", "json-list", "json-object", "non-ascii"],
    )
    async def test_a_garbage_cursor_is_refused(
        self, backend: Backend, collection: str, cursor: str
    ) -> None:
        await self._seed_ten(backend, collection)
        with pytest.raises(InvalidQuery):
            await backend.query(collection, Query(limit=2, cursor=cursor))

    @pytest.mark.asyncio
    async def test_a_forged_cursor_is_refused(self, backend: Backend, collection: str) -> None:
        """Shaped like the reference's cursors, for this very query, but with a position
        no record can have (a number where the ordering needs a string)."""
        await self._seed_ten(backend, collection)
        query = Query.build(order_by="g", limit=2)
        forged = json.dumps([query.fingerprint(), [[2, 5]], "k1"]).encode()
        cursor = base64.urlsafe_b64encode(forged).decode().rstrip("=")
        with pytest.raises(InvalidQuery):
            await backend.query(collection, Query(query.where, query.order_by, cursor=cursor))


class CountRules(ConformanceFixtures):
    """``count`` counts the live records matching ``where`` (all of them without)."""

    @pytest.mark.asyncio
    async def test_count(self, backend: Backend, collection: str) -> None:
        await seed(backend, collection, NUMBERS)
        assert await backend.count(collection) == len(NUMBERS)
        assert await backend.count(collection, ()) == len(NUMBERS)
        where = (Condition.of("n", "eq", 1),)
        assert await backend.count(collection, where) == 2
        neq = (Condition.of("n", "neq", 1), Condition.of("n", "exists", False))
        assert await backend.count(collection, neq) == 1, "neq counts missing fields"
        assert await backend.count(collection, (Condition.of("n", "gt", 100),)) == 0

    @pytest.mark.asyncio
    async def test_count_of_an_unknown_collection_is_zero(
        self, backend: Backend, collection: str
    ) -> None:
        assert await backend.count(collection) == 0
        assert await backend.count(collection, (Condition.of("n", "neq", 1),)) == 0
