"""The stateful property test: a backend against the reference model, operation by
operation.

:class:`BackendStateMachine` drives a backend and a small in-memory model with the same
random operations (writes with and without conditions, deletes, reads, index look-ups,
queries with paging across other operations, counts, key listings with glob patterns,
drops, and the log operations on collections of logs) and compares every answer: values
(with their JSON types), versions, sequence numbers, error types and, loosely, timestamps.
The model answers queries with :func:`satchel.query.evaluate`, the reference semantics.

Keys come from a small alphabet full of special characters, so that operations collide.
Expiry is exercised only with ``expires_at`` already in the past (or far in the future), so
nothing depends on timing.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar, cast

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from satchel.backend import LogEntry, Page, Record
from satchel.errors import AlreadyExists, Conflict, NotFound, SatchelError
from satchel.query import (
    OPERATORS,
    Condition,
    Order,
    Query,
    escape_glob,
    evaluate,
    glob_match,
    matches,
    parse_field,
)
from satchel.testing.fixtures import (
    KIT_PREFIX,
    MakeBackend,
    assert_same_json,
    assert_utc_ms,
    open_backend,
)

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_STEP_COUNT",
    "BackendStateMachine",
    "backend_state_machine",
    "stateful_settings",
]

DEFAULT_MAX_EXAMPLES = 40
DEFAULT_STEP_COUNT = 30

R = TypeVar("R")

# --------------------------------------------------------------------------------------
# what the operations are made of

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from([-0.5, 0.0, 1.0, 2.5]),
    st.sampled_from(["", "a", "ab", "b", "B", "é", "🎒", "a.b", "2024-01-01T00:00:00Z"]),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "n": _SCALARS,
            "s": _SCALARS,
            "tags": st.lists(_SCALARS, max_size=3),
            "nested": st.fixed_dictionaries({}, optional={"x": _SCALARS}),
            "a.b": _SCALARS,
            "$k": _SCALARS,
        },
    ),
)
_KEY_POOL = st.sampled_from(
    ["a", "a*", "ab", "a?", "[a]", "a.b", "a:b", "$a", "\x00", "é", "🎒", "a\\"]
)
#: Mostly from a pool of twelve, so that operations meet the same keys often.
_KEYS = st.one_of(_KEY_POOL, _KEY_POOL, st.text(alphabet="ab*?[]:\x00é", min_size=1, max_size=2))
#: A key, or (an integer) a pick among the keys the collection holds.
_KEY_CHOICES = st.one_of(_KEYS, st.integers(0, 63), st.integers(0, 63))
_INDEX_NAMES = ("tag", "t*")
_INDEX_VALUES = st.sampled_from(["x", "y", "x*", "é"])
_INDEXES = st.fixed_dictionaries(
    {},
    optional={name: st.lists(_INDEX_VALUES, max_size=3).map(tuple) for name in _INDEX_NAMES},
)
_EXPIRED = st.sampled_from([False, False, False, True])
_CONDITIONS = st.sampled_from(["none", "none", "absent", "current", "stale"])
_COLLECTION = st.sampled_from([0, 1])
_PATTERNS = st.one_of(
    st.sampled_from(["*", "a*", "a?", "?", "*\\**", "[a-b]*", "[^a]*", "*é*", "a\\?", "??"]),
    _KEYS.map(escape_glob),
    _KEYS.map(lambda key: escape_glob(key) + "*"),
)

_FIELDS: list[str | tuple[str, ...]] = [
    "n",
    "s",
    "tags",
    "tags.0",
    "nested",
    "nested.x",
    "value",
    "0",
    "key",
    "version",
    ("a.b",),
    ("$k",),
    "missing",
]
_QUERY_VALUES = st.one_of(
    _SCALARS, st.just(datetime(2024, 1, 1, tzinfo=timezone.utc)), st.lists(_SCALARS, max_size=2)
)
_TEXT = st.sampled_from(["", "a", "b", "é", "a.", "🎒", "*", "."])


@st.composite
def _condition(draw: st.DrawFn) -> Condition:
    field_ = draw(st.sampled_from(_FIELDS))
    op = draw(st.sampled_from(sorted(OPERATORS)))
    value: Any
    if op == "in":
        value = draw(st.lists(_SCALARS, max_size=3))
    elif op in ("startswith", "endswith"):
        value = draw(_TEXT)
    elif op == "exists":
        value = draw(st.booleans())
    elif op == "contains":
        value = draw(st.one_of(_SCALARS, _TEXT))
    else:
        value = draw(_QUERY_VALUES)
    return Condition.of(field_, op, value)


_WHERE = st.one_of(st.just(()), st.lists(_condition(), min_size=1, max_size=2).map(tuple))
_ORDER = st.lists(
    st.builds(lambda f, d: Order(parse_field(f), d), st.sampled_from(_FIELDS), st.booleans()),
    max_size=2,
).map(tuple)
_SELECT = st.one_of(
    st.none(),
    st.lists(
        st.sampled_from(["n", "s", "nested.x", "tags", ("a.b",)]), max_size=2, unique=True
    ).map(lambda paths: tuple(parse_field(p) for p in paths)),
)
_QUERIES = st.builds(
    Query,
    where=_WHERE,
    order_by=_ORDER,
    select=_SELECT,
    limit=st.one_of(st.none(), st.integers(0, 4)),
    offset=st.integers(0, 2),
)

#: ``expires_at`` of the records written already expired.
_PAST = datetime(2000, 1, 1, tzinfo=timezone.utc)
#: ``expires_at`` of the logs appended to with an expiry that does not come in the test.
_FUTURE = datetime(2100, 1, 1, tzinfo=timezone.utc)
_LOG_VALUES = st.lists(_VALUES, min_size=1, max_size=3)
_LOG_EXPIRY = st.sampled_from([None, None, None, _PAST, _FUTURE])
#: A bound of a log operation: none, or (an integer) a pick among the numbers near the
#: log's sequence numbers.
_BOUNDS = st.one_of(st.none(), st.integers(0, 63))


# --------------------------------------------------------------------------------------
# the model


@dataclass
class _Entry:
    """A live record as the model knows it (timestamps as the backend reported them)."""

    value: Any
    version: int
    created_at: datetime
    updated_at: datetime
    index: dict[str, tuple[str, ...]]


@dataclass
class _Paging:
    """A query being paged through, between other operations."""

    collection: str
    query: Query
    backend_cursor: str
    model_cursor: str


@dataclass
class _Write:
    """The expected outcome of one write: an error class, or the version it gets (``0``: a
    new incarnation of a key, whose version must be above ``floor``)."""

    error: type[SatchelError] | None = None
    version: int = 0
    floor: int = 0
    previous: _Entry | None = field(default=None, repr=False)


class BackendStateMachine(RuleBasedStateMachine):
    """Random operations on a backend and on the reference model; every answer compared.

    Do not use this class directly: :func:`backend_state_machine` makes a subclass bound to
    your ``make_backend``. Each run gets a fresh backend, built inside a dedicated event
    loop, and two collections of its own (one with a pattern character in its name), which
    are dropped at the end.
    """

    #: Set by :func:`backend_state_machine`.
    make_backend: ClassVar[MakeBackend | None] = None

    def __init__(self) -> None:
        super().__init__()
        make_backend = type(self).make_backend
        if make_backend is None:
            raise TypeError("use backend_state_machine(make_backend) to build the machine")
        self.loop = asyncio.new_event_loop()
        try:
            self.backend = self.run(open_backend(make_backend))
        except BaseException:
            self.loop.close()
            raise
        run = f"{KIT_PREFIX}{uuid.uuid4().hex[:12]}"
        self.names = (f"{run}/stateful", f"{run}/state*ful")
        self.model: dict[str, dict[str, _Entry]] = {name: {} for name in self.names}
        # logs live in collections of their own (the stores never mix them with records);
        # the model keeps each live log's entries as append returned them, and the highest
        # sequence number each key ever had
        self.log_names = (f"{run}/logs", f"{run}/lo*gs")
        self.logs: dict[str, dict[str, list[LogEntry]]] = {name: {} for name in self.log_names}
        self.log_floor: dict[tuple[str, str], int] = {}
        # the highest version each key ever had, and the collections a record left
        # (deleted, expired, dropped): there a new key's first version may be above 1
        self.highest: dict[tuple[str, str], int] = {}
        self.removed: set[str] = set()
        self.paging: _Paging | None = None

    def run(self, awaitable: Awaitable[R]) -> R:
        """Run a backend call to completion in the machine's own loop."""

        async def call() -> R:
            return await awaitable

        return self.loop.run_until_complete(call())

    def outcome(self, awaitable: Awaitable[R]) -> R | SatchelError:
        """The call's result, or the :class:`SatchelError` it raised."""
        try:
            return self.run(awaitable)
        except SatchelError as exc:
            return exc

    def teardown(self) -> None:
        try:
            for name in (*self.names, *self.log_names):
                self.run(self.backend.drop(name))
            self.run(self.backend.close())
        finally:
            self.loop.close()

    # -- the model ----------------------------------------------------------------------

    def _key(self, name: str, choice: str | int) -> str:
        """``choice`` itself, or (an integer) one of the keys the collection holds."""
        if isinstance(choice, str):
            return choice
        keys = sorted(self.model[name])
        return keys[choice % len(keys)] if keys else "a"

    def _records(self, name: str) -> list[Record]:
        return [
            Record(
                name,
                key,
                copy.deepcopy(e.value),
                e.version,
                e.created_at,
                e.updated_at,
                None,
                e.index,
            )
            for key, e in self.model[name].items()
        ]

    def _expect_write(
        self, name: str, key: str, *, if_absent: bool = False, if_version: int | None = None
    ) -> _Write:
        current = self.model[name].get(key)
        if if_absent and current is not None:
            return _Write(AlreadyExists)
        if if_version is not None:
            if current is None:
                return _Write(NotFound)
            if current.version != if_version:
                return _Write(Conflict)
        if current is not None:
            return _Write(None, current.version + 1, previous=current)
        if name in self.removed:
            return _Write(None, 0, floor=self.highest.get((name, key), 0))
        return _Write(None, 1)

    def _check_stored(self, stored: Record, sent: Record, expected: _Write) -> None:
        """Compare a record ``put``/``put_many`` returned with the model; update the model."""
        what = f"put({sent.key!r})"
        assert (stored.collection, stored.key) == (sent.collection, sent.key), what
        assert_same_json(stored.value, sent.value, f"{what}.value")
        if expected.version:
            assert stored.version == expected.version, f"{what}: version {stored.version}"
        else:
            assert stored.version > expected.floor, (
                f"{what}: version {stored.version} repeats an earlier incarnation's "
                f"(which reached {expected.floor})"
            )
        self.highest[(sent.collection, sent.key)] = stored.version
        assert stored.expires_at == sent.expires_at, f"{what}.expires_at {stored.expires_at}"
        assert_utc_ms(stored.created_at, f"{what}.created_at")
        assert_utc_ms(stored.updated_at, f"{what}.updated_at")
        assert stored.created_at is not None
        assert stored.updated_at is not None
        previous = expected.previous
        if previous is None:
            assert stored.created_at == stored.updated_at, f"{what}: a new record"
        else:
            assert stored.created_at == previous.created_at, f"{what}: created_at kept"
            assert stored.updated_at >= previous.updated_at, f"{what}: updated_at moves on"
        table = self.model[sent.collection]
        if sent.expires_at is not None:
            table.pop(sent.key, None)
            self.removed.add(sent.collection)
        else:
            table[sent.key] = _Entry(
                copy.deepcopy(sent.value),
                stored.version,
                stored.created_at,
                stored.updated_at,
                dict(sent.index),
            )

    def _check_record(self, got: Record | None, name: str, key: str, what: str) -> None:
        entry = self.model[name].get(key)
        if entry is None:
            assert got is None, f"{what}: {key!r} should not exist, got {got!r}"
            return
        assert got is not None, f"{what}: {key!r} is missing (version {entry.version})"
        assert (got.collection, got.key, got.version) == (name, key, entry.version), what
        assert_same_json(got.value, entry.value, f"{what}.value")
        assert (got.created_at, got.updated_at) == (entry.created_at, entry.updated_at), (
            f"{what}: timestamps differ from what put returned"
        )
        assert got.expires_at is None, what

    def _check_page(self, page: Page[Record], expected: list[Record], what: str) -> None:
        got = [(r.key, r.version) for r in page.items]
        want = [(r.key, r.version) for r in expected]
        assert got == want, f"{what}: got {got}, expected {want}"
        for record, reference in zip(page.items, expected, strict=True):
            assert_same_json(record.value, reference.value, f"{what}[{record.key!r}].value")

    # -- writes -------------------------------------------------------------------------

    @initialize(
        first=st.lists(st.tuples(_KEYS, _VALUES, _INDEXES), min_size=1, max_size=8),
        second=st.lists(st.tuples(_KEYS, _VALUES, _INDEXES), max_size=4),
    )
    def seed(
        self,
        first: list[tuple[str, Any, dict[str, tuple[str, ...]]]],
        second: list[tuple[str, Any, dict[str, tuple[str, ...]]]],
    ) -> None:
        """Start with some records, so that the first operations meet data."""
        for c, items in enumerate((first, second)):
            self.put_many(c, [(key, value, index, False) for key, value, index in items])

    @rule(
        c=_COLLECTION,
        key=_KEY_CHOICES,
        value=_VALUES,
        index=_INDEXES,
        condition=_CONDITIONS,
        expired=_EXPIRED,
    )
    def put(
        self,
        c: int,
        key: str | int,
        value: Any,
        index: dict[str, tuple[str, ...]],
        condition: str,
        expired: bool,
    ) -> None:
        name = self.names[c]
        key = self._key(name, key)
        current = self.model[name].get(key)
        if_version = None
        if condition == "current":
            if_version = current.version if current else 1
        elif condition == "stale":
            if_version = current.version + 1 if current else 2
        sent = Record(name, key, value, expires_at=_PAST if expired else None, index=index)
        expected = self._expect_write(
            name, key, if_absent=condition == "absent", if_version=if_version
        )
        result = self.outcome(
            self.backend.put(
                copy.deepcopy(sent), if_absent=condition == "absent", if_version=if_version
            )
        )
        if expected.error is not None:
            assert isinstance(result, expected.error), (
                f"put({key!r}, {condition}) should raise {expected.error.__name__}, got {result!r}"
            )
            return
        assert isinstance(result, Record), f"put({key!r}, {condition}) raised {result!r}"
        self._check_stored(result, sent, expected)

    @rule(
        c=_COLLECTION,
        items=st.lists(st.tuples(_KEY_CHOICES, _VALUES, _INDEXES, _EXPIRED), max_size=4),
    )
    def put_many(
        self, c: int, items: list[tuple[str | int, Any, dict[str, tuple[str, ...]], bool]]
    ) -> None:
        name = self.names[c]
        sent = [
            Record(
                name,
                self._key(name, key),
                value,
                expires_at=_PAST if expired else None,
                index=index,
            )
            for key, value, index, expired in items
        ]
        result = self.outcome(self.backend.put_many(copy.deepcopy(sent)))
        assert isinstance(result, list), f"put_many raised {result!r}"
        assert len(result) == len(sent), f"put_many returned {len(result)} records"
        for stored, record in zip(result, sent, strict=True):
            self._check_stored(stored, record, self._expect_write(name, record.key))

    @rule(c=_COLLECTION, key=_KEY_CHOICES, condition=st.sampled_from(["none", "current", "stale"]))
    def delete(self, c: int, key: str | int, condition: str) -> None:
        name = self.names[c]
        key = self._key(name, key)
        current = self.model[name].get(key)
        if_version = None
        if condition == "current":
            if_version = current.version if current else 1
        elif condition == "stale":
            if_version = current.version + 1 if current else 1
        result = self.outcome(self.backend.delete(name, key, if_version=if_version))
        what = f"delete({key!r}, if_version={if_version})"
        if if_version is not None and current is None:
            assert isinstance(result, NotFound), f"{what} should raise NotFound, got {result!r}"
        elif if_version is not None and current is not None and current.version != if_version:
            assert isinstance(result, Conflict), f"{what} should raise Conflict, got {result!r}"
        else:
            assert result is (current is not None), f"{what} returned {result!r}"
            if self.model[name].pop(key, None) is not None:
                self.removed.add(name)

    @precondition(lambda self: sum(map(len, self.model.values())) >= 4)
    @rule(c=_COLLECTION)
    def drop(self, c: int) -> None:
        name = self.names[c]
        result = self.outcome(self.backend.drop(name))
        assert result == len(self.model[name]), f"drop returned {result!r}"
        self.model[name].clear()
        self.removed.add(name)

    @rule()
    def purge_expired(self) -> None:
        result = self.outcome(self.backend.purge_expired())
        assert isinstance(result, int), f"purge_expired returned {result!r}"
        assert result >= 0, f"purge_expired returned {result!r}"

    # -- reads --------------------------------------------------------------------------

    @rule(c=_COLLECTION, key=_KEY_CHOICES)
    def get(self, c: int, key: str | int) -> None:
        name = self.names[c]
        key = self._key(name, key)
        got = self.outcome(self.backend.get(name, key))
        assert not isinstance(got, SatchelError), f"get({key!r}) raised {got!r}"
        self._check_record(got, name, key, f"get({key!r})")

    @rule(c=_COLLECTION, choices=st.lists(_KEY_CHOICES, max_size=4))
    def get_many(self, c: int, choices: list[str | int]) -> None:
        name = self.names[c]
        keys = [self._key(name, choice) for choice in choices]
        got = self.outcome(self.backend.get_many(name, keys))
        assert isinstance(got, list), f"get_many returned {got!r}"
        assert len(got) == len(keys), f"get_many returned {got!r}"
        for key, record in zip(keys, got, strict=True):
            self._check_record(record, name, key, f"get_many(...{key!r}...)")

    @rule(c=_COLLECTION, index_name=st.sampled_from(_INDEX_NAMES), value=_INDEX_VALUES)
    def find(self, c: int, index_name: str, value: str) -> None:
        name = self.names[c]
        got = self.outcome(self.backend.find(name, index_name, value))
        assert isinstance(got, list), f"find raised {got!r}"
        expected = sorted(
            (r for r in self._records(name) if value in r.index.get(index_name, ())),
            key=lambda r: r.key,
        )
        self._check_page(Page(got), expected, f"find({index_name!r}, {value!r})")

    @rule(c=_COLLECTION, query=_QUERIES)
    def query(self, c: int, query: Query) -> None:
        name = self.names[c]
        page = self.outcome(self.backend.query(name, query))
        assert isinstance(page, Page), f"query {query} raised {page!r}"
        expected, cursor = evaluate(self._records(name), query)
        self._check_page(page, expected, f"query {query}")
        assert (page.next_cursor is None) == (cursor is None), (
            f"query {query}: next_cursor {page.next_cursor!r}, expected "
            f"{'None' if cursor is None else 'a cursor'}"
        )

    @rule(c=_COLLECTION, query=_QUERIES, size=st.integers(1, 3))
    def start_paging(self, c: int, query: Query, size: int) -> None:
        name = self.names[c]
        query = replace(query, offset=0, limit=size)
        page = self.outcome(self.backend.query(name, query))
        assert isinstance(page, Page), f"query {query} raised {page!r}"
        expected, cursor = evaluate(self._records(name), query)
        self._check_page(page, expected, f"first page of {query}")
        assert (page.next_cursor is None) == (cursor is None), f"first page of {query}"
        if page.next_cursor is not None and cursor is not None:
            self.paging = _Paging(name, query, page.next_cursor, cursor)

    @precondition(lambda self: self.paging is not None)
    @rule()
    def next_page(self) -> None:
        paging = self.paging
        assert paging is not None
        page = self.outcome(
            self.backend.query(
                paging.collection, replace(paging.query, cursor=paging.backend_cursor)
            )
        )
        assert isinstance(page, Page), f"next page of {paging.query} raised {page!r}"
        expected, cursor = evaluate(
            self._records(paging.collection), replace(paging.query, cursor=paging.model_cursor)
        )
        self._check_page(page, expected, f"next page of {paging.query}")
        assert (page.next_cursor is None) == (cursor is None), f"next page of {paging.query}"
        if page.next_cursor is None or cursor is None:
            self.paging = None
        else:
            self.paging = replace(paging, backend_cursor=page.next_cursor, model_cursor=cursor)

    @rule(c=_COLLECTION, where=_WHERE)
    def count(self, c: int, where: Sequence[Condition]) -> None:
        name = self.names[c]
        got = self.outcome(self.backend.count(name, where))
        expected = sum(1 for r in self._records(name) if matches(r, where))
        assert got == expected, f"count {where}: got {got!r}, expected {expected}"

    @rule(c=_COLLECTION, pattern=_PATTERNS)
    def iter_keys(self, c: int, pattern: str) -> None:
        name = self.names[c]

        async def collect() -> list[str]:
            return [key async for key in self.backend.iter_keys(name, pattern)]

        got = self.outcome(collect())
        assert isinstance(got, list), f"iter_keys({pattern!r}) raised {got!r}"
        expected = sorted(k for k in self.model[name] if glob_match(pattern, k))
        assert sorted(got) == expected, f"iter_keys({pattern!r})"
        assert len(got) == len(set(got)), f"iter_keys({pattern!r}) repeated a key"

    @rule()
    def collections(self) -> None:
        got = self.outcome(self.backend.collections())
        assert isinstance(got, list), f"collections raised {got!r}"
        names = (*self.names, *self.log_names)
        ours = [name for name in got if name in names]
        expected = [n for n in self.names if self.model[n]] + [
            n for n in self.log_names if self.logs[n]
        ]
        assert ours == sorted(expected), "collections"

    # -- logs ---------------------------------------------------------------------------

    def _log_key(self, name: str, choice: str | int) -> str:
        """``choice`` itself, or (an integer) one of the keys of the live logs."""
        if isinstance(choice, str):
            return choice
        keys = sorted(self.logs[name])
        return keys[choice % len(keys)] if keys else "a"

    def _bound(self, name: str, key: str, choice: int | None) -> int | None:
        """``None``, or a number at, just below or just above one of the log's entries."""
        if choice is None:
            return None
        near = {0, self.log_floor.get((name, key), 0) + 1}
        for entry in self.logs[name].get(key, []):
            near.update((entry.seq - 1, entry.seq, entry.seq + 1))
        numbers = sorted(near)
        return numbers[choice % len(numbers)]

    def _check_entries(self, got: Any, expected: list[LogEntry], what: str) -> None:
        assert isinstance(got, list), f"{what} raised {got!r}"
        want = [(e.seq, e.appended_at) for e in expected]
        assert [(e.seq, e.appended_at) for e in got] == want, (
            f"{what}: got seqs {[e.seq for e in got]}, expected {[e.seq for e in expected]}"
        )
        for entry, reference in zip(got, expected, strict=True):
            assert_same_json(entry.value, reference.value, f"{what}: entry {entry.seq}")

    def _shrink(self, name: str, key: str, kept: list[LogEntry]) -> None:
        if kept:
            self.logs[name][key] = kept
        else:
            self.logs[name].pop(key, None)

    @initialize(logs=st.lists(st.tuples(_KEYS, _LOG_VALUES), max_size=3))
    def seed_logs(self, logs: list[tuple[str, list[Any]]]) -> None:
        """Start with some logs, so that the first log operations meet entries."""
        for key, values in logs:
            self.log_append(0, key, values, None)

    @rule(c=_COLLECTION, key=_KEY_CHOICES, values=_LOG_VALUES, expires_at=_LOG_EXPIRY)
    def log_append(
        self, c: int, key: str | int, values: list[Any], expires_at: datetime | None
    ) -> None:
        name = self.log_names[c]
        key = self._log_key(name, key)
        what = f"log_append({key!r}, expires_at={expires_at})"
        got = self.outcome(
            self.backend.log_append(name, key, copy.deepcopy(values), expires_at=expires_at)
        )
        assert isinstance(got, list), f"{what} raised {got!r}"
        assert len(got) == len(values), f"{what} returned {len(got)} entries"
        first, floor = got[0].seq, self.log_floor.get((name, key), 0)
        assert first > floor, f"{what}: seq {first} repeats one the log had (up to {floor})"
        assert [e.seq for e in got] == list(range(first, first + len(values))), (
            f"{what}: seqs {[e.seq for e in got]} are not contiguous"
        )
        for entry, value in zip(got, values, strict=True):
            assert_same_json(entry.value, value, f"{what}: entry {entry.seq}")
            assert_utc_ms(entry.appended_at, f"{what}: appended_at")
        self.log_floor[(name, key)] = got[-1].seq
        if expires_at == _PAST:  # the whole log expired, its earlier entries too
            self.logs[name].pop(key, None)
        else:
            self.logs[name].setdefault(key, []).extend(
                LogEntry(e.seq, copy.deepcopy(v), e.appended_at)
                for e, v in zip(got, values, strict=True)
            )

    @rule(
        c=_COLLECTION,
        key=_KEY_CHOICES,
        after=_BOUNDS,
        before=_BOUNDS,
        limit=st.one_of(st.none(), st.integers(0, 4)),
        reverse=st.booleans(),
    )
    def log_range(
        self,
        c: int,
        key: str | int,
        after: int | None,
        before: int | None,
        limit: int | None,
        reverse: bool,
    ) -> None:
        name = self.log_names[c]
        key = self._log_key(name, key)
        low, high = self._bound(name, key, after), self._bound(name, key, before)
        entries = self.logs[name].get(key, [])
        expected = [
            e for e in entries if (low is None or e.seq > low) and (high is None or e.seq < high)
        ]
        if reverse:
            expected.reverse()
        expected = expected if limit is None else expected[:limit]
        got = self.outcome(
            self.backend.log_range(name, key, after=low, before=high, limit=limit, reverse=reverse)
        )
        what = f"log_range({key!r}, after={low}, before={high}, {limit=}, {reverse=})"
        self._check_entries(got, expected, what)
        length = self.outcome(self.backend.log_length(name, key))
        assert length == len(entries), f"log_length({key!r}) returned {length!r}"

    @rule(c=_COLLECTION, key=_KEY_CHOICES, count=st.integers(1, 4))
    def log_pop(self, c: int, key: str | int, count: int) -> None:
        name = self.log_names[c]
        key = self._log_key(name, key)
        entries = self.logs[name].get(key, [])
        got = self.outcome(self.backend.log_pop(name, key, count))
        cut = max(0, len(entries) - count)
        self._check_entries(got, entries[cut:], f"log_pop({key!r}, {count})")
        self._shrink(name, key, entries[:cut])

    @rule(
        c=_COLLECTION,
        key=_KEY_CHOICES,
        keep_last=st.one_of(st.none(), st.integers(0, 4)),
        before=_BOUNDS,
    )
    def log_trim(self, c: int, key: str | int, keep_last: int | None, before: int | None) -> None:
        name = self.log_names[c]
        key = self._log_key(name, key)
        bound = self._bound(name, key, before)
        if keep_last is None and bound is None:
            keep_last = 0
        entries = self.logs[name].get(key, [])
        kept = entries[max(0, len(entries) - keep_last) :] if keep_last is not None else entries
        kept = [e for e in kept if bound is None or e.seq >= bound]
        got = self.outcome(self.backend.log_trim(name, key, keep_last=keep_last, before=bound))
        what = f"log_trim({key!r}, {keep_last=}, before={bound})"
        assert got == len(entries) - len(kept), f"{what} returned {got!r}"
        self._shrink(name, key, kept)

    @rule(c=_COLLECTION, key=_KEY_CHOICES)
    def log_delete(self, c: int, key: str | int) -> None:
        name = self.log_names[c]
        key = self._log_key(name, key)
        got = self.outcome(self.backend.log_delete(name, key))
        assert got is (key in self.logs[name]), f"log_delete({key!r}) returned {got!r}"
        self.logs[name].pop(key, None)

    @rule(c=_COLLECTION, pattern=_PATTERNS)
    def log_keys(self, c: int, pattern: str) -> None:
        name = self.log_names[c]

        async def collect() -> list[str]:
            return [key async for key in self.backend.log_keys(name, pattern)]

        got = self.outcome(collect())
        assert isinstance(got, list), f"log_keys({pattern!r}) raised {got!r}"
        expected = sorted(k for k in self.logs[name] if glob_match(pattern, k))
        assert sorted(got) == expected, f"log_keys({pattern!r})"
        assert len(got) == len(set(got)), f"log_keys({pattern!r}) repeated a key"

    @precondition(lambda self: any(self.logs.values()))
    @rule(c=_COLLECTION)
    def drop_logs(self, c: int) -> None:
        name = self.log_names[c]
        result = self.outcome(self.backend.drop(name))
        assert result == len(self.logs[name]), f"drop of logs returned {result!r}"
        self.logs[name].clear()


def stateful_settings(
    max_examples: int = DEFAULT_MAX_EXAMPLES, step_count: int = DEFAULT_STEP_COUNT
) -> settings:
    """The hypothesis settings the kit runs the machine with (no deadline: a network
    backend's latency varies)."""
    return settings(
        max_examples=max_examples,
        stateful_step_count=step_count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        report_multiple_bugs=False,
    )


def backend_state_machine(
    make_backend: MakeBackend,
    *,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    step_count: int = DEFAULT_STEP_COUNT,
) -> type[BackendStateMachine]:
    """A :class:`BackendStateMachine` bound to ``make_backend``.

    :class:`~satchel.testing.BackendConformance` runs it already; to run it on its own
    (with pytest or unittest)::

        TestMyBackendStateful = backend_state_machine(lambda: MyBackend()).TestCase

    :param make_backend: a callable with no arguments returning a fresh backend (or an
        awaitable of one); it is called inside the machine's own event loop.
    :param max_examples: how many random programs to run.
    :param step_count: how many operations each program has at most.
    """
    machine = cast(
        "type[BackendStateMachine]",
        type(
            "StatefulBackendTest",
            (BackendStateMachine,),
            {"make_backend": staticmethod(make_backend), "__module__": __name__},
        ),
    )
    machine.TestCase.settings = stateful_settings(max_examples, step_count)
    return machine
