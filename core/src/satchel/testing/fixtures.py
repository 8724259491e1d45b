"""The fixtures every rule group of the kit shares, and the small helpers its tests use.

A backend author overrides one fixture, :meth:`ConformanceFixtures.make_backend`; the kit's
:meth:`~ConformanceFixtures.backend` fixture builds a fresh backend from it for each test and,
afterwards, drops every collection the test used and closes the backend. Collection names
are unique per test (they carry a random run id), so tests on a shared server never see each
other's records, and no test assumes that the server is otherwise empty.
"""

from __future__ import annotations

import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeAlias

import pytest
import pytest_asyncio

import satchel
from satchel.backend import Backend, JSONValue, Page, Record, utcnow
from satchel.query import Query, evaluate
from satchel.settings import SatchelSettings
from satchel.toolkit import iter_pages

__all__ = [
    "CollectionNames",
    "ConformanceFixtures",
    "MakeBackend",
    "open_backend",
    "open_clients",
]

#: What ``make_backend`` returns: a callable with no arguments that returns a fresh backend,
#: or an awaitable of one.
MakeBackend: TypeAlias = Callable[[], "Backend | Awaitable[Backend]"]

#: Prefix of every collection (and store namespace) the kit creates.
KIT_PREFIX = "satchel-kit-"


async def open_backend(make_backend: MakeBackend) -> Backend:
    """Call ``make_backend`` (awaiting its result if needed) and check what it returned."""
    made = make_backend()
    if inspect.isawaitable(made):
        made = await made
    if not isinstance(made, Backend):
        raise TypeError(
            f"make_backend must return a satchel.backend.Backend (or an awaitable of one), "
            f"not {type(made).__name__}"
        )
    return made


@contextlib.asynccontextmanager
async def open_clients(
    backend: Backend, make_backend: MakeBackend, count: int
) -> AsyncIterator[list[Backend]]:
    """``backend`` and ``count - 1`` more backends from ``make_backend``: clients of one
    store, as separate processes would hold (only meaningful with
    ``capabilities.shared_across_processes``). The extra ones are closed afterwards."""
    clients = [backend]
    try:
        for _ in range(count - 1):
            clients.append(await open_backend(make_backend))
        yield clients
    finally:
        for client in clients[1:]:
            await client.close()


@dataclass
class CollectionNames:
    """Hands out collection names unique to one test and remembers them for clean-up."""

    run: str = field(default_factory=lambda: f"{KIT_PREFIX}{uuid.uuid4().hex[:12]}")
    names: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)

    def new(self, label: str = "") -> str:
        """A fresh collection name ending in ``label`` (any characters but NUL)."""
        name = f"{self.run}/{label or len(self.names)}"
        self.names.append(name)
        return name

    def tenant(self) -> str:
        """A fresh store namespace (``SATCHEL_NAMESPACE``) whose collections, and those of
        its instances (``<tenant>.i-<id>``), are cleaned up."""
        tenant = f"{self.run}-t{len(self.prefixes) // 2}"
        self.prefixes.extend([f"{tenant}:", f"{tenant}."])
        return tenant

    def to_drop(self, existing: Iterable[str]) -> list[str]:
        """The names handed out, plus any existing collection under a handed-out tenant."""
        found = [c for c in existing if any(c.startswith(p) for p in self.prefixes)]
        return list(dict.fromkeys([*self.names, *found]))


class ConformanceFixtures:
    """Fixtures and hooks shared by every rule group of the conformance kit.

    Override :meth:`make_backend`; override the optional hooks when your backend can
    support the tests that need them (those tests skip otherwise).
    """

    # -- what the backend author provides ---------------------------------------------------

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        """Override: return a callable with no arguments that returns a fresh backend (or an
        awaitable of one). It is called inside the running event loop of each test, and the
        kit closes what it returns."""
        pytest.fail(
            f"{type(self).__name__} must override the make_backend fixture: "
            "return a callable with no arguments that builds your backend"
        )

    @pytest.fixture
    def process_backend(self) -> tuple[str, dict[str, Any]] | None:
        """Optional: how another operating-system process opens the same store as
        :meth:`make_backend`, as ``(name, backend_settings)`` for ``satchel.open(backend=name,
        backend_settings=backend_settings)`` (the backend installed as a plugin, the settings
        JSON values): ``("redis", {"url": url, "key_prefix": "kit:"})``. When given, the
        kit's multi-process rules run worker processes against it (see
        :mod:`satchel.testing.processes`); by default (``None``) they skip."""
        return None

    async def plant_corrupt_record(self, backend: Backend, collection: str, key: str) -> None:
        """Optional hook: store something under ``(collection, key)`` that is not a satchel
        record, as another client of the same server could (a hand-written document, a
        string where a hash is expected, undecodable bytes).

        When overridden, the kit checks that reading the key raises
        :class:`~satchel.errors.CorruptRecord` naming the key, and that the other records
        of the collection stay readable. The default raises :class:`NotImplementedError`,
        and the tests that need the hook skip.
        """
        raise NotImplementedError

    async def remove_record_value(self, backend: Backend, collection: str, key: str) -> None:
        """Optional hook: remove the stored value of the record under ``(collection, key)``
        and nothing else, as another client of the same server could (Redis: ``HDEL`` of
        the hash's value field; MongoDB: ``$unset`` of the document's ``value``).

        When overridden, the kit checks that every read of the key (``exists`` included,
        which must answer as ``get`` would) raises :class:`~satchel.errors.CorruptRecord`
        naming the key while the record is live, and that a write repairs it. The default
        raises :class:`NotImplementedError`, and the tests that need the hook skip.
        """
        raise NotImplementedError

    # -- what the kit provides -------------------------------------------------------------

    @pytest.fixture
    def kit_collections(self) -> CollectionNames:
        """The collection names of this test (dropped after it)."""
        return CollectionNames()

    @pytest.fixture
    def collection(self, kit_collections: CollectionNames) -> str:
        """A collection name of its own for this test."""
        return kit_collections.new("main")

    @pytest.fixture
    def new_collection(self, kit_collections: CollectionNames) -> Callable[[str], str]:
        """``new_collection(label)``: one more collection name of this test."""
        return kit_collections.new

    @pytest_asyncio.fixture
    async def backend(
        self, make_backend: MakeBackend, kit_collections: CollectionNames
    ) -> AsyncIterator[Backend]:
        """A fresh backend from :meth:`make_backend`; afterwards every collection the test
        used is dropped and the backend is closed."""
        backend = await open_backend(make_backend)
        try:
            yield backend
        finally:
            try:
                for name in kit_collections.to_drop(await backend.collections()):
                    await backend.drop(name)
            finally:
                await backend.close()

    @pytest_asyncio.fixture
    async def satchel_handle(
        self, backend: Backend, kit_collections: CollectionNames
    ) -> satchel.Satchel:
        """``satchel.open(backend=backend)`` under a namespace of this test's own, with no
        settings read from the environment (so no default TTL)."""
        # model_construct: the defaults, without reading (or touching) os.environ
        settings = SatchelSettings.model_construct(namespace=kit_collections.tenant())
        return satchel.open(settings, backend=backend)


# --------------------------------------------------------------------------------------
# helpers for the tests


def rec(
    collection: str,
    key: str,
    value: JSONValue,
    *,
    expires_at: datetime | None = None,
    index: Mapping[str, Sequence[str]] | None = None,
) -> Record:
    """A record to write."""
    return Record(
        collection,
        key,
        value,
        expires_at=expires_at,
        index={name: tuple(values) for name, values in (index or {}).items()},
    )


def ago(seconds: float = 3600) -> datetime:
    """A UTC instant ``seconds`` in the past (millisecond precision)."""
    return utcnow() - timedelta(seconds=seconds)


def later(seconds: float = 3600) -> datetime:
    """A UTC instant ``seconds`` in the future (millisecond precision)."""
    return utcnow() + timedelta(seconds=seconds)


async def seed(backend: Backend, collection: str, values: Mapping[str, JSONValue]) -> list[Record]:
    """Write ``{key: value}`` one by one; return the stored records."""
    return [await backend.put(rec(collection, key, value)) for key, value in values.items()]


async def all_keys(backend: Backend, collection: str, pattern: str | None = None) -> list[str]:
    """``iter_keys`` as a sorted list."""
    return sorted([key async for key in backend.iter_keys(collection, pattern)])


async def run_query(backend: Backend, collection: str, **build: Any) -> Page[Record]:
    """``backend.query(collection, Query.build(**build))``."""
    return await backend.query(collection, Query.build(**build))


async def query_keys(backend: Backend, collection: str, **build: Any) -> list[str]:
    """The keys ``Query.build(**build)`` returns, in order."""
    return [r.key for r in await run_query(backend, collection, **build)]


def reference_keys(records: Iterable[Record], **build: Any) -> list[str]:
    """The keys the reference semantics (:func:`satchel.query.evaluate`) return."""
    return [r.key for r in evaluate(records, Query.build(**build))[0]]


async def expect_keys(
    backend: Backend,
    collection: str,
    stored: Sequence[Record],
    expected: Sequence[str],
    **build: Any,
) -> None:
    """Assert that the query returns exactly ``expected`` (in order), and that the
    reference semantics agree with the expectation."""
    got = await query_keys(backend, collection, **build)
    assert got == list(expected), f"query {build} returned {got}, expected {list(expected)}"
    reference = reference_keys(stored, **build)
    assert reference == list(expected), (
        f"the reference (satchel.query.evaluate) returns {reference} for {build}, "
        f"but the kit expects {list(expected)}"
    )


async def walk_pages(
    backend: Backend, collection: str, page_size: int, cursor: str | None = None, **build: Any
) -> list[Page[Record]]:
    """Every page of a query (from ``cursor`` on), following ``next_cursor`` (at most 1000
    pages)."""
    pages: list[Page[Record]] = []
    async for page in iter_pages(
        lambda at: backend.query(collection, Query.build(limit=page_size, cursor=at, **build)),
        cursor,
    ):
        pages.append(page)
        if page.next_cursor is not None and len(pages) == 1000:
            raise AssertionError("next_cursor never became None after 1000 pages")
    return pages


def assert_utc_ms(value: datetime | None, what: str) -> None:
    """``value`` is a timezone-aware UTC datetime with millisecond precision."""
    assert isinstance(value, datetime), f"{what} is {value!r}, not a datetime"
    assert value.utcoffset() == timedelta(0), f"{what} {value!r} is not UTC"
    assert value.microsecond % 1000 == 0, f"{what} {value!r} has more than millisecond precision"


def same_instant(a: datetime | None, b: datetime | None) -> bool:
    """Both ``None``, or the same instant."""
    if a is None or b is None:
        return a is b
    return a.astimezone(timezone.utc) == b.astimezone(timezone.utc)


def _json_shape(value: Any) -> Any:
    """``value`` with every scalar tagged by its JSON type (``True`` is not ``1``, and
    ``1`` is not ``1.0``)."""
    if isinstance(value, dict):
        return {"object": {k: _json_shape(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"array": [_json_shape(v) for v in value]}
    return {type(value).__name__: value}


def assert_same_json(got: Any, expected: Any, what: str) -> None:
    """``got`` equals ``expected`` with the same JSON types throughout (``==`` alone takes
    ``True`` for ``1`` and ``1`` for ``1.0``)."""
    assert _json_shape(got) == _json_shape(expected), f"{what}: {got!r} != {expected!r}"
