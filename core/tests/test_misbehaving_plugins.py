"""A misbehaving plugin is named, never blamed on the caller: an operation wrapper that
swallows an error, returns no awaitable, forgets to await, or raises; a codec that returns
what JSON cannot hold; a backend that returns the wrong type. Each is a PluginError naming
the plugin and the hook, and nothing else leaks (no AttributeError, no "coroutine was never
awaited")."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pytest

from satchel import Codec, Operation, hookimpl
from satchel.backend import Record, utcnow
from satchel.errors import Conflict, NotFound, PluginError
from satchel.handle import Satchel
from satchel.plugins import load_plugins
from satchel.settings import SatchelSettings
from satchel.validation import MAX_DEPTH
from satchel_memory import MemoryBackend


def open_with(*plugins: tuple[str, object], backend: Any = None) -> Satchel:
    loaded = load_plugins(extra_plugins=plugins)
    return Satchel(backend or MemoryBackend(), SatchelSettings(), loaded)


class Swallower:
    """Turns every error of the operation into ``None``."""

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield

        async def swallowed() -> Any:
            try:
                return await inner
            except Exception:
                return None

        return swallowed()


class NoAwaitable:
    """Returns the coroutine function instead of calling it."""

    @hookimpl(wrapper=True)
    def satchel_backend_operation(self, operation: Operation) -> Generator[None, Any, Any]:
        inner = yield

        async def traced() -> Any:
            return await inner

        return traced


class ReturnsNone:
    """Observes, and forgets to return anything."""

    @hookimpl(wrapper=True)
    def satchel_backend_operation(self, operation: Operation) -> Generator[None, Any, Any]:
        yield


class NeverAwaits:
    """Returns the inner awaitable itself as the result, instead of awaiting it."""

    @hookimpl(wrapper=True)
    def satchel_backend_operation(self, operation: Operation) -> Generator[None, Any, Any]:
        inner = yield

        async def forgot() -> Any:
            return inner

        return forgot()


class Raiser:
    """Fails itself, with an error that is not satchel's."""

    @hookimpl(wrapper=True)
    def satchel_backend_operation(self, operation: Operation) -> Generator[None, Any, Any]:
        inner = yield

        async def broken() -> Any:
            await inner
            raise KeyError("span")

        return broken()


class PassThrough:
    """Observes and passes everything through."""

    @hookimpl(wrapper=True)
    def satchel_backend_operation(self, operation: Operation) -> Generator[None, Any, Any]:
        inner = yield

        async def observed() -> Any:
            return await inner

        return observed()


class CodecPlugin:
    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    @hookimpl
    def satchel_register_codecs(self, register: Callable[[Codec], None]) -> None:
        register(self.codec)


def _no_warning_left() -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    return [w for w in caught if "never awaited" in str(w.message)]


async def test_a_wrapper_that_swallows_an_error_is_named() -> None:
    store = open_with(("swallower", Swallower()))
    kv = store.kv("ns")
    await kv.set("k", 1)
    with pytest.raises(PluginError) as info:
        await kv.set("k", 2, expected_version=99)
    message = str(info.value)
    assert "plugin 'swallower'" in message
    assert "satchel_backend_operation" in message
    assert "put" in message
    assert "returned None" in message
    assert "Conflict" in message  # what the operation itself raised
    assert isinstance(info.value.__cause__, Conflict)
    assert "AttributeError" not in message
    with pytest.raises(PluginError, match=r"plugin 'swallower'.*NotFound"):
        await kv.set("missing", 1, expected_version=1)


class FalseOnError:
    """Turns every error of the operation into ``False``: the right type for a delete."""

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield

        async def swallowed() -> Any:
            try:
                return await inner
            except Exception:
                return False

        return swallowed()


async def test_a_wrapper_that_turns_a_conditional_delete_error_into_false_is_named() -> None:
    """``False`` is a delete's answer, but never a conditional one's: that deletes or raises.
    Taken as an answer, it told the caller there was nothing to delete, of a record that
    is there at another version."""
    store = open_with(("swallower", FalseOnError()))
    kv = store.kv("ns")
    await kv.set("k", 1)
    for key, raised in (("k", "Conflict"), ("missing", "NotFound")):
        with pytest.raises(PluginError) as info:
            await kv.delete(key, expected_version=99)
        message = str(info.value)
        assert "plugin 'swallower'" in message and "satchel_backend_operation" in message
        assert f"returned bool where the operation raised {raised}" in message
    assert await kv.get("k") == 1
    assert await kv.delete("missing") is False  # unconditional: False is an answer


@pytest.mark.parametrize(
    ("plugin", "shown"),
    [
        (NoAwaitable(), "returned function, not an awaitable"),
        (ReturnsNone(), "returned None, not an awaitable"),
        (NeverAwaits(), "an awaitable it did not await"),
    ],
    ids=["function", "none", "never-awaits"],
)
async def test_a_wrapper_without_an_awaitable_is_named(plugin: object, shown: str) -> None:
    store = open_with(("tracer", plugin))
    kv = store.kv("ns")
    for call in (lambda: kv.set("k", 1), lambda: kv.get("k"), lambda: store.ping()):
        with pytest.raises(PluginError) as info:
            await call()
        message = str(info.value)
        assert "plugin 'tracer' (from (registered in code))" in message
        assert "satchel_backend_operation" in message
        assert shown in message
        assert "AttributeError" not in message
    assert await store.raw_backend.get("default:kv:ns", "k") is None  # nothing ran
    assert _no_warning_left() == []


async def test_a_wrapper_that_raises_is_named_not_the_backend() -> None:
    store = open_with(("tracer", Raiser()))
    with pytest.raises(PluginError) as info:
        await store.kv("ns").get("k")
    message = str(info.value)
    assert "plugin 'tracer'" in message
    assert "satchel_backend_operation" in message
    assert "KeyError" in message
    assert "backend 'memory' failed" not in message


@pytest.mark.parametrize(
    "bad", [b"bytes", {1, 2}, float("nan"), {"a": object()}], ids=["bytes", "set", "nan", "object"]
)
async def test_a_codec_whose_encode_returns_what_json_cannot_hold_is_named(bad: Any) -> None:
    codec = Codec("sealer", lambda v, c, k: bad, lambda v, c, k: v)
    store = open_with(("vault", CodecPlugin(codec)))
    kv = store.kv("ns")
    for call in (lambda: kv.set("k", {"a": 1}), lambda: kv.set_many({"k": 1})):
        with pytest.raises(PluginError) as info:
            await call()
        message = str(info.value)
        assert "codec 'sealer'" in message
        assert "plugin 'vault'" in message
        assert "encode" in message
        assert "value of 'k'" not in message  # the caller's value is not blamed
    assert await store.raw_backend.get("default:kv:ns", "k") is None


async def test_a_codec_whose_decode_returns_what_json_cannot_hold_is_named() -> None:
    codec = Codec("sealer", lambda v, c, k: v, lambda v, c, k: {1, 2})
    store = open_with(("vault", CodecPlugin(codec)))
    kv = store.kv("ns")
    with pytest.raises(
        PluginError, match=r"codec 'sealer' of plugin 'vault' \(from .*\): its decode returned"
    ):
        await store.backend.put(Record("default:kv:ns", "k", 1))  # put hands back a decoded copy
    await kv.set("k", 1)  # set needs only the version: nothing is decoded
    with pytest.raises(
        PluginError, match=r"codec 'sealer' of plugin 'vault' \(from .*\): its decode returned"
    ):
        await kv.get("k")


async def test_a_backend_that_returns_the_wrong_type_is_named() -> None:
    class Sloppy(MemoryBackend):
        async def put(self, record: Any, **kwargs: Any) -> Any:
            await super().put(record, **kwargs)
            return None

        async def count(self, collection: str, where: Any = ()) -> Any:
            return "3"

        async def delete(self, collection: str, key: str, *, if_version: Any = None) -> Any:
            try:
                return await super().delete(collection, key, if_version=if_version)
            except Conflict:
                return False

    plain = Satchel(Sloppy(), SatchelSettings(), load_plugins())
    observed = open_with(("observer", PassThrough()), backend=Sloppy())
    bare = Satchel(Sloppy(), SatchelSettings(), load_plugins(disabled=["metrics"]))
    for store in (plain, observed, bare):
        kv = store.kv("ns")
        with pytest.raises(
            PluginError, match=r"backend 'memory' \(Sloppy\) returned None from put"
        ):
            await kv.set("k", 1)
        with pytest.raises(PluginError, match=r"returned str from count, not an int"):
            await kv.count()
        await store.raw_backend.put(Record("default:kv:ns", "k", 1))
        with pytest.raises(PluginError, match=r"\(Sloppy\) returned bool from delete, not True"):
            await kv.delete("k", expected_version=9)


async def test_a_well_behaved_wrapper_changes_nothing() -> None:
    store = open_with(("observer", PassThrough()))
    kv = store.kv("ns")
    assert await kv.set("k", 1) == 1
    with pytest.raises(Conflict):
        await kv.set("k", 2, expected_version=5)
    with pytest.raises(NotFound):
        await kv.delete("missing", expected_version=1)
    assert await kv.get_many(["k", "x"]) == {"k": 1}
    assert await kv.count() == 1
    assert [e.key for e in await kv.query()] == ["k"]
    assert await kv.keys() == ["k"]
    await store.ping()
    assert _no_warning_left() == []


async def test_a_codec_reads_back_a_record_nested_deeper_than_the_write_limit() -> None:
    """The nesting limit is a rule of writes: a record stored under an earlier, higher limit
    (65 levels were accepted) reads through a codec as it reads without one, and the codec
    is not blamed for it."""
    codec = Codec("identity", lambda v, c, k: v, lambda v, c, k: v)
    store = open_with(("vault", CodecPlugin(codec)))
    deep: Any = 1
    for _ in range(MAX_DEPTH + 17):
        deep = {"a": deep}
    now = utcnow()
    old = Record("default:kv:ns", "old", deep, 0, now, now, None, {})
    await store.raw_backend.put(old)
    assert (await store.kv("ns").get("old")) == deep
