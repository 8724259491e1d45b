"""Rules about incarnations: a key deleted, expired or dropped and written again is a new
incarnation, and a version read from an earlier one never matches it."""

from __future__ import annotations

import asyncio

import pytest

from satchel.backend import Backend, Record
from satchel.errors import Conflict, NotFound
from satchel.testing.fixtures import (
    ConformanceFixtures,
    MakeBackend,
    ago,
    later,
    open_backend,
    rec,
)

__all__ = ["IncarnationRules"]


async def _stale_writes_fail(backend: Backend, collection: str, key: str, stale: int) -> None:
    """``put``/``delete`` with ``if_version=stale`` raise and change nothing."""
    before = await backend.get(collection, key)
    assert before is not None
    assert before.version != stale, (
        f"the new incarnation of {key!r} is at version {before.version}, a version an "
        "earlier incarnation had: a holder of that old version could overwrite it"
    )
    with pytest.raises(Conflict):
        await backend.put(rec(collection, key, "stale write"), if_version=stale)
    with pytest.raises(Conflict):
        await backend.delete(collection, key, if_version=stale)
    after = await backend.get(collection, key)
    assert after is not None
    assert (after.value, after.version) == (before.value, before.version), "nothing changed"


class IncarnationRules(ConformanceFixtures):
    """Versions of a key never repeat: a record written where the key's record was deleted,
    expired or dropped with its collection gets a version above every version the earlier
    incarnation had, so ``if_version`` with a version read from an earlier incarnation raises
    :class:`~satchel.errors.Conflict` and writes nothing; also when another client deleted
    and created the key again. In a collection from which nothing was ever removed, a new
    key starts at version 1."""

    @pytest.mark.asyncio
    async def test_a_new_key_starts_at_version_one(self, backend: Backend, collection: str) -> None:
        assert (await backend.put(rec(collection, "a", 1))).version == 1
        assert (await backend.put(rec(collection, "b", 1), if_absent=True)).version == 1
        assert [r.version for r in await backend.put_many([rec(collection, "c", 1)])] == [1]

    @pytest.mark.asyncio
    async def test_a_deleted_key_written_again_never_reuses_a_version(
        self, backend: Backend, collection: str
    ) -> None:
        for n in range(3):
            await backend.put(rec(collection, "k", n))  # versions 1, 2, 3
        assert await backend.delete(collection, "k")
        again = await backend.put(rec(collection, "k", "again"), if_absent=True)
        assert again.version > 3, f"version {again.version} repeats the deleted record's"
        for stale in (1, 2, 3):
            await _stale_writes_fail(backend, collection, "k", stale)
        # and as the new incarnation is updated, it never walks into an old version either
        nxt = await backend.put(rec(collection, "k", "next"), if_version=again.version)
        assert nxt.version == again.version + 1

    @pytest.mark.asyncio
    async def test_every_way_of_writing_a_removed_key_starts_above_its_versions(
        self, backend: Backend, collection: str
    ) -> None:
        for key in ("plain", "absent", "batch"):
            await backend.put(rec(collection, key, 1))
            await backend.put(rec(collection, key, 2))
        await backend.delete(collection, "plain", if_version=2)
        await backend.delete(collection, "absent")
        await backend.delete(collection, "batch")
        written = [
            await backend.put(rec(collection, "plain", 3)),
            await backend.put(rec(collection, "absent", 3), if_absent=True),
            *(await backend.put_many([rec(collection, "batch", 3)])),
        ]
        for record in written:
            assert record.version > 2, f"{record.key!r} starts again at {record.version}"
            await _stale_writes_fail(backend, collection, record.key, 2)
            await _stale_writes_fail(backend, collection, record.key, 1)

    @pytest.mark.asyncio
    async def test_an_expired_key_written_again_never_reuses_a_version(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "k", 1))
        old = await backend.put(rec(collection, "k", 2, expires_at=ago(1)))
        assert old.version == 2
        assert await backend.get(collection, "k") is None
        with pytest.raises(NotFound):
            await backend.put(rec(collection, "k", "stale"), if_version=2)
        again = await backend.put(rec(collection, "k", "again"), if_absent=True)
        assert again.version > 2
        await _stale_writes_fail(backend, collection, "k", 2)
        await _stale_writes_fail(backend, collection, "k", 1)

    @pytest.mark.asyncio
    async def test_a_key_that_expires_in_time_written_again_never_reuses_a_version(
        self, backend: Backend, collection: str
    ) -> None:
        expires = later(0.3)
        first = await backend.put(rec(collection, "k", 1, expires_at=expires))
        assert first.version == 1
        await asyncio.sleep(0.5)
        await backend.purge_expired()
        again = await backend.put(rec(collection, "k", 2))
        assert again.version > 1
        await _stale_writes_fail(backend, collection, "k", 1)

    @pytest.mark.asyncio
    async def test_a_dropped_collection_written_again_never_reuses_a_version(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "k", 1))
        await backend.put(rec(collection, "k", 2))
        assert await backend.drop(collection) == 1
        again = await backend.put(rec(collection, "k", 3))
        assert again.version > 2
        await _stale_writes_fail(backend, collection, "k", 2)

    @pytest.mark.asyncio
    async def test_a_stale_holder_cannot_overwrite_a_key_another_client_recreated(
        self, backend: Backend, collection: str, make_backend: MakeBackend
    ) -> None:
        if not backend.capabilities.shared_across_processes:
            pytest.skip("the backend is not shared across processes")
        other = await open_backend(make_backend)
        try:
            held: Record = await backend.put(rec(collection, "k", "first"))
            seen = await backend.get(collection, "k")  # a backend may remember what it read
            assert seen is not None
            assert seen.version == held.version
            # the other client deletes the key and creates it again
            assert await other.delete(collection, "k", if_version=held.version)
            recreated = await other.put(rec(collection, "k", "second"), if_absent=True)
            assert recreated.version != held.version
            await _stale_writes_fail(backend, collection, "k", held.version)
            got = await other.get(collection, "k")
            assert got is not None
            assert (got.value, got.version) == ("second", recreated.version)
        finally:
            await other.close()
