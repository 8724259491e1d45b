"""Rules about event loops: one backend, and one handle over it, work from whichever event
loop calls them (successive ``asyncio.run()`` calls, a test runner's loop per test, a web
framework's worker loops, a thread running a loop of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import satchel
from satchel.backend import Backend
from satchel.settings import SatchelSettings
from satchel.testing.fixtures import (
    CollectionNames,
    ConformanceFixtures,
    MakeBackend,
    open_backend,
    rec,
)

__all__ = ["EventLoopRules"]

#: How many successive loops drive one backend.
LOOPS = 3


async def _round_trip(backend: Backend, collection: str, logs: str, turn: int) -> None:
    """Write, read, query, count and delete under ``collection``, and append to and read a
    log under ``logs`` (one turn of a loop)."""
    key = f"loop-{turn}"
    stored = await backend.put(rec(collection, key, {"turn": turn}))
    got = await backend.get(collection, key)
    assert got is not None, f"loop {turn}: the record written is not there"
    assert (got.value, got.version) == ({"turn": turn}, stored.version), f"loop {turn}"
    updated = await backend.put(
        rec(collection, key, {"turn": turn, "n": 2}), if_version=stored.version
    )
    assert updated.version == stored.version + 1
    many = await backend.put_many([rec(collection, f"{key}-{i}", i) for i in range(3)])
    assert [r.value for r in many] == [0, 1, 2]
    assert [r and r.value for r in await backend.get_many(collection, [f"{key}-1"])] == [1]
    assert await backend.count(collection) == 4 * (turn + 1) - turn
    assert await backend.delete(collection, f"{key}-2")
    keys = sorted([k async for k in backend.iter_keys(collection)])
    assert f"loop-{turn}" in keys, keys
    appended = await backend.log_append(logs, "log", [turn, {"turn": turn}])
    assert [e.value for e in appended] == [turn, {"turn": turn}], f"loop {turn}"
    assert await backend.log_length(logs, "log") == 2 * (turn + 1), f"loop {turn}"
    tail = await backend.log_range(logs, "log", reverse=True, limit=1)
    assert [e.seq for e in tail] == [appended[-1].seq], f"loop {turn}"


@contextlib.contextmanager
def _no_resource_warning() -> Iterator[None]:
    """Fail if a ``ResourceWarning`` (an unclosed socket, transport or client) is issued in
    the block or at a garbage collection at its end; other warnings are issued again."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    leaks = [str(w.message)[:200] for w in caught if issubclass(w.category, ResourceWarning)]
    for w in caught:
        if not issubclass(w.category, ResourceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    assert not leaks, f"left open after the loops and close(): {leaks}"


class EventLoopRules(ConformanceFixtures):
    """One backend built in one event loop serves three successive loops (each started and
    closed by ``asyncio.run``), and then a loop running in another thread, without an error,
    a lost write or a ``ResourceWarning`` (records and logs alike); ``close()`` from yet
    another loop releases it. The same holds for a handle from
    ``satchel.open(backend=...)`` used from successive loops."""

    def test_one_backend_serves_successive_event_loops(
        self, make_backend: MakeBackend, kit_collections: CollectionNames
    ) -> None:
        with _no_resource_warning():
            self._successive_loops(make_backend, kit_collections)

    def _successive_loops(
        self, make_backend: MakeBackend, kit_collections: CollectionNames
    ) -> None:
        collection, logs = kit_collections.new("loops"), kit_collections.new("loop-logs")
        backend = asyncio.run(open_backend(make_backend))
        try:
            for turn in range(LOOPS):
                asyncio.run(_round_trip(backend, collection, logs, turn))

            errors: list[BaseException] = []

            def in_thread() -> None:
                try:
                    asyncio.run(_round_trip(backend, collection, logs, LOOPS))
                except BaseException as exc:  # reported below, in the test's thread
                    errors.append(exc)

            thread = threading.Thread(target=in_thread)
            thread.start()
            thread.join(60)
            assert not thread.is_alive(), "a call from a thread's own loop hung"
            if errors:
                raise errors[0]

            async def check() -> None:
                keys = sorted([k async for k in backend.iter_keys(collection)])
                expected = sorted(
                    k
                    for turn in range(LOOPS + 1)
                    for k in (f"loop-{turn}", f"loop-{turn}-0", f"loop-{turn}-1")
                )
                assert keys == expected

            asyncio.run(check())
        finally:

            async def clean_up() -> None:
                try:
                    await backend.drop(collection)
                    await backend.drop(logs)
                finally:
                    await backend.close()

            asyncio.run(clean_up())

    def test_one_handle_serves_successive_event_loops(
        self, make_backend: MakeBackend, kit_collections: CollectionNames
    ) -> None:
        with _no_resource_warning():
            self._handle_in_successive_loops(make_backend, kit_collections)

    def _handle_in_successive_loops(
        self, make_backend: MakeBackend, kit_collections: CollectionNames
    ) -> None:
        settings = SatchelSettings.model_construct(namespace=kit_collections.tenant())
        backend = asyncio.run(open_backend(make_backend))
        handle = satchel.open(settings, backend=backend)

        async def use(turn: int) -> Any:
            kv = handle.kv("loops")
            version = await kv.set(f"k{turn}", {"turn": turn})
            assert version == 1
            assert await kv.get(f"k{turn}") == {"turn": turn}
            log = handle.logs("loops")
            assert await log.append("log", {"turn": turn}) == [turn + 1]
            assert [i.value for i in await log.last("log", 1)] == [{"turn": turn}]
            return await kv.count()

        try:
            counts = [asyncio.run(use(turn)) for turn in range(LOOPS)]
            assert counts == [1, 2, 3]
        finally:

            async def clean_up() -> None:
                try:
                    await handle.kv("loops").clear()
                    await handle.logs("loops").clear()
                finally:
                    await handle.close()

            asyncio.run(clean_up())
