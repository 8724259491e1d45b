"""SatchelSaver under concurrency and failures: concurrent pending writes, a put racing the
deletion of its thread, a put whose checkpoint cannot be written, concurrent first blocking
calls; and the process's shared handle."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Generator
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.types import INTERRUPT

import satchel
from satchel import BackendUnavailable, Conflict, Satchel, hookimpl
from satchel.instrument import Operation
from satchel.shared import close_shared_store, shared_store
from satchel_langgraph import SatchelSaver, SatchelStore, maintenance
from satchel_langgraph.records import key_prefix, write_key


class Interleaver:
    """Lets other tasks run before each backend operation, a random number of times: on
    the in-process memory backend, whose operations never wait, concurrent tasks then
    interleave between operations as they do on a network backend."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        turns = self._random.randrange(4)

        async def later() -> Any:
            for _ in range(turns):
                await asyncio.sleep(0)
            return await inner

        return later()


@pytest.fixture
async def interleaved(handle_arguments: dict[str, Any]) -> AsyncIterator[Satchel]:
    async with satchel.open(**handle_arguments, plugins=[("interleaver", Interleaver(7))]) as h:
        yield h


def _config(thread_id: str, checkpoint_id: str | None = None) -> Any:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _checkpoint(values: dict[str, Any], versions: dict[str, str]) -> Any:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = dict(versions)
    return checkpoint


# -- pending writes -----------------------------------------------------------------------------


async def test_concurrent_writes_of_one_task_keep_the_first(interleaved: Satchel) -> None:
    saver = SatchelSaver(store=interleaved)
    stored = await saver.aput(_config("t"), empty_checkpoint(), {}, {})
    checkpoint_id = stored["configurable"]["checkpoint_id"]
    for round_ in range(5):
        task = f"task-{round_}"
        await asyncio.gather(
            *(saver.aput_writes(stored, [("a", n), (INTERRUPT, n)], task) for n in range(4))
        )
        entry = await saver.writes.get_entry(write_key("t", "", checkpoint_id, task, 0))
        assert entry is not None
        assert entry.version == 1, "the first write stored is never written over"
        first = entry.value
        await saver.aput_writes(stored, [("a", "late")], task)
        assert await saver.writes.get_entry(write_key("t", "", checkpoint_id, task, 0)) == entry
        assert first is not None
    found = await saver.aget_tuple(stored)
    assert found is not None
    assert len(found.pending_writes) == 10  # per task: one regular write, one interrupt


# -- a put racing delete_thread -----------------------------------------------------------------


async def test_a_put_racing_delete_thread_is_complete_or_gone(interleaved: Satchel) -> None:
    saver = SatchelSaver(store=interleaved)
    chance = random.Random(11)

    async def thread_of_one(thread_id: str) -> Any:
        first = _checkpoint({"a": "a1", "b": "b1"}, {"a": "1.1", "b": "1.1"})
        return await saver.aput(_config(thread_id), first, {}, {"a": "1.1", "b": "1.1"})

    await thread_of_one("timed")
    started = time.perf_counter()
    await saver.adelete_thread("timed")
    deleting = time.perf_counter() - started
    outcomes = {"kept": 0, "gone": 0}
    for n in range(60):
        thread_id = f"t{n}"
        parent = await thread_of_one(thread_id)
        second = _checkpoint({"a": "a2", "b": "b1"}, {"a": "2.1", "b": "1.1"})
        # half of the puts write every value again: those can stand on their own
        new_versions = {"a": "2.1"} if n % 2 else {"a": "2.1", "b": "1.1"}

        async def put(checkpoint: Any = second, parent: Any = parent, new: Any = new_versions):
            # from before the deletion starts to after it ended
            await asyncio.sleep(chance.random() * deleting * 1.5)
            await saver.aput(parent, checkpoint, {}, new)

        await asyncio.gather(put(), saver.adelete_thread(thread_id))

        left = [t async for t in saver.alist(_config(thread_id))]
        for found in left:  # each checkpoint left loads with every value it was put with
            assert found.checkpoint["id"] == second["id"]
            assert found.checkpoint["channel_values"] == {"a": "a2", "b": "b1"}
        if left:
            outcomes["kept"] += 1
        else:  # the thread is gone, values included
            assert await saver.blobs.count([("key", "startswith", key_prefix(thread_id))]) == 0
            outcomes["gone"] += 1
    assert outcomes["gone"] > 0 and outcomes["kept"] > 0, outcomes


async def test_delete_thread_gives_up_on_a_thread_that_never_stops_getting_checkpoints(
    store: Satchel, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = SatchelSaver(store=store)
    first = _checkpoint({"a": "a1"}, {"a": "1.1"})
    await saver.aput(_config("busy"), first, {}, {"a": "1.1"})
    puts = 0

    async def new_thread_start(_: Any) -> None:  # a writer that starts the thread again
        nonlocal puts
        puts += 1
        fresh = _checkpoint({"a": f"a{puts}"}, {"a": f"{puts}.1"})
        await saver.aput(_config("busy"), fresh, {}, {"a": f"{puts}.1"})

    monkeypatch.setattr(
        maintenance, "_delete_range", _then(maintenance._delete_range, new_thread_start)
    )
    monkeypatch.setattr(maintenance, "MAX_SWEEPS", 3)
    with pytest.raises(Conflict, match=r"thread_id: 'busy' got new checkpoints through 3 sweeps"):
        await saver.adelete_thread("busy")
    monkeypatch.undo()
    await saver.adelete_thread("busy")  # once the writer stopped
    assert [t async for t in saver.alist(_config("busy"))] == []


def _then(original: Any, after: Any) -> Any:
    async def wrapped(kv: Any, prefix: str, keep: Any = None) -> Any:
        result = await original(kv, prefix, keep)
        if kv.namespace.endswith("blobs"):
            await after(kv)
        return result

    return wrapped


# -- a put whose checkpoint cannot be written ---------------------------------------------------


class Outage:
    """Fails backend operations with ``BackendUnavailable``: the put of a checkpoint
    (``"refused"``: before it runs; ``"lost reply"``: after it ran), or every operation
    from that put on (``"down"``, until ``up()``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.checkpoints: str | None = None
        self.down = False

    def up(self) -> None:
        self.down = False
        self.checkpoints = None

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        hit = operation.name == "put" and operation.collection == self.checkpoints
        if hit and self.mode == "down":
            self.down = True

        async def failing() -> Any:
            if hit and self.mode == "lost reply":
                await inner
            elif hasattr(inner, "close"):  # a coroutine never run
                inner.close()
            raise BackendUnavailable(f"{operation.name}: the server went away")

        return failing() if hit or self.down else inner


@pytest.mark.parametrize("mode", ["refused", "lost reply", "down"])
async def test_a_failed_put_leaves_no_reachable_values(
    handle_arguments: dict[str, Any], mode: str
) -> None:
    outage = Outage(mode)
    async with satchel.open(**handle_arguments, plugins=[("outage", outage)]) as handle:
        saver = SatchelSaver(store=handle)
        first = _checkpoint({"a": "a1", "b": "b1"}, {"a": "1.1", "b": "1.1"})
        parent = await saver.aput(_config("t"), first, {}, {"a": "1.1", "b": "1.1"})
        second = _checkpoint({"a": "a2", "b": "b1"}, {"a": "2.1", "b": "1.1"})
        outage.checkpoints = saver.checkpoints.collection
        with pytest.raises(BackendUnavailable):
            # "b" written again at its version, as copy_checkpoints does: it stays the parent's
            await saver.aput(parent, second, {}, {"a": "2.1", "b": "1.1"})
        outage.up()

        latest = await saver.aget_tuple(_config("t"))
        assert latest is not None
        assert latest.checkpoint["id"] == first["id"], "the failed put left no checkpoint"
        assert latest.checkpoint["channel_values"] == {"a": "a1", "b": "b1"}
        values = sorted((await saver.blobs.query()).items, key=lambda e: e.key)
        if mode == "down":  # the cleaning failed too: the new value is left, unreachable
            assert [e.value["version"] for e in values] == ["1.1", "2.1", "1.1"]
        else:  # cleaned up at once
            assert [e.value["version"] for e in values] == ["1.1", "1.1"]
        await saver.adelete_thread("t")  # reclaims it
        assert await saver.blobs.count() == 0
        assert await saver.checkpoints.count() == 0


# -- the blocking methods' loop thread ----------------------------------------------------------


class ThreadNoter:
    """Notes the threads the backend operations run in."""

    def __init__(self) -> None:
        self.threads: set[threading.Thread] = set()

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        self.threads.add(threading.current_thread())
        return (yield)


def test_concurrent_first_blocking_calls_start_one_loop_thread(
    handle_arguments: dict[str, Any],
) -> None:
    noter = ThreadNoter()
    saver = SatchelSaver.open(**handle_arguments, plugins=[("noter", noter)])
    barrier = threading.Barrier(8)

    def first_call() -> None:
        barrier.wait()
        saver.get_tuple(_config("t"))

    callers = [threading.Thread(target=first_call) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    try:
        assert len(noter.threads) == 1, "every call ran on the saver's one loop thread"
    finally:
        saver.close_loop()
        asyncio.run(saver.aclose())
    for thread in noter.threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), "no loop thread is left running"


# -- the process's handle -----------------------------------------------------------------------


def _environ(arguments: dict[str, Any]) -> dict[str, str]:
    """The ``SATCHEL_*`` variables that say what ``satchel.open(**arguments)`` says."""
    environ = {"SATCHEL_BACKEND": arguments["backend"], "SATCHEL_NAMESPACE": arguments["namespace"]}
    prefix = f"SATCHEL_{arguments['backend'].upper()}_"
    for name, value in arguments.get("backend_settings", {}).items():
        environ[prefix + name.upper()] = str(value).lower() if value is True else str(value)
    return environ


async def test_without_a_handle_the_process_handle_is_shared(
    handle_arguments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _environ(handle_arguments).items():
        monkeypatch.setenv(name, value)
    await close_shared_store()  # the next one is opened from these variables
    try:
        saver, items = SatchelSaver(), SatchelStore()
        assert saver.store is shared_store() and items.store is shared_store()
        assert saver.store.settings.namespace == handle_arguments["namespace"]
        stored = await saver.aput(_config("t"), empty_checkpoint(), {}, {})
        await items.aput(("a",), "k", {"v": 1})
        await saver.aclose()
        await items.aclose()
        # closing them leaves the process's handle open, for the others that use it
        assert await SatchelSaver().aget_tuple(stored) is not None
        assert shared_store() is saver.store
    finally:
        await close_shared_store()
