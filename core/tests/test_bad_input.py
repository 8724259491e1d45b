"""Bad input found in review: each is a typed error naming the argument, never a hang,
an overflow, a raw exception or a partial write."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

import satchel
from satchel import Codec, hookimpl
from satchel.backend import BackendSpec
from satchel.errors import ConfigError, CorruptRecord, InvalidArgument, InvalidQuery, PluginError
from satchel.handle import Satchel
from satchel.plugins import load_plugins
from satchel.redaction import redact_url, scrub_secrets
from satchel.settings import SatchelSettings
from satchel.validation import MAX_DEPTH
from satchel_memory import MemoryBackend


async def test_a_value_that_contains_itself_is_refused_not_a_hang(store: satchel.Satchel) -> None:
    kv = store.kv("ns")
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(InvalidArgument, match=f"nests deeper than {MAX_DEPTH} levels"):
        await kv.set("k", cyclic)
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidArgument, match="nests deeper"):
        await kv.set("k", deep)
    ok: Any = "leaf"
    for _ in range(MAX_DEPTH):
        ok = {"a": ok}
    await kv.set("k", ok)
    assert await kv.keys() == ["k"]


def nested(levels: int, shape: str) -> Any:
    """A value of exactly ``levels`` nested objects and lists (``shape``: objects, lists,
    or both in turn), an empty one innermost."""
    value: Any = {} if shape != "lists" else []
    for level in range(levels - 1):
        as_list = shape == "lists" or (shape == "mixed" and level % 2 == 0)
        value = [1, value] if as_list else {"k": value, "s": "x"}
    return value


@pytest.mark.parametrize("shape", ["objects", "lists", "mixed"])
async def test_the_nesting_limit_is_exactly_what_the_docs_say(
    store: satchel.Satchel, shape: str
) -> None:
    """docs/errors.md: a value nested deeper than MAX_DEPTH levels of objects and lists is
    refused; MAX_DEPTH levels are accepted."""
    import re
    from pathlib import Path

    errors = (Path(__file__).parents[2] / "docs" / "errors.md").read_text()
    assert re.search(rf"nested deeper than {MAX_DEPTH} levels", errors)
    kv = store.kv("depth")
    await kv.set("ok", nested(MAX_DEPTH, shape))
    assert await kv.get("ok") == nested(MAX_DEPTH, shape)
    with pytest.raises(InvalidArgument, match=f"nests deeper than {MAX_DEPTH} levels"):
        await kv.set("deep", nested(MAX_DEPTH + 1, shape))
    assert await kv.get("deep") is None


@pytest.mark.parametrize("ttl", [1e12, timedelta.max, 3.2e9])
async def test_a_ttl_beyond_a_century_is_refused(store: satchel.Satchel, ttl: Any) -> None:
    kv = store.kv("ns")
    with pytest.raises(InvalidArgument, match=r"ttl: .*\(100 years\)"):
        await kv.set("k", 1, ttl=ttl)
    with pytest.raises(InvalidArgument, match="ttl"):
        await kv.set_many({"a": 1}, ttl=ttl)
    assert await kv.keys() == []


def test_a_default_ttl_beyond_a_century_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_DEFAULT_TTL", "1e12")
    with pytest.raises(ConfigError, match=r"SATCHEL_DEFAULT_TTL='1e12': .*at most 100 years"):
        satchel.open()


class Chat(BaseModel):
    text: str = ""


class Task(BaseModel):
    task_id: str
    status: str = "Running"


@pytest.mark.parametrize("version", [True, "1", 1.0, 0, -3])
async def test_version_arguments_are_checked_everywhere(
    store: satchel.Satchel, version: Any
) -> None:
    kv, tasks, sessions = store.kv("ns"), store.tasks(Task), store.sessions(Chat)
    await kv.set("k", 1)
    await tasks.create(Task(task_id="t"))
    await sessions.save("s", Chat())
    with pytest.raises(InvalidArgument, match="expected_version: must be a version number"):
        await kv.delete("k", expected_version=version)
    with pytest.raises(InvalidArgument, match="expected_version: must be a version number"):
        await kv.set("k", 2, expected_version=version)
    with pytest.raises(InvalidArgument, match="expected_version: must be a version number"):
        await tasks.delete("t", expected_version=version)
    with pytest.raises(InvalidArgument, match="expected_version: must be a version number"):
        await tasks.update(Task(task_id="t"), expected_version=version)
    with pytest.raises(InvalidArgument, match="expected_version: must be a version number"):
        await sessions.save("s", Chat(text="x"), expected_version=version)
    assert await kv.get("k") == 1
    assert await tasks.exists("t")
    assert await sessions.load("s") == Chat()


async def test_small_store_arguments(store: satchel.Satchel) -> None:
    tasks = store.tasks(Task)
    with pytest.raises(InvalidArgument, match="request_id: must be a string"):
        await tasks.load_by_request_id(123)  # type: ignore[arg-type]
    await tasks.create(Task(task_id="done", status="Completed"))
    assert await tasks.cleanup(timedelta(0), statuses="Completed") == 1  # type: ignore[arg-type]


class Zip:
    """A compressing codec plugin."""

    @hookimpl
    def satchel_register_codecs(self, register: Callable[[Codec], None]) -> None:
        def encode(value: Any, collection: str, key: str) -> Any:
            return {"z": base64.b64encode(zlib.compress(json.dumps(value).encode())).decode()}

        def decode(value: Any, collection: str, key: str) -> Any:
            return json.loads(zlib.decompress(base64.b64decode(value["z"])))

        register(Codec("zip", encode, decode))


def open_with(*plugins: tuple[str, object]) -> Satchel:
    return Satchel(MemoryBackend(), SatchelSettings(), load_plugins(extra_plugins=plugins))


async def test_projections_and_listings_work_under_a_codec() -> None:
    store = open_with(("zip", Zip()))
    kv = store.kv("ns")
    await kv.set("a", {"x": 1, "y": {"z": 2}})
    page = await kv.query(select=["y.z"])
    assert [e.value for e in page] == [{"y": {"z": 2}}]
    sessions = store.sessions(Chat)
    await sessions.save("s1", Chat(text="hi"))
    assert (await sessions.list()).items == ["s1"]


async def test_a_value_the_codec_cannot_decode_is_a_corrupt_record() -> None:
    store = open_with(("zip", Zip()))
    await store.raw_backend.put(satchel.Record("default:kv:ns", "plain", {"not": "encoded"}))
    with pytest.raises(
        CorruptRecord, match=r"codec 'zip' of plugin 'zip' \(from .*\) cannot decode 'plain'"
    ):
        await store.kv("ns").get("plain")


async def test_a_failing_encoder_is_a_plugin_error_and_writes_nothing() -> None:
    class Broken:
        @hookimpl
        def satchel_register_codecs(self, register: Callable[[Codec], None]) -> None:
            def encode(value: Any, collection: str, key: str) -> Any:
                raise RuntimeError("key service at https://kms:s3cret@vault down")

            register(Codec("broken", encode, lambda v, c, k: v))

    store = open_with(("broken", Broken()))
    with pytest.raises(
        PluginError, match=r"codec 'broken' of plugin 'broken' \(from .*\) failed to encode 'k'"
    ) as info:
        await store.kv("ns").set("k", 1)
    assert "s3cret" not in str(info.value)
    assert await store.raw_backend.collections() == []


async def test_a_driver_error_never_carries_a_password() -> None:
    class Leaky(MemoryBackend):
        async def get(self, collection: str, key: str) -> Any:
            raise OSError("Error connecting to redis://agent:p@ss@db.internal:6379/0?password=x")

    store = satchel.open(backend=Leaky())
    with pytest.raises(satchel.SatchelError) as info:
        await store.kv("ns").get("k")
    assert "p@ss" not in str(info.value) and "password=x" not in str(info.value)
    assert "redis://agent:***@db.internal:6379/0?password=***" in str(info.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://agent:p@ss@db:6379/0", "redis://agent:***@db:6379/0"),
        (
            "mongodb://h1,h2/db?authSource=admin&password=x",
            "mongodb://h1,h2/db?authSource=admin&password=***",
        ),
        ("https://TOKEN@github.example/repo", "https://***@github.example/repo"),
    ],
)
def test_secrets_in_urls(text: str, shown: str) -> None:
    assert redact_url(text) == shown
    assert "p@ss" not in scrub_secrets(text)


def test_the_core_plugin_cannot_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_DISABLE_PLUGINS", "core,metrics")
    store = satchel.open()
    assert store.plugins.manager.has_plugin("core")
    assert store.plugins.metrics is None


async def test_forged_cursors_are_invalid_queries(store: satchel.Satchel) -> None:
    kv = store.kv("ns")
    await kv.set_many({"a": 1, "b": 2, "c": 3})
    page = await kv.query(limit=1)
    assert page.next_cursor is not None
    fingerprint = json.loads(base64.urlsafe_b64decode(page.next_cursor + "=="))[0]
    for payload in ([fingerprint, [["1e999", 0]], "a"], "[" * 100_000):
        text = payload if isinstance(payload, str) else json.dumps(payload)
        forged = base64.urlsafe_b64encode(text.encode()).decode()
        with pytest.raises(InvalidQuery, match="cursor"):
            await kv.query(limit=1, cursor=forged)


def test_settings_given_in_code_are_checked_like_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"^SATCHEL_DEFAULT_TTL: must be a positive number"):
        SatchelSettings(default_ttl=-1)
    with pytest.raises(ConfigError, match="SATCHEL_NAMESPACE"):
        SatchelSettings(namespace="prod\n")


def test_half_a_teal_custom_backend_names_the_teal_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TA_PERSISTENCE_MODULE", "my/backend.py")
    with pytest.raises(
        ConfigError, match="SATCHEL_BACKEND_CLASS is not set, but TA_PERSISTENCE_MODULE is"
    ):
        satchel.open()


async def test_only_ascii_digits_make_a_datetime(store: satchel.Satchel) -> None:
    from datetime import datetime, timezone

    kv = store.kv("ns")
    await kv.set_many(
        {
            "arabic": {"d": "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661"},
            "fullwidth": {"d": "\uff12\uff10\uff12\uff14-01-01T00:00"},
            "ok": {"d": "2024-01-01"},
        }
    )
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert [e.key for e in await kv.query([("d", "eq", when)])] == ["ok"]


def test_backend_names_are_ascii() -> None:
    with pytest.raises(InvalidArgument, match=r"BackendSpec\.name"):
        BackendSpec("ß²", lambda s, c: MemoryBackend())
    with pytest.raises(InvalidArgument, match=r"BackendSpec\.name"):
        BackendSpec("redis\n", lambda s, c: MemoryBackend())
