"""A value a store has checked is encoded once: the backend takes the store's JSON, unless a
plugin's wrapper, which may suspend the call, runs in between."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import satchel
from satchel import Operation, validation
from satchel.errors import InvalidArgument
from satchel.handle import Satchel
from satchel.plugins import load_plugins
from satchel.settings import SatchelSettings
from satchel_memory import MemoryBackend


class CountingOrjson:
    """``orjson`` with its ``dumps`` calls counted."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.dumps_calls = 0

    def dumps(self, *args: Any, **kwargs: Any) -> bytes:
        self.dumps_calls += 1
        return bytes(self.real.dumps(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingOrjson:
    proxy = CountingOrjson(validation.orjson)
    monkeypatch.setattr(validation, "orjson", proxy)
    return proxy


async def test_a_set_encodes_its_value_once(counting: CountingOrjson) -> None:
    handle = satchel.open(backend="memory")
    kv = handle.kv("ns")
    await kv.set("warm", {"a": 1})
    counting.dumps_calls = 0
    await kv.set("a", {"b": [1, 2, {"c": "d"}]})
    assert counting.dumps_calls == 1
    counting.dumps_calls = 0
    await kv.set_many({"x": {"n": 1}, "y": [1, 2], "z": "text"})
    assert counting.dumps_calls == 3
    assert await kv.get("a") == {"b": [1, 2, {"c": "d"}]}
    assert await kv.get_many(["x", "y", "z"]) == {"x": {"n": 1}, "y": [1, 2], "z": "text"}


async def test_a_task_write_encodes_the_task_once(counting: CountingOrjson) -> None:
    from pydantic import BaseModel

    class Task(BaseModel):
        task_id: str
        items: list[str]

    handle = satchel.open(backend="memory")
    tasks = handle.tasks(Task)
    await tasks.create(Task(task_id="w", items=[]))
    counting.dumps_calls = 0
    version = await tasks.create(Task(task_id="t", items=["a"]))
    assert counting.dumps_calls == 1
    counting.dumps_calls = 0
    await tasks.update(Task(task_id="t", items=["a", "b"]), expected_version=version)
    assert counting.dumps_calls == 1
    counting.dumps_calls = 0
    await tasks.save(Task(task_id="t", items=["a", "b", "c"]))
    assert counting.dumps_calls == 1
    counting.dumps_calls = 0
    await tasks.save(Task(task_id="t", items=["a", "b", "c"]))
    assert counting.dumps_calls == 1
    assert (await tasks.load("t")) == Task(task_id="t", items=["a", "b", "c"])


async def test_one_object_stored_under_two_keys_gives_two_independent_values() -> None:
    handle = satchel.open(backend="memory")
    kv = handle.kv("ns")
    shared = {"list": [1]}
    await kv.set_many({"a": shared, "b": shared})
    a = await kv.get("a")
    a["list"].append(2)
    assert await kv.get("b") == {"list": [1]}
    assert await kv.get("a") == {"list": [1]}


class Pausing:
    """A plugin whose wrapper suspends every put until released."""

    def __init__(self) -> None:
        self.paused = asyncio.Event()
        self.release = asyncio.Event()

    @satchel.around_operation
    async def satchel_backend_operation(self, operation: Operation, inner: Any) -> Any:
        if operation.name == "put":
            self.paused.set()
            await self.release.wait()
        return await inner


def open_pausing() -> tuple[Satchel, Pausing]:
    plugin = Pausing()
    loaded = load_plugins(extra_plugins=[("pausing", plugin)])
    return Satchel(MemoryBackend(), SatchelSettings(), loaded), plugin


async def test_a_value_changed_while_a_wrapper_holds_the_call_is_stored_as_changed() -> None:
    handle, plugin = open_pausing()
    kv = handle.kv("ns")
    value: dict[str, Any] = {"n": 1}
    writing = asyncio.create_task(kv.set("k", value))
    await plugin.paused.wait()
    value["n"] = 2  # the store checked {"n": 1}; the backend sees the value as it is now
    plugin.release.set()
    await writing
    assert await kv.get("k") == {"n": 2}


async def test_a_value_made_invalid_while_a_wrapper_holds_the_call_is_refused() -> None:
    handle, plugin = open_pausing()
    kv = handle.kv("ns")
    value: dict[str, Any] = {"n": 1}
    writing = asyncio.create_task(kv.set("k", value))
    await plugin.paused.wait()
    value["n"] = {1, 2}  # a set is not JSON: checked again, it is refused
    plugin.release.set()
    with pytest.raises(InvalidArgument, match="set"):
        await writing
    assert await kv.get("k") is None


async def test_nothing_is_kept_after_the_call() -> None:
    handle = satchel.open(backend="memory")
    kv = handle.kv("ns")
    await kv.set("k", {"n": 1})
    assert validation._VOUCHED.get() is None
    with pytest.raises(InvalidArgument):
        await kv.set("k", {"n": {1}})
    assert validation._VOUCHED.get() is None


async def test_a_backend_encode_never_hands_out_a_copy_twice() -> None:
    from satchel.toolkit import encode_value

    shared = {"n": [1, 2]}
    token = validation.vouching()
    try:
        validation.check_value(shared)
        validation.check_value(shared)  # checked twice (one object under two keys)
        first = encode_value(shared, "a").copy
        second = encode_value(shared, "b").copy
        third = encode_value(shared, "c").copy  # a backend's own encode registers nothing
    finally:
        validation.end_vouching(token)
    assert first == second == third == shared
    assert first is not second and second is not third and first is not third


async def test_the_values_kept_are_let_go_also_by_a_task_started_meanwhile() -> None:
    kept: list[Any] = []

    async def holder() -> None:
        kept.append(validation._VOUCHED.get())
        await asyncio.sleep(0)

    token = validation.vouching()
    try:
        validation.check_value({"big": "x" * 100})
        task = asyncio.create_task(holder())  # copies the context, as a driver's task may
        await task
    finally:
        validation.end_vouching(token)
    assert kept[0] == {}  # the dict that task holds no longer pins the value


def test_the_values_are_let_go_also_when_the_call_dropped_them_first() -> None:
    started = validation.vouching()
    validation.check_value({"a": 1})
    kept = started.kept
    assert len(kept) == 1
    validation.forget_vouched()  # what a plugin's wrapper makes the instrumented layer do
    validation.end_vouching(started)
    assert kept == {}
    assert validation._VOUCHED.get() is None
