"""Rules of instances (:class:`satchel.InstanceStore`): named, described containers of
key-value namespaces, each under a tenant of its own, on whatever backend runs them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

import satchel
from satchel.backend import Backend
from satchel.errors import BackendUnavailable, Conflict, InvalidArgument, NotFound
from satchel.settings import SatchelSettings
from satchel.testing.fixtures import CollectionNames, ConformanceFixtures

__all__ = ["InstanceRules"]


def _on_tenant(backend: Backend, tenant: str) -> satchel.Satchel:
    """A handle on ``backend`` under ``tenant``, reading no environment."""
    return satchel.open(SatchelSettings.model_construct(namespace=tenant), backend=backend)


class InstanceRules(ConformanceFixtures):
    """Instances are created with a generated id, listed, found by name, renamed and
    described without moving their data, counted per namespace and in total, and deleted
    with everything in them; an interrupted delete is visible and finishes when run again;
    data written after a delete shows up as an orphan and can be removed; bad input is a
    typed error naming the argument, with nothing written."""

    @pytest.mark.asyncio
    async def test_instance_lifecycle(self, satchel_handle: satchel.Satchel) -> None:
        instances = satchel_handle.instances()
        assert await instances.list() == []
        made = await instances.create("agent state", "state of the planning agents")
        assert (made.name, made.description, made.version, made.deleting) == (
            "agent state",
            "state of the planning agents",
            1,
            False,
        )
        assert made.created_at is not None
        assert made.created_at == made.updated_at
        assert made.tenant == f"{satchel_handle.namespace}.i-{made.id}"
        assert await instances.get(made.id) == made
        assert await instances.list() == [made]

        users = await instances.kv(made.id, "users")
        await users.set_many({"ann": {"age": 30}, "bob": {"age": 41}})
        await (await instances.kv(made.id, "cache: ä*")).set("k", 1)
        assert await instances.namespaces(made.id) == ["cache: ä*", "users"]
        assert await instances.counts(made.id) == {"cache: ä*": 1, "users": 2}
        assert await instances.count(made.id) == 3
        assert await instances.count(made.id, "users") == 2
        assert await instances.count(made.id, "nothing here") == 0

        await asyncio.sleep(0.01)
        renamed = await instances.update(made.id, name="planner state")
        assert (renamed.id, renamed.name, renamed.description) == (
            made.id,
            "planner state",
            made.description,
        )
        assert renamed.version == made.version + 1
        assert renamed.created_at == made.created_at
        assert renamed.updated_at is not None
        assert made.updated_at is not None
        assert renamed.updated_at > made.updated_at
        # the data hangs off the id: the rename moved nothing
        assert await (await instances.kv(made.id, "users")).get("ann") == {"age": 30}
        assert await instances.counts(made.id) == {"cache: ä*": 1, "users": 2}
        described = await instances.update(made.id, description="")
        assert (described.name, described.description) == ("planner state", "")
        assert await instances.find("planner state") == [described]
        assert await instances.find("agent state") == []

        assert await instances.exists(made.id) is True
        assert await instances.delete(made.id) == 3
        assert await instances.get(made.id) is None
        assert await instances.exists(made.id) is False
        with pytest.raises(NotFound, match="instance_id"):
            await instances.counts(made.id)
        with pytest.raises(NotFound, match="instance_id"):
            await instances.delete(made.id)
        assert await instances.list() == []
        assert not [c for c in await satchel_handle.backend.collections() if made.id in c]

    @pytest.mark.asyncio
    async def test_instances_are_tenants_of_their_own(
        self, satchel_handle: satchel.Satchel, backend: Backend
    ) -> None:
        instances = satchel_handle.instances()
        first = await instances.create("same name")
        await asyncio.sleep(0.01)  # oldest first: a later millisecond
        second = await instances.create("same name", "names are not unique")
        assert first.id != second.id
        assert await instances.find("same name") == [first, second]
        assert await instances.list() == [first, second]

        await (await instances.kv(first.id, "state")).set("k", "first")
        await (await instances.kv(second.id, "state")).set("k", "second")
        await satchel_handle.kv("state").set("k", "the tenant's own")
        # a handle on the instance's tenant sees its namespaces as its own
        inside = _on_tenant(backend, first.tenant)
        assert await inside.kv("state").get("k") == "first"
        assert await inside.namespaces() == ["state"]
        # the tenant's namespaces and the instances' do not mix
        assert await satchel_handle.namespaces() == ["state"]
        assert await satchel_handle.kv("state").get("k") == "the tenant's own"
        assert await instances.count(second.id) == 1
        assert await instances.delete(first.id) == 1
        assert await (await instances.kv(second.id, "state")).get("k") == "second"
        assert await satchel_handle.kv("state").get("k") == "the tenant's own"
        # another tenant's catalogue holds none of these
        assert await _on_tenant(backend, satchel_handle.namespace + "x").instances().list() == []
        assert await instances.delete(second.id) == 1

    @pytest.mark.asyncio
    async def test_an_interrupted_delete_is_visible_and_finishes_when_run_again(
        self, satchel_handle: satchel.Satchel, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        instances = satchel_handle.instances()
        made = await instances.create("doomed")
        for namespace in ("a", "b", "c"):
            await (await instances.kv(made.id, namespace)).set_many({"x": 1, "y": 2})
        real_drop = satchel_handle.backend.drop
        drops = 0

        async def crash_on_second_drop(collection: str) -> int:
            nonlocal drops
            drops += 1
            if drops == 2:
                raise BackendUnavailable("the server went away mid-delete")
            return await real_drop(collection)

        monkeypatch.setattr(satchel_handle.backend, "drop", crash_on_second_drop)
        with pytest.raises(BackendUnavailable):
            await instances.delete(made.id)
        monkeypatch.undo()

        half = await instances.get(made.id)
        assert half is not None
        assert half.deleting is True
        assert await instances.list() == [half]
        assert sum((await instances.counts(made.id)).values()) == 4
        with pytest.raises(Conflict, match="being deleted"):
            await instances.update(made.id, name="saved?")
        with pytest.raises(Conflict, match="being deleted"):
            await instances.kv(made.id, "a")
        assert await instances.delete(made.id) == 4
        assert await instances.list() == []
        assert await instances.orphans() == []

    @pytest.mark.asyncio
    async def test_data_written_after_a_delete_is_an_orphan_that_delete_removes(
        self, satchel_handle: satchel.Satchel
    ) -> None:
        instances = satchel_handle.instances()
        made = await instances.create("short-lived")
        await asyncio.sleep(0.01)
        kept = await instances.create("kept")
        await (await instances.kv(kept.id, "n")).set("k", 1)
        stale = await instances.kv(made.id, "n")
        await stale.set("k", 1)
        assert await instances.delete(made.id) == 1
        assert await instances.orphans() == []
        await stale.set("k", 2)  # through a store taken before the delete
        assert await instances.orphans() == [made.id]
        assert [i.id for i in await instances.list()] == [kept.id]
        assert await instances.delete(made.id) == 1
        assert await instances.orphans() == []
        with pytest.raises(NotFound, match="instance_id"):
            await instances.delete(made.id)
        assert await instances.count(kept.id) == 1
        assert await instances.delete(kept.id) == 1

    @pytest.mark.asyncio
    async def test_instance_versions_guard_updates_and_deletes(
        self, satchel_handle: satchel.Satchel
    ) -> None:
        instances = satchel_handle.instances()
        made = await instances.create("v")
        await (await instances.kv(made.id, "n")).set("k", 1)
        now = await instances.update(made.id, name="v2", expected_version=made.version)
        with pytest.raises(Conflict, match="expected_version") as caught:
            await instances.update(made.id, name="lost", expected_version=made.version)
        assert (caught.value.expected, caught.value.actual) == (made.version, now.version)
        with pytest.raises(Conflict, match="expected_version"):
            await instances.delete(made.id, expected_version=made.version)
        assert await instances.get(made.id) == now
        assert await instances.count(made.id) == 1
        # updates without expected_version are applied over each other, none lost
        await asyncio.gather(
            instances.update(made.id, name="both"),
            instances.update(made.id, description="kept"),
        )
        both = await instances.get(made.id)
        assert both is not None
        assert (both.name, both.description) == ("both", "kept")
        assert await instances.delete(made.id, expected_version=both.version) == 1

    @pytest.mark.asyncio
    async def test_concurrent_deletes_and_updates_leave_nothing_and_count_once(
        self, satchel_handle: satchel.Satchel, backend: Backend
    ) -> None:
        """Deletes of one instance racing each other and updates of it: every delete
        finishes or finds it gone, every update lands before the delete or is refused, the
        records are reported once in all, and nothing of it is left (no catalogue record,
        no data, no orphan), while another instance and the tenant keep theirs."""
        instances = satchel_handle.instances()
        doomed = await instances.create("doomed")
        kept = await instances.create("kept")
        await (await instances.kv(doomed.id, "a")).set_many({f"k{i}": i for i in range(12)})
        await (await instances.kv(doomed.id, "b")).set("k", "b")
        await (await instances.kv(kept.id, "a")).set("k", "kept")
        await satchel_handle.kv("a").set("k", "the tenant's own")

        async def delete() -> int | str:
            await asyncio.sleep(0)
            try:
                return await instances.delete(doomed.id)
            except NotFound:
                return "NotFound"

        async def update(i: int) -> str:
            await asyncio.sleep(0)
            try:
                await instances.update(doomed.id, name=f"late {i}")
            except (Conflict, NotFound) as exc:
                return type(exc).__name__
            return "updated"

        results = await asyncio.gather(*(delete() for _ in range(3)), *map(update, range(3)))
        counts = [r for r in results[:3] if isinstance(r, int)]
        assert counts, f"no delete finished: {results}"
        assert sum(counts) == 13, f"the deletes reported {results[:3]} for 13 records"
        assert set(results[3:]) <= {"updated", "Conflict", "NotFound"}, results
        assert await instances.get(doomed.id) is None
        assert await instances.orphans() == []
        assert not [c for c in await backend.collections() if doomed.id in c]
        assert await instances.count(kept.id) == 1
        assert await satchel_handle.kv("a").get("k") == "the tenant's own"
        assert await instances.delete(kept.id) == 1

    @pytest.mark.asyncio
    async def test_bad_instance_input_is_refused_naming_the_argument(
        self, satchel_handle: satchel.Satchel
    ) -> None:
        instances = satchel_handle.instances()
        made = await instances.create("ok")
        calls: list[tuple[str, Any]] = [
            ("name", instances.create("")),
            ("name", instances.create(5)),  # type: ignore[arg-type]
            ("name", instances.create("a\x00b")),
            ("description", instances.create("x", 5)),  # type: ignore[arg-type]
            ("description", instances.create("x", "\ud800")),
            ("instance_id", instances.get(5)),  # type: ignore[arg-type]
            ("instance_id", instances.get("")),
            ("instance_id", instances.exists(None)),  # type: ignore[arg-type]
            ("name, description", instances.update(made.id)),
            ("name", instances.update(made.id, name="")),
            ("expected_version", instances.update(made.id, name="n", expected_version=0)),
            ("expected_version", instances.delete(made.id, expected_version=-1)),
            ("namespace", instances.kv(made.id, "")),
            ("ttl", instances.kv(made.id, "n", ttl=-1)),
            ("namespace", instances.count(made.id, "a\x00")),
        ]
        for argument, call in calls:
            with pytest.raises(InvalidArgument, match=argument):
                await call
        for missing in ("0123456789abcdef", "not an id", "../x"):
            assert await instances.get(missing) is None
            assert await instances.exists(missing) is False
            with pytest.raises(NotFound, match="instance_id"):
                await instances.kv(missing, "n")
            with pytest.raises(NotFound, match="instance_id"):
                await instances.update(missing, name="x")
        assert await instances.list() == [made]
        assert await instances.delete(made.id) == 0

    @pytest.mark.asyncio
    async def test_instance_stores_take_the_default_ttl_or_their_own(
        self, backend: Backend, kit_collections: CollectionNames
    ) -> None:
        settings = SatchelSettings.model_construct(
            namespace=kit_collections.tenant(), default_ttl=3600.0
        )
        instances = satchel.open(settings, backend=backend).instances()
        made = await instances.create("ttl")
        assert (await instances.kv(made.id, "n")).default_ttl == 3600.0
        assert (await instances.kv(made.id, "n", ttl=None)).default_ttl is None
        store = await instances.kv(made.id, "n", ttl=timedelta(seconds=60))
        await store.set("k", 1)
        entry = await store.get_entry("k")
        assert entry is not None
        assert entry.expires_at is not None
        assert await instances.delete(made.id) == 1
