"""satchel.sync: the blocking twin of the API, on the memory backend.

The twins keep the async stores' parameters, results, errors and copies (checked member
by member, and by running one script of calls through both APIs); one handle serves 16
threads; inside a running event loop every call raises instead of hanging; a closed handle
refuses calls; Ctrl-C cancels the call it interrupts; nothing is left running after close,
nor when the program forgets to close.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import inspect
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

import satchel
import satchel.sync
from satchel.backend import Record
from satchel.errors import (
    BlockingCallInEventLoop,
    Conflict,
    HandleClosed,
    SatchelError,
)
from satchel.handle import Satchel
from satchel.query import parse_query
from satchel.stores import InstanceStore, KVStore, LogStore, SessionStore, TaskStore
from satchel.sync import (
    SyncInstanceStore,
    SyncKVStore,
    SyncLogStore,
    SyncSatchel,
    SyncSessionStore,
    SyncTaskStore,
)
from satchel.sync.loop import CANCEL_WAIT
from satchel.sync.stores import STREAM_CHUNK
from satchel.testing import threads_share_one_handle
from satchel_memory import MemoryBackend

TWINS: list[tuple[type, type]] = [
    (KVStore, SyncKVStore),
    (TaskStore, SyncTaskStore),
    (SessionStore, SyncSessionStore),
    (LogStore, SyncLogStore),
    (Satchel, SyncSatchel),
]

#: Twins whose calls the script does not run (instances have random ids): their own tests
#: are in test_instances.py.
UNSCRIPTED_TWINS: list[tuple[type, type]] = [(InstanceStore, SyncInstanceStore)]

#: Members of the async handle that the blocking one leaves out: the backend objects are
#: async, and ``close`` is the blocking handle's own.
HANDLE_ONLY_ASYNC = {"backend", "raw_backend", "plugins"}


class Task(BaseModel):
    task_id: str
    status: str = "Running"
    request_id: str = ""
    n: int = 0


class Snapshot(BaseModel):
    step: int


def _statuses(task: Task) -> list[str]:
    return [task.status]


def _public(cls: type) -> dict[str, Any]:
    return {
        name: inspect.getattr_static(cls, name)
        for name in dir(cls)
        if not name.startswith("_") and name not in HANDLE_ONLY_ASYNC
    }


def _is_async(member: Any) -> bool:
    return inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)


# --------------------------------------------------------------------------------------
# the twins cannot drift


@pytest.mark.parametrize(("source", "twin"), TWINS + UNSCRIPTED_TWINS, ids=lambda c: c.__name__)
def test_every_async_method_has_a_blocking_twin_with_the_same_parameters(
    source: type, twin: type
) -> None:
    methods = {n: m for n, m in _public(source).items() if inspect.isfunction(m)}
    assert methods, source
    for name, method in methods.items():
        mine = inspect.getattr_static(twin, name, None)
        assert inspect.isfunction(mine), f"{twin.__name__} has no method {name}"
        assert not _is_async(mine), f"{twin.__name__}.{name} is async"
        theirs, ours = inspect.signature(method), inspect.signature(mine)
        assert ours.parameters == theirs.parameters, f"{name}: {ours} != {theirs}"
        returns = str(theirs.return_annotation)
        if inspect.isasyncgenfunction(method):
            assert returns.startswith("AsyncIterator[")
            returns = returns.removeprefix("Async")
        elif (source is Satchel and name in ("tasks", "sessions", "kv", "logs", "instances")) or (
            source is InstanceStore and name == "kv"
        ):
            returns = f"Sync{returns}"
        assert str(ours.return_annotation) == returns, f"{twin.__name__}.{name}"
        if name != "close":
            assert mine.__doc__ == method.__doc__, f"{twin.__name__}.{name}: another docstring"


def test_a_blocking_store_has_nothing_its_async_twin_lacks() -> None:
    async_handle = satchel.open()
    with satchel.sync.open() as handle:
        for kind, theirs in _stores(async_handle).items():
            ours = _stores(handle)[kind]
            mine = {n for n in dir(ours) if not n.startswith("_")}
            assert mine - {"closed"} <= set(dir(theirs)), kind


def test_the_blocking_handle_has_the_async_handles_members_and_no_more() -> None:
    async_handle = satchel.open()
    with satchel.sync.open() as handle:
        mine = {n for n in dir(handle) if not n.startswith("_")}
        theirs = {n for n in dir(async_handle) if not n.startswith("_")}
        assert mine - theirs == {"closed"}
        assert theirs - mine == HANDLE_ONLY_ASYNC
        assert (handle.settings, handle.namespace) == (
            async_handle.settings,
            async_handle.namespace,
        )


def test_open_takes_the_parameters_of_satchel_open() -> None:
    theirs, ours = inspect.signature(satchel.open), inspect.signature(satchel.sync.open)
    assert ours.parameters == theirs.parameters
    assert ours.return_annotation == "SyncSatchel"
    assert satchel.sync is sys.modules["satchel.sync"]
    assert satchel.sync.open.__doc__


def test_open_forwards_every_argument() -> None:
    settings = satchel.SatchelSettings(namespace="fwd", default_ttl=30)
    backend = MemoryBackend()
    with satchel.sync.open(settings, backend=backend) as handle:
        assert handle.settings is settings
        assert handle.namespace == "fwd"
        assert handle.kv("ns").default_ttl == 30
        handle.kv("ns").set("k", 1)
    with satchel.sync.open(environ={"SATCHEL_NAMESPACE": "env", "SATCHEL_BACKEND": "memory"}) as h:
        assert h.namespace == "env"
    with pytest.raises(satchel.ConfigError, match="SATCHEL_NAMESPACE"):
        satchel.sync.open(environ={"SATCHEL_NAMESPACE": "a:b"})
    with satchel.sync.open(backend="memory", namespace="code", default_ttl=None) as h:
        assert h.namespace == "code" and h.kv("ns").default_ttl is None
    with pytest.raises(satchel.InvalidArgument, match="backend"):
        satchel.sync.open(backend=42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "twin"),
    [
        (lambda h: h.kv("ns", ttl=5), SyncKVStore),
        (
            lambda h: h.tasks(Task, name="t", ttl=None, indexes={"s": _statuses}),
            SyncTaskStore,
        ),
        (lambda h: h.sessions(Snapshot, name="s", ttl=9), SyncSessionStore),
        (lambda h: h.logs("l", Snapshot, ttl=7), SyncLogStore),
        (lambda h: h.logs("l2"), SyncLogStore),
    ],
)
def test_a_blocking_store_shows_the_attributes_of_its_async_twin(
    make: Callable[[Any], Any], twin: type
) -> None:
    async_handle = satchel.open()
    with satchel.sync.open() as handle:
        theirs, ours = make(async_handle), make(handle)
        assert isinstance(ours, twin)
        names = [n for n in vars(theirs) if not n.startswith("_")]
        names += [n for n, m in _public(type(theirs)).items() if isinstance(m, property)]
        assert names
        for name in names:
            assert getattr(ours, name) == getattr(theirs, name), name
        assert repr(ours) == f"<Sync{repr(theirs)[1:]}"


# --------------------------------------------------------------------------------------
# one script of calls through both APIs: the same results, errors and copies

#: (store, method, args, kwargs): every public method of every store and of the handle,
#: with arguments that are not the defaults, and calls that fail.
SCRIPT: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
    ("kv", "set", ("a", {"x": 1}), {"ttl": 60}),
    ("kv", "set", ("b", 2), {"if_absent": True}),
    ("kv", "set", ("b", 3), {"if_absent": True}),
    ("kv", "set", ("a", {"x": 2}), {"expected_version": 1}),
    ("kv", "set", ("a", 0), {"expected_version": 99}),
    ("kv", "set", ("zz", 0), {"expected_version": 1}),
    ("kv", "set", ("", 0), {}),
    ("kv", "get", ("a",), {}),
    ("kv", "get", ("nope", {"d": 1}), {}),
    ("kv", "get_entry", ("a",), {}),
    ("kv", "exists", ("b",), {}),
    ("kv", "keys", ("[ab]",), {}),
    ("kv", "keys", ("[",), {}),
    ("kv", "set_many", ({"c": 1, "d": [1, 2]},), {"ttl": None}),
    ("kv", "get_many", (["a", "b", "c", "nope"],), {}),
    ("kv", "get_entries", (["a", "nope"],), {}),
    ("kv", "count", ({"value": 1},), {}),
    ("kv", "find", ("x", "2"), {}),
    ("kv", "find", ("x", "2"), {"limit": 0}),
    ("kv", "find", ("nope", "2"), {}),
    ("kv", "query", ([("x", "eq", 2)],), {"order_by": "-key", "select": ["x"], "limit": 5}),
    ("kv", "query", (), {"offset": 1, "limit": 2}),
    (
        "kv",
        "query",
        ([{"field": "x", "operator": "eq", "value": 2}],),
        {"order_by": {"field": "key", "direction": "desc"}},
    ),
    (
        "kv",
        "query",
        (parse_query({"where": [["x", "gte", 1]], "orderBy": {"field": "x", "direction": "asc"}}),),
        {},
    ),
    ("kv", "query", (parse_query({"limit": 1}),), {"limit": 2}),
    ("kv", "count", (parse_query({"where": [{"field": "x", "operator": "gt", "value": 0}]}),), {}),
    ("kv", "count", ([{"field": "x", "operator": "gt"}],), {}),
    ("kv", "query", (), {"cursor": "bogus"}),
    ("kv", "entries", (), {"batch_size": 2}),
    ("kv", "entries", (), {"batch_size": 0}),
    ("kv", "delete", ("b",), {"expected_version": 1}),
    ("kv", "delete", ("nope",), {}),
    ("kv", "clear", (), {}),
    ("tasks", "create", (Task(task_id="t1", request_id="r1"),), {"ttl": 60}),
    ("tasks", "create", (Task(task_id="t1"),), {}),
    ("tasks", "create", ("not a task",), {}),
    ("tasks", "load", ("t1",), {}),
    ("tasks", "load_versioned", ("t1",), {}),
    ("tasks", "update", (Task(task_id="t1", request_id="r1", n=1),), {"expected_version": 1}),
    ("tasks", "update", (Task(task_id="t1", n=2),), {"expected_version": 1}),
    ("tasks", "update", (Task(task_id="t9"),), {}),
    ("tasks", "save", (Task(task_id="t1", request_id="r1", n=3),), {"ttl": 120}),
    ("tasks", "save", (Task(task_id="t2"),), {}),
    ("tasks", "save", ("not a task",), {}),
    ("tasks", "delete", ("t2",), {}),
    ("tasks", "exists", ("t1",), {}),
    ("tasks", "find", ("request_id", "r1"), {"limit": 1}),
    ("tasks", "find", ("nope", "r1"), {}),
    ("tasks", "find_versioned", ("request_id", "r1"), {"limit": 1}),
    ("tasks", "load_by_request_id", ("r1",), {}),
    ("tasks", "list", (), {"status": ["Running"], "limit": 1}),
    ("tasks", "list_versioned", (), {"status": ["Running"], "limit": 1}),
    ("tasks", "count", (), {"status": "Running"}),
    ("tasks", "stale", (timedelta(0),), {"statuses": None}),
    ("tasks", "stale", (timedelta(seconds=-1),), {}),
    ("tasks", "cleanup", (timedelta(0),), {"statuses": ["Nothing"]}),
    ("tasks", "cleanup", ("yesterday",), {}),
    ("tasks", "delete", ("t1",), {"expected_version": 1}),
    ("tasks", "delete", ("t1",), {"expected_version": 2}),
    ("tasks", "delete", ("t1",), {}),
    ("sessions", "save", ("s1", Snapshot(step=1)), {"ttl": 60}),
    ("sessions", "save", ("s1", Snapshot(step=2)), {"expected_version": 7}),
    ("sessions", "load", ("s1",), {}),
    ("sessions", "load_versioned", ("s1",), {}),
    ("sessions", "exists", ("s1",), {}),
    ("sessions", "list", (), {"limit": 1}),
    ("sessions", "delete", ("s1",), {}),
    ("logs", "append", ("k", 1, 2, 3, 4), {"ttl": 60}),
    ("logs", "append", ("k",), {}),
    ("logs", "pop", ("k", 2), {}),
    ("logs", "read", ("k",), {"after": 0, "limit": 1, "reverse": True}),
    ("logs", "read", ("k",), {"cursor": "f1"}),
    ("logs", "read", ("k",), {"cursor": "x"}),
    ("logs", "last", ("k", 5), {}),
    ("logs", "items", ("k",), {"batch_size": 1}),
    ("logs", "length", ("k",), {}),
    ("logs", "keys", ("k*",), {}),
    ("logs", "trim", ("k",), {"keep_last": 1}),
    ("logs", "trim", ("k",), {}),
    ("logs", "delete", ("k",), {}),
    ("logs", "append", ("k2", {"a": 1}), {}),
    ("logs", "clear", (), {}),
    ("handle", "namespaces", (), {}),
    ("handle", "ping", (), {}),
    ("handle", "purge_expired", (), {}),
    ("handle", "stats", (), {}),
]


def _x_index(value: Any) -> list[str]:
    return [str(value["x"])] if isinstance(value, dict) and "x" in value else []


def _stores(handle: Any) -> dict[str, Any]:
    return {
        "kv": handle.kv("script", indexes={"x": _x_index}),
        "tasks": handle.tasks(Task),
        "sessions": handle.sessions(Snapshot),
        "logs": handle.logs("script"),
        "instances": handle.instances(),
        "handle": handle,
    }


def _plain(value: Any) -> Any:
    """``value`` without what differs between two runs: instants, latencies."""
    if isinstance(value, datetime):
        return "<datetime>"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, _plain(dataclasses.astuple(value)))
    if isinstance(value, BaseModel):
        return (type(value).__name__, value.model_dump())
    if isinstance(value, dict):
        if "operations" in value:  # stats: the figures differ, not their shape
            return sorted(value)
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _outcome(error: BaseException | None, result: Any) -> Any:
    if error is not None:
        return ("raised", type(error).__name__, str(error))
    return ("returned", _plain(result))


async def _run_async(handle: satchel.Satchel) -> list[Any]:
    stores = _stores(handle)
    outcomes = []
    for store, method, args, kwargs in SCRIPT:
        call = getattr(stores[store], method)
        try:
            if inspect.isasyncgenfunction(call):
                result: Any = [item async for item in call(*args, **kwargs)]
            else:
                result = await call(*args, **kwargs)
        except SatchelError as exc:
            outcomes.append(_outcome(exc, None))
        else:
            outcomes.append(_outcome(None, result))
    return outcomes


def _run_sync(handle: SyncSatchel) -> list[Any]:
    stores = _stores(handle)
    outcomes = []
    for store, method, args, kwargs in SCRIPT:
        try:
            result = getattr(stores[store], method)(*args, **kwargs)
            if isinstance(result, Iterator):
                result = list(result)
        except SatchelError as exc:
            outcomes.append(_outcome(exc, None))
        else:
            outcomes.append(_outcome(None, result))
    return outcomes


def test_the_script_covers_every_method() -> None:
    covered = {(s, m) for s, m, _, _ in SCRIPT}
    # deprecated names warn; test_vocabulary.py holds them to their new names
    deprecated = {("sessions", "has")}
    for kind, (source, _) in zip(("kv", "tasks", "sessions", "logs", "handle"), TWINS, strict=True):
        for name, member in _public(source).items():
            if _is_async(member) and name != "close" and (kind, name) not in deprecated:
                assert (kind, name) in covered, f"SCRIPT never calls {kind}.{name}"


def test_blocking_and_async_calls_give_the_same_results_and_errors() -> None:
    expected = asyncio.run(_run_async(satchel.open()))
    with satchel.sync.open() as handle:
        got = _run_sync(handle)
    assert [o[0] for o in expected].count("raised") >= 15, "the script should fail often"
    for step, (theirs, ours) in enumerate(zip(expected, got, strict=True)):
        assert ours == theirs, f"step {step} {SCRIPT[step][:2]}: {ours} != {theirs}"


def test_errors_are_the_async_errors_with_their_attributes() -> None:
    with satchel.sync.open() as handle:
        tasks = handle.tasks(Task)
        tasks.create(Task(task_id="t"))
        tasks.update(Task(task_id="t", n=1))
        with pytest.raises(Conflict) as caught:
            tasks.update(Task(task_id="t", n=2), expected_version=1)
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        assert caught.value.__cause__ is None


def test_what_a_blocking_call_returns_is_the_callers_copy() -> None:
    with satchel.sync.open() as handle:
        kv = handle.kv("copies")
        value = {"list": [1, 2], "nested": {"a": 1}}
        kv.set("k", value)
        value["list"].append(3)  # the caller's object, after the write
        got = kv.get("k")
        assert got == {"list": [1, 2], "nested": {"a": 1}}
        assert isinstance(got, dict)
        got["nested"]["a"] = 99
        assert kv.get("k") == {"list": [1, 2], "nested": {"a": 1}}
        assert kv.get("k") is not kv.get("k")
        logs = handle.logs("copies")
        logs.append("k", {"a": [1]})
        item = logs.last("k", 1)[0]
        item.value["a"].append(2)
        assert logs.last("k", 1)[0].value == {"a": [1]}


# --------------------------------------------------------------------------------------
# iterators stream


def test_iterators_stream_instead_of_reading_everything() -> None:
    with satchel.sync.open() as handle:
        kv = handle.kv("many")
        kv.set_many({f"k{i:05}": i for i in range(3000)})
        logs = handle.logs("many")
        for start in range(0, 3000, 1000):
            logs.append("log", *range(start, start + 1000))

        def calls(operation: str) -> int:
            return int(handle.stats()["operations"].get(operation, {}).get("calls", 0))

        before = calls("query")
        entries = kv.entries(batch_size=50)
        assert calls("query") == before  # nothing is read before the first item is asked for
        first = [next(entries) for _ in range(10)]
        assert first == [(f"k{i:05}", i) for i in range(10)]
        assert calls("query") - before <= 7, "more pages were read than the first items need"
        entries.close()

        before = calls("log_range")
        items = logs.items("log", batch_size=50)
        assert [next(items).value for _ in range(3)] == [0, 1, 2]
        assert calls("log_range") - before <= 7
        del items

        assert [k for k, _ in kv.entries(batch_size=999)] == [f"k{i:05}" for i in range(3000)]
        assert [i.value for i in logs.items("log", batch_size=999)] == list(range(3000))


def test_an_iterator_gives_the_items_it_fetched_then_raises_the_error() -> None:
    with satchel.sync.open() as handle:
        kv = handle.kv("broken")
        kv.set_many({f"k{i:04}": i for i in range(1000)})
        entries = kv.entries(batch_size=100)
        assert next(entries) == ("k0000", 0)
        handle.close()
        got: list[Any] = []
        with pytest.raises(HandleClosed):
            _drain(entries, got)
        assert [v for _, v in got] == list(range(1, STREAM_CHUNK)), "fetched items were lost"


def test_an_iterator_gives_the_items_before_an_error_as_the_async_one_does() -> None:
    entries = [{"step": 1}, {"step": 2}, "not a snapshot", {"step": 4}]

    async def async_items() -> tuple[list[Any], BaseException | None]:
        async with satchel.open() as handle:
            await handle.logs("l").append("k", *entries)
            got: list[Any] = []
            try:
                async for item in handle.logs("l", Snapshot).items("k"):
                    got.append(item.value)
            except SatchelError as exc:
                return got, exc
            return got, None

    expected, error = asyncio.run(async_items())
    assert isinstance(error, satchel.CorruptRecord)
    assert expected == [Snapshot(step=1), Snapshot(step=2)]
    with satchel.sync.open() as handle:
        handle.logs("l").append("k", *entries)
        got: list[Any] = []
        with pytest.raises(satchel.CorruptRecord) as caught:
            _drain(handle.logs("l", Snapshot).items("k"), got)
        assert [item.value for item in got] == expected
        assert str(caught.value) == str(error)


# --------------------------------------------------------------------------------------
# threads


def test_sixteen_threads_share_one_handle() -> None:
    with satchel.sync.open() as handle:
        threads_share_one_handle(handle, threads=16)
        # what the scenario wrote is gone again
        assert handle.namespaces() == []


def test_the_scenario_notices_a_lost_write() -> None:
    """The scenario is strict enough to catch a backend that loses a write."""

    class Forgetful(MemoryBackend):
        writes = 0

        async def put(self, record: Record, **kwargs: Any) -> Record:
            stored = await super().put(record, **kwargs)
            if ":kv:" in record.collection and record.key != "counter":
                self.writes += 1
                if self.writes == 50:
                    await super().delete(record.collection, record.key)  # lost
            return stored

    with satchel.sync.open(backend=Forgetful()) as handle, pytest.raises(AssertionError):
        threads_share_one_handle(handle, threads=16)


# --------------------------------------------------------------------------------------
# inside a running event loop


def _drain(items: Iterator[Any], sink: list[Any]) -> None:
    for item in items:
        sink.append(item)


def _call(stores: dict[str, Any], store: str, method: str, args: Any, kwargs: Any) -> None:
    """Call ``stores[store].method(*args, **kwargs)``; ask an iterator for its first item."""
    result = getattr(stores[store], method)(*args, **kwargs)
    if isinstance(result, Iterator):
        next(result)


def _call_everything(handle: SyncSatchel) -> list[str]:
    """Call every blocking method (as SCRIPT does); what went otherwise than a
    BlockingCallInEventLoop naming the call and the async API."""
    stores = _stores(handle)
    wrong = []
    for store, method, args, kwargs in SCRIPT:
        try:
            _call(stores, store, method, args, kwargs)
        except BlockingCallInEventLoop as exc:
            message = str(exc)
            if "async API" not in message or (method not in message and store != "handle"):
                wrong.append(f"{store}.{method}: {message}")
        except BaseException as exc:
            wrong.append(f"{store}.{method} raised {exc!r}")
        else:
            wrong.append(f"{store}.{method} returned")
    try:
        handle.close()
    except BlockingCallInEventLoop:
        pass
    else:
        wrong.append("close returned")
    return wrong


def test_every_blocking_call_inside_a_running_event_loop_raises() -> None:
    handle = satchel.sync.open()
    handle.kv("script").set("a", 1)
    outcome: list[Any] = []

    async def inside() -> None:
        outcome.append(_call_everything(handle))
        # opening and making stores does not wait: allowed
        satchel.sync.open().kv("x")

    # in a thread of its own: a hang fails the test instead of stopping it
    thread = threading.Thread(target=lambda: asyncio.run(inside()), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "a blocking call inside an event loop hung"
    assert outcome == [[]]
    assert handle.kv("script").get("a") == 1  # nothing was closed or broken
    handle.close()


def test_a_blocking_call_from_the_handles_own_loop_raises() -> None:
    """A plugin or backend that calls the blocking API from inside the handle's loop gets
    an error, not a deadlock."""
    handles: list[SyncSatchel] = []

    class Reentrant(MemoryBackend):
        async def ping(self) -> None:
            handles[0].kv("x").get("k")

    handle = satchel.sync.open(backend=Reentrant())
    handles.append(handle)
    errors: list[BaseException] = []

    def ping() -> None:
        try:
            handle.ping()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=ping, daemon=True)  # a deadlock fails, not hangs
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "a blocking call from the handle's own loop deadlocked"
    assert len(errors) == 1
    assert isinstance(errors[0], BlockingCallInEventLoop)
    assert "KVStore.get" in str(errors[0])
    handle.close()


# --------------------------------------------------------------------------------------
# closing


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("satchel-sync-")]


def test_a_closed_handle_refuses_every_call() -> None:
    before = set(_loop_threads())
    handle = satchel.sync.open()
    stores = _stores(handle)
    assert len(set(_loop_threads()) - before) == 1
    handle.close()
    assert set(_loop_threads()) <= before, "the handle's thread outlived close()"
    handle.close()  # again: harmless
    assert handle.closed
    assert "closed" in repr(handle)
    for store, method, args, kwargs in SCRIPT:
        with pytest.raises(HandleClosed, match="closed"):
            _call(stores, store, method, args, kwargs)
    with satchel.sync.open() as other:
        pass
    assert other.closed


class Slow(MemoryBackend):
    """A memory backend whose ``get`` of the key ``slow`` waits, and tells what became of it."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.released = False

    async def get(self, collection: str, key: str) -> Record | None:
        if key == "slow":
            self.started.set()
            try:
                await asyncio.sleep(60)  # bounded: a broken cancellation fails, not hangs
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return await super().get(collection, key)

    async def close(self) -> None:
        self.released = True
        await super().close()


def test_close_cancels_calls_in_flight_and_they_raise_handle_closed() -> None:
    backend = Slow()
    handle = satchel.sync.open(backend=backend)
    errors: list[BaseException] = []

    def waiting() -> None:
        try:
            handle.kv("k").get("slow")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiting, daemon=True)
    thread.start()
    assert backend.started.wait(30)
    handle.close()
    thread.join(10)
    assert not thread.is_alive()
    assert backend.cancelled.is_set()
    assert backend.released
    assert len(errors) == 1
    assert isinstance(errors[0], HandleClosed), errors
    assert "KVStore.get (cancelled by close())" in str(errors[0])


def test_close_raises_what_closing_the_backend_raised() -> None:
    class Failing(MemoryBackend):
        async def close(self) -> None:
            raise satchel.BackendUnavailable("memory: could not close")

    handle = satchel.sync.open(backend=Failing())
    with pytest.raises(satchel.BackendUnavailable, match="could not close"):
        handle.close()
    assert not _loop_threads()
    handle.close()  # reported once


@pytest.mark.parametrize("receiver", ["main thread", "another thread"])
def test_ctrl_c_cancels_the_call_it_interrupts(receiver: str) -> None:
    """SIGINT raises KeyboardInterrupt in the waiting caller (the main thread) also when the
    kernel gives the signal to another thread, and the operation is cancelled."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT does not raise KeyboardInterrupt here")
    backend = Slow()
    main = threading.main_thread().ident
    assert main is not None
    with satchel.sync.open(backend=backend) as handle:
        kv = handle.kv("k")

        def interrupt() -> None:
            backend.started.wait(30)
            target = main if receiver == "main thread" else threading.get_ident()
            signal.pthread_kill(target, signal.SIGINT)  # in any case: the test must not hang

        thread = threading.Thread(target=interrupt)
        thread.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            kv.get("slow")
        thread.join()
        assert backend.started.is_set()
        # the operation was cancelled, and the caller waited for that, not for CANCEL_WAIT
        assert backend.cancelled.is_set()
        assert time.monotonic() - started < CANCEL_WAIT
        # the handle goes on working
        kv.set("after", 1)
        assert kv.get("after") == 1
    assert backend.released


def test_ctrl_c_at_any_moment_leaves_the_handle_working(tmp_path: Any) -> None:
    """Hundreds of Ctrl-Cs, each at a random moment of a call (before it is sent, while it
    runs, as it returns): the handle never hangs and goes on working. In a process of its
    own, so that a hang fails the test instead of stopping it."""
    program = textwrap.dedent(
        """
        import asyncio, os, random, signal, threading, time
        import satchel.sync
        from satchel_memory import MemoryBackend

        class Jittery(MemoryBackend):
            async def get(self, collection, key):
                await asyncio.sleep(random.random() * 0.002)
                return await super().get(collection, key)

        handle = satchel.sync.open(backend=Jittery())
        kv = handle.kv("k")
        kv.set("a", 1)
        interrupted = returned = 0
        for _ in range(300):
            timer = threading.Timer(random.random() * 0.004, os.kill, (os.getpid(), signal.SIGINT))
            try:
                timer.start()
                if kv.get("a") == 1:
                    returned += 1
                timer.join()
                time.sleep(0.002)  # a signal sent as the call returned lands here
            except KeyboardInterrupt:
                interrupted += 1
                timer.join()
        assert kv.get("a") == 1
        kv.set("b", 2)
        assert kv.get_many(["a", "b"]) == {"a": 1, "b": 2}
        handle.close()
        print(interrupted, returned)
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", program],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL"))
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    interrupted, returned = map(int, result.stdout.split())
    assert interrupted + returned >= 300
    assert interrupted > 0


def test_a_forgotten_handle_is_closed_when_collected() -> None:
    backend = Slow()
    before = set(_loop_threads())
    handle = satchel.sync.open(backend=backend)
    kv = handle.kv("k")
    kv.set("a", 1)
    del handle
    gc.collect()
    assert not backend.released, "the store still uses the handle's thread"
    assert kv.get("a") == 1
    del kv
    gc.collect()
    assert backend.released
    assert set(_loop_threads()) <= before


def test_a_handle_open_at_exit_is_closed_then(tmp_path: Any) -> None:
    program = textwrap.dedent(
        """
        import satchel.sync
        from satchel_memory import MemoryBackend

        class Noisy(MemoryBackend):
            async def close(self):
                print("backend closed", flush=True)
                await super().close()

        handle = satchel.sync.open(backend=Noisy())
        kv = handle.kv("k")
        kv.set("a", 1)
        for key, value in kv.entries():
            print(key, value)
        print("exiting", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL"))
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["a 1", "exiting", "backend closed"]
    assert result.stderr == ""


def test_a_handle_from_before_a_fork_refuses_calls_in_the_child() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    with satchel.sync.open() as handle:
        kv = handle.kv("k")
        kv.set("a", 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
            pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                kv.get("a")
            except HandleClosed as exc:
                code = 0 if "another process" in str(exc) else 2
            except BaseException:
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert kv.get("a") == 1


# --------------------------------------------------------------------------------------
# typing and reprs


def test_reprs_name_the_backend_and_the_store() -> None:
    with satchel.sync.open() as handle:
        assert (
            repr(handle) == "<SyncSatchel backend='memory (this process only)' namespace='default'>"
        )
        assert repr(handle.kv("ns")).startswith("<SyncKVStore 'ns' on memory")


def test_the_blocking_api_is_typed_for_its_users(tmp_path: Any) -> None:
    """mypy --strict checks a program using the blocking API (its types are exact)."""
    mypy = pytest.importorskip("mypy.api")
    program = tmp_path / "program.py"
    program.write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            import satchel
            import satchel.sync

            class Task(BaseModel):
                task_id: str

            with satchel.sync.open(environ={}) as store:
                task: Task | None = store.tasks(Task).load("t")
                version: int = store.kv("ns").set("k", {"a": 1}, ttl=None)
                pairs: list[tuple[str, object]] = list(store.kv("ns").entries())
                typed = store.logs("l", Task).last("k", 1)[0].value
                reveal_type(typed)
                store.kv("ns").set("k", 1, if_versio=2)
                satchel.sync.open(setings=None)
            """
        )
    )
    out, _, status = mypy.run(["--strict", "--no-incremental", str(program)])
    assert status == 1, out
    assert 'Revealed type is "program.Task"' in out, out
    assert 'Unexpected keyword argument "if_versio"' in out, out
    assert 'Unexpected keyword argument "setings"' in out, out
    assert out.count("error:") == 2, out


def test_a_plain_satchel_handle_is_required() -> None:
    with pytest.raises(satchel.InvalidArgument, match=r"handle: must be a satchel\.Satchel"):
        SyncSatchel("memory")  # type: ignore[arg-type]


def test_a_backend_is_built_once_per_open() -> None:
    """A sanity check of forwarding: two opens, two backends, two threads."""
    with satchel.sync.open() as one, satchel.sync.open() as two:
        one.kv("ns").set("k", 1)
        assert two.kv("ns").get("k") is None
        assert len(_loop_threads()) >= 2
