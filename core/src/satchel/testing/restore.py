"""Rules of :meth:`~satchel.backend.Backend.restore_many`: a record stored with its metadata
as given reads back identical, and the key's versions go on from it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from satchel.backend import MAX_RESTORED_VERSION, Backend, Record, utcnow
from satchel.errors import InvalidArgument, Unsupported
from satchel.testing.fixtures import (
    ConformanceFixtures,
    ago,
    all_keys,
    assert_same_json,
    later,
    query_keys,
    rec,
    same_instant,
)

__all__ = ["RestoreRules", "assert_restored", "assert_same_records", "records_of", "restored"]


async def _each_refused_alone(
    backend: Backend, collection: str, good: Record, bad_records: list[Record]
) -> None:
    """Each of ``bad_records``, restored beside ``good``, raises InvalidArgument and writes
    nothing: ``good`` is not there after any of them (skips the rule when the backend
    does not implement ``restore_many``)."""
    try:
        await backend.restore_many([])
    except Unsupported as exc:
        pytest.skip(f"the backend does not implement restore_many: {exc}")
    for bad in bad_records:
        with pytest.raises(InvalidArgument):
            await backend.restore_many([good, bad])
        assert await backend.get(collection, "good") is None, f"{bad!r} let 'good' in"


def restored(
    collection: str,
    key: str,
    value: object,
    version: int,
    *,
    age: float = 86_400,
    expires_at: object = None,
    index: dict[str, tuple[str, ...]] | None = None,
) -> Record:
    """A record as a restore takes it: created ``age`` seconds ago, updated an hour later."""
    created = utcnow() - timedelta(seconds=age)
    return Record(
        collection,
        key,
        value,
        version,
        created,
        created + timedelta(hours=1),
        expires_at,  # type: ignore[arg-type]
        index or {},
    )


def assert_restored(got: Record | None, expected: Record) -> None:
    """``got`` is ``expected`` as stored: value (with its JSON types), version, the three
    times and the index entries."""
    where = f"{expected.key!r} in {expected.collection!r}"
    assert got is not None, f"{where}: the restored record is not there"
    assert_same_json(got.value, expected.value, f"value of {where}")
    assert got.version == expected.version, f"{where}: version {got.version}"
    for name in ("created_at", "updated_at", "expires_at"):
        assert same_instant(getattr(got, name), getattr(expected, name)), (
            f"{where}: {name} {getattr(got, name)!r}, restored as {getattr(expected, name)!r}"
        )
    index = {name: tuple(values) for name, values in got.index.items() if values}
    wanted = {name: tuple(values) for name, values in expected.index.items() if values}
    assert {n: set(v) for n, v in index.items()} == {n: set(v) for n, v in wanted.items()}, (
        f"{where}: index {got.index!r}"
    )


async def records_of(backend: Backend, collection: str) -> dict[str, Record]:
    """The live records of ``collection``, by key."""
    keys = [k async for k in backend.iter_keys(collection)]
    got = await backend.get_many(collection, keys)
    return {r.key: r for r in got if r is not None}


async def assert_same_records(
    one: Backend, one_prefix: str, other: Backend, other_prefix: str, names: list[str]
) -> int:
    """Every record of each collection ``<prefix><name>`` reads back identical on both
    sides (:func:`assert_restored`); how many there are."""
    total = 0
    for name in names:
        mine = await records_of(one, f"{one_prefix}{name}")
        theirs = await records_of(other, f"{other_prefix}{name}")
        assert sorted(mine) == sorted(theirs), name
        for key, record in mine.items():
            assert_restored(theirs[key], record)
        total += len(mine)
    return total


async def _restore(backend: Backend, records: Sequence[Record]) -> None:
    """``backend.restore_many(records)``; a backend that does not implement it must refuse
    with :class:`~satchel.errors.Unsupported` and write nothing, and the rule skips."""
    before = [await backend.get(r.collection, r.key) for r in records]
    try:
        await backend.restore_many(records)
        return
    except Unsupported as exc:
        reason = str(exc)
    for record, was in zip(records, before, strict=True):
        now = await backend.get(record.collection, record.key)
        assert (now and now.version) == (was and was.version), (
            f"restore_many refused ({reason}) but changed {record.key!r}"
        )
    pytest.skip(f"the backend does not implement restore_many: {reason}")


class RestoreRules(ConformanceFixtures):
    """:meth:`~satchel.backend.Backend.restore_many` stores records exactly as given
    (value, version, created, updated, expiry, index entries), unconditionally; the next
    write of a restored key gives its version + 1, and once removed, a new incarnation
    starts above every version the key held; an already expired record leaves the key
    absent; restoring again changes nothing; a bad record writes nothing. A backend that
    does not implement it refuses with :class:`~satchel.errors.Unsupported`, writing nothing
    (these rules then skip)."""

    @pytest.mark.asyncio
    async def test_restored_records_read_back_identical(
        self, backend: Backend, collection: str
    ) -> None:
        records = [
            restored(
                collection,
                "a",
                {"n": 1, "f": 1.0, "ok": True, "none": None, "list": [1, "x"]},
                7,
                expires_at=later(3600),
                index={"tag": ("red", "blue"), "owner": ("ann",)},
            ),
            restored(collection, "b*[?]", "plain", 1, age=10, index={"tag": ("red",)}),
            restored(collection, "c", [1, 2, 3], 1234, age=500_000),
        ]
        await _restore(backend, records)
        for record in records:
            assert_restored(await backend.get(collection, record.key), record)
        got = await backend.get_many(collection, [r.key for r in records])
        for one, record in zip(got, records, strict=True):
            assert_restored(one, record)
        assert [r.key for r in await backend.find(collection, "tag", "red")] == ["a", "b*[?]"]
        assert [r.key for r in await backend.find(collection, "owner", "ann")] == ["a"]
        assert await all_keys(backend, collection) == ["a", "b*[?]", "c"]
        assert await backend.count(collection) == 3
        assert await query_keys(backend, collection, where=[("version", "gte", 7)]) == ["a", "c"]
        oldest = records[2].created_at
        assert await query_keys(backend, collection, where=[("created_at", "eq", oldest)]) == ["c"]
        assert await query_keys(backend, collection, order_by="-updated_at") == [
            "b*[?]",
            "a",
            "c",
        ]

    @pytest.mark.asyncio
    async def test_the_next_write_of_a_restored_key_gives_its_version_plus_one(
        self, backend: Backend, collection: str
    ) -> None:
        record = restored(collection, "k", "restored", 41, index={"tag": ("x",)})
        await _restore(backend, [record])
        nxt = await backend.put(rec(collection, "k", "next"), if_version=41)
        assert nxt.version == 42
        assert same_instant(nxt.created_at, record.created_at), "created_at is kept"
        assert await backend.find(collection, "tag", "x") == [], "the put replaced the index"
        # removed, then written again: above every version the key held
        assert await backend.delete(collection, "k", if_version=42)
        again = await backend.put(rec(collection, "k", "again"), if_absent=True)
        assert again.version > 42, f"the key starts again at {again.version}"

    @pytest.mark.asyncio
    async def test_a_restored_record_removed_then_written_again_starts_above_it(
        self, backend: Backend, collection: str
    ) -> None:
        await _restore(backend, [restored(collection, "k", 1, 500)])
        assert await backend.delete(collection, "k")
        assert (await backend.put(rec(collection, "k", 2))).version > 500
        await _restore(backend, [restored(collection, "d", 1, 300)])
        assert await backend.drop(collection) == 2
        assert (await backend.put(rec(collection, "d", 2))).version > 300

    @pytest.mark.asyncio
    async def test_restoring_again_changes_nothing(self, backend: Backend, collection: str) -> None:
        records = [
            restored(collection, f"k{i}", {"i": i}, 3 + i, index={"even": (str(i % 2 == 0),)})
            for i in range(5)
        ]
        await _restore(backend, records)
        await _restore(backend, records)
        await _restore(backend, records[1:3])
        for record in records:
            assert_restored(await backend.get(collection, record.key), record)
        assert await backend.count(collection) == 5
        assert [r.key for r in await backend.find(collection, "even", "True")] == [
            "k0",
            "k2",
            "k4",
        ]
        assert (await backend.put(rec(collection, "k1", "next"))).version == 5

    @pytest.mark.asyncio
    async def test_restore_replaces_an_older_record(
        self, backend: Backend, collection: str
    ) -> None:
        for n in range(3):
            await backend.put(rec(collection, "k", n, index={"old": ("yes",)}))
        record = restored(collection, "k", "restored", 10, index={"new": ("yes",)})
        await _restore(backend, [record])
        assert_restored(await backend.get(collection, "k"), record)
        assert await backend.find(collection, "old", "yes") == [], "old index entries stay"
        assert [r.key for r in await backend.find(collection, "new", "yes")] == ["k"]
        assert (await backend.put(rec(collection, "k", "next"))).version == 11

    @pytest.mark.asyncio
    async def test_restore_replaces_a_newer_record_and_its_versions_stay_covered(
        self, backend: Backend, collection: str
    ) -> None:
        for n in range(5):
            await backend.put(rec(collection, "k", n, expires_at=later(3600)))  # version 5
        record = restored(collection, "k", "older", 2)
        await _restore(backend, [record])
        assert_restored(await backend.get(collection, "k"), record)
        assert (await backend.put(rec(collection, "k", "next"))).version == 3
        assert await backend.delete(collection, "k")
        again = await backend.put(rec(collection, "k", "again"))
        assert again.version > 5, (
            f"the key starts again at {again.version}: the replaced record's version 5 must "
            "count as removed"
        )

    @pytest.mark.asyncio
    async def test_an_expired_record_restored_leaves_the_key_absent(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "live", "was here", index={"tag": ("t",)}))
        gone = [
            restored(collection, "live", "expired", 9, expires_at=ago(5), index={"tag": ("t",)}),
            restored(collection, "new", "expired", 6, expires_at=ago(5)),
        ]
        await _restore(backend, gone)
        for record in gone:
            assert await backend.get(collection, record.key) is None
            assert not await backend.exists(collection, record.key)
        assert await backend.find(collection, "tag", "t") == []
        assert await all_keys(backend, collection) == []
        assert await backend.count(collection) == 0
        assert (await backend.put(rec(collection, "live", 1))).version > 9
        assert (await backend.put(rec(collection, "new", 1), if_absent=True)).version > 6

    @pytest.mark.asyncio
    async def test_a_restored_record_expires_at_its_expiry(
        self, backend: Backend, collection: str
    ) -> None:
        expires = later(1.0)  # room for a slow server or machine before it must be live
        record = restored(collection, "k", "soon", 8, expires_at=expires)
        await _restore(backend, [record])
        assert_restored(await backend.get(collection, "k"), record)
        await asyncio.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.2)
        assert await backend.get(collection, "k") is None
        await backend.purge_expired()
        assert (await backend.put(rec(collection, "k", "again"))).version > 8

    @pytest.mark.asyncio
    async def test_a_later_duplicate_wins_and_collections_mix(
        self, backend: Backend, collection: str, new_collection: Callable[[str], str]
    ) -> None:
        other = new_collection("other")
        first = restored(collection, "k", "first", 3, index={"tag": ("first",)})
        last = restored(collection, "k", "last", 2, index={"tag": ("last",)})
        elsewhere = restored(other, "k", "other", 12)
        await _restore(backend, [first, elsewhere, last])
        assert_restored(await backend.get(collection, "k"), last)
        assert_restored(await backend.get(other, "k"), elsewhere)
        assert await backend.find(collection, "tag", "first") == []

    @pytest.mark.asyncio
    async def test_an_empty_restore_writes_nothing(self, backend: Backend, collection: str) -> None:
        await backend.put(rec(collection, "k", 1))
        await _restore(backend, [])
        got = await backend.get(collection, "k")
        assert got is not None
        assert (got.value, got.version) == (1, 1)

    @pytest.mark.asyncio
    async def test_the_highest_restored_version_counts_on_exactly(
        self, backend: Backend, collection: str
    ) -> None:
        try:
            await backend.restore_many([restored(collection, "k", 1, MAX_RESTORED_VERSION)])
        except Unsupported as exc:
            pytest.skip(f"the backend does not implement restore_many: {exc}")
        got = await backend.get(collection, "k")
        assert got is not None
        assert got.version == MAX_RESTORED_VERSION
        written = await backend.put(Record(collection, "k", 2), if_version=MAX_RESTORED_VERSION)
        assert written.version == MAX_RESTORED_VERSION + 1
        got = await backend.get(collection, "k")
        assert got is not None
        assert (got.value, got.version) == (2, MAX_RESTORED_VERSION + 1)
        assert type(got.version) is int

    @pytest.mark.asyncio
    async def test_the_highest_restored_version_survives_expiry_bookkeeping(
        self, backend: Backend, collection: str
    ) -> None:
        """An expiring record at the highest version: its removal still raises the floor
        to it, so the key's next incarnation starts above it (not at 1)."""
        soon = utcnow() + timedelta(seconds=1.0)  # live through the next write, even when slow
        try:
            await backend.restore_many(
                [restored(collection, "e", 1, MAX_RESTORED_VERSION, expires_at=soon)]
            )
        except Unsupported as exc:
            pytest.skip(f"the backend does not implement restore_many: {exc}")
        written = await backend.put(
            Record(collection, "e", 2, expires_at=soon), if_version=MAX_RESTORED_VERSION
        )
        assert written.version == MAX_RESTORED_VERSION + 1
        await asyncio.sleep(max(0.0, (soon - utcnow()).total_seconds()) + 0.2)
        assert await backend.get(collection, "e") is None
        again = await backend.put(Record(collection, "e", 3))
        assert again.version > MAX_RESTORED_VERSION + 1

    @pytest.mark.asyncio
    async def test_a_bad_record_writes_nothing(self, backend: Backend, collection: str) -> None:
        good = restored(collection, "good", 1, 4)
        bad_records = [
            Record(collection, "bad", 1, 0, utcnow(), utcnow()),
            Record(collection, "bad", 1, 3, None, utcnow()),
            Record(collection, "bad", 1, 3, utcnow(), None),
            Record(collection, "", 1, 3, utcnow(), utcnow()),
            Record(collection, "bad", 1, True, utcnow(), utcnow()),
            Record(collection, "bad", 1, MAX_RESTORED_VERSION + 1, utcnow(), utcnow()),
            Record(f"{collection}\x00x", "bad", 1, 3, utcnow(), utcnow()),
        ]
        await _each_refused_alone(backend, collection, good, bad_records)
        with pytest.raises(InvalidArgument):
            await backend.restore_many([good, {"key": "not a record"}])  # type: ignore[list-item]
        assert await backend.get(collection, "good") is None

    @pytest.mark.asyncio
    async def test_text_or_a_value_no_backend_can_hold_writes_nothing(
        self, backend: Backend, collection: str
    ) -> None:
        """What a store refuses to write (a lone surrogate anywhere, a value JSON cannot
        hold) is refused by a restore too, on every backend alike: InvalidArgument, and
        nothing of the call written."""
        good = restored(collection, "good", 1, 4)
        bad_records = [
            restored(collection, "bad\ud800", 1, 3),
            restored(f"{collection}\udfff", "bad", 1, 3),
            restored(collection, "bad", 1, 3, index={"tag\ud800": ("x",)}),
            restored(collection, "bad", 1, 3, index={"tag": ("ok", "x\udc00")}),
            restored(collection, "bad", {"text": "x\ud800"}, 3),
            restored(collection, "bad", {"x\ud800": 1}, 3),
            restored(collection, "bad", [1.0, float("nan")], 3),
            restored(collection, "bad", {"n": float("inf")}, 3),
        ]
        await _each_refused_alone(backend, collection, good, bad_records)
        assert await backend.count(collection) == 0
