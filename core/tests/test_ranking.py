"""satchel.ranking: sortable key parts, and pages in rank order that skip stale entries."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import satchel
from satchel.errors import InvalidArgument
from satchel.ranking import Ranking, sortable_number, sortable_text
from satchel.stores.kv import Entry

numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)


@given(numbers, numbers)
def test_number_parts_sort_as_the_numbers(a: float, b: float) -> None:
    up_a, up_b = sortable_number(a), sortable_number(b)
    down_a, down_b = sortable_number(a, descending=True), sortable_number(b, descending=True)
    assert len(up_a) == len(down_a) == 16
    assert (up_a < up_b) == (float(a) < float(b))
    assert (up_a == up_b) == (float(a) == float(b))
    assert (down_a < down_b) == (float(a) > float(b))


@given(st.tuples(st.text(), st.text()), st.tuples(st.text(), st.text()))
def test_text_parts_placed_in_a_row_sort_as_the_tuples(
    a: tuple[str, str], b: tuple[str, str]
) -> None:
    def key(t: tuple[str, str], descending: bool = False) -> str:
        return "".join(sortable_text(part, descending=descending) for part in t)

    def points(t: tuple[str, str]) -> tuple[list[int], list[int]]:
        return ([ord(c) for c in t[0]], [ord(c) for c in t[1]])

    assert (key(a) < key(b)) == (points(a) < points(b))
    assert (key(a, True) < key(b, True)) == (points(a) > points(b))
    assert (key(a) == key(b)) == (a == b)


def test_a_number_part_before_a_text_part_breaks_ties_by_the_text() -> None:
    ranks = [
        sortable_number(t, descending=True) + sortable_text(i, descending=True)
        for t, i in [(2.0, "a"), (1.0, "b"), (2.0, "b"), (1.0, "a")]
    ]
    assert sorted(ranks) == [ranks[2], ranks[0], ranks[1], ranks[3]]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1", None, True])
def test_a_number_part_refuses_what_has_no_order(bad: object) -> None:
    with pytest.raises(InvalidArgument, match="number"):
        sortable_number(bad)  # type: ignore[arg-type]


def test_minus_zero_is_zero() -> None:
    assert sortable_number(-0.0) == sortable_number(0.0) == sortable_number(0)


async def test_pages_follow_the_rank_and_skip_entries_that_are_not_current(
    store: satchel.Satchel,
) -> None:
    ranking: Ranking[str] = Ranking(store.kv("ranks"))
    current: dict[str, float] = {}
    for n in range(23):
        item = f"i{n:02}"
        current[item] = float(100 - n)
        await ranking.place("g", sortable_number(100 - n), {"item": item, "t": 100 - n})
    # stale entries: a writer that stopped after placing, and a removed record
    await ranking.place("g", sortable_number(50.5), {"item": "i03", "t": 50.5})
    del current["i07"]
    # another group is never read
    await ranking.place("h", sortable_number(1), {"item": "i01", "t": 1})
    resolved_batches: list[int] = []

    async def resolve(entries: list[Entry]) -> list[str | None]:
        resolved_batches.append(len(entries))
        out: list[str | None] = []
        for entry in entries:
            value = entry.value
            assert isinstance(value, dict)
            item = value["item"]
            assert isinstance(item, str)
            out.append(item if current.get(item) == value["t"] else None)
        return out

    listed: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        items, cursor = await ranking.page("g", limit=5, cursor=cursor, resolve=resolve)
        pages += 1
        assert len(items) == 5 or cursor is None
        listed += items
        if cursor is None:
            break
    assert listed == sorted(current, key=lambda i: current[i])
    assert pages == 5
    assert max(resolved_batches) <= 5


async def test_withdraw_leaves_an_entry_written_again_by_another_writer(
    store: satchel.Satchel,
) -> None:
    ranking: Ranking[str] = Ranking(store.kv("ranks"))
    mine = await ranking.place("g", "r", {"item": "a"})
    await ranking.place("g", "r", {"item": "a"})  # another writer, same rank
    await ranking.withdraw("g", "r", mine)
    assert await ranking.kv.get("g/r") == {"item": "a"}
    theirs = await ranking.kv.get_entry("g/r")
    assert theirs is not None
    await ranking.withdraw("g", "r", theirs.version)
    assert await ranking.kv.get("g/r") is None


async def test_place_new_leaves_an_entry_that_is_there_and_says_so(
    store: satchel.Satchel,
) -> None:
    ranking: Ranking[str] = Ranking(store.kv("ranks"))
    theirs = await ranking.place_new("g", "r", {"item": "a"})
    assert isinstance(theirs, int)
    assert await ranking.place_new("g", "r", {"item": "a"}) is None
    entry = await ranking.kv.get_entry("g/r")
    assert entry is not None and entry.version == theirs
    entries = await ranking.kv.get_entries(["g/r", "g/missing"])
    assert list(entries) == ["g/r"] and entries["g/r"].version == theirs
