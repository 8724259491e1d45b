"""The hooks: observers wrap every backend operation, codecs transform stored values."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pytest

import satchel
from satchel import Codec, Operation, hookimpl
from satchel.errors import NotFound, PluginError, SatchelError
from satchel.handle import Satchel
from satchel.plugins import load_plugins
from satchel.settings import SatchelSettings
from satchel_memory import MemoryBackend


def open_with(*plugins: tuple[str, object]) -> Satchel:
    loaded = load_plugins(extra_plugins=plugins)
    return Satchel(MemoryBackend(), SatchelSettings(), loaded)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str | None, int]] = []
        self.outcomes: list[str] = []

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        self.seen.append((operation.name, operation.collection, operation.key, operation.items))
        inner = yield

        async def observed() -> Any:
            try:
                result = await inner
            except SatchelError as exc:
                self.outcomes.append(f"error {type(exc).__name__}")
                raise
            self.outcomes.append("ok")
            return result

        return observed()


async def test_an_observer_sees_every_operation_and_its_outcome() -> None:
    recorder = Recorder()
    store = open_with(("recorder", recorder))
    kv = store.kv("ns")
    await kv.set("a", 1)
    await kv.get("a")
    await kv.set_many({"b": 2, "c": 3})
    with pytest.raises(NotFound):
        await kv.set("zz", 1, expected_version=3)
    await kv.query(limit=1)
    assert recorder.seen == [
        ("put", "default:kv:ns", "a", 1),
        ("get", "default:kv:ns", "a", 1),
        ("put_many", "default:kv:ns", None, 2),
        ("put", "default:kv:ns", "zz", 1),
        ("query", "default:kv:ns", None, 1),
    ]
    assert recorder.outcomes == ["ok", "ok", "ok", "error NotFound", "ok"]


async def test_metrics_count_calls_errors_and_latency() -> None:
    store = satchel.open()
    kv = store.kv("ns")
    for i in range(10):
        await kv.set(f"k{i}", i)
    await kv.get("k1")
    with pytest.raises(NotFound):
        await kv.set("missing", 1, expected_version=1)
    stats = await store.stats()
    ops = stats["operations"]
    assert ops["put"]["calls"] == 11 and ops["put"]["errors"] == 1
    assert ops["put"]["errors_by_type"] == {"NotFound": 1}
    assert ops["get"]["calls"] == 1 and ops["get"]["errors"] == 0
    assert (
        0
        < ops["put"]["p50_ms"]
        <= ops["put"]["p95_ms"]
        <= ops["put"]["p99_ms"]
        <= ops["put"]["max_ms"]
    )
    assert stats["backend"] == "memory" and stats["backend_stats"]["records"] == 10
    json.dumps(stats)  # JSON all the way down
    assert store.plugins.metrics is not None
    store.plugins.metrics.reset()
    assert store.plugins.metrics.snapshot() == {}


def compressing(order: int, name: str, log: list[str]) -> Codec:
    def encode(value: Any, collection: str, key: str) -> Any:
        log.append(f"encode {name}")
        raw = zlib.compress(json.dumps(value).encode())
        return {"$z": base64.b64encode(raw).decode()}

    def decode(value: Any, collection: str, key: str) -> Any:
        log.append(f"decode {name}")
        return json.loads(zlib.decompress(base64.b64decode(value["$z"])))

    return Codec(name, encode, decode, order)


class CodecPlugin:
    def __init__(self, *codecs: Codec) -> None:
        self.codecs = codecs

    @hookimpl
    def satchel_register_codecs(self, register: Callable[[Codec], None]) -> None:
        for codec in self.codecs:
            register(codec)


async def test_codecs_encode_in_order_and_decode_in_reverse() -> None:
    log: list[str] = []
    plugin = CodecPlugin(compressing(20, "outer", log), compressing(10, "inner", log))
    store = open_with(("codecs", plugin))
    kv = store.kv("ns")
    await kv.set("a", {"secret": "value"})
    # set needs only the new version: nothing is decoded back
    assert log == ["encode inner", "encode outer"]
    log.clear()
    # put hands back the stored record, decoded: the caller never sees the encoded form
    stored = await store.backend.put(satchel.Record("default:kv:ns", "a", {"secret": "value"}))
    assert stored.value == {"secret": "value"}
    assert log == ["encode inner", "encode outer", "decode outer", "decode inner"]
    log.clear()
    assert await kv.get("a") == {"secret": "value"}
    assert log == ["decode outer", "decode inner"]
    stored = await store.raw_backend.get("default:kv:ns", "a")
    assert stored is not None and set(stored.value) == {"$z"}  # at rest: transformed
    await kv.set_many({"b": [1], "c": "x"})
    assert await kv.get_many(["b", "c"]) == {"b": [1], "c": "x"}
    assert [e.value for e in (await kv.query()).items] == [{"secret": "value"}, [1], "x"]


async def test_codec_names_must_be_unique() -> None:
    log: list[str] = []
    with pytest.raises(PluginError, match="codec 'z' is registered by both"):
        load_plugins(
            extra_plugins=[
                ("one", CodecPlugin(compressing(1, "z", log))),
                ("two", CodecPlugin(compressing(2, "z", log))),
            ]
        )


async def test_a_backend_bug_is_wrapped_not_leaked() -> None:
    class Buggy(MemoryBackend):
        async def get(self, collection: str, key: str) -> Any:
            raise KeyError("internal")

    store = satchel.open(backend=Buggy())
    with pytest.raises(
        SatchelError, match=r"backend 'memory' failed in get\('default:kv:ns', 'a'\): KeyError"
    ):
        await store.kv("ns").get("a")


def test_open_rejects_things_that_are_not_backends_or_settings() -> None:
    with pytest.raises(satchel.InvalidArgument, match="backend"):
        satchel.open(backend=object())  # type: ignore[arg-type]
    with pytest.raises(satchel.InvalidArgument, match="settings"):
        satchel.open(settings={"backend": "memory"})  # type: ignore[arg-type]


async def test_the_handle_lifecycle() -> None:
    async with satchel.open() as store:
        await store.ping()
        kv = store.kv("ns")
        await kv.set("a", 1, ttl=0.001)
        assert "memory" in repr(store)
    await store.close()  # twice is harmless
    assert await store.purge_expired() >= 0


class AroundRecorder:
    """A wrapper made with satchel.around_operation: the hook's public fast path."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    @satchel.around_operation
    async def satchel_backend_operation(self, operation: Operation, inner: Awaitable[Any]) -> Any:
        self.log.append(f"{self.name} before {operation.name} {operation.key}")
        try:
            return await inner
        finally:
            self.log.append(f"{self.name} after {operation.name}")


async def test_around_wrappers_nest_as_registered_and_metrics_still_count() -> None:
    log: list[str] = []
    store = open_with(
        ("first", AroundRecorder("first", log)), ("second", AroundRecorder("second", log))
    )
    kv = store.kv("ns")
    await kv.set("a", 1)
    assert await kv.exists("a") is True
    # the one registered last is the outermost, as pluggy orders new-style wrappers
    assert log == [
        "second before put a",
        "first before put a",
        "first after put",
        "second after put",
        "second before exists a",
        "first before exists a",
        "first after exists",
        "second after exists",
    ]
    ops = (await store.stats())["operations"]
    assert ops["put"]["calls"] == 1 and ops["exists"]["calls"] == 1


async def test_around_wrappers_and_classic_wrappers_run_together_through_the_hook() -> None:
    log: list[str] = []
    recorder = Recorder()
    store = open_with(("around", AroundRecorder("around", log)), ("recorder", recorder))
    kv = store.kv("ns")
    await kv.set("a", 1)
    assert await kv.get("a") == 1
    assert log == [
        "around before put a",
        "around after put",
        "around before get a",
        "around after get",
    ]
    assert recorder.seen == [("put", "default:kv:ns", "a", 1), ("get", "default:kv:ns", "a", 1)]
    assert recorder.outcomes == ["ok", "ok"]


async def test_around_on_a_plain_function_and_a_plugin_registered_later() -> None:
    seen: list[str] = []

    class Module:
        @staticmethod
        @satchel.around_operation
        async def satchel_backend_operation(operation: Operation, inner: Awaitable[Any]) -> Any:
            seen.append(operation.name)
            return await inner

    store = open_with()
    kv = store.kv("ns")
    await kv.set("a", 1)
    assert seen == []
    store.plugins.manager.register(Module(), name="late")
    await kv.get("a")
    assert seen == ["get"], "a plugin registered later is honoured"


async def test_an_around_wrapper_that_fails_is_named() -> None:
    class Broken:
        @satchel.around_operation
        async def satchel_backend_operation(
            self, operation: Operation, inner: Awaitable[Any]
        ) -> Any:
            await inner
            raise RuntimeError("boom")

    store = open_with(("broken", Broken()))
    with pytest.raises(PluginError, match="broken"):
        await store.kv("ns").set("a", 1)


def test_around_operation_takes_an_async_def_only() -> None:
    with pytest.raises(TypeError):
        satchel.around_operation(lambda operation, inner: inner)


async def test_a_backend_that_changes_put_alone_sees_every_write() -> None:
    """put_version and exists of a subclass that overrides put or get alone go to them."""

    class Counting(MemoryBackend):
        puts = 0
        gets = 0

        async def put(self, record: Any, **kwargs: Any) -> Any:
            self.puts += 1
            return await super().put(record, **kwargs)

        async def get(self, collection: str, key: str) -> Any:
            self.gets += 1
            return await super().get(collection, key)

    backend = Counting()
    store = Satchel(backend, SatchelSettings(), load_plugins())
    kv = store.kv("ns")
    assert await kv.set("a", 1) == 1
    assert await kv.set("a", 2, expected_version=1) == 2
    assert await kv.exists("a") is True
    assert (backend.puts, backend.gets) == (2, 1)


class ResultTypes:
    """Records the type of what each put and put_many gives, by the two kinds of wrapper."""

    def __init__(self) -> None:
        self.results: list[tuple[str, Any]] = []

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield

        async def observed() -> Any:
            result = await inner
            self.results.append((operation.name, result))
            return result

        return observed()


class AroundResultTypes:
    def __init__(self) -> None:
        self.results: list[tuple[str, Any]] = []

    @satchel.around_operation
    async def satchel_backend_operation(self, operation: Operation, inner: Awaitable[Any]) -> Any:
        result = await inner
        self.results.append((operation.name, result))
        return result


@pytest.mark.parametrize("kind", [ResultTypes, AroundResultTypes])
async def test_a_plugin_wrapping_put_sees_the_stored_records(kind: Any) -> None:
    """Stores ask the backend for versions only, but a plugin's wrapper of put and put_many
    sees what put and put_many give: the stored records, as before that shortcut."""
    plugin = kind()
    store = open_with(("types", plugin))
    kv = store.kv("ns")
    assert await kv.set("a", {"n": 1}) == 1
    assert await kv.set_many({"b": 2, "c": 3}) == [1, 1]
    puts = [(name, result) for name, result in plugin.results if name in ("put", "put_many")]
    assert puts[0][0] == "put" and isinstance(puts[0][1], satchel.Record)
    assert puts[0][1].value == {"n": 1} and puts[0][1].version == 1
    assert puts[1][0] == "put_many"
    assert [r.key for r in puts[1][1]] == ["b", "c"]
    assert all(isinstance(r, satchel.Record) for r in puts[1][1])


async def test_a_handle_walks_keys_a_chunk_at_a_time() -> None:
    """Walking a collection's keys through a handle holds one chunk of keys, each chunk one
    ``keys`` operation that the hook sees (not the whole collection in one list)."""
    from satchel.backend import Record
    from satchel.instrument import KEYS_PER_CALL

    pulled: list[str] = []

    class Counting(MemoryBackend):
        async def iter_keys(self, collection: str, pattern: str | None = None) -> Any:
            async for key in super().iter_keys(collection, pattern):
                pulled.append(key)
                yield key

    recorder = Recorder()
    loaded = load_plugins(extra_plugins=[("recorder", recorder)])
    handle = Satchel(Counting(), SatchelSettings(), loaded)
    total = 2 * KEYS_PER_CALL + 5
    await handle.raw_backend.put_many([Record("c", f"k{i:05d}", i) for i in range(total)])
    walk = handle.backend.iter_keys("c")
    first = await walk.__anext__()
    assert first == "k00000"
    assert len(pulled) == KEYS_PER_CALL  # one chunk, not the collection
    rest = [key async for key in walk]
    assert len(rest) + 1 == total
    assert [s for s in recorder.seen if s[0] == "keys"] == [("keys", "c", None, 1)] * 3
