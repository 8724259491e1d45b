"""satchel.toolkit: the stored form of values (the fast check agrees with the exact one,
message for message), times, errors, the put condition, ranks and the page iterator."""

from __future__ import annotations

import enum
import json
import math
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satchel import AlreadyExists, Conflict, InvalidArgument, NotFound, ValueTooLarge
from satchel.backend import Page, Record, utcnow
from satchel.query import Query, SortRank, cursor_position, encode_cursor, evaluate
from satchel.toolkit import (
    EPOCH,
    MAX_STORED_DEPTH,
    already_exists,
    check_put_condition,
    conflict,
    decode_json,
    encode_json,
    encode_value,
    from_unix_ms,
    iter_pages,
    not_found,
    now_ms,
    unix_ms,
)
from satchel.validation import MAX_DEPTH, _walk, check_json


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


def nested(depth: int, leaf: Any = None) -> Any:
    """A list nested ``depth`` levels deep (``[]`` is one level)."""
    value: Any = [] if leaf is None else [leaf]
    for _ in range(depth - 1):
        value = [value]
    return value


def exact(value: Any) -> tuple[str, Any]:
    """What the Python walk alone says: ("ok", the JSON the standard library writes), or
    ("error", the message)."""
    try:
        _walk(value, "value")
    except InvalidArgument as exc:
        return "error", str(exc)
    return "ok", json.loads(json.dumps(value, ensure_ascii=False))


def fast(value: Any) -> tuple[str, Any]:
    try:
        data, copy = encode_json(value)
    except InvalidArgument as exc:
        return "error", str(exc)
    assert decode_json(data) == copy
    assert json.loads(data) == copy, "the JSON the standard library reads"
    return "ok", copy


# values with every kind of trouble check_json knows about, at any depth
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities included
    st.text(alphabet=st.characters(codec=None), max_size=6),  # lone surrogates included
    st.sampled_from(["[", "]{", '"', "\\", "a[b]c", "é"]),
    st.sampled_from([Colour.RED, Level.HIGH, Name("n"), uuid.UUID(int=1), b"x", {1, 2}]),
    st.just(datetime(2024, 1, 1, tzinfo=timezone.utc)),
)
_keys = st.one_of(
    st.text(alphabet=st.characters(codec=None), max_size=4),
    st.sampled_from([1, None, Name("k"), ("t",), "[", '"']),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_values)
def test_the_fast_check_agrees_with_the_exact_walk(value: Any) -> None:
    assert fast(value) == exact(value)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=MAX_DEPTH + 3), st.sampled_from([None, 1, "[", '"]']))
def test_the_nesting_limit_agrees_with_the_exact_walk(depth: int, leaf: Any) -> None:
    wide = [nested(depth, leaf), [{"a": [1, 2]}] * 30, "[[[{{{"]
    for value in (nested(depth, leaf), wide):
        assert fast(value) == exact(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": [1, {"b": math.nan}]}, "value['a'][1]['b']: nan is not JSON"),
        ([math.inf], "value[0]: inf is not JSON"),
        ({"a": {1: 2}}, "value['a']: object keys must be strings; 1 is int"),
        ({Name("k"): 1}, "value: object keys must be strings; 'k' is Name"),
        ({"a": "\ud800"}, "value['a']: '\\ud800' holds a lone surrogate"),
        ({"a": [Colour.RED]}, "value['a'][0]: Colour is not JSON-serialisable"),
        ([uuid.UUID(int=1)], "value[0]: UUID is not JSON-serialisable"),
        (nested(MAX_DEPTH + 1), f"value: nests deeper than {MAX_DEPTH} levels"),
    ],
)
def test_refusals_name_the_offending_part(value: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_json(value)
    assert str(info.value).startswith(message)
    if "nests deeper" in message:
        return  # a backend stores deeper values: see the next test
    with pytest.raises(InvalidArgument) as again:
        encode_value(value, "value of 'k' in 'c'")
    assert str(again.value) == f"value of 'k' in 'c': {info.value}"


def test_a_backend_stores_deeper_values_up_to_its_own_bound() -> None:
    for depth in (MAX_DEPTH + 1, MAX_STORED_DEPTH):
        for value in (nested(depth), [nested(depth - 1, 2**70)], [nested(depth - 1), "[" * 300]):
            assert encode_value(value, "value").copy == json.loads(json.dumps(value))
    with pytest.raises(InvalidArgument) as info:
        encode_value([1, nested(MAX_STORED_DEPTH)], "value of 'k'")
    assert str(info.value).startswith(
        f"value of 'k': value: nests deeper than {MAX_STORED_DEPTH} levels (or contains itself)"
    )


def test_a_value_that_contains_itself_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidArgument, match="contains itself"):
        encode_json(loop)
    with pytest.raises(InvalidArgument, match="contains itself"):
        encode_value({"a": loop}, "value")


@pytest.mark.parametrize(
    ("value", "copy"),
    [
        ((1, (2, 3)), [1, [2, 3]]),
        ({"n": Name("x"), "level": Level.HIGH}, {"n": "x", "level": 3}),
        ([2**64, -(2**70), 2**64 - 1], [2**64, -(2**70), 2**64 - 1]),
        ({"f": 1.0, "i": 1, "t": True}, {"f": 1.0, "i": 1, "t": True}),
        (nested(MAX_DEPTH, "[x"), nested(MAX_DEPTH, "[x")),
    ],
)
def test_what_is_accepted_reads_back_as_json(value: Any, copy: Any) -> None:
    data, got = encode_json(value)
    assert got == copy
    assert decode_json(data) == copy
    assert decode_json(data.decode()) == copy
    assert type(decode_json(data)) is type(copy)
    if copy == [2**64, -(2**70), 2**64 - 1]:
        assert all(type(n) is int for n in decode_json(data)), "integers stay integers"


def test_the_stored_form_is_compact_utf8_json() -> None:
    data, copy = encode_value({"a": [1, "é"], "b": None}, "value")
    assert data == '{"a":[1,"é"],"b":null}'.encode()
    assert copy == {"a": [1, "é"], "b": None}


def test_the_copy_is_the_callers_own() -> None:
    value = {"a": [1]}
    _, copy = encode_value(value, "value")
    copy["a"].append(2)
    assert value == {"a": [1]}


def test_the_size_limit_counts_bytes_and_names_the_value_and_setting() -> None:
    text = "é" * 5  # 12 bytes of JSON, 7 characters
    assert encode_value(text, "value", max_bytes=12).data == f'"{text}"'.encode()
    with pytest.raises(ValueTooLarge) as info:
        encode_value(text, "value of 'k' in 'c'", max_bytes=11, setting="SATCHEL_X_MAX_VALUE_BYTES")
    assert str(info.value) == (
        "value of 'k' in 'c' is 12 bytes of JSON; the maximum is 11 (SATCHEL_X_MAX_VALUE_BYTES)"
    )


def test_bad_json_text_is_a_value_error() -> None:
    for text in (b"{not json", "[1,", b""):
        with pytest.raises(ValueError):
            decode_json(text)


def test_unix_milliseconds() -> None:
    at = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    assert unix_ms(at) == 1714979289123
    assert from_unix_ms(1714979289123) == at.replace(microsecond=123000)
    assert unix_ms(at.replace(tzinfo=None)) == 1714979289123, "naive is UTC"
    other = at.astimezone(timezone(timedelta(hours=5)))
    assert unix_ms(other) == 1714979289123
    assert from_unix_ms(0) == EPOCH
    assert from_unix_ms(-1) == EPOCH - timedelta(milliseconds=1)
    assert from_unix_ms(0).tzinfo is timezone.utc
    before = unix_ms(utcnow())
    now = now_ms()
    assert before <= now <= unix_ms(utcnow())


def test_the_errors_of_conditional_writes() -> None:
    error = conflict("c", "k", 3, 5)
    assert isinstance(error, Conflict)
    assert (error.expected, error.actual) == (3, 5)
    assert str(error) == "'k' in 'c' is at version 5, not 3; reload it and try again"
    assert isinstance(not_found("c", "k"), NotFound)
    assert str(not_found("c", "k")) == "'k' does not exist in 'c'"
    assert isinstance(already_exists("c", "k"), AlreadyExists)
    assert str(already_exists("c", "k")) == "'k' already exists in 'c'"
    assert str(already_exists("c", "k", 4)) == "'k' already exists in 'c' (version 4)"


def test_the_put_condition() -> None:
    check_put_condition(False, None)
    check_put_condition(True, None)
    check_put_condition(False, 3)
    with pytest.raises(InvalidArgument) as info:
        check_put_condition(True, 3)
    assert "if_absent" in str(info.value)
    assert "if_version" in str(info.value)


@pytest.mark.asyncio
async def test_iter_pages_follows_next_cursor() -> None:
    asked: list[str | None] = []
    pages = {None: Page([1, 2], "a"), "a": Page([3], "b"), "b": Page([], None)}

    async def fetch(cursor: str | None) -> Page[int]:
        asked.append(cursor)
        return pages[cursor]

    got = [page.items async for page in iter_pages(fetch)]
    assert got == [[1, 2], [3], []]
    assert asked == [None, "a", "b"]
    asked.clear()
    assert [page.items async for page in iter_pages(fetch, "a")] == [[3], []]
    assert asked == ["a", "b"]


def test_sort_ranks_are_the_order_of_evaluate() -> None:
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    by_rank = {
        SortRank.NULL: None,
        SortRank.NUMBER: 5,
        SortRank.STRING: "s",
        SortRank.OBJECT: {"a": 1},
        SortRank.LIST: [1],
        SortRank.BOOLEAN: False,
        SortRank.DATETIME: when,
    }
    records = [Record("c", f"k{int(rank)}", {"f": value}) for rank, value in by_rank.items()]
    query = Query.build(order_by="f")
    items, _ = evaluate(reversed(records), query)
    assert [r.key for r in items] == [f"k{int(rank)}" for rank in sorted(SortRank)]
    for record, rank in zip(records, by_rank, strict=True):
        paged = Query.build(order_by="f", cursor=encode_cursor(query, record))
        atoms, key = cursor_position(paged)
        assert (atoms[0][0], key) == (rank, record.key)


def test_the_toolkit_is_a_public_module() -> None:
    import satchel.toolkit

    assert satchel.toolkit is satchel.__getattr__("toolkit")
    assert "toolkit" in satchel.__all__
    for name in satchel.toolkit.__all__:
        assert getattr(satchel.toolkit, name).__doc__, f"{name} has a docstring"
