"""Rules about single records and whole collections: versions, conditional writes,
batches, index look-ups, dropping, listing, the backend's life cycle, size limits and
records another client corrupted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from satchel.backend import Backend, Capabilities, Record, utcnow
from satchel.errors import (
    AlreadyExists,
    Conflict,
    CorruptRecord,
    InvalidArgument,
    NotFound,
    ValueTooLarge,
)
from satchel.testing.fixtures import (
    ConformanceFixtures,
    MakeBackend,
    ago,
    all_keys,
    assert_same_json,
    assert_utc_ms,
    later,
    open_backend,
    rec,
    run_query,
    same_instant,
)

__all__ = [
    "BatchRules",
    "CollectionRules",
    "CorruptRecordRules",
    "FindRules",
    "LifeRules",
    "ValueSizeRules",
    "VersionOnlyRules",
    "VersionRules",
]

#: A value with every JSON type, ``1`` and ``1.0`` among them (which must stay apart).
_DOC = {
    "name": "ann",
    "n": 1,
    "f": 1.0,
    "ok": True,
    "none": None,
    "list": [1, 2.5, -0.5, "x", False, 0],
    "o": {"a": {}, "b": []},
}


class VersionRules(ConformanceFixtures):
    """Versions and conditional writes: version 1 on create and +1 on every write; ``put``
    returns the stored record; ``created_at`` survives updates while ``updated_at`` moves;
    timestamps are UTC with millisecond precision; ``if_absent`` raises ``AlreadyExists``
    and ``if_version`` raises ``Conflict`` (stale) or ``NotFound`` (missing), in which case
    nothing is written; both together are refused (``InvalidArgument`` naming both), with
    nothing written; ``delete`` says whether it deleted."""

    @pytest.mark.asyncio
    async def test_put_creates_version_1_and_returns_the_stored_record(
        self, backend: Backend, collection: str
    ) -> None:
        before = utcnow()
        # version and timestamps of the record passed in are ignored
        given = Record(collection, "k", _DOC, version=7, created_at=datetime(2000, 1, 1))
        stored = await backend.put(given)
        assert (stored.collection, stored.key) == (collection, "k")
        assert_same_json(stored.value, _DOC, "the value put returned")
        assert stored.version == 1
        assert stored.expires_at is None
        assert_utc_ms(stored.created_at, "created_at")
        assert stored.created_at == stored.updated_at
        assert stored.created_at is not None
        # the server's clock may differ a little from ours
        assert abs(stored.created_at - before) < timedelta(minutes=5)
        got = await backend.get(collection, "k")
        assert got is not None
        assert (got.key, got.version) == ("k", 1)
        assert_same_json(got.value, _DOC, "the value get returned")
        assert (got.created_at, got.updated_at) == (stored.created_at, stored.updated_at)

    @pytest.mark.asyncio
    async def test_every_write_bumps_the_version_and_keeps_created_at(
        self, backend: Backend, collection: str
    ) -> None:
        first = await backend.put(rec(collection, "k", 1))
        seen = [first]
        for value in (2, 3):
            await asyncio.sleep(0.01)  # so that updated_at must move (millisecond precision)
            seen.append(await backend.put(rec(collection, "k", value)))
        assert [r.version for r in seen] == [1, 2, 3]
        assert {r.created_at for r in seen} == {first.created_at}
        updated = [r.updated_at for r in seen if r.updated_at is not None]
        assert len(updated) == 3
        assert updated[0] < updated[1] < updated[2], "updated_at moves on every write"
        got = await backend.get(collection, "k")
        assert got is not None
        assert (got.value, got.version, got.created_at, got.updated_at) == (
            3,
            3,
            first.created_at,
            seen[-1].updated_at,
        )

    @pytest.mark.asyncio
    async def test_expires_at_is_kept_as_utc_with_millisecond_precision(
        self, backend: Backend, collection: str
    ) -> None:
        plus_two = timezone(timedelta(hours=2))
        expires = (datetime.now(timezone.utc) + timedelta(days=1)).astimezone(plus_two)
        expires = expires.replace(microsecond=123456)
        stored = await backend.put(rec(collection, "k", 1, expires_at=expires))
        got = await backend.get(collection, "k")
        assert got is not None
        for record, what in ((stored, "put"), (got, "get")):
            assert_utc_ms(record.expires_at, f"expires_at from {what}")
            assert record.expires_at is not None
            assert record.expires_at.microsecond == 123000, "truncated to milliseconds"
            assert same_instant(record.expires_at, expires.replace(microsecond=123000))

    @pytest.mark.asyncio
    async def test_a_write_replaces_the_expiry(self, backend: Backend, collection: str) -> None:
        await backend.put(rec(collection, "k", 1, expires_at=later()))
        stored = await backend.put(rec(collection, "k", 2))
        assert stored.expires_at is None
        got = await backend.get(collection, "k")
        assert got is not None, "an update without expiry keeps none"
        assert got.expires_at is None, "an update without expiry keeps none"
        when = later(7200)
        await backend.put(rec(collection, "k", 3, expires_at=when))
        got = await backend.get(collection, "k")
        assert got is not None
        assert same_instant(got.expires_at, when)

    @pytest.mark.asyncio
    async def test_if_absent_creates_only_a_new_record(
        self, backend: Backend, collection: str
    ) -> None:
        created = await backend.put(rec(collection, "taken", "first"), if_absent=True)
        assert created.version == 1
        with pytest.raises(AlreadyExists) as info:
            await backend.put(rec(collection, "taken", "second"), if_absent=True)
        assert "taken" in str(info.value), "the message names the key"
        got = await backend.get(collection, "taken")
        assert got is not None, "nothing written"
        assert (got.value, got.version) == ("first", 1), "nothing written"

    @pytest.mark.asyncio
    async def test_if_version_writes_only_over_that_version(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "k", "v1"))
        updated = await backend.put(rec(collection, "k", "v2"), if_version=1)
        assert (updated.value, updated.version) == ("v2", 2)
        with pytest.raises(Conflict) as info:
            await backend.put(rec(collection, "k", "stale"), if_version=1)
        assert info.value.actual in (None, 2)
        assert info.value.expected in (None, 1)
        with pytest.raises(Conflict):
            await backend.put(rec(collection, "k", "ahead"), if_version=3)
        got = await backend.get(collection, "k")
        assert got is not None, "nothing written"
        assert (got.value, got.version) == ("v2", 2), "nothing written"

    @pytest.mark.asyncio
    async def test_if_absent_with_if_version_is_refused(
        self, backend: Backend, collection: str
    ) -> None:
        """The two conditions contradict each other: no backend may pick one of them."""
        await backend.put(rec(collection, "k", "v1"))
        for key, if_version in (("k", 1), ("k", 2), ("absent", 1)):
            with pytest.raises(InvalidArgument) as info:
                await backend.put(
                    rec(collection, key, "both"), if_absent=True, if_version=if_version
                )
            message = str(info.value)
            assert "if_absent" in message, f"the message names if_absent: {message!r}"
            assert "if_version" in message, f"the message names if_version: {message!r}"
        got = await backend.get(collection, "k")
        assert got is not None, "nothing written"
        assert (got.value, got.version) == ("v1", 1), "nothing written"
        assert await all_keys(backend, collection) == ["k"], "nothing written"

    @pytest.mark.asyncio
    async def test_if_version_on_a_missing_record_is_not_found(
        self, backend: Backend, collection: str
    ) -> None:
        with pytest.raises(NotFound):
            await backend.put(rec(collection, "k", 1), if_version=1)
        assert await backend.get(collection, "k") is None, "nothing written"
        assert await all_keys(backend, collection) == []

    @pytest.mark.asyncio
    async def test_delete_says_whether_it_deleted(self, backend: Backend, collection: str) -> None:
        await backend.put(rec(collection, "k", 1))
        await backend.put(rec(collection, "other", 1))
        assert await backend.delete(collection, "k") is True
        assert await backend.get(collection, "k") is None
        assert await backend.delete(collection, "k") is False
        assert await backend.delete(collection, "never") is False
        assert await all_keys(backend, collection) == ["other"]

    @pytest.mark.asyncio
    async def test_delete_if_version(self, backend: Backend, collection: str) -> None:
        await backend.put(rec(collection, "k", 1))
        await backend.put(rec(collection, "k", 2))
        with pytest.raises(Conflict):
            await backend.delete(collection, "k", if_version=1)
        got = await backend.get(collection, "k")
        assert got is not None, "nothing deleted"
        assert got.version == 2, "nothing deleted"
        assert await backend.delete(collection, "k", if_version=2) is True
        assert await backend.get(collection, "k") is None
        with pytest.raises(NotFound):
            await backend.delete(collection, "k", if_version=2)

    @pytest.mark.asyncio
    async def test_a_key_written_again_after_delete_starts_over(
        self, backend: Backend, collection: str
    ) -> None:
        first = await backend.put(rec(collection, "k", 1))
        await backend.put(rec(collection, "k", 2))
        await backend.delete(collection, "k")
        await asyncio.sleep(0.01)
        again = await backend.put(rec(collection, "k", 3), if_absent=True)
        assert again.version > 2, "a new incarnation never repeats an earlier one's versions"
        assert again.created_at is not None
        assert first.created_at is not None
        assert again.created_at > first.created_at


class VersionOnlyRules(ConformanceFixtures):
    """``put_version`` and ``put_many_versions`` are ``put`` and ``put_many`` whose answer is
    only the new versions: the same writes (value, expiry, index entries, a version that
    ``get`` then shows), the same conditions and errors, nothing written when refused.
    ``exists`` says whether a live record is stored: not for a key never written, deleted
    or expired."""

    @pytest.mark.asyncio
    async def test_put_version_writes_as_put_does(self, backend: Backend, collection: str) -> None:
        when = later()
        record = rec(collection, "k", _DOC, expires_at=when, index={"tag": ["a", "b"]})
        assert await backend.put_version(record) == 1
        got = await backend.get(collection, "k")
        assert got is not None
        assert got.version == 1
        assert_same_json(got.value, _DOC, "the value put_version wrote")
        assert same_instant(got.expires_at, when)
        assert [r.key for r in await backend.find(collection, "tag", "b")] == ["k"]
        assert await backend.put_version(rec(collection, "k", 2)) == 2
        got = await backend.get(collection, "k")
        assert got is not None
        assert (got.value, got.version, got.expires_at) == (2, 2, None)
        assert await backend.find(collection, "tag", "a") == [], "the index entries replaced"
        assert await backend.put_version(rec(collection, "k", 3), if_version=2) == 3

    @pytest.mark.asyncio
    async def test_put_version_refuses_as_put_does_and_writes_nothing(
        self, backend: Backend, collection: str
    ) -> None:
        assert await backend.put_version(rec(collection, "k", "first"), if_absent=True) == 1
        with pytest.raises(AlreadyExists):
            await backend.put_version(rec(collection, "k", "second"), if_absent=True)
        with pytest.raises(Conflict):
            await backend.put_version(rec(collection, "k", "stale"), if_version=7)
        with pytest.raises(NotFound):
            await backend.put_version(rec(collection, "other", 1), if_version=1)
        got = await backend.get(collection, "k")
        assert got is not None
        assert (got.value, got.version) == ("first", 1), "nothing written"
        assert await backend.get(collection, "other") is None, "nothing written"

    @pytest.mark.asyncio
    async def test_put_many_versions_writes_as_put_many_does(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "b", "old"))
        versions = await backend.put_many_versions(
            [rec(collection, "a", 1), rec(collection, "b", 2), rec(collection, "a", 3)]
        )
        assert versions == [1, 2, 2], "in order; a later duplicate wins"
        got = await backend.get_many(collection, ["a", "b"])
        assert [None if r is None else (r.value, r.version) for r in got] == [(3, 2), (2, 2)]
        assert await backend.put_many_versions([]) == []

    @pytest.mark.asyncio
    async def test_exists_says_whether_a_live_record_is_stored(
        self, backend: Backend, collection: str
    ) -> None:
        assert await backend.exists(collection, "k") is False
        await backend.put(rec(collection, "k", {"a": 1}))
        await backend.put(rec(collection, "later", 1, expires_at=later()))
        await backend.put(rec(collection, "gone", 1, expires_at=ago()))
        assert await backend.exists(collection, "k") is True
        assert await backend.exists(collection, "later") is True
        assert await backend.exists(collection, "gone") is False, "an expired record is gone"
        assert await backend.exists(collection + "-other", "k") is False
        await backend.delete(collection, "k")
        assert await backend.exists(collection, "k") is False


class BatchRules(ConformanceFixtures):
    """``get_many`` answers in the order asked, ``None`` where nothing is stored;
    ``put_many`` writes in order (a later duplicate wins) and returns the stored records."""

    @pytest.mark.asyncio
    async def test_get_many_keeps_the_order_asked(self, backend: Backend, collection: str) -> None:
        for key in ("a", "b", "c"):
            await backend.put(rec(collection, key, {"k": key}))
        got = await backend.get_many(collection, ["c", "missing", "a", "c", "b"])
        assert [None if r is None else (r.key, r.value) for r in got] == [
            ("c", {"k": "c"}),
            None,
            ("a", {"k": "a"}),
            ("c", {"k": "c"}),
            ("b", {"k": "b"}),
        ]
        assert await backend.get_many(collection, []) == []
        assert await backend.get_many(collection, ["x", "y"]) == [None, None]

    @pytest.mark.asyncio
    async def test_put_many_returns_the_stored_records_in_order(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "old", 0))
        stored = await backend.put_many(
            [rec(collection, "new", 1), rec(collection, "old", 2), rec(collection, "b", 3)]
        )
        assert [(r.key, r.value, r.version) for r in stored] == [
            ("new", 1, 1),
            ("old", 2, 2),
            ("b", 3, 1),
        ]
        for record in stored:
            assert record.collection == collection
            assert_utc_ms(record.updated_at, "updated_at")
            got = await backend.get(collection, record.key)
            assert got is not None
            assert (got.value, got.version) == (record.value, record.version)
        assert await backend.put_many([]) == []

    @pytest.mark.asyncio
    async def test_put_many_a_later_duplicate_wins(self, backend: Backend, collection: str) -> None:
        stored = await backend.put_many(
            [rec(collection, "k", "first"), rec(collection, "j", 0), rec(collection, "k", "last")]
        )
        assert [(r.key, r.value, r.version) for r in stored] == [
            ("k", "first", 1),
            ("j", 0, 1),
            ("k", "last", 2),
        ]
        got = await backend.get(collection, "k")
        assert got is not None
        assert (got.value, got.version) == ("last", 2)

    @pytest.mark.asyncio
    async def test_put_many_writes_index_and_expiry(
        self, backend: Backend, collection: str
    ) -> None:
        when = later()
        await backend.put_many(
            [
                rec(collection, "a", 1, index={"tag": ["x"]}, expires_at=when),
                rec(collection, "b", 2, index={"tag": ["x", "y"]}),
            ]
        )
        assert [r.key for r in await backend.find(collection, "tag", "x")] == ["a", "b"]
        assert [r.key for r in await backend.find(collection, "tag", "y")] == ["b"]
        got = await backend.get(collection, "a")
        assert got is not None
        assert same_instant(got.expires_at, when)


class FindRules(ConformanceFixtures):
    """``find`` looks records up by a multi-valued index: it returns the live records whose
    index holds the value, ordered by key; a write replaces the old index entries and a
    delete removes them; index names and values match exactly, never as patterns."""

    @pytest.mark.asyncio
    async def test_find_by_a_multi_valued_index_ordered_by_key(
        self, backend: Backend, collection: str
    ) -> None:
        # written in reverse key order, so that insertion order is not key order
        await backend.put(rec(collection, "c", {"n": 3}, index={"tag": ["b"], "other": ["a"]}))
        await backend.put(rec(collection, "b", {"n": 2}, index={"tag": ["a", "b", "a"]}))
        await backend.put(rec(collection, "a", {"n": 1}, index={"tag": ["b"]}))
        found = await backend.find(collection, "tag", "b")
        assert [(r.key, r.value, r.version) for r in found] == [
            ("a", {"n": 1}, 1),
            ("b", {"n": 2}, 1),
            ("c", {"n": 3}, 1),
        ]
        assert [r.key for r in await backend.find(collection, "tag", "a")] == ["b"]
        assert [r.key for r in await backend.find(collection, "other", "a")] == ["c"]
        assert await backend.find(collection, "tag", "z") == []
        assert await backend.find(collection, "nope", "a") == []

    @pytest.mark.asyncio
    async def test_an_update_replaces_the_index_entries(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "k", 1, index={"tag": ["old", "both"]}))
        await backend.put(rec(collection, "k", 2, index={"tag": ["new", "both"]}))
        assert await backend.find(collection, "tag", "old") == []
        assert [(r.key, r.value) for r in await backend.find(collection, "tag", "new")] == [
            ("k", 2)
        ]
        assert [r.version for r in await backend.find(collection, "tag", "both")] == [2]
        await backend.put(rec(collection, "k", 3))  # no index at all
        assert await backend.find(collection, "tag", "new") == []
        assert await backend.find(collection, "tag", "both") == []

    @pytest.mark.asyncio
    async def test_a_deleted_record_is_not_found(self, backend: Backend, collection: str) -> None:
        await backend.put(rec(collection, "a", 1, index={"tag": ["x"]}))
        await backend.put(rec(collection, "b", 1, index={"tag": ["x"]}))
        await backend.delete(collection, "a")
        assert [r.key for r in await backend.find(collection, "tag", "x")] == ["b"]

    @pytest.mark.asyncio
    async def test_index_values_and_names_match_exactly(
        self, backend: Backend, collection: str, new_collection: Callable[[str], str]
    ) -> None:
        values = ["x*", "xy", "x?", "x[y]", "x.y", "x:y", "é", "🎒", "x\x00y", "x", "X"]
        for i, value in enumerate(values):
            await backend.put(rec(collection, f"k{i:02}", i, index={"t*": [value]}))
        for i, value in enumerate(values):
            found = await backend.find(collection, "t*", value)
            assert [r.key for r in found] == [f"k{i:02}"], f"find({value!r})"
        assert await backend.find(collection, "tx", "xy") == []
        assert await backend.find(collection, "t?", "xy") == []
        other = new_collection("other")
        assert await backend.find(other, "t*", "xy") == [], "another collection's index"

    @pytest.mark.asyncio
    async def test_find_in_another_collection(
        self, backend: Backend, collection: str, new_collection: Callable[[str], str]
    ) -> None:
        other = new_collection("other")
        await backend.put(rec(collection, "a", "mine", index={"tag": ["x"]}))
        await backend.put(rec(other, "b", "theirs", index={"tag": ["x"]}))
        assert [(r.key, r.value) for r in await backend.find(collection, "tag", "x")] == [
            ("a", "mine")
        ]
        assert [(r.key, r.value) for r in await backend.find(other, "tag", "x")] == [
            ("b", "theirs")
        ]


class CollectionRules(ConformanceFixtures):
    """``drop`` deletes a whole collection and returns how many live records it held;
    ``collections`` lists the collections holding live records, sorted."""

    @pytest.mark.asyncio
    async def test_drop_returns_the_live_count_and_empties(
        self, backend: Backend, collection: str, new_collection: Callable[[str], str]
    ) -> None:
        other = new_collection("other")
        for key in ("a", "b", "c"):
            await backend.put(rec(collection, key, 1, index={"tag": ["x"]}))
        await backend.put(rec(other, "a", 1))
        assert await backend.drop(collection) == 3
        assert await backend.get(collection, "a") is None
        assert await all_keys(backend, collection) == []
        assert await backend.count(collection) == 0
        assert await backend.find(collection, "tag", "x") == []
        assert len(await run_query(backend, collection)) == 0
        assert await backend.drop(collection) == 0
        assert await all_keys(backend, other) == ["a"], "another collection untouched"
        again = await backend.put(rec(collection, "a", 2))
        assert again.version > 1, "a dropped record is gone; its versions are never reused"
        assert await backend.find(collection, "tag", "x") == []

    @pytest.mark.asyncio
    async def test_drop_of_an_unknown_collection_is_zero(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        assert await backend.drop(new_collection("never-written")) == 0

    @pytest.mark.asyncio
    async def test_collections_lists_those_with_live_records_sorted(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        names = [new_collection(label) for label in ("b", "a", "c", "emptied", "dropped")]
        for name in names:
            await backend.put(rec(name, "k", 1))
        await backend.delete(names[3], "k")
        await backend.drop(names[4])
        listed = await backend.collections()
        assert listed == sorted(listed), "collections() is sorted"
        ours = [c for c in listed if c in names]
        assert ours == sorted(names[:3])


class LifeRules(ConformanceFixtures):
    """``ping`` answers, ``stats`` returns JSON values only, ``close`` releases the backend,
    and ``capabilities`` is a :class:`~satchel.backend.Capabilities`."""

    @pytest.mark.asyncio
    async def test_ping(self, backend: Backend) -> None:
        await backend.ping()  # raises BackendUnavailable when down

    @pytest.mark.asyncio
    async def test_stats_is_json(self, backend: Backend, collection: str) -> None:
        await backend.put(rec(collection, "k", 1))
        stats = await backend.stats()
        assert isinstance(stats, dict)
        json.dumps(stats, allow_nan=False)

    @pytest.mark.asyncio
    async def test_capabilities_and_describe(self, backend: Backend) -> None:
        assert isinstance(backend.capabilities, Capabilities)
        assert isinstance(backend.describe(), str)
        assert backend.describe()
        assert isinstance(repr(backend), str)

    @pytest.mark.asyncio
    async def test_close(self, make_backend: MakeBackend) -> None:
        backend = await open_backend(make_backend)
        await backend.ping()
        await backend.close()


class ValueSizeRules(ConformanceFixtures):
    """When ``capabilities.max_value_bytes`` is set, a value whose compact UTF-8 JSON is
    larger is refused with :class:`~satchel.errors.ValueTooLarge` and nothing is written;
    ``put_many`` with one such value writes none of them."""

    #: Larger limits are not tested (the test would build a value of that size).
    largest_limit_tested: int = 64 * 1024 * 1024

    def _size_limit(self, backend: Backend) -> int:
        limit = backend.capabilities.max_value_bytes
        if limit is None:
            pytest.skip("the backend declares no max_value_bytes")
        if limit > self.largest_limit_tested:
            pytest.skip(f"max_value_bytes={limit} is too large to test")
        return limit

    @staticmethod
    def _value_of_size(size: int) -> str:
        """A string whose compact JSON is ``size`` bytes of UTF-8 (mostly 2-byte
        characters, so that counting characters instead of bytes is caught)."""
        body = size - 2  # the quotes
        text = "é" * (body // 2) + "x" * (body % 2)
        assert len(json.dumps(text, ensure_ascii=False).encode()) == size
        return text

    @pytest.mark.asyncio
    async def test_a_value_over_the_limit_is_refused(
        self, backend: Backend, collection: str
    ) -> None:
        limit = self._size_limit(backend)
        await backend.put(rec(collection, "sized", "small"))
        with pytest.raises(ValueTooLarge) as info:
            await backend.put(rec(collection, "sized", self._value_of_size(limit + 1)))
        assert "sized" in str(info.value), "the message names the key"
        with pytest.raises(ValueTooLarge):
            await backend.put(rec(collection, "new", self._value_of_size(limit + 1)))
        got = await backend.get(collection, "sized")
        assert got is not None, "nothing written"
        assert (got.value, got.version) == ("small", 1), "nothing written"
        assert await backend.get(collection, "new") is None
        fits = await backend.put(rec(collection, "half", self._value_of_size(limit // 2)))
        assert fits.version == 1

    @pytest.mark.asyncio
    async def test_put_many_with_one_value_too_large_writes_nothing(
        self, backend: Backend, collection: str
    ) -> None:
        limit = self._size_limit(backend)
        await backend.put(rec(collection, "a", "before"))
        with pytest.raises(ValueTooLarge):
            await backend.put_many(
                [
                    rec(collection, "a", "after"),
                    rec(collection, "b", 1),
                    rec(collection, "c", self._value_of_size(limit + 1)),
                ]
            )
        got = await backend.get(collection, "a")
        assert got is not None
        assert (got.value, got.version) == ("before", 1)
        assert await all_keys(backend, collection) == ["a"]


class CorruptRecordRules(ConformanceFixtures):
    """A record another client corrupted is reported as
    :class:`~satchel.errors.CorruptRecord` naming its key, never as a driver exception; it
    does not make the other records unreadable, and a plain ``put`` or a ``delete`` of its
    key repairs it. Needs the
    :meth:`~satchel.testing.ConformanceFixtures.plant_corrupt_record` hook."""

    async def _plant_corrupt(self, backend: Backend, collection: str, key: str) -> None:
        try:
            await self.plant_corrupt_record(backend, collection, key)
        except NotImplementedError:
            pytest.skip("plant_corrupt_record is not provided")

    @pytest.mark.asyncio
    async def test_reading_a_corrupt_record_raises_corrupt_record(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "good", {"fine": True}))
        await self._plant_corrupt(backend, collection, "bad:key")
        for read in (
            lambda: backend.get(collection, "bad:key"),
            lambda: backend.exists(collection, "bad:key"),
            lambda: backend.get_many(collection, ["good", "bad:key"]),
            lambda: run_query(backend, collection),
        ):
            with pytest.raises(CorruptRecord) as info:
                await read()
            assert "bad:key" in str(info.value), "the message names the key"
        got = await backend.get(collection, "good")
        assert got is not None
        assert got.value == {"fine": True}

    @pytest.mark.asyncio
    async def test_exists_answers_as_get_for_a_record_whose_value_was_removed(
        self, backend: Backend, collection: str
    ) -> None:
        """A record whose value another client removed, metadata left in place, is corrupt
        to ``exists`` as to ``get`` (``exists`` must not say ``True`` of a record ``get``
        cannot return); once it has expired, both say it is gone; a write repairs it."""
        await backend.put(rec(collection, "good", {"fine": True}))
        await backend.put(rec(collection, "bad:key", {"soon": "damaged"}))
        await backend.put(
            rec(collection, "gone", "expires", expires_at=utcnow() + timedelta(seconds=0.3))
        )
        try:
            await self.remove_record_value(backend, collection, "bad:key")
            await self.remove_record_value(backend, collection, "gone")
        except NotImplementedError:
            pytest.skip("remove_record_value is not provided")
        for read in (
            lambda: backend.get(collection, "bad:key"),
            lambda: backend.exists(collection, "bad:key"),
            lambda: backend.get_many(collection, ["good", "bad:key"]),
        ):
            with pytest.raises(CorruptRecord) as info:
                await read()
            assert "bad:key" in str(info.value), "the message names the key"
        assert await backend.exists(collection, "good") is True
        await asyncio.sleep(0.5)  # "gone" has surely expired: neither read sees it
        assert await backend.get(collection, "gone") is None
        assert await backend.exists(collection, "gone") is False
        await backend.put(rec(collection, "bad:key", "repaired"))
        assert await backend.exists(collection, "bad:key") is True
        got = await backend.get(collection, "bad:key")
        assert got is not None
        assert got.value == "repaired"

    @pytest.mark.asyncio
    async def test_a_corrupt_record_can_be_overwritten_and_deleted(
        self, backend: Backend, collection: str
    ) -> None:
        await self._plant_corrupt(backend, collection, "a")
        await self._plant_corrupt(backend, collection, "b")
        stored = await backend.put(rec(collection, "a", "repaired"))
        assert stored.value == "repaired"
        got = await backend.get(collection, "a")
        assert got is not None
        assert got.value == "repaired"
        await backend.delete(collection, "b")
        assert await backend.get(collection, "b") is None
