"""Namespaced key-value records with queries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from satchel.backend import Backend, JSONValue, Page, Record
from satchel.errors import InvalidArgument
from satchel.query import (
    MAX_COUNT,
    OrderInput,
    Query,
    WhereInput,
    check_query,
    compile_glob,
    parse_where,
)
from satchel.stores.base import (
    DEFAULT,
    TTL,
    IndexExtractor,
    StoreBase,
    Versioned,
    check_indexes,
    index_entries,
    renamed,
)
from satchel.toolkit import iter_pages
from satchel.validation import (
    check_key,
    check_keys,
    check_limit,
    check_value,
    check_version,
    end_vouching,
    vouching,
)

__all__ = ["Entry", "KVStore"]


class Entry(Versioned[JSONValue]):
    """A KV value with its metadata, as :meth:`KVStore.get_entry`, :meth:`KVStore.query`
    and :meth:`KVStore.find` return it: ``key``, ``value`` (its stored JSON form),
    ``version``, ``created_at``, ``updated_at``, ``expires_at``. A
    :class:`~satchel.Versioned`, so ``isinstance(entry, Entry)`` and
    ``isinstance(entry, Versioned)`` both hold."""

    __slots__ = ()


_NO_DEFAULT: Any = object()


def _entry(record: Record) -> Entry:
    return Entry(
        record.key,
        record.value,
        record.version,
        record.created_at,
        record.updated_at,
        record.expires_at,
    )


class KVStore(StoreBase):
    """One namespace of key-value records. Get it with :meth:`satchel.Satchel.kv`.

    Keys are any non-empty strings. Values are JSON values, pydantic models, and the
    standard types pydantic turns into JSON (``datetime``, ``date``, ``time``,
    ``timedelta``, ``Decimal``, ``UUID``, enums), stored in their JSON form exactly as a
    :class:`~satchel.TaskStore` field of that type is (see
    :func:`satchel.validation.check_value`): a ``datetime`` is stored as an ISO 8601
    string, which queries compare with ``datetime`` values as instants. Every value
    returned is the caller's own copy, in its stored JSON form.

    Declared indexes (``indexes={name: extractor}``) are multi-valued: each extractor is
    given the value being stored and returns every string under which :meth:`find` finds
    it. They are written with the value, atomically, by :meth:`set` and :meth:`set_many`;
    every store that writes a namespace should declare the same indexes, since a write
    replaces the record's index entries with the ones it declares.
    """

    _kind = "kv"

    def __init__(
        self,
        backend: Backend,
        tenant: str,
        name: str,
        ttl: float | None,
        indexes: Mapping[str, IndexExtractor] | None = None,
    ) -> None:
        super().__init__(backend, tenant, name, ttl)
        self.indexes: dict[str, IndexExtractor] = check_indexes(indexes)

    def _record(self, key: str, value: Any, expires_at: Any) -> Record:
        index = index_entries(self.indexes, value, key, "value") if self.indexes else {}
        return Record(self.collection, key, value, expires_at=expires_at, index=index)

    @property
    def namespace(self) -> str:
        """The namespace's name."""
        return self.name

    async def get(self, key: str, default: JSONValue = None) -> JSONValue:
        """The value under ``key``, or ``default`` when there is none (or it expired)."""
        check_key(key)
        record = await self._backend.get(self.collection, key)
        return default if record is None else record.value

    async def get_entry(self, key: str) -> Entry | None:
        """The value under ``key`` with its version and timestamps, or ``None``."""
        check_key(key)
        record = await self._backend.get(self.collection, key)
        return None if record is None else _entry(record)

    async def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: TTL = DEFAULT,
        if_absent: bool = False,
        expected_version: int | None = None,
        if_version: int | None = None,
    ) -> int:
        """Store ``value`` under ``key``; return the new version.

        :param value: a JSON value, a pydantic model, or a ``datetime``, ``date``,
            ``time``, ``timedelta``, ``Decimal``, ``UUID`` or enum (anywhere in it): see the
            class for the JSON form stored.
        :param ttl: seconds (or a ``timedelta``) to live; ``None``: never expires; default:
            the namespace's default TTL.
        :param if_absent: only if no value exists (else :class:`~satchel.errors.AlreadyExists`).
        :param expected_version: only if the stored version is this one (else
            :class:`~satchel.errors.Conflict`, or :class:`~satchel.errors.NotFound`).
        :param if_version: the deprecated name of ``expected_version``.
        """
        expected_version = renamed(
            expected_version,
            if_version,
            old="if_version",
            new="expected_version",
            method="KVStore.set",
        )
        given = "expected_version" if if_version is None else "if_version"  # as the caller said
        check_key(key)
        vouched = vouching()  # the backend takes the JSON this check makes
        try:
            value = check_value(value)
            if if_absent and expected_version is not None:
                raise InvalidArgument(f"if_absent and {given}: give one or the other")
            check_version(expected_version, given)
            record = self._record(key, value, self._expiry(ttl))
            return await self._backend.put_version(
                record, if_absent=if_absent, if_version=expected_version
            )
        finally:
            end_vouching(vouched)

    async def delete(
        self,
        key: str,
        *,
        expected_version: int | None = None,
        if_version: int | None = None,
    ) -> bool:
        """Delete the value under ``key``; ``True`` if there was one.

        :param expected_version: only if the stored version is this one (else
            :class:`~satchel.errors.Conflict`, or :class:`~satchel.errors.NotFound`).
        :param if_version: the deprecated name of ``expected_version``.
        """
        expected_version = renamed(
            expected_version,
            if_version,
            old="if_version",
            new="expected_version",
            method="KVStore.delete",
        )
        check_key(key)
        check_version(expected_version, "expected_version" if if_version is None else "if_version")
        return await self._backend.delete(self.collection, key, if_version=expected_version)

    async def exists(self, key: str) -> bool:
        """Whether a (live) value is stored under ``key``."""
        check_key(key)
        return await self._backend.exists(self.collection, key)

    async def keys(self, pattern: str = "*") -> list[str]:
        """The keys matching the glob ``pattern``, sorted.

        The pattern language is Redis's: ``*`` any run, ``?`` one character, ``[abc]`` /
        ``[a-z]`` / ``[^abc]`` sets, and ``\\`` escapes the next character, so
        ``keys("a\\*")`` matches only the key ``a*``. Use :func:`satchel.escape_glob` to
        match a literal prefix: ``keys(escape_glob(prefix) + "*")``.
        """
        if not isinstance(pattern, str):
            raise InvalidArgument(f"pattern: must be a string, not {pattern!r}")
        compile_glob(pattern)  # a bad pattern fails here, with its own message
        return sorted([k async for k in self._backend.iter_keys(self.collection, pattern)])

    async def entries(self, *, batch_size: int = 500) -> AsyncIterator[tuple[str, JSONValue]]:
        """Every ``(key, value)``, in key order, read ``batch_size`` at a time."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 1 <= batch_size <= MAX_COUNT
        ):
            raise InvalidArgument(
                f"batch_size: must be a whole number from 1 to {MAX_COUNT}, not {batch_size!r}"
            )
        async for page in iter_pages(
            lambda cursor: self._backend.query(
                self.collection, Query(limit=batch_size, cursor=cursor)
            )
        ):
            for record in page.items:
                yield record.key, record.value

    async def get_many(self, keys: Sequence[str]) -> dict[str, JSONValue]:
        """``{key: value}`` for the keys that have a value (in the order of ``keys``)."""
        wanted = list(dict.fromkeys(check_keys(keys)))
        records = await self._backend.get_many(self.collection, wanted) if wanted else []
        return {r.key: r.value for r in records if r is not None}

    async def get_entries(self, keys: Sequence[str]) -> dict[str, Entry]:
        """``{key: entry}`` (value, version and timestamps) for the keys that have a value,
        in the order of ``keys``: one round trip on network backends."""
        wanted = list(dict.fromkeys(check_keys(keys)))
        records = await self._backend.get_many(self.collection, wanted) if wanted else []
        return {r.key: _entry(r) for r in records if r is not None}

    async def set_many(self, items: Mapping[str, Any], *, ttl: TTL = DEFAULT) -> list[int]:
        """Store every ``key: value`` (one round trip on network backends); return the new
        versions. Values are taken as :meth:`set` takes them; every key and value is
        checked before anything is written."""
        if not isinstance(items, Mapping):
            raise InvalidArgument(f"items: must be a mapping of key to value, not {items!r}")
        expires_at = self._expiry(ttl)
        vouched = vouching()  # the backend takes the JSON these checks make
        try:
            records = []
            for key, value in items.items():
                check_key(key, "items key")
                value = check_value(value, f"items[{key!r}]")
                records.append(self._record(key, value, expires_at))
            if not records:
                return []
            return await self._backend.put_many_versions(records)
        finally:
            end_vouching(vouched)

    async def find(self, index: str, value: str, *, limit: int | None = None) -> list[Entry]:
        """The entries whose declared index ``index`` holds ``value``, in key order: one
        lookup of the index on the backend, not a scan of the namespace.

        :param limit: at most this many (the first ones in key order).
        :raises InvalidArgument: ``index`` is not declared, ``value`` is not a non-empty
            string, or ``limit`` is not a whole number.
        """
        if not isinstance(index, str) or index not in self.indexes:
            declared = ", ".join(sorted(self.indexes)) or "none"
            raise InvalidArgument(f"index: {index!r} is not declared; declared: {declared}")
        check_key(value, "value")
        check_limit(limit)
        records = await self._backend.find(self.collection, index, value)
        records.sort(key=lambda r: r.key)
        return [_entry(r) for r in records[:limit]]

    async def count(self, where: WhereInput | Query = None) -> int:
        """How many values there are (matching ``where``, see :meth:`query`; given a
        :class:`~satchel.Query`, its ``where``)."""
        if isinstance(where, Query):
            conditions = check_query(where, argument="where").where
        else:
            conditions = parse_where(where)
        return await self._backend.count(self.collection, conditions)

    async def query(
        self,
        where: WhereInput | Query = None,
        *,
        order_by: OrderInput = None,
        select: Sequence[str | Sequence[str]] | None = None,
        limit: int | None = None,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[Entry]:
        """Query the namespace.

        :param where: ``[(field, op, value), ...]``,
            ``[{"field": ..., "operator": ..., "value": ...}, ...]`` or ``{field: value}``
            / ``{field: {op: value}}``; all conditions must hold. Fields are dotted paths
            into the value (``"user.age"``), ``"value"`` for the whole value (scalars), or
            ``key``, ``version``, ``created_at``, ``updated_at``, ``expires_at``. Operators:
            ``eq neq gt gte lt lte in contains startswith endswith exists``. Or a whole
            :class:`~satchel.Query` (from :func:`satchel.query.parse_query`, for a JSON
            query document), and then no other argument.
        :param order_by: ``"field"``, ``"-field"`` (descending),
            ``{"field": ..., "direction": "asc"|"desc"}`` or a list; ties by key.
        :param select: value fields to return; the others are left out.
        :param limit: at most this many entries.
        :param offset: skip this many first (not with ``cursor``).
        :param cursor: the ``next_cursor`` of the previous page of the same query.
        """
        if isinstance(where, Query):
            # offset's default is the int 0: False or 0.0 there is an argument given (and
            # one that Query.build would refuse), not the default
            given = [
                name
                for name, unset in (
                    ("order_by", order_by is None),
                    ("select", select is None),
                    ("limit", limit is None),
                    ("offset", type(offset) is int and offset == 0),
                    ("cursor", cursor is None),
                )
                if not unset
            ]
            if given:
                raise InvalidArgument(
                    f"{', '.join(given)}: given with a Query as where; put "
                    f"{'it' if len(given) == 1 else 'them'} in the Query"
                )
            q = check_query(where, argument="where")
        else:
            q = Query.build(where, order_by, select, limit, offset, cursor)
        page = await self._backend.query(self.collection, q)
        return Page([_entry(r) for r in page.items], page.next_cursor)

    async def clear(self) -> int:
        """Delete the whole namespace; return how many values it held."""
        return await self._backend.drop(self.collection)
