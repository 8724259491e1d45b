"""``satchel.query.SortRank``: the public names of the ranks of the query order, which
cursors carry and backends that sort on their server use."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from satchel.backend import Record
from satchel.query import Query, SortRank, cursor_position, evaluate

#: One stored value of each rank, in the order of the ranks.
SAMPLES: list[tuple[SortRank, Any]] = [
    (SortRank.NULL, None),
    (SortRank.NUMBER, 2.5),
    (SortRank.STRING, "a"),
    (SortRank.OBJECT, {"a": 1}),
    (SortRank.LIST, [1]),
    (SortRank.BOOLEAN, False),
    (SortRank.DATETIME, datetime(2024, 1, 2, tzinfo=timezone.utc)),
]


def test_the_ranks_and_their_values_never_change() -> None:
    """Cursors hold the values: changing one would break every cursor handed out."""
    assert [(r.name, int(r)) for r in SortRank] == [
        ("NULL", 0),
        ("NUMBER", 1),
        ("STRING", 2),
        ("OBJECT", 3),
        ("LIST", 4),
        ("BOOLEAN", 5),
        ("DATETIME", 6),
    ]


def test_order_by_follows_the_ranks_and_cursors_carry_them() -> None:
    records = [
        Record("c", f"k{len(SAMPLES) - i}", {"f": value}) for i, (_, value) in enumerate(SAMPLES)
    ]
    records.append(Record("c", "k0", {}))  # a missing field ranks with null
    page, _ = evaluate(records, Query.build(order_by="f"))
    assert [r.value.get("f") for r in page] == [None, *[v for _, v in SAMPLES]]
    for rank, value in SAMPLES:
        query = Query.build(order_by="f", limit=1)
        _, cursor = evaluate(
            [Record("c", "a", {"f": value}), Record("c", "b", {"f": value})], query
        )
        assert cursor is not None
        atoms, key = cursor_position(Query.build(order_by="f", cursor=cursor))
        assert (atoms[0][0], key) == (rank, "a")
