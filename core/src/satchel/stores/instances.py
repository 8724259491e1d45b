"""Instances: named, described containers of key-value namespaces.

An instance has a generated, immutable id, and its data hangs off that id: its namespaces
are the key-value namespaces of the tenant ``<tenant>.i-<id>`` (:attr:`Instance.tenant`),
so ``satchel.open(namespace=instance.tenant)`` sees them as ``handle.kv(...)``. The
catalogue of instances (name, description, creation and update times) is one collection
of the opening tenant, ``<tenant>:instance:catalogue``, a record per instance keyed by id.
Renaming an instance rewrites its catalogue record and moves no data. See
``docs/instances.md``.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from satchel.backend import Backend, Record
from satchel.errors import AlreadyExists, Conflict, CorruptRecord, InvalidArgument, NotFound
from satchel.query import Query
from satchel.stores.base import DEFAULT, TTL, IndexExtractor, StoreBase, collection_name
from satchel.stores.kv import KVStore
from satchel.toolkit import iter_pages
from satchel.validation import check_json, check_key, check_name, check_ttl, check_version

__all__ = [
    "INSTANCE_ID",
    "INSTANCE_MARK",
    "Instance",
    "InstanceStore",
    "instance_of",
    "instance_tenant",
]

#: What an instance id looks like: 16 lower-case hex digits (64 random bits).
INSTANCE_ID = re.compile(r"[0-9a-f]{16}")

#: The kind and name of the catalogue collection: ``<tenant>:instance:catalogue``.
_KIND = "instance"
_CATALOGUE = "catalogue"


#: What follows a tenant in the tenant of one of its instances (``<tenant>.i-<id>``).
INSTANCE_MARK: Final = ".i-"


#: What follows a tenant in the collection name of one of its instances' stores (or of an
#: instance nested in one): ``.i-<id>`` once or more, then the ``:`` before the kind.
_INSTANCE_PATH = re.compile(r"(?:\.i-[0-9a-f]{16})+:")


def instance_of(tenant: str, collection: str) -> str | None:
    """The id of the instance of ``tenant`` that ``collection`` belongs to (a store of the
    instance's tenant, or of an instance nested in it), or ``None``: a collection of the
    tenant itself, or of another tenant whose name merely starts the same way
    (``<tenant>.i-staging``)."""
    if not collection.startswith(tenant):
        return None
    rest = collection[len(tenant) :]
    if _INSTANCE_PATH.match(rest) is None:
        return None
    return rest[len(INSTANCE_MARK) : len(INSTANCE_MARK) + 16]


def instance_tenant(tenant: str, instance_id: str) -> str:
    """The tenant prefix under which the data of instance ``instance_id`` of ``tenant``
    lives: ``<tenant>.i-<id>`` (a valid ``SATCHEL_NAMESPACE`` while it is at most 64
    characters, that is for a tenant of at most 45)."""
    return f"{tenant}{INSTANCE_MARK}{instance_id}"


@dataclass(frozen=True, slots=True)
class Instance:
    """One instance, as the catalogue holds it.

    :param id: its generated id (16 hex digits), which never changes.
    :param name: its display name (not unique; :meth:`InstanceStore.find` looks it up).
    :param description: what it is for (``""`` when none was given).
    :param tenant: the tenant prefix its namespaces live under, for
        ``satchel.open(namespace=instance.tenant)`` and ``SATCHEL_NAMESPACE``.
    :param version: the catalogue record's version: pass it as ``expected_version`` to
        :meth:`InstanceStore.update` or :meth:`InstanceStore.delete` to change only this
        version.
    :param created_at: when it was created.
    :param updated_at: when its name or description last changed (writes to its
        namespaces do not change it).
    :param deleting: a delete started and did not finish: its data may be partly gone;
        :meth:`InstanceStore.delete` finishes it.
    """

    id: str
    name: str
    description: str
    tenant: str
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    deleting: bool = False


class InstanceStore(StoreBase):
    """The instances of one tenant: create, get, find, list, update, delete them, and reach
    the key-value namespaces inside each. Get it with :meth:`satchel.Satchel.instances`.

    :meth:`get` and :meth:`exists` answer ``None`` and ``False`` for an unknown id; every
    other method that takes an ``instance_id`` raises :class:`~satchel.errors.NotFound`
    naming it when the catalogue holds no such instance (a string that is not an id
    included).
    """

    _kind = _KIND

    def __init__(self, backend: Backend, tenant: str, ttl: float | None) -> None:
        super().__init__(backend, tenant, _CATALOGUE, ttl)
        self.tenant = tenant

    # -- the catalogue ------------------------------------------------------------------

    def _instance(self, record: Record) -> Instance:
        value = record.value
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("name"), str)
            or not isinstance(value.get("description"), str)
            or not isinstance(value.get("deleting", False), bool)
            or not INSTANCE_ID.fullmatch(record.key)
        ):
            raise CorruptRecord(
                f"instance {record.key!r} in {self.collection!r}: not an instance record"
            )
        return Instance(
            id=record.key,
            name=value["name"],
            description=value["description"],
            tenant=instance_tenant(self.tenant, record.key),
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
            deleting=value.get("deleting", False),
        )

    def _record(self, instance_id: str, name: str, description: str, deleting: bool) -> Record:
        value: dict[str, Any] = {"name": name, "description": description}
        if deleting:
            value["deleting"] = True
        return Record(self.collection, instance_id, value, index={"name": (name,)})

    async def _load(self, instance_id: Any) -> Record | None:
        check_key(instance_id, "instance_id")
        if not INSTANCE_ID.fullmatch(instance_id):
            return None
        return await self._backend.get(self.collection, instance_id)

    async def _require(self, instance_id: Any, *, live: bool = False) -> Instance:
        record = await self._load(instance_id)
        if record is None:
            raise NotFound(f"instance_id: no instance {instance_id!r} in tenant {self.tenant!r}")
        instance = self._instance(record)
        if live and instance.deleting:
            raise Conflict(
                f"instance_id: instance {instance_id!r} is being deleted; delete it again to finish"
            )
        return instance

    async def create(self, name: str, description: str = "") -> Instance:
        """Create an instance named ``name`` and return it, with a new id.

        :param name: its display name: any non-empty string without NUL. Names are not
            unique (ids are): two instances may share one.
        :param description: what it is for.
        """
        check_name(name, "name")
        _check_description(description)
        while True:
            instance_id = secrets.token_hex(8)
            try:
                stored = await self._backend.put(
                    self._record(instance_id, name, description, False), if_absent=True
                )
            except AlreadyExists:  # 64 random bits met an earlier id: draw again
                continue
            return self._instance(stored)

    async def get(self, instance_id: str) -> Instance | None:
        """The instance ``instance_id`` (one being deleted too, with ``deleting`` set), or
        ``None``."""
        record = await self._load(instance_id)
        return None if record is None else self._instance(record)

    async def exists(self, instance_id: str) -> bool:
        """Whether the catalogue holds the instance ``instance_id``."""
        return await self._load(instance_id) is not None

    async def find(self, name: str) -> list[Instance]:
        """The instances named ``name``, oldest first."""
        check_name(name, "name")
        records = await self._backend.find(self.collection, "name", name)
        return _oldest_first(self._instance(r) for r in records)

    async def update(
        self,
        instance_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        expected_version: int | None = None,
    ) -> Instance:
        """Change the name, the description or both; return the instance as it now is.
        Its data stays where it is (it hangs off the id).

        :param expected_version: change it only if its version is this one (else
            :class:`~satchel.errors.Conflict`); without it, a concurrent update is not
            lost: the change is applied over the latest version.
        :raises Conflict: the instance is being deleted.
        """
        if name is None and description is None:
            raise InvalidArgument("name, description: give at least one to change")
        if name is not None:
            check_name(name, "name")
        if description is not None:
            _check_description(description)
        if expected_version is not None:
            check_version(expected_version, "expected_version")
        while True:
            current = await self._require(instance_id, live=True)
            if expected_version is not None and current.version != expected_version:
                raise Conflict(
                    f"expected_version: instance {instance_id!r} is at version "
                    f"{current.version}, not {expected_version}",
                    expected=expected_version,
                    actual=current.version,
                )
            record = self._record(
                current.id,
                current.name if name is None else name,
                current.description if description is None else description,
                False,
            )
            try:
                stored = await self._backend.put(record, if_version=current.version)
            except (Conflict, NotFound):
                if expected_version is not None:
                    raise
                continue  # another writer came first: apply the change over its version
            return self._instance(stored)

    async def delete(self, instance_id: str, *, expected_version: int | None = None) -> int:
        """Delete the instance and everything in it; return how many records and logs its
        namespaces (and any other store opened on its tenant) held.

        Crash-safe: the catalogue record is marked ``deleting`` first, the data is dropped
        next, and the record goes last, so an interrupted delete leaves an instance listed
        with ``deleting`` set, and deleting it again finishes the job. It also removes the
        data left under an id with no catalogue record (see :meth:`orphans`).

        :param expected_version: delete it only if its version is this one (else
            :class:`~satchel.errors.Conflict`).
        """
        if expected_version is not None:
            check_version(expected_version, "expected_version")
        while True:
            record = await self._load(instance_id)
            if record is None:
                collections = await self._collections_of(instance_id)
                if not collections or expected_version is not None:
                    # an orphan has no version: expected_version cannot hold for it
                    raise NotFound(
                        f"instance_id: no instance {instance_id!r} in tenant {self.tenant!r}"
                        + (" (only data left by a deleted one)" if collections else "")
                    )
                return await self._drop(collections)
            instance = self._instance(record)
            if expected_version is not None and instance.version != expected_version:
                raise Conflict(
                    f"expected_version: instance {instance_id!r} is at version "
                    f"{instance.version}, not {expected_version}",
                    expected=expected_version,
                    actual=instance.version,
                )
            version = instance.version
            if not instance.deleting:
                marked = self._record(instance.id, instance.name, instance.description, True)
                try:
                    version = await self._backend.put_version(marked, if_version=version)
                except (Conflict, NotFound):
                    if expected_version is not None:
                        raise
                    continue  # an update or a delete came first: look again
            dropped = await self._drop(await self._collections_of(instance.id))
            with contextlib.suppress(NotFound):  # a concurrent delete finished first
                await self._backend.delete(self.collection, instance.id, if_version=version)
            return dropped

    async def orphans(self) -> list[str]:
        """The ids that hold data but have no catalogue record, sorted: what a write
        through a store taken before :meth:`delete` left behind it. :meth:`delete` removes
        it."""
        ids: set[str] = set()
        for collection in await self._backend.collections():
            found = instance_of(self.tenant, collection)
            if found is not None:
                ids.add(found)
        listed = await self._backend.get_many(self.collection, sorted(ids))
        return sorted(i for i, r in zip(sorted(ids), listed, strict=True) if r is None)

    # -- what is inside -----------------------------------------------------------------

    async def kv(
        self,
        instance_id: str,
        namespace: str,
        *,
        ttl: TTL = DEFAULT,
        indexes: Mapping[str, IndexExtractor] | None = None,
    ) -> KVStore:
        """The key-value namespace ``namespace`` of the instance: the store
        ``satchel.open(namespace=instance.tenant).kv(namespace)`` gives.

        :param ttl: seconds each value lives (default: the handle's ``SATCHEL_DEFAULT_TTL``;
            ``None``: never expire).
        :param indexes: as :meth:`satchel.Satchel.kv` takes them.
        :raises Conflict: the instance is being deleted.
        """
        check_name(namespace, "namespace")
        seconds = self.default_ttl if ttl is DEFAULT else check_ttl(ttl)
        instance = await self._require(instance_id, live=True)
        return KVStore(self._backend, instance.tenant, namespace, seconds, indexes)

    async def namespaces(self, instance_id: str) -> list[str]:
        """The key-value namespaces of the instance that hold at least one value, sorted."""
        return sorted(await self.counts(instance_id))

    async def counts(self, instance_id: str) -> dict[str, int]:
        """How many live values each key-value namespace of the instance holds,
        ``{namespace: count}`` in namespace order (the total is the sum: :meth:`count`)."""
        instance = await self._require(instance_id)
        prefix = collection_name(instance.tenant, "kv", "")
        names = sorted(
            c[len(prefix) :] for c in await self._backend.collections() if c.startswith(prefix)
        )
        counts = {name: await self._backend.count(prefix + name) for name in names}
        return {name: n for name, n in counts.items() if n}

    async def count(self, instance_id: str, namespace: str | None = None) -> int:
        """How many live values the instance holds: in ``namespace``, or in all its
        key-value namespaces."""
        if namespace is None:
            return sum((await self.counts(instance_id)).values())
        check_name(namespace, "namespace")
        instance = await self._require(instance_id)
        return await self._backend.count(collection_name(instance.tenant, "kv", namespace))

    # -- helpers ------------------------------------------------------------------------

    async def _collections_of(self, instance_id: str) -> list[str]:
        """Every collection of the instance's tenant (and of instances nested in it)."""
        if not INSTANCE_ID.fullmatch(instance_id):
            return []
        return [
            c
            for c in await self._backend.collections()
            if instance_of(self.tenant, c) == instance_id
        ]

    async def _drop(self, collections: list[str]) -> int:
        return sum([await self._backend.drop(c) for c in collections])

    async def list(self) -> list[Instance]:
        """Every instance of the tenant, oldest first (ones being deleted too)."""
        found: list[Instance] = []
        async for page in iter_pages(
            lambda cursor: self._backend.query(self.collection, Query(limit=500, cursor=cursor))
        ):
            found.extend(self._instance(r) for r in page.items)
        return _oldest_first(found)

    def __repr__(self) -> str:
        return f"<InstanceStore of {self.tenant!r} on {self._backend.describe()}>"


def _check_description(description: Any) -> None:
    if not isinstance(description, str):
        raise InvalidArgument(
            f"description: must be a string, not {type(description).__name__} {description!r}"
        )
    check_json(description, "description")  # refuses a lone surrogate


def _oldest_first(instances: Any) -> list[Instance]:
    return sorted(instances, key=lambda i: (i.created_at is None, i.created_at, i.id))
