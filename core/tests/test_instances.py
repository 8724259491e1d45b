"""Instances on the memory backend, beyond the kit's rules (which every backend runs, see
:class:`satchel.testing.InstanceRules`): the blocking twin, the tenant an instance maps onto,
a corrupt catalogue record, and what the catalogue is stored as."""

from __future__ import annotations

import pytest

import satchel
import satchel.sync
from satchel.backend import Record
from satchel.errors import CorruptRecord, NotFound
from satchel.stores.instances import INSTANCE_ID, instance_tenant


async def test_an_instance_maps_onto_a_tenant_a_handle_can_be_opened_on(
    store: satchel.Satchel,
) -> None:
    instances = store.instances()
    made = await instances.create("notes", "what the agents wrote down")
    assert INSTANCE_ID.fullmatch(made.id)
    assert made.tenant == instance_tenant("default", made.id) == f"default.i-{made.id}"
    await (await instances.kv(made.id, "n")).set("k", "v")
    # the instance's tenant is a valid SATCHEL_NAMESPACE: the same data, as a plain handle
    inside = satchel.open(backend=store.raw_backend, namespace=made.tenant)
    assert await inside.kv("n").get("k") == "v"
    assert inside.settings.namespace == made.tenant


async def test_the_catalogue_is_one_collection_of_the_tenant_keyed_by_id(
    store: satchel.Satchel,
) -> None:
    instances = store.instances()
    made = await instances.create("a", "b")
    assert instances.collection == "default:instance:catalogue"
    record = await store.backend.get(instances.collection, made.id)
    assert record is not None
    assert record.value == {"name": "a", "description": "b"}
    assert (record.version, record.created_at, record.updated_at) == (
        made.version,
        made.created_at,
        made.updated_at,
    )
    # the catalogue is no KV namespace of the tenant
    assert await store.namespaces() == []


async def test_a_corrupt_catalogue_record_is_reported_naming_it(store: satchel.Satchel) -> None:
    instances = store.instances()
    await store.backend.put(Record(instances.collection, "0123456789abcdef", ["not", "it"]))
    with pytest.raises(CorruptRecord, match="0123456789abcdef"):
        await instances.get("0123456789abcdef")
    with pytest.raises(CorruptRecord, match="0123456789abcdef"):
        await instances.list()


def test_the_blocking_twin_does_what_the_async_store_does() -> None:
    with satchel.sync.open() as handle:
        instances = handle.instances()
        assert instances.tenant == "default"
        made = instances.create("sync", "blocking")
        kv = instances.kv(made.id, "n")
        assert isinstance(kv, satchel.sync.SyncKVStore)
        kv.set_many({"a": 1, "b": 2})
        assert instances.get(made.id) == made
        assert instances.list() == [made]
        assert instances.find("sync") == [made]
        assert instances.namespaces(made.id) == ["n"]
        assert instances.counts(made.id) == {"n": 2}
        assert instances.count(made.id) == instances.count(made.id, "n") == 2
        renamed = instances.update(made.id, name="renamed", expected_version=made.version)
        assert renamed.name == "renamed"
        assert instances.orphans() == []
        assert instances.exists(made.id) is True
        assert instances.delete(made.id) == 2
        assert instances.get(made.id) is None
        with pytest.raises(NotFound, match="instance_id"):
            instances.delete(made.id)
        assert "InstanceStore" in repr(instances)


async def test_instances_are_exported() -> None:
    assert satchel.InstanceStore.__module__ == "satchel.stores.instances"
    assert satchel.Instance.__module__ == "satchel.stores.instances"
    assert "SyncInstanceStore" in satchel.sync.__all__
