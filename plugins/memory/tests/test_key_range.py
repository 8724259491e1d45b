"""Queries with conditions on the key read only the keys in their range."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from satchel.backend import Record, utcnow
from satchel.query import Query, evaluate
from satchel_memory import MemoryBackend
from satchel_memory.backend import _KeyRange, _Stored


class Counting(MemoryBackend):
    """Counts the stored records a read looks at, whether walked in key order or taken
    from the whole collection."""

    def __init__(self) -> None:
        super().__init__()
        self.visited = 0

    def _in_range(self, collection: str, bounds: _KeyRange) -> Iterator[_Stored]:
        for stored in super()._in_range(collection, bounds):
            self.visited += 1
            yield stored

    def _snapshot(self, collection: str, now: datetime) -> list[Record]:
        records = super()._snapshot(collection, now)
        self.visited += len(records)
        return records


async def threads(backend: MemoryBackend, count: int = 50, each: int = 20) -> None:
    """``count`` threads of ``each`` checkpoints, keyed ``t<thread>:<checkpoint>``."""
    await backend.put_many(
        [
            Record("c", f"t{t:02d}:{n:02d}", {"thread": t, "n": n})
            for t in range(count)
            for n in range(each)
        ]
    )


async def test_startswith_with_a_limit_reads_the_first_keys_of_the_range() -> None:
    backend = Counting()
    await threads(backend)
    backend.visited = 0
    page = await backend.query("c", Query.build([("key", "startswith", "t07:")], limit=1))
    assert [r.key for r in page.items] == ["t07:00"]
    assert page.next_cursor is not None
    assert backend.visited == 2  # the page and the one that shows a next page exists

    backend.visited = 0
    page = await backend.query("c", Query.build([("key", "startswith", "t07:")]))
    assert [r.key for r in page.items] == [f"t07:{n:02d}" for n in range(20)]
    assert backend.visited == 20


async def test_key_bounds_and_cursors_read_only_their_range() -> None:
    backend = Counting()
    await threads(backend)
    backend.visited = 0
    where = [("key", "gt", "t03:17"), ("key", "lte", "t04:02")]
    page = await backend.query("c", Query.build(where))
    assert [r.key for r in page.items] == ["t03:18", "t03:19", "t04:00", "t04:01", "t04:02"]
    assert backend.visited == 5

    # a condition on the value is applied within the range; the walk stops once the page
    # (and one more match) is found
    backend.visited = 0
    where = [("key", "startswith", "t09:"), ("n", "gte", 10)]
    page = await backend.query("c", Query.build(where, limit=3))
    assert [r.key for r in page.items] == ["t09:10", "t09:11", "t09:12"]
    assert backend.visited == 14  # t09:00 .. t09:13

    # the next page starts after the cursor
    backend.visited = 0
    assert page.next_cursor is not None
    query = Query.build(where, limit=3, cursor=page.next_cursor)
    page = await backend.query("c", query)
    assert [r.key for r in page.items] == ["t09:13", "t09:14", "t09:15"]
    assert backend.visited == 4

    # key order without a key condition: the first keys of the collection
    backend.visited = 0
    page = await backend.query("c", Query.build(limit=2))
    assert [r.key for r in page.items] == ["t00:00", "t00:01"]
    assert backend.visited == 3

    backend.visited = 0
    assert await backend.count("c", Query.build([("key", "startswith", "t11:")]).where) == 20
    assert backend.visited == 20

    # conditions that no key satisfies read nothing
    backend.visited = 0
    where = [("key", "startswith", "t05:"), ("key", "lt", "t04:")]
    assert (await backend.query("c", Query.build(where))).items == []
    assert backend.visited == 0


async def test_an_order_by_still_reads_only_the_range() -> None:
    backend = Counting()
    await threads(backend)
    backend.visited = 0
    query = Query.build([("key", "startswith", "t12:")], order_by="-n", limit=2)
    page = await backend.query("c", query)
    assert [r.key for r in page.items] == ["t12:19", "t12:18"]
    assert backend.visited == 20


async def test_the_key_order_follows_writes_deletes_and_expiry() -> None:
    """Random writes, deletes, expiries, purges and drops; every key query answers what the
    reference evaluation over all live records answers."""
    rng = random.Random(7)
    backend = MemoryBackend()
    alphabet = ["a", "ab", "b", "b\U0010ffff", "b\U0010ffffc", "\ud7ff", "\ue000", "é", ""]

    def key() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))

    for step in range(600):
        action = rng.random()
        if action < 0.55:
            k = key()
            expires = utcnow() - timedelta(seconds=1) if rng.random() < 0.15 else None
            await backend.put(Record("c", k, {"n": step}, expires_at=expires))
        elif action < 0.8:
            await backend.delete("c", key())
        elif action < 0.83:
            await backend.purge_expired()
        elif action < 0.84:
            await backend.drop("c")
        else:
            await backend.get("c", key())  # removes the key when it has expired
        if step % 20:
            continue
        assert list(backend._keys.get("c", [])) == sorted(backend._data.get("c", {}))
        keys = [k async for k in backend.iter_keys("c")]
        live = {r.key: r for r in await backend.get_many("c", keys) if r is not None}
        for _ in range(10):
            op = rng.choice(["eq", "startswith", "gt", "gte", "lt", "lte"])
            where = [("key", op, key())]
            if rng.random() < 0.3:
                where.append(("key", rng.choice(["gt", "lt", "startswith"]), key()))
            query = Query.build(where, limit=rng.choice([None, 1, 2, 5]))
            expected, expected_cursor = evaluate(list(live.values()), query)
            page = await backend.query("c", query)
            assert [r.key for r in page.items] == [r.key for r in expected]
            assert page.next_cursor == expected_cursor
            assert await backend.count("c", query.where) == len(
                evaluate(list(live.values()), Query(query.where))[0]
            )
