"""Fuzzed input through the public API: every call round-trips exactly or raises a
:class:`~satchel.errors.SatchelError`, the same one as on the reference backend.

:class:`FuzzRules` drives a :class:`~satchel.stores.KVStore` opened with
``satchel.open(backend=...)`` on the backend under test, and the same store on the memory
backend (the reference), with random calls whose arguments are of any type and content:
keys and namespaces with lone surrogates, NUL or pattern characters, values that JSON cannot
hold, ``where``/``order_by``/``select``/``limit``/``offset`` of every shape, cursors taken
from a page, forged or garbled, TTLs and versions of any type. For each call:

* it returns or raises within :attr:`FuzzRules.fuzz_call_timeout` seconds (never a hang);
* it raises nothing but a :class:`~satchel.errors.SatchelError` subclass;
* it has the same outcome as on the reference: the same result (values with their JSON
  types, versions, keys in order) or an error of the same class;
* a value written is read back exactly as written (tuples come back as lists).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import satchel
from satchel.errors import SatchelError
from satchel.query import OPERATORS, Condition, Order, Query, make_cursor
from satchel.settings import SatchelSettings
from satchel.stores.kv import KVStore
from satchel.testing.fixtures import (
    CollectionNames,
    ConformanceFixtures,
    MakeBackend,
    assert_same_json,
    open_backend,
)
from satchel.validation import check_value

__all__ = ["FuzzRules"]

# --------------------------------------------------------------------------------------
# what the calls are made of

#: Text of every kind: plain, pattern and path characters, NUL, non-ASCII, lone surrogates.
_CHARS = st.one_of(
    st.sampled_from(list("ab.*?[]\\:$%-^!")),
    st.sampled_from(["\x00", "é", "🎒", "\ud800", "\udfff", "\u2028", "\ufeff", "\uff10"]),
    st.characters(codec="utf-8"),
)
_TEXT = st.text(_CHARS, max_size=6)


def _mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` four times in five, else ``bad`` (shrinking towards ``good``)."""
    return st.integers(0, 4).flatmap(lambda n: good if n < 4 else bad)


class _Opaque:
    """An object no backend can store."""

    def __repr__(self) -> str:
        return "<opaque>"


#: What no key or argument may be, nor a JSON value (a datetime and a timedelta are stored in
#: their JSON form, see :func:`satchel.validation.check_value`; they are refused elsewhere).
_JUNK = st.one_of(
    st.sampled_from(
        [
            b"bytes",
            bytearray(b"x"),
            frozenset({1}),
            {1, 2},
            _Opaque(),
            datetime(2024, 1, 1),
            timedelta(seconds=1),
            math.nan,
            math.inf,
            -math.inf,
            complex(1, 2),
            object,
        ]
    ),
)
#: Integers up to 34 digits (what every backend stores exactly; see docs/mongodb.md).
_INTS = st.one_of(st.integers(-3, 3), st.integers(-(10**34) + 1, 10**34 - 1))
_FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1e300, -1e300, 5e-324]),
    st.floats(allow_nan=False, allow_infinity=False),
)
_JSON_SCALARS = st.one_of(st.none(), st.booleans(), _INTS, _FLOATS, _TEXT)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=2).map(tuple),
        st.dictionaries(_TEXT, inner, max_size=3),
    ),
    max_leaves=8,
)
#: Values: mostly JSON, some with a bad part somewhere.
_VALUES = _mostly(
    _JSON,
    st.recursive(
        st.one_of(_JSON_SCALARS, _JUNK),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.one_of(_TEXT, st.integers(0, 2), st.none()), inner, max_size=3),
        ),
        max_leaves=6,
    ),
)
_KEY_POOL = st.sampled_from(["a", "b", "a*", "a.b", "$a", "é", "\x00", "🎒", "[a]", "a\\"])
_KEYS = _mostly(_KEY_POOL, st.one_of(_TEXT, st.just(""), _INTS, st.none(), _JUNK))
_NAMESPACES = _mostly(st.just("fuzz"), st.one_of(_TEXT, st.just(""), st.none(), _INTS, _JUNK))
_TTLS = _mostly(
    st.sampled_from(["default", "default", None, 60, 3600.5, timedelta(hours=1)]),
    st.sampled_from([-1, 0, 0.0, -0.5, 1e12, math.nan, math.inf, True, "60", [60], timedelta.max]),
)
_VERSIONS = _mostly(
    st.one_of(st.none(), st.none(), st.integers(1, 3)),
    st.sampled_from([0, -1, True, 1.0, "1", 2**70]),
)

_FIELD_POOL = st.sampled_from(
    ["a", "b", "a.b", "0", "value", "key", "version", "created_at", "updated_at", "expires_at"]
)
_FIELDS = _mostly(
    _FIELD_POOL,
    st.one_of(
        _TEXT,
        st.lists(_TEXT, max_size=2).map(tuple),
        st.sampled_from([123, 1.5, None, (), ("a", 1), ["a"]]),
        _JUNK,
    ),
)
_QUERY_VALUES = _mostly(
    _JSON,
    st.one_of(
        st.sampled_from(
            [
                datetime(2024, 1, 1, tzinfo=timezone.utc),
                datetime(2024, 1, 1),
                datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
                datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
                "2024-01-01T00:00:00Z",
            ]
        ),
        _JUNK,
    ),
)
_OPS = _mostly(st.sampled_from(sorted(OPERATORS)), st.sampled_from(["like", "", 1, None, ["eq"]]))


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@st.composite
def _wheres(draw: st.DrawFn) -> Any:
    def triple() -> Any:
        return (draw(_FIELDS), draw(_OPS), draw(_QUERY_VALUES))

    shape = draw(st.sampled_from([0, 1, 1, 1, 2, 3, 4, 5, 6]))
    if shape == 0:
        return None
    if shape == 1:
        return [triple() for _ in range(draw(st.integers(0, 3)))]
    if shape == 2:
        keys = _FIELDS.filter(_hashable)
        return {draw(keys): draw(_QUERY_VALUES) for _ in range(draw(st.integers(1, 2)))}
    if shape == 3:
        return {
            draw(_FIELDS.filter(_hashable)): {draw(_OPS.filter(_hashable)): draw(_QUERY_VALUES)}
        }
    if shape == 4:  # conditions built by hand, with anything in them
        field_ = draw(st.one_of(st.just(("value", "a")), st.just(("key",)), _FIELDS))
        return [Condition(field_, draw(_OPS), draw(_QUERY_VALUES))]
    if shape == 5:
        return [triple()[:2], draw(_JUNK)]
    return draw(st.one_of(_JUNK, st.integers(), _TEXT))


_DIRECTIONS = st.sampled_from(["asc", "desc", "DESC", "up", 1])
_ORDER_TERMS = st.one_of(
    _FIELDS,
    _FIELDS.map(lambda f: f"-{f}" if isinstance(f, str) else f),
    st.tuples(_FIELDS, _DIRECTIONS),
    st.builds(Order, st.one_of(st.just(("value", "a")), _FIELDS), st.sampled_from([True, "no"])),
)
_ORDER_BY = _mostly(
    st.one_of(st.none(), _ORDER_TERMS, st.lists(_ORDER_TERMS, max_size=2)),
    st.sampled_from([123, 1.5, b"a", {"a": 1}]),
)
_SELECT = _mostly(
    st.one_of(st.none(), st.none(), _FIELDS, st.lists(_FIELDS, max_size=2)),
    st.sampled_from([123, 1.5, {"a"}]),
)
_LIMITS = _mostly(
    st.one_of(st.none(), st.integers(0, 4)), st.sampled_from([-1, 1.5, "2", True, 2**70, 2**63])
)
_OFFSETS = _mostly(
    st.one_of(st.just(0), st.integers(0, 3)), st.sampled_from([-1, None, 1.0, 2**70])
)
_ATOM_VALUES = st.one_of(
    st.integers(-2, 2),
    st.sampled_from([1e300, -1e300, 2**70, -(2**70), 10**40, 253402300800, -62135596801]),
    _FLOATS,
    _TEXT,
    st.none(),
    st.lists(st.integers(), max_size=2),
)
_ATOMS = st.lists(st.tuples(st.integers(-1, 7), _ATOM_VALUES), max_size=3)


@dataclass(frozen=True)
class _Forged:
    """A cursor made with satchel's own encoding (so it carries the query's fingerprint)
    but holding whatever position hypothesis drew."""

    atoms: list[tuple[int, Any]]
    key: Any


#: "the next_cursor of the latest page on this store"
_LAST = "last"
_CURSORS = _mostly(
    st.sampled_from([None, None, _LAST]),
    st.one_of(
        st.builds(_Forged, _ATOMS, st.one_of(_KEY_POOL, _TEXT, st.integers())),
        st.sampled_from(["", "nonsense", "eyJ9", "W10", "====", 5, b"x"]),
        _TEXT,
    ),
)
_PATTERNS = _mostly(
    st.sampled_from(["*", "a*", "?", "[a-b]*", "a\\*", "[^a]*", "*é*"]),
    st.one_of(st.sampled_from(["[", "\\"]), _TEXT, _JUNK),
)


@dataclass(frozen=True)
class _Call:
    """One call of the public API: a method of the KV store and its arguments."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        args = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"kv.{self.method}({', '.join(args)})"


def _set_kwargs(ttl: Any, if_absent: bool, expected_version: Any) -> tuple[tuple[str, Any], ...]:
    out: list[tuple[str, Any]] = []
    if ttl != "default":
        out.append(("ttl", ttl))
    if if_absent:
        out.append(("if_absent", True))
    if expected_version is not None:
        out.append(("expected_version", expected_version))
    return tuple(out)


_CALLS = st.one_of(
    st.builds(
        lambda key, value, ttl, absent, version: _Call(
            "set", (key, value), _set_kwargs(ttl, absent, version)
        ),
        _KEYS,
        _VALUES,
        _TTLS,
        st.booleans(),
        _VERSIONS,
    ),
    st.builds(lambda key, value: _Call("set", (key, value)), _KEY_POOL, _JSON),
    st.builds(lambda key: _Call("get", (key,)), _KEYS),
    st.builds(lambda key: _Call("get_entry", (key,)), _KEYS),
    st.builds(lambda key: _Call("exists", (key,)), _KEYS),
    st.builds(
        lambda key, version: _Call(
            "delete", (key,), () if version is None else (("expected_version", version),)
        ),
        _KEYS,
        _VERSIONS,
    ),
    st.builds(
        lambda keys: _Call("get_many", (keys,)), st.one_of(st.lists(_KEYS, max_size=3), _KEYS)
    ),
    st.builds(
        lambda items: _Call("set_many", (items,)),
        st.one_of(st.dictionaries(_KEYS.filter(_hashable), _VALUES, max_size=3), _JUNK),
    ),
    st.builds(
        lambda items: _Call("set_many", (items,)), st.dictionaries(_KEY_POOL, _JSON, max_size=3)
    ),
    st.builds(lambda pattern: _Call("keys", (pattern,)), _PATTERNS),
    st.builds(lambda where: _Call("count", (where,)), _wheres()),
    st.builds(
        lambda where, order_by, select, limit, offset, cursor: _Call(
            "query",
            (where,),
            (
                ("order_by", order_by),
                ("select", select),
                ("limit", limit),
                ("offset", offset),
                ("cursor", cursor),
            ),
        ),
        _wheres(),
        _ORDER_BY,
        _SELECT,
        _LIMITS,
        _OFFSETS,
        _CURSORS,
    ),
    st.builds(  # well-formed queries, to page through what the program wrote
        lambda where, order_by, limit, cursor: _Call(
            "query", (where,), (("order_by", order_by), ("limit", limit), ("cursor", cursor))
        ),
        st.lists(st.tuples(_FIELD_POOL, st.sampled_from(sorted(OPERATORS)), _JSON), max_size=2),
        st.lists(
            st.one_of(_FIELD_POOL, _FIELD_POOL.map(lambda f: f"-{f}")), min_size=1, max_size=2
        ),
        st.integers(1, 3),
        st.sampled_from([None, _LAST, _LAST]),
    ),
)


# --------------------------------------------------------------------------------------
# running a call on one side


@dataclass
class _Side:
    """One handle (the backend under test, or the reference) and what its calls left."""

    name: str
    handle: satchel.Satchel
    last_cursor: str | None = None


def _cursor_argument(side: _Side, call: _Call, cursor: Any) -> Any:
    if cursor == _LAST:
        return side.last_cursor
    if isinstance(cursor, _Forged):
        kwargs = dict(call.kwargs)
        try:
            query = Query.build(call.args[0], kwargs.get("order_by"))
        except SatchelError:
            return "forged"
        return make_cursor(query, cursor.atoms, cursor.key)
    return cursor


def _plain(result: Any) -> Any:
    """A call's result in plain JSON-like terms, to compare sides (timestamps left out)."""
    if isinstance(result, satchel.Page):
        return {
            "items": [[e.key, e.value, e.version] for e in result.items],
            "more": result.next_cursor is not None,
        }
    if isinstance(result, satchel.Versioned):
        return [result.key, result.value, result.version]
    if isinstance(result, dict):
        return [[k, v] for k, v in result.items()]  # in order
    return result


def _as_stored(value: Any) -> Any:
    """What a value reads back as: its JSON form (tuples become lists, a datetime or
    timedelta its ISO 8601 text)."""
    return json.loads(json.dumps(check_value(value)))


#: The calls that stamp records with the time, and the pause before each (seconds).
_WRITES = frozenset({"set", "set_many", "delete"})
_WRITE_GAP = 0.003


async def _run(side: _Side, namespace: Any, call: _Call, timeout: float) -> Any:
    """The call's result, or the :class:`SatchelError` it raised; any other exception, or
    no answer within ``timeout`` seconds, fails the test."""
    kwargs = dict(call.kwargs)
    if "cursor" in kwargs:
        kwargs["cursor"] = _cursor_argument(side, call, kwargs["cursor"])
    if call.method in _WRITES:
        # timestamps are kept to the millisecond: two writes within one would tie, and an
        # order by created_at would fall back to the keys on one side and not the other
        await asyncio.sleep(_WRITE_GAP)
    try:
        kv: KVStore = side.handle.kv(namespace)
        method: Callable[..., Awaitable[Any]] = getattr(kv, call.method)
        result = await asyncio.wait_for(method(*call.args, **kwargs), timeout)
    except SatchelError as exc:
        return exc
    except (asyncio.TimeoutError, TimeoutError):
        pytest.fail(f"{side.name}: {call!r} on namespace {namespace!r} hung past {timeout} s")
    except Exception as exc:
        raise AssertionError(
            f"{side.name}: {call!r} on namespace {namespace!r} raised "
            f"{type(exc).__name__}: {exc}, not a SatchelError"
        ) from exc
    if isinstance(result, satchel.Page):
        side.last_cursor = result.next_cursor
    if call.method == "set":  # a written value reads back exactly
        key, value = call.args
        got = await asyncio.wait_for(kv.get(key), timeout)
        assert_same_json(got, _as_stored(value), f"{side.name}: {call!r} read back")
    return result


def _compare(call: _Call, namespace: Any, got: Any, expected: Any) -> None:
    where = f"{call!r} on namespace {namespace!r}"
    if isinstance(expected, SatchelError) or isinstance(got, SatchelError):
        assert type(got) is type(expected), (
            f"{where}: the backend gives {type(got).__name__}: {got}, the reference "
            f"{type(expected).__name__}: {expected}"
        )
        return
    assert_same_json(_plain(got), _plain(expected), where)


# --------------------------------------------------------------------------------------
# the rule


class FuzzRules(ConformanceFixtures):
    """Random calls with arguments of any type and content through the public store API:
    each returns within a bound and either gives what the reference (memory) backend gives,
    a written value reading back exactly, or raises the same
    :class:`~satchel.errors.SatchelError` subclass; never another exception, never a hang.

    Turn it up with the class attributes.
    """

    #: How many random programs (of up to :attr:`fuzz_calls` calls each) to run.
    fuzz_max_examples: ClassVar[int] = 50
    #: The most calls in one program.
    fuzz_calls: ClassVar[int] = 6
    #: Seconds a single call may take before it counts as a hang.
    fuzz_call_timeout: ClassVar[float] = 10.0

    def test_fuzzed_input_round_trips_or_raises_a_satchel_error(
        self, make_backend: MakeBackend
    ) -> None:
        from satchel_memory import MemoryBackend

        loop = asyncio.new_event_loop()
        names = CollectionNames()
        timeout = self.fuzz_call_timeout

        def run(awaitable: Awaitable[Any]) -> Any:
            async def call() -> Any:
                return await awaitable

            return loop.run_until_complete(call())

        try:
            backend = run(open_backend(make_backend))
            tenant = names.tenant()
            settings_ = SatchelSettings.model_construct(namespace=tenant)
            tested = _Side("backend", satchel.open(settings_, backend=backend))
            reference = _Side("reference", satchel.open(settings_, backend=MemoryBackend()))

            async def clear(side: _Side) -> None:
                handle = side.handle
                for collection in names.to_drop(await handle.backend.collections()):
                    await asyncio.wait_for(handle.backend.drop(collection), timeout)
                side.last_cursor = None

            @settings(
                max_examples=self.fuzz_max_examples,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                report_multiple_bugs=False,
            )
            @given(
                namespace=_NAMESPACES,
                program=st.lists(_CALLS, min_size=1, max_size=self.fuzz_calls),
            )
            def check(namespace: Any, program: list[_Call]) -> None:
                # a tenant of its own per program: a backend may keep counting versions
                # across a collection's drop (versions never repeat across incarnations)
                tenant = names.tenant()
                tested.handle.namespace = reference.handle.namespace = tenant
                try:
                    for call in program:
                        expected = run(_run(reference, namespace, call, timeout))
                        got = run(_run(tested, namespace, call, timeout))
                        _compare(call, namespace, got, expected)
                finally:
                    run(clear(tested))
                    run(clear(reference))

            check()
        finally:
            try:
                if "backend" in locals():
                    run(backend.close())
            finally:
                loop.close()
