"""Rules about concurrent writers: conditional writes are atomic, so no write is lost, and
a batch racing other writers writes each of its records exactly once."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable

import pytest

from satchel.backend import Backend
from satchel.errors import AlreadyExists, Conflict, NotFound
from satchel.testing.fixtures import ConformanceFixtures, MakeBackend, open_clients, rec

__all__ = ["ConcurrencyRules", "increment", "race_batches"]

WRITERS = 12
INCREMENTS = 5
#: Keys, batch writers and conditional writers of the batch race, and rounds of each.
RACE_KEYS = 6
RACE_ROUNDS = 8
#: Keys of the crowd test; it runs six calls per key at once.
CROWD = 50


async def race_batches(clients: list[Backend], collection: str) -> dict[str, dict[int, str]]:
    """Writers on ``clients`` race on a few keys: half write every key with ``put_many``,
    half update one key at a time with ``if_version``, each write with a value of its own.
    Return, per key, the version every acknowledged write reported, with its value."""
    keys = [f"k{i}" for i in range(RACE_KEYS)]
    acked: dict[str, dict[int, str]] = defaultdict(dict)
    counter = itertools.count()
    clashes: list[str] = []

    def ack(key: str, version: int, value: str) -> None:
        if version in acked[key]:
            clashes.append(f"{key!r} version {version}: {acked[key][version]!r} and {value!r}")
        acked[key][version] = value

    async def batch_writer(backend: Backend) -> None:
        for _ in range(RACE_ROUNDS):
            values = {key: f"batch-{next(counter)}" for key in keys}
            stored = await backend.put_many([rec(collection, k, v) for k, v in values.items()])
            for record in stored:
                ack(record.key, record.version, values[record.key])
            await asyncio.sleep(0)

    async def conditional_writer(backend: Backend, offset: int) -> None:
        for round_ in range(RACE_ROUNDS):
            key = keys[(offset + round_) % len(keys)]
            current = await backend.get(collection, key)
            if current is None:
                continue
            value = f"update-{next(counter)}"
            await asyncio.sleep(0)
            try:
                stored = await backend.put(rec(collection, key, value), if_version=current.version)
            except Conflict:
                continue
            ack(key, stored.version, value)

    tasks = []
    for i, client in enumerate(clients * 2):
        tasks.append(batch_writer(client))
        tasks.append(conditional_writer(client, i))
    await asyncio.gather(*tasks)
    assert not clashes, f"two acknowledged writes report the same version: {clashes}"
    return acked


async def increment(backend: Backend, collection: str, key: str, times: int) -> int:
    """Add 1 to the counter under ``key`` ``times`` times, each as read, then write with
    ``if_version``, retrying on :class:`~satchel.errors.Conflict`; return the conflicts."""
    conflicts = 0
    for _ in range(times):
        while True:
            current = await backend.get(collection, key)
            assert current is not None
            await asyncio.sleep(0)  # let the other writers read the same version
            try:
                await backend.put(
                    rec(collection, key, {"n": current.value["n"] + 1}),
                    if_version=current.version,
                )
            except Conflict:
                conflicts += 1
                continue
            break
    return conflicts


class ConcurrencyRules(ConformanceFixtures):
    """No lost update: many asyncio writers on one key, each reading and then writing with
    ``if_version`` (retrying on ``Conflict``), end with every increment counted; of many
    concurrent ``if_absent`` creates exactly one wins; of two deletes of one version exactly
    one succeeds. With ``capabilities.shared_across_processes``, the same holds for writers
    on two separate backend instances (two clients of one server)."""

    @pytest.mark.asyncio
    async def test_concurrent_read_modify_write_loses_no_update(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "counter", {"n": 0}))
        conflicts = await asyncio.gather(
            *(increment(backend, collection, "counter", INCREMENTS) for _ in range(WRITERS))
        )
        got = await backend.get(collection, "counter")
        assert got is not None
        assert got.value == {"n": WRITERS * INCREMENTS}, f"lost updates ({sum(conflicts)} retries)"
        assert got.version == WRITERS * INCREMENTS + 1
        assert sum(conflicts) > 0, "the writers never raced; the test proved nothing"

    @pytest.mark.asyncio
    async def test_more_concurrent_calls_than_connections_all_succeed(
        self, backend: Backend, collection: str, new_collection: Callable[[str], str]
    ) -> None:
        """Hundreds of calls at once on one backend (more than a connection pool holds by
        default) wait their turn: every one succeeds, none fails for want of a connection."""
        calls = 6 * CROWD
        logs = new_collection("crowd-logs")

        async def one(i: int) -> None:
            key = f"k{i % CROWD}"
            await backend.put(rec(collection, key, {"i": i}))
            assert await backend.get(collection, key) is not None
            await backend.log_append(logs, key, [i])

        await asyncio.gather(*(one(i) for i in range(calls)))
        assert await backend.count(collection) == CROWD
        total = 0
        for i in range(CROWD):
            total += len(await backend.log_range(logs, f"k{i}"))
        assert total == calls

    @pytest.mark.asyncio
    async def test_concurrent_if_absent_creates_exactly_one(
        self, backend: Backend, collection: str
    ) -> None:
        async def create(i: int) -> int | None:
            await asyncio.sleep(0)
            try:
                await backend.put(rec(collection, "k", {"writer": i}), if_absent=True)
            except AlreadyExists:
                return None
            return i

        results = await asyncio.gather(*(create(i) for i in range(WRITERS)))
        winners = [i for i in results if i is not None]
        assert len(winners) == 1, f"{len(winners)} creates succeeded: {winners}"
        got = await backend.get(collection, "k")
        assert got is not None
        assert (got.value, got.version) == ({"writer": winners[0]}, 1)

    @pytest.mark.asyncio
    async def test_concurrent_deletes_of_one_version_exactly_one_succeeds(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.put(rec(collection, "k", 1))

        async def delete() -> str:
            await asyncio.sleep(0)
            try:
                return "deleted" if await backend.delete(collection, "k", if_version=1) else "no"
            except (NotFound, Conflict) as exc:
                return type(exc).__name__

        results = sorted(await asyncio.gather(*(delete() for _ in range(WRITERS))))
        assert results.count("deleted") == 1, results
        assert set(results) <= {"deleted", "NotFound"}, results
        assert await backend.get(collection, "k") is None

    @pytest.mark.asyncio
    async def test_concurrent_drops_count_each_record_once(
        self, backend: Backend, collection: str, make_backend: MakeBackend
    ) -> None:
        """``drop`` returns how many live records it removed: drops of one collection
        racing each other (two deletes of one instance, say) report each record once in
        all, never the same records twice."""
        await backend.put_many([rec(collection, f"k{i}", i) for i in range(30)])
        count = 2 if backend.capabilities.shared_across_processes else 1
        async with open_clients(backend, make_backend, count) as clients:

            async def drop(client: Backend) -> int:
                await asyncio.sleep(0)
                return await client.drop(collection)

            dropped = await asyncio.gather(*(drop(clients[i % count]) for i in range(4)))
        assert sum(dropped) == 30, f"the drops reported {dropped} for 30 records"
        assert await backend.count(collection) == 0

    @pytest.mark.asyncio
    async def test_a_batch_racing_other_writers_writes_each_record_exactly_once(
        self, backend: Backend, collection: str, make_backend: MakeBackend
    ) -> None:
        count = 2 if backend.capabilities.shared_across_processes else 1
        async with open_clients(backend, make_backend, count) as clients:
            acked = await race_batches(clients, collection)
            for key, versions in sorted(acked.items()):
                got = await backend.get(collection, key)
                assert got is not None
                # every write bumps the version by one: with each record written exactly
                # once, the acknowledged writes account for every version from 1 to the last
                missing = sorted(set(range(1, got.version + 1)) - set(versions))
                assert not missing, (
                    f"{key!r} is at version {got.version}, but no acknowledged write reported "
                    f"versions {missing}: a record was written twice (or a write was lost)"
                )
                assert got.version == max(versions), (
                    f"{key!r}: stored version {got.version}, highest acknowledged {max(versions)}"
                )
                assert got.value == versions[got.version], (
                    f"{key!r} at version {got.version} holds {got.value!r}, but the write "
                    f"acknowledged at that version was {versions[got.version]!r}"
                )

    @pytest.mark.asyncio
    async def test_two_clients_lose_no_update(
        self, backend: Backend, collection: str, make_backend: MakeBackend
    ) -> None:
        if not backend.capabilities.shared_across_processes:
            pytest.skip("the backend is not shared across processes")
        async with open_clients(backend, make_backend, 2) as (_, other):
            await backend.put(rec(collection, "counter", {"n": 0}))
            seen = await other.get(collection, "counter")
            assert seen is not None, "the other client sees it"
            assert seen.value == {"n": 0}, "the other client sees it"
            clients = [backend, other] * (WRITERS // 2)
            await asyncio.gather(
                *(increment(c, collection, "counter", INCREMENTS) for c in clients)
            )
            for client in (backend, other):
                got = await client.get(collection, "counter")
                assert got is not None
                assert got.value == {"n": len(clients) * INCREMENTS}
            with pytest.raises(AlreadyExists):
                await other.put(rec(collection, "counter", {"n": -1}), if_absent=True)
