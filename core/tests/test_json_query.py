"""The JSON form of queries: ``{"field", "operator", "value"}`` conditions, ``{"field",
"direction"}`` ordering terms and whole query documents (:func:`satchel.query.parse_query`)
mean exactly what the tuple form means, and fail with the same errors, naming the item."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import satchel
import satchel.sync
from satchel import InvalidArgument, InvalidQuery, Query
from satchel.query import (
    JSON_OPERATOR_SPELLINGS,
    OPERATORS,
    Condition,
    Order,
    check_query,
    parse_order_by,
    parse_query,
    parse_where,
)
from satchel.stores import KVStore

# --------------------------------------------------------------------------------------
# the same query, in either form

_FIELDS = st.sampled_from(
    ["n", "s", "tags", "user.name", "items.0.role", "value", "value.n", "key", "version"]
)
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False),
    st.text(max_size=3),
    st.lists(st.integers(-2, 2), max_size=3),
)


@st.composite
def _conditions(draw: st.DrawFn) -> tuple[str, str, Any]:
    op = draw(st.sampled_from(sorted(OPERATORS)))
    field = draw(_FIELDS)
    if op == "in":
        value: Any = draw(st.lists(_VALUES, max_size=3))
    elif op in ("startswith", "endswith"):
        value = draw(st.text(max_size=2))
    elif op == "exists":
        value = draw(st.booleans())
    else:
        value = draw(_VALUES)
    return field, op, value


_ORDERS = st.lists(st.tuples(_FIELDS, st.sampled_from(["asc", "desc", "ASC", "Desc"])), max_size=3)


def _as_json(condition: tuple[str, str, Any]) -> dict[str, Any]:
    field, op, value = condition
    return {"field": field, "operator": op, "value": value}


def _orders_as_json(orders: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": field, "direction": direction} for field, direction in orders]


@settings(max_examples=100, deadline=None)
@given(st.lists(_conditions(), max_size=4), _ORDERS, st.none() | st.integers(0, 5))
def test_the_json_form_is_the_tuple_form(
    conditions: list[tuple[str, str, Any]], orders: list[tuple[str, str]], limit: int | None
) -> None:
    expected = Query.build(conditions, orders, limit=limit)
    document = {
        "where": [_as_json(c) for c in conditions],
        "orderBy": _orders_as_json(orders),
        "limit": limit,
    }
    assert parse_query(document) == expected
    # through JSON text and back, as a stored or sent query arrives
    assert parse_query(json.dumps(document)) == expected
    assert parse_query(json.dumps(document).encode()) == expected
    snake = {"order_by" if k == "orderBy" else k: v for k, v in document.items()}
    assert parse_query(snake) == expected
    # the two forms mix in one list, and in Query.build
    mixed = [c if i % 2 else _as_json(c) for i, c in enumerate(conditions)]
    assert Query.build(mixed, _orders_as_json(orders), limit=limit) == expected
    assert parse_where(mixed) == expected.where
    # a single ordering term need not be in a list
    if len(orders) == 1:
        assert parse_order_by(_orders_as_json(orders)[0]) == expected.order_by


_RECORDS: dict[str, Any] = {
    "a": {"n": 1, "s": "ab", "tags": [1, 2], "user": {"name": "ann"}},
    "b": {"n": 2.5, "s": "b", "tags": [], "items": [{"role": "x"}]},
    "c": {"n": "2", "s": "", "user": {"name": "bob"}},
    "d": {"n": None, "tags": [2]},
    "e": 3,
    "f": "text",
    "g": [1, 2],
    "h": {"n": True, "s": "abc", "items": [{"role": "y"}, {"role": "x"}]},
}


@pytest.fixture(scope="module")
def filled() -> Any:
    with satchel.sync.open() as handle:
        kv = handle.kv("json-form")
        kv.set_many(_RECORDS)
        kv.set("a", _RECORDS["a"])  # version 2: the versions differ
        yield kv


@settings(max_examples=50, deadline=None)
@given(st.lists(_conditions(), max_size=3), _ORDERS)
def test_a_store_answers_both_forms_alike(
    filled: Any, conditions: list[tuple[str, str, Any]], orders: list[tuple[str, str]]
) -> None:
    json_where = [_as_json(c) for c in conditions]
    json_order = _orders_as_json(orders)
    expected = filled.query(conditions, order_by=orders)
    document = parse_query({"where": json_where, "orderBy": json_order})
    for page in (
        filled.query(json_where, order_by=json_order),
        filled.query(document),
    ):
        assert [(e.key, e.value) for e in page.items] == [(e.key, e.value) for e in expected.items]
    assert filled.count(json_where) == filled.count(conditions) == filled.count(document)
    assert filled.count(conditions) == len(expected.items)


async def test_metadata_fields_and_value_paths(store: satchel.Satchel) -> None:
    kv = store.kv("meta")
    await kv.set("k1", {"key": "inside", "user": {"age": 30}})
    await kv.set("k2", {"key": "k1", "user": {"age": 17}})
    await kv.set("k2", {"key": "k1", "user": {"age": 18}})
    since = datetime(2000, 1, 1, tzinfo=timezone.utc).isoformat()

    async def keys(*where: dict[str, Any], order: Any = None) -> list[str]:
        return [e.key for e in (await kv.query(list(where), order_by=order)).items]

    assert await keys({"field": "key", "operator": "eq", "value": "k1"}) == ["k1"]
    assert await keys({"field": "value.key", "operator": "eq", "value": "k1"}) == ["k2"]
    assert await keys({"field": ["key"], "operator": "eq", "value": "k1"}) == ["k2"]
    assert await keys({"field": "value.user.age", "operator": "gte", "value": 18}) == ["k1", "k2"]
    assert await keys({"field": "version", "operator": "eq", "value": 2}) == ["k2"]
    assert await keys({"field": "created_at", "operator": "gt", "value": since}) == ["k1", "k2"]
    assert await keys({"field": "expires_at", "operator": "eq", "value": None}) == ["k1", "k2"]
    assert await keys(order={"field": "value.user.age", "direction": "asc"}) == ["k2", "k1"]
    assert await keys(order=[{"field": "version", "direction": "desc"}, "key"]) == ["k2", "k1"]


async def test_codeboltjs_operator_spellings(store: satchel.Satchel) -> None:
    kv = store.kv("spellings")
    await kv.set_many({"a": {"s": "alpha"}, "b": {"s": "beta"}})
    for spelling, operator in JSON_OPERATOR_SPELLINGS.items():
        document = {"where": [{"field": "value.s", "operator": spelling, "value": "a"}]}
        plain = {"where": [{"field": "value.s", "operator": operator, "value": "a"}]}
        assert parse_query(document) == parse_query(plain)
    starts = {"where": [{"field": "value.s", "operator": "startsWith", "value": "al"}]}
    ends = {"where": [{"field": "value.s", "operator": "endsWith", "value": "ta"}]}
    assert [e.key for e in (await kv.query(parse_query(starts))).items] == ["a"]
    assert await kv.count(parse_query(ends)) == 1
    # only the JSON form takes them: the tuple form's operators are satchel's own
    with pytest.raises(InvalidQuery, match=r"where\[0\]: unknown operator 'startsWith'"):
        Query.build([("s", "startsWith", "a")])


async def test_a_whole_document_pages_with_its_cursor(store: satchel.Satchel) -> None:
    kv = store.kv("paged")
    await kv.set_many({f"k{i}": {"n": i % 3} for i in range(7)})
    document: dict[str, Any] = {
        "where": [{"field": "n", "operator": "lt", "value": 2}],
        "orderBy": [{"field": "n", "direction": "desc"}],
        "select": ["n"],
        "limit": 2,
    }
    seen: list[str] = []
    while True:
        page = await kv.query(parse_query(document))
        seen += [e.key for e in page.items]
        if page.next_cursor is None:
            break
        document["cursor"] = page.next_cursor
    assert seen == ["k1", "k4", "k0", "k3", "k6"]
    tuple_form = await kv.query([("n", "lt", 2)], order_by="-n", select=["n"])
    assert seen == [e.key for e in tuple_form.items]
    offset = await kv.query(parse_query({"offset": 5, "limit": 1}))
    assert [e.key for e in offset.items] == ["k5"]


# --------------------------------------------------------------------------------------
# the same errors, naming the argument and the item


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"where": [{"field": "a", "operator": "like", "value": 1}]},
            r"^where\[0\]: unknown operator 'like'",
        ),
        (
            {"where": [["a", "eq", 1], {"field": "a", "operator": 7, "value": 1}]},
            r"^where\[1\]: unknown operator int 7",
        ),
        ({"where": [{"field": "a", "value": 1}]}, r"^where\[0\]: a condition lacks 'operator'"),
        ({"where": [{"operator": "eq", "value": 1}]}, r"^where\[0\]: a condition lacks 'field'"),
        ({"where": [{"field": "a", "operator": "eq"}]}, r"^where\[0\]: a condition lacks 'value'"),
        (
            {"where": [{"field": "a", "op": "eq", "value": 1}]},
            r"^where\[0\]: unknown key 'op' in a condition",
        ),
        (
            {"where": [{"field": "", "operator": "eq", "value": 1}]},
            r"^where\[0\]: a field name must not be empty",
        ),
        (
            {"where": [{"field": "a..b", "operator": "eq", "value": 1}]},
            r"^where\[0\]: 'a..b' has an empty path segment",
        ),
        (
            {"where": [{"field": 5, "operator": "eq", "value": 1}]},
            r"^where\[0\]: a field is a dotted string",
        ),
        (
            {"where": [{"field": "a", "operator": "in", "value": 1}]},
            r"^where\[0\]: 'in' takes a list",
        ),
        (
            {"where": [{"field": "a", "operator": "startsWith", "value": 1}]},
            r"^where\[0\]: 'startswith' takes a string",
        ),
        (
            {"where": [{"field": "a", "operator": "exists", "value": "yes"}]},
            r"^where\[0\]: 'exists' takes true or false",
        ),
        (
            {"where": [{"field": "updated_at", "operator": "gt", "value": "soon"}]},
            r"^where\[0\]: updated_at takes a datetime",
        ),
        (
            {"where": [{"field": "a", "operator": "eq", "value": float("nan")}]},
            r"^where\[0\] \(a eq\): nan is not a finite number",
        ),
        ({"where": ["a eq 1"]}, r"^where\[0\]: each condition is"),
        ({"where": "a"}, r"^where: takes a list"),
        (
            {"orderBy": {"field": "a", "direction": "up"}},
            r"^orderBy: direction is 'asc' or 'desc', not 'up'",
        ),
        (
            {"orderBy": [{"field": "a", "direction": "asc"}, {"field": "b", "direction": 1}]},
            r"^orderBy\[1\]: direction is 'asc' or 'desc', not int 1",
        ),
        ({"order_by": [{"field": "a"}]}, r"^order_by\[0\]: an ordering term lacks 'direction'"),
        ({"order_by": [{"direction": "asc"}]}, r"^order_by\[0\]: an ordering term lacks 'field'"),
        (
            {"orderBy": {"field": "a", "direction": "asc", "nulls": "first"}},
            r"^orderBy: unknown key 'nulls' in an ordering term",
        ),
        (
            {"orderBy": [{"field": "", "direction": "asc"}]},
            r"^orderBy\[0\]: a field name must not be empty",
        ),
        ({"orderBy": 5}, r"^orderBy: takes 'field'"),
        ({"order_by": "a", "orderBy": "b"}, r"^query: give order_by or orderBy, not both"),
        ({"from": {"instance": "x"}}, r"^query: unknown key 'from'"),
        ({5: 1}, r"^query: unknown key int 5"),
        ({"select": ["key"]}, r"^select: 'key' is metadata"),
        ({"limit": -1}, r"^limit: must be a whole number"),
        ({"limit": 1.5}, r"^limit: must be a whole number"),
        ({"offset": "2"}, r"^offset: must be a whole number"),
        ({"cursor": "garbage"}, r"^cursor: "),
        ({"cursor": 5}, r"^cursor: must be a cursor string"),
        ([{"field": "a"}], r"^query: a query document is a JSON object, not list"),
        ("{", r"^query: not a JSON document"),
        (b"\xff", r"^query: not a JSON document"),
        ("[" * 100_000, r"^query: not a JSON document \(nested too deeply\)"),
        ('{"where": ' + "[" * 100_000, r"^query: not a JSON document"),
        ("[]", r"^query: a query document is a JSON object"),
    ],
)
async def test_every_error_names_the_argument_and_the_item(
    store: satchel.Satchel, document: Any, message: str
) -> None:
    kv = store.kv("errors")
    await kv.set("keep", {"a": 1})
    with pytest.raises(InvalidQuery, match=message) as info:
        parse_query(document)
    assert isinstance(info.value, InvalidArgument) and isinstance(info.value, satchel.SatchelError)
    if isinstance(document, dict) and set(document) <= {"where", "order_by"}:
        # the same error from the store's own arguments, and nothing written or lost
        with pytest.raises(InvalidQuery, match=message):
            await kv.query(document.get("where"), order_by=document.get("order_by"))
    assert await kv.get("keep") == {"a": 1}


async def test_the_tuple_form_names_the_item_too(kv_store: KVStore) -> None:
    with pytest.raises(InvalidQuery, match=r"^where\[1\]: unknown operator 'like'"):
        await kv_store.query([("a", "eq", 1), ("a", "like", 1)])
    with pytest.raises(InvalidQuery, match=r"^where\[0\]: 'in' takes a list"):
        await kv_store.count([("a", "in", 1)])
    with pytest.raises(InvalidQuery, match=r"^order_by\[1\]: direction is 'asc' or 'desc'"):
        await kv_store.query(order_by=["a", ("b", "up")])
    with pytest.raises(InvalidQuery, match=r"^order_by: 'a..b' has an empty path segment"):
        await kv_store.query(order_by="a..b")
    with pytest.raises(InvalidQuery, match=r"^where\[0\]: unknown operator 'like'"):
        await kv_store.query([Condition(("value", "a"), "like", 1)])  # type: ignore[arg-type]


@pytest.fixture
def kv_store(store: satchel.Satchel) -> KVStore:
    return store.kv("tuples")


async def test_a_query_object_stands_alone(kv_store: KVStore) -> None:
    await kv_store.set_many({"a": 1, "b": 2})
    query = parse_query({"orderBy": {"field": "value", "direction": "desc"}})
    assert [e.key for e in (await kv_store.query(query)).items] == ["b", "a"]
    with pytest.raises(InvalidArgument, match=r"^limit: given with a Query as where"):
        await kv_store.query(query, limit=1)
    with pytest.raises(InvalidArgument, match=r"^order_by, cursor: given with a Query"):
        await kv_store.query(query, order_by="key", cursor="x")
    # a Query built by hand is checked as one built from user input
    with pytest.raises(InvalidQuery, match=r"where\[0\]: unknown operator 'like'"):
        await kv_store.query(Query(where=(Condition(("value",), "like", 1),)))  # type: ignore[arg-type]
    with pytest.raises(InvalidQuery, match=r"^select: 'key' is metadata"):
        await kv_store.count(Query(select=(("key",),)))
    with pytest.raises(InvalidQuery, match=r"^limit: must be a whole number"):
        await kv_store.query(Query(limit=-1))
    with pytest.raises(InvalidQuery, match=r"^order_by\[0\]: a field path is"):
        await kv_store.query(Query(order_by=(Order(("nope",)),)))
    with pytest.raises(InvalidQuery, match=r"^where: must be a Query"):
        check_query("not a query", argument="where")  # type: ignore[arg-type]
    assert await kv_store.get_many(["a", "b"]) == {"a": 1, "b": 2}


@pytest.mark.parametrize("offset", [False, 0.0])
async def test_an_offset_that_is_not_a_whole_number_is_refused_beside_a_query_too(
    kv_store: KVStore, offset: Any
) -> None:
    """``offset=False`` or ``0.0`` is refused without a Query (not a whole number); beside a
    Query it is an argument given with it, not a default to ignore."""
    query = parse_query({"limit": 1})
    with pytest.raises(InvalidQuery, match=r"^offset: must be a whole number"):
        await kv_store.query(offset=offset)
    with pytest.raises(InvalidArgument, match=r"^offset: given with a Query as where"):
        await kv_store.query(query, offset=offset)
