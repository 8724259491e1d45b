"""Rules about expiry: a record past ``expires_at`` is gone, whether or not the database
has purged it yet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from satchel.backend import Backend, utcnow
from satchel.errors import NotFound
from satchel.query import Condition
from satchel.testing.fixtures import (
    ConformanceFixtures,
    ago,
    all_keys,
    later,
    query_keys,
    rec,
)

__all__ = ["ExpiryRules"]


class ExpiryRules(ConformanceFixtures):
    """TTL: a record past ``expires_at`` is never returned by ``get``, ``get_many``,
    ``find``, ``query``, ``count``, ``iter_keys`` or ``collections``; a write over it treats
    it as absent (its version restarts at 1, ``if_absent`` succeeds, ``if_version`` and
    ``delete`` find nothing); its index entries expire with it; ``purge_expired`` removes
    it. Most tests use an ``expires_at`` already in the past; one waits 0.6 s for a real
    expiry."""

    async def _plant_live_later_gone(self, backend: Backend, collection: str) -> None:
        """``live`` (never expires), ``later`` (in an hour) and ``gone`` (expired)."""
        await backend.put(rec(collection, "live", {"n": 1}, index={"tag": ["x"]}))
        await backend.put(
            rec(collection, "later", {"n": 2}, index={"tag": ["x"]}, expires_at=later())
        )
        await backend.put(
            rec(collection, "gone", {"n": 3}, index={"tag": ["x", "y"]}, expires_at=ago())
        )

    async def _assert_only_live(self, backend: Backend, collection: str) -> None:
        # the listing reads first: a backend may drop an expired record when get meets it
        assert [r.key for r in await backend.find(collection, "tag", "x")] == ["later", "live"]
        assert await backend.find(collection, "tag", "y") == []
        assert await query_keys(backend, collection) == ["later", "live"]
        assert await query_keys(backend, collection, where=[("n", "gte", 0)]) == [
            "later",
            "live",
        ]
        assert await query_keys(backend, collection, where=[("n", "eq", 3)]) == []
        assert await backend.count(collection) == 2
        assert await backend.count(collection, (Condition.of("n", "neq", 1),)) == 1
        assert await all_keys(backend, collection) == ["later", "live"]
        assert await all_keys(backend, collection, "g*") == []
        many = await backend.get_many(collection, ["gone", "live", "later"])
        assert [None if r is None else r.key for r in many] == [None, "live", "later"]
        assert await backend.get(collection, "gone") is None

    @pytest.mark.asyncio
    async def test_an_expired_record_is_never_returned(
        self, backend: Backend, collection: str
    ) -> None:
        await self._plant_live_later_gone(backend, collection)
        await self._assert_only_live(backend, collection)

    @pytest.mark.asyncio
    async def test_a_collection_with_only_expired_records_is_not_listed(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        expired, live = new_collection("expired"), new_collection("live")
        await backend.put(rec(expired, "k", 1, expires_at=ago()))
        await backend.put(rec(live, "k", 1))
        await backend.put(rec(live, "old", 1, expires_at=ago()))
        listed = await backend.collections()
        assert live in listed
        assert expired not in listed
        assert await backend.drop(expired) == 0, "drop counts live records only"
        assert await backend.drop(live) == 1

    @pytest.mark.asyncio
    async def test_a_write_over_an_expired_record_treats_it_as_absent(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "a", 1, expires_at=ago()))
        await backend.put(rec(collection, "a", 2, expires_at=ago()))
        await backend.put(rec(collection, "b", 1, expires_at=ago()))
        await backend.put(rec(collection, "c", 1, expires_at=ago()))
        before = utcnow() - timedelta(minutes=5)  # allow for the server's clock
        created = await backend.put(rec(collection, "a", "new"), if_absent=True)
        assert created.version > 2, "a new incarnation: above the expired record's versions"
        assert created.created_at is not None
        assert created.created_at > before
        assert (await backend.put(rec(collection, "b", "new"))).version > 1
        with pytest.raises(NotFound):
            await backend.put(rec(collection, "c", "new"), if_version=1)
        assert await backend.get(collection, "c") is None
        assert await backend.delete(collection, "c") is False
        with pytest.raises(NotFound):
            await backend.delete(collection, "c", if_version=1)

    @pytest.mark.asyncio
    async def test_index_entries_expire_with_their_record(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "a", 1, index={"tag": ["x"]}, expires_at=ago()))
        await backend.put(rec(collection, "b", 1, index={"tag": ["x"]}))
        assert [r.key for r in await backend.find(collection, "tag", "x")] == ["b"]
        # the key comes back with other index entries: the old ones stay gone
        await backend.put(rec(collection, "a", 2, index={"tag": ["z"]}))
        assert [r.key for r in await backend.find(collection, "tag", "x")] == ["b"]
        assert [r.key for r in await backend.find(collection, "tag", "z")] == ["a"]

    @pytest.mark.asyncio
    async def test_a_record_expires_when_its_time_passes(
        self, backend: Backend, collection: str
    ) -> None:
        expires = utcnow() + timedelta(seconds=0.5)  # room for a slow server or machine
        await backend.put(rec(collection, "brief", 1, index={"tag": ["x"]}, expires_at=expires))
        await backend.put(rec(collection, "stays", 2))
        got = await backend.get(collection, "brief")
        assert got is not None, "alive before its time"
        assert got.value == 1, "alive before its time"
        await asyncio.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.1)
        assert await backend.get(collection, "brief") is None
        assert await backend.find(collection, "tag", "x") == []
        assert await query_keys(backend, collection) == ["stays"]
        assert await backend.count(collection) == 1
        assert await all_keys(backend, collection) == ["stays"]
        assert (await backend.put(rec(collection, "brief", 3), if_absent=True)).version > 1

    @pytest.mark.asyncio
    async def test_purge_expired_removes_them(
        self, backend: Backend, collection: str, new_collection: Callable[[str], str]
    ) -> None:
        other = new_collection("other")
        await self._plant_live_later_gone(backend, collection)
        await backend.put(rec(other, "gone", 1, index={"tag": ["x"]}, expires_at=ago()))
        purged = await backend.purge_expired()
        # other tests' records count too, and a server may have removed ours already
        assert isinstance(purged, int)
        assert purged >= 0
        await self._assert_only_live(backend, collection)
        assert await backend.find(other, "tag", "x") == []
        assert other not in await backend.collections()
        live = await backend.get(collection, "live")
        assert live is not None, "live records untouched"
        assert live.version == 1, "live records untouched"
        assert await backend.purge_expired() >= 0
