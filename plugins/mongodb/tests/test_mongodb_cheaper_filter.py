"""The cheaper filter an exact query with a limit is first sent with: a query
ordered by a value path raises or skips a document another client wrote exactly as the
exact filter alone did, whatever the cheaper filter's superset holds beside the matches."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from satchel.backend import Record
from satchel.query import Query, evaluate
from satchel_mongodb import MongoBackend

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


async def _with_foreign_document(backend: MongoBackend, name: str) -> list[Record]:
    """Five matching records, and a document another client wrote (no metadata) that the
    exact filter selects, last by ``n``: off the first pages."""
    records = [await backend.put(Record(name, f"k{i}", {"s": "x", "n": i})) for i in range(5)]
    raw = backend.raw_collection(backend.mongo_name(name))
    await raw.insert_one({"_id": "zz", "value": {"s": "x", "n": 100}})
    return records


@pytest.mark.parametrize(
    "odd",
    [
        {"s": ["x"], "n": [1]},  # a record that does not match, with a list at the sort path
        {"s": "x", "n": [1]},  # ... that matches, expired (below)
    ],
    ids=["non-matching", "expired"],
)
async def test_a_non_match_with_a_list_at_the_sort_path_does_not_read_a_foreign_document(
    backend: MongoBackend, odd: Any
) -> None:
    """The check for a list at a sort path looks at the exact filter's candidates: a
    non-match there (which the cheaper filter selects) must not send the query to the
    client, which reads every candidate and raises about a document off the page."""
    records = await _with_foreign_document(backend, "odd")
    expired = odd["s"] == "x"
    await backend.put(Record("odd", "odd", odd, expires_at=EPOCH if expired else None))
    query = Query.build(where=[("s", "eq", "x")], order_by="n", limit=2)
    page = await backend.query("odd", query)
    assert [r.key for r in page] == [r.key for r in evaluate(records, query)[0]] == ["k0", "k1"]


async def test_a_log_entry_with_a_list_at_the_sort_path_does_not_read_a_foreign_document(
    backend: MongoBackend,
) -> None:
    records = await _with_foreign_document(backend, "logged")
    await backend.log_append("logged", "a-log", [{"s": "x", "n": [1, 2]}])
    query = Query.build(where=[("s", "eq", "x")], order_by="n", limit=2)
    page = await backend.query("logged", query)
    assert [r.key for r in page] == [r.key for r in evaluate(records, query)[0]] == ["k0", "k1"]


@pytest.mark.parametrize("at_sort_path", [{"o": 1}, 2**60], ids=["object", "beyond 2**53"])
async def test_an_unsortable_non_match_on_the_cheap_page_sends_the_exact_filter(
    backend: MongoBackend, at_sort_path: Any
) -> None:
    """A document on the cheaper filter's page that the exact filter does not select, and
    that holds at the sort path what the server orders otherwise than satchel (an object,
    a number beyond 2**53: not what the check for lists finds), sends the exact filter,
    not the whole query to the client (which reads every candidate, and raises about a
    document another client wrote, off the page)."""
    records = [await backend.put(Record("desc", f"k{i}", {"s": "x", "n": i})) for i in range(5)]
    raw = backend.raw_collection(backend.mongo_name("desc"))
    await raw.insert_one({"_id": "zz", "value": {"s": "x", "n": -100}})
    await backend.put(Record("desc", "odd", {"s": ["x"], "n": at_sort_path}))
    query = Query.build(where=[("s", "eq", "x")], order_by="-n", limit=2)
    page = await backend.query("desc", query)
    assert [r.key for r in page] == [r.key for r in evaluate(records, query)[0]] == ["k4", "k3"]
    assert page.next_cursor is not None
    second = await backend.query(
        "desc",
        Query.build(where=[("s", "eq", "x")], order_by="-n", limit=2, cursor=page.next_cursor),
    )
    assert [r.key for r in second] == ["k2", "k1"]
