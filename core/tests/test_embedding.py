"""satchel embedded in code: plugins, a backend and its settings given to ``satchel.open()``
instead of installed and configured through the environment; the environment left out of a
handle configured in code; and several handles side by side in one process, none of whose
settings, plugins, codecs or metrics reach another."""

from __future__ import annotations

import base64
import importlib.metadata
import json
import sys
import types
import zlib
from collections.abc import Awaitable, Callable, Generator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

import satchel
from satchel import BackendSpec, Codec, Operation, hookimpl
from satchel.errors import (
    BackendNotFound,
    ConfigError,
    InvalidArgument,
    PluginError,
    SatchelError,
    ValueTooLarge,
)
from satchel.settings import SatchelSettings, plugin_settings_config
from satchel_memory import MemoryBackend

FROM_CODE = "satchel.open(plugins=...)"

# -- plugins used below ---------------------------------------------------------------------


def zlib_codec(name: str) -> Codec:
    def encode(value: Any, collection: str, key: str) -> Any:
        return {"$zlib": base64.b64encode(zlib.compress(json.dumps(value).encode())).decode()}

    def decode(value: Any, collection: str, key: str) -> Any:
        return json.loads(zlib.decompress(base64.b64decode(value["$zlib"])))

    return Codec(name, encode, decode)


class ZlibCodec:
    """Compresses every stored value."""

    def __init__(self, codec_name: str = "zlib") -> None:
        self.codec_name = codec_name

    @hookimpl
    def satchel_register_codecs(self, register: Callable[[Codec], None]) -> None:
        register(zlib_codec(self.codec_name))


class Tracer:
    """Notes its label each time it sees an operation."""

    def __init__(self, label: str, log: list[str]) -> None:
        self.label = label
        self.log = log

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        self.log.append(self.label)
        return (yield)


class FirstTracer(Tracer):
    @hookimpl(wrapper=True, tryfirst=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        self.log.append(self.label)
        return (yield)


class VaultSettings(BaseSettings):
    """Settings with a secret token, a secret URL and a URL that is not secret."""

    model_config = plugin_settings_config("vault")

    token: SecretStr | None = None
    url: SecretStr | None = None
    dsn: str | None = None
    max_value_bytes: int = Field(1024, gt=0)

    # these validators quote what they were given, as a careless plugin's may
    @field_validator("token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 12:
            raise ValueError(f"{value.get_secret_value()!r} is too short")
        return value

    @field_validator("url")
    @classmethod
    def _vault_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("vault://"):
            raise ValueError(f"{value.get_secret_value()} is not a vault:// URL")
        return value

    @field_validator("dsn")
    @classmethod
    def _dsn_database(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith("/db"):
            raise ValueError(f"{value} names no database")
        return value


class VaultBackend(MemoryBackend):
    name = "vault"

    def __init__(self, settings: VaultSettings) -> None:
        super().__init__(max_value_bytes=settings.max_value_bytes)
        self.settings = settings


class VaultPlugin:
    """Provides the ``vault`` backend."""

    @hookimpl
    def satchel_register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        register(BackendSpec("vault", lambda s, core: VaultBackend(s), VaultSettings, "Vault"))


class Typo:
    @hookimpl
    def satchel_register_codec(self, register: Callable[[Codec], None]) -> None:  # no "s"
        pass


class NotASpec:
    @hookimpl
    def satchel_register_backends(self, register: Callable[[Any], None]) -> None:
        register("vault")


class Exploding:
    @hookimpl
    def satchel_register_codecs(self, register: Callable[[Codec], None]) -> None:
        raise RuntimeError("no key at redis://ann:hunter22@vault.internal:6379")


def audit_module(log: list[str]) -> types.ModuleType:
    """A plugin that is a module, as most installed plugins are."""
    module = types.ModuleType("myapp_audit")

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        operation: Operation,
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        log.append(f"audit {operation.name}")
        return (yield)

    module.satchel_backend_operation = satchel_backend_operation  # type: ignore[attr-defined]
    return module


Install = Callable[..., None]


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Install:
    """``install(("name", plugin), ...)``: entry points of the group ``satchel`` for these
    plugins, found by ``satchel.open()`` as installed ones (after the real ones)."""
    module = types.ModuleType("satchel_embedding_installed")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    added: list[importlib.metadata.EntryPoint] = []
    real = importlib.metadata.entry_points

    def entry_points(**params: Any) -> Any:
        found = real(**params)
        return [*found, *added] if params.get("group") == "satchel" else found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    def add(*plugins: tuple[str, object]) -> None:
        for name, plugin in plugins:
            attribute = f"plugin{len(added)}"
            setattr(module, attribute, plugin)
            added.append(
                importlib.metadata.EntryPoint(name, f"{module.__name__}:{attribute}", "satchel")
            )

    return add


# -- plugins given in code ------------------------------------------------------------------


async def test_a_codec_plugin_in_code_transforms_what_the_handle_stores() -> None:
    async with satchel.open(plugins=[ZlibCodec()]) as store:
        kv = store.kv("ns")
        await kv.set("k", {"step": 5})
        assert await kv.get("k") == {"step": 5}
        stored = await store.raw_backend.get("default:kv:ns", "k")
        assert stored is not None and set(stored.value) == {"$zlib"}
        assert store.plugins.codec_plugins == {"zlib": "ZlibCodec"}


async def test_plugins_are_named_after_their_module_their_class_or_their_pair() -> None:
    log: list[str] = []
    audit = audit_module(log)
    tracer = Tracer("t", log)
    async with satchel.open(plugins=[ZlibCodec(), audit, ("tracer", tracer)]) as store:
        manager = store.plugins.manager
        assert isinstance(manager.get_plugin("ZlibCodec"), ZlibCodec)
        assert manager.get_plugin("myapp_audit") is audit
        assert manager.get_plugin("tracer") is tracer
        for name in ("ZlibCodec", "myapp_audit", "tracer"):
            assert store.plugins.distributions[name] == FROM_CODE
        await store.kv("ns").get("k")
    assert log == ["t", "audit get"]


async def test_two_objects_of_one_class_need_names_of_their_own() -> None:
    with pytest.raises(PluginError) as info:
        satchel.open(plugins=[ZlibCodec("a"), ZlibCodec("b")])
    assert str(info.value) == (
        f"plugin name 'ZlibCodec' is used by both {FROM_CODE} and {FROM_CODE}; "
        "give the plugin in code another name with a (name, plugin) pair"
    )
    store = satchel.open(plugins=[("a", ZlibCodec("a")), ("b", ZlibCodec("b"))])
    assert [c.name for c in store.plugins.codecs] == ["a", "b"]


async def test_a_backend_a_plugin_in_code_provides_is_selected_by_name() -> None:
    async with satchel.open(
        backend="vault", backend_settings={"max_value_bytes": 64}, plugins=[VaultPlugin()]
    ) as store:
        assert isinstance(store.raw_backend, VaultBackend)
        assert store.plugins.backends["vault"].plugin == "VaultPlugin"
        assert store.plugins.backends["vault"].distribution == FROM_CODE
        kv = store.kv("ns")
        await kv.set("small", "x")
        with pytest.raises(ValueTooLarge):
            await kv.set("big", "x" * 100)
    with pytest.raises(BackendNotFound, match="unknown backend 'vault'"):
        satchel.open(backend="vault")  # another handle, without the plugin


async def test_hooks_run_in_the_order_they_would_if_the_plugins_were_installed(
    install: Install,
) -> None:
    """pluggy calls the latest registered first, ``tryfirst`` before all: plugins given in
    code are registered after the installed ones, in the order given."""
    installed: list[str] = []
    install(("one", Tracer("one", installed)), ("two", Tracer("two", installed)))
    install(("first", FirstTracer("first", installed)))
    async with satchel.open() as store:
        await store.kv("ns").get("k")
    assert installed == ["first", "two", "one"]
    in_code: list[str] = []
    plugins = [
        ("c1", Tracer("one", in_code)),
        ("c2", Tracer("two", in_code)),
        ("c3", FirstTracer("first", in_code)),
    ]
    async with satchel.open(backend=MemoryBackend(), plugins=plugins) as store:
        await store.kv("ns").get("k")
    assert in_code == ["first", "two", "one"]

    both: list[str] = []
    install(("installed", Tracer("installed", both)))
    async with satchel.open(plugins=[Tracer("code", both)]) as store:
        await store.kv("ns").get("k")
    assert both == ["code", "installed"]  # a plugin given in code wraps the installed ones


BROKEN: list[tuple[str, list[tuple[str, object]], list[str]]] = [
    (
        "a hook that does not exist",
        [("typo", Typo())],
        ["plugin 'typo' (from {source}) implements a hook that does not exist", "register_codec"],
    ),
    (
        "one plugin name twice",
        [("twice", ZlibCodec("a")), ("twice", ZlibCodec("b"))],
        ["plugin name 'twice' is used by both", "{source}"],
    ),
    (
        "one codec name twice",
        [("a", ZlibCodec()), ("b", ZlibCodec())],
        [
            "codec 'zlib' is registered by both plugin 'a' (from {source}) and "
            "plugin 'b' (from {source})"
        ],
    ),
    (
        "one backend name twice",
        [("a", VaultPlugin()), ("b", VaultPlugin())],
        ["backend 'vault' is registered by both {source} (plugin 'a') and {source} (plugin 'b')"],
    ),
    (
        "a backend that is not a BackendSpec",
        [("nospec", NotASpec())],
        ["plugin 'nospec' (from {source}) registered 'vault', not a BackendSpec"],
    ),
]


@pytest.mark.parametrize(("plugins", "shown"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_a_broken_plugin_in_code_is_the_error_an_installed_one_is(
    install: Install, plugins: list[tuple[str, object]], shown: list[str]
) -> None:
    with pytest.raises(PluginError) as in_code:
        satchel.open(plugins=plugins)
    install(*plugins)
    with pytest.raises(PluginError) as installed:
        satchel.open()
    for text in shown:
        assert text.format(source=FROM_CODE) in str(in_code.value)
        assert text.format(source="an unknown distribution") in str(installed.value)


def test_a_plugin_in_code_whose_registration_fails_is_an_error_not_skipped(
    install: Install,
) -> None:
    """An installed plugin that fails is reported and skipped, so that one broken package
    does not take the program down; a plugin the program gave is not skipped (a codec that
    encrypts would be left out silently)."""
    with pytest.raises(PluginError) as info:
        satchel.open(plugins=[("vault", Exploding())])
    assert str(info.value) == (
        f"plugin 'vault' (from {FROM_CODE}): its satchel_register_codecs raised "
        "RuntimeError: no key at redis://ann:***@vault.internal:6379"
    )
    assert info.value.__cause__ is None and info.value.__context__ is None  # it quotes it
    install(("vault", Exploding()))
    store = satchel.open()
    [failure] = store.plugins.failures
    assert failure.name == "vault" and "hunter22" not in failure.error


def test_disabled_plugin_names_apply_to_plugins_in_code(monkeypatch: pytest.MonkeyPatch) -> None:
    store = satchel.open(plugins=[("zlib", ZlibCodec())], disable_plugins=["zlib"])
    assert store.plugins.codecs == [] and "zlib" not in store.plugins.distributions
    monkeypatch.setenv("SATCHEL_DISABLE_PLUGINS", "zlib")
    assert satchel.open(plugins=[("zlib", ZlibCodec())]).plugins.codecs == []


@pytest.mark.parametrize(
    ("plugins", "shown"),
    [
        (ZlibCodec(), "plugins: must be a list of plugin objects or (name, plugin) pairs, not"),
        ("ZlibCodec", "plugins: must be a list of plugin objects"),
        (["satchel_redis"], "plugins[0]: 'satchel_redis' is a str, not a plugin"),
        ([ZlibCodec(), None], "plugins[1]: None is a NoneType, not a plugin"),
        ([("zlib",)], "plugins[0]: a pair must be (name, plugin) with a non-empty name"),
        ([("", ZlibCodec())], "plugins[0]: a pair must be (name, plugin) with a non-empty name"),
        ([zlib_codec("z")], "plugins[0]: 'Codec' implements no satchel hook"),
        ([("m", types.ModuleType("m"))], "plugins[0]: 'm' implements no satchel hook"),
    ],
)
def test_what_is_not_a_plugin_is_refused_naming_it(plugins: Any, shown: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        satchel.open(plugins=plugins)
    assert str(info.value).startswith(shown)


# -- a backend and settings given in code ---------------------------------------------------


SATCHEL_ENVIRONMENT = {
    "SATCHEL_BACKEND": "nosuchbackend",
    "SATCHEL_BACKEND_MODULE": "nowhere/backend.py",
    "SATCHEL_BACKEND_CLASS": "Nothing",
    "SATCHEL_NAMESPACE": "from-env",
    "SATCHEL_DEFAULT_TTL": "5",
    "SATCHEL_DISABLE_PLUGINS": "metrics",
    "SATCHEL_MEMORY_MAX_VALUE_BYTES": "10",
    "SATCHEL_VAULT_MAX_VALUE_BYTES": "10",
}


@pytest.mark.parametrize(
    "arguments",
    [
        {"backend": "memory"},
        {"backend": "vault"},
        {"backend": "memory", "backend_settings": {}},
        {"backend": MemoryBackend()},
        {"namespace": "default"},
        {"default_ttl": None},
        {"disable_plugins": ()},
    ],
    ids=["name", "name-of-a-plugin-in-code", "settings", "object", "namespace", "ttl", "disable"],
)
async def test_a_handle_configured_in_code_reads_no_variable(
    monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any]
) -> None:
    for name, value in SATCHEL_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=r"SATCHEL_BACKEND_MODULE='nowhere/backend\.py'"):
        satchel.open()  # the environment drives satchel.open() with no arguments
    async with satchel.open(plugins=[VaultPlugin()], **arguments) as store:
        assert store.namespace == "default"
        assert store.settings.default_ttl is None
        assert store.plugins.metrics is not None
        assert store.raw_backend.capabilities.max_value_bytes in (1024, 16 * 1024 * 1024)
        kv = store.kv("ns")
        await kv.set("k", "a value of more than ten bytes")
        stored = await store.raw_backend.get("default:kv:ns", "k")
        assert stored is not None and stored.expires_at is None
        assert (await store.stats())["operations"]["put"]["calls"] == 1


async def test_arguments_win_over_environ_which_fills_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SATCHEL_DEFAULT_TTL", "5")
    monkeypatch.setenv("SATCHEL_MEMORY_MAX_VALUE_BYTES", "10")
    environ = {
        "SATCHEL_BACKEND": "nosuchbackend",
        "SATCHEL_NAMESPACE": "from-mapping",
        "SATCHEL_DEFAULT_TTL": "30",
        "SATCHEL_MEMORY_MAX_VALUE_BYTES": "64",
    }
    store = satchel.open(backend="memory", namespace="t1", environ=environ)
    assert store.namespace == "t1"  # the argument
    assert store.settings.default_ttl == 30  # the mapping, never os.environ
    assert store.raw_backend.capabilities.max_value_bytes == 64
    store = satchel.open(backend="memory", backend_settings={"max_value_bytes": 128}, environ={})
    assert store.raw_backend.capabilities.max_value_bytes == 128
    assert store.settings.default_ttl is None


async def test_core_settings_in_code() -> None:
    async with satchel.open(
        namespace="t1", default_ttl=timedelta(minutes=1), disable_plugins="metrics"
    ) as store:
        assert store.namespace == "t1" and store.settings.default_ttl == 60
        assert store.plugins.metrics is None
        await store.kv("ns").set("k", 1)
        stored = await store.raw_backend.get("t1:kv:ns", "k")
        assert stored is not None and stored.expires_at is not None
        assert await store.namespaces() == ["ns"]


def test_a_settings_object_of_the_backend_is_used_as_it_is() -> None:
    settings = VaultSettings(max_value_bytes=32)
    store = satchel.open(backend="vault", backend_settings=settings, plugins=[VaultPlugin()])
    assert isinstance(store.raw_backend, VaultBackend) and store.raw_backend.settings is settings


def test_a_settings_object_keeps_reading_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_DEFAULT_TTL", "5")
    monkeypatch.setenv("SATCHEL_MEMORY_MAX_VALUE_BYTES", "10")
    store = satchel.open(SatchelSettings(namespace="t2"))
    assert store.namespace == "t2" and store.settings.default_ttl == 5
    assert store.raw_backend.capabilities.max_value_bytes == 10


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"backend": 42}, InvalidArgument, "backend: must be a backend name or a satchel"),
        (
            {"backend": "no such"},
            ConfigError,
            "backend='no such': must be a backend name (lower-case letters, digits and '_')",
        ),
        (
            {"backend": "nosuch"},
            BackendNotFound,
            "unknown backend 'nosuch' (the backend argument); installed: ",
        ),
        (
            {"backend": "memory", "disable_plugins": ["memory"]},
            BackendNotFound,
            "unknown backend 'memory' (the backend argument) (it is disabled by disable_plugins)",
        ),
        (
            {"namespace": "a b"},
            ConfigError,
            "namespace='a b': must be 1 to 64 letters, digits, '_', '.' or '-'",
        ),
        ({"default_ttl": 0}, ConfigError, "default_ttl=0: must be a positive number of seconds"),
        ({"default_ttl": "soon"}, ConfigError, "default_ttl='soon': Input should be a valid"),
        ({"disable_plugins": 5}, ConfigError, "disable_plugins=5: Input should be a valid"),
        (
            {"backend_settings": {"max_value_bytes": 1}},
            InvalidArgument,
            "backend_settings: only with a backend name (backend='redis'), not alone",
        ),
        (
            {"backend": MemoryBackend(), "backend_settings": {}},
            InvalidArgument,
            "backend_settings: only with a backend name (backend='redis'), not a backend object",
        ),
        (
            {"backend": "memory", "backend_settings": [("max_value_bytes", 1)]},
            InvalidArgument,
            "backend_settings: must be a mapping of the backend's settings by field name",
        ),
        (
            {"backend": "memory", "backend_settings": {"max_bytes": 1, "SATCHEL_X": 2}},
            InvalidArgument,
            "backend_settings: 'SATCHEL_X', 'max_bytes' are not settings of MemorySettings; "
            "its settings: max_value_bytes",
        ),
        (
            {"backend": "memory", "backend_settings": {"max_value_bytes": 0}},
            ConfigError,
            "backend_settings['max_value_bytes']=0: Input should be greater than 0",
        ),
        (
            {"backend": "memory", "backend_settings": VaultSettings()},
            InvalidArgument,
            "backend_settings: backend 'memory' takes a MemorySettings (or a mapping of its "
            "fields), not a VaultSettings",
        ),
        (
            {"settings": {"backend": "memory"}},
            InvalidArgument,
            "settings: must be SatchelSettings, not dict",
        ),
        (
            {"settings": SatchelSettings(), "namespace": "t1", "backend": "memory"},
            InvalidArgument,
            "settings: give either a SatchelSettings object or namespace, a backend name, not both",
        ),
    ],
)
def test_a_bad_argument_is_an_error_naming_it(
    arguments: dict[str, Any], error: type[SatchelError], message: str
) -> None:
    with pytest.raises(error) as info:
        satchel.open(**arguments)
    assert type(info.value) is error
    assert str(info.value).startswith(message)


SECRETS = {
    "token": "pa55word",
    "url": "https://ann:pa55word@vault.internal:8200",
    "dsn": "vault://ann:pa55word@vault.internal:8200/nodb",
}


@pytest.mark.parametrize(("field", "value"), SECRETS.items())
def test_a_bad_secret_in_code_is_masked_as_it_is_from_the_environment(
    field: str, value: str
) -> None:
    variable = f"SATCHEL_VAULT_{field.upper()}"
    with pytest.raises(ConfigError) as from_env:
        satchel.open(plugins=[VaultPlugin()], environ={"SATCHEL_BACKEND": "vault", variable: value})
    with pytest.raises(ConfigError) as from_code:
        satchel.open(backend="vault", backend_settings={field: value}, plugins=[VaultPlugin()])
    assert "pa55word" not in str(from_env.value) and "pa55word" not in str(from_code.value)
    assert from_code.value.__cause__ is None and from_code.value.__context__ is None
    assert str(from_code.value) == str(from_env.value).replace(
        variable, f"backend_settings[{field!r}]"
    )
    assert str(from_code.value).startswith(f"backend_settings[{field!r}]")


# -- several handles in one process ---------------------------------------------------------


async def test_two_handles_share_no_settings_plugins_codecs_or_metrics() -> None:
    log: list[str] = []
    a = satchel.open(
        backend="memory",
        namespace="a",
        default_ttl=60,
        plugins=[ZlibCodec(), Tracer("a", log)],
    )
    b = satchel.open(backend="memory", namespace="b", disable_plugins=[])
    async with a, b:
        await a.kv("ns").set("k", {"from": "a"})
        await b.kv("ns").set("k", {"from": "b"})
        await b.kv("ns").set("l", {"from": "b"})
        await b.kv("ns").get("k")

        in_a = await a.raw_backend.get("a:kv:ns", "k")
        in_b = await b.raw_backend.get("b:kv:ns", "k")
        assert in_a is not None and set(in_a.value) == {"$zlib"} and in_a.expires_at
        assert in_b is not None and in_b.value == {"from": "b"} and in_b.expires_at is None
        assert await a.raw_backend.collections() == ["a:kv:ns"]  # its own records only
        assert await b.raw_backend.collections() == ["b:kv:ns"]

        assert log == ["a"]  # A's tracer saw A's one write, nothing of B
        a_ops = (await a.stats())["operations"]
        assert set(a_ops) == {"put", "stats"} and a_ops["put"]["calls"] == 1
        b_ops = (await b.stats())["operations"]
        assert b_ops["put"]["calls"] == 2 and b_ops["get"]["calls"] == 1
        assert b.plugins.codecs == [] and "Tracer" not in b.plugins.distributions
        assert b.plugins.manager is not a.plugins.manager
        assert b.settings.default_ttl is None


async def test_one_plugin_object_given_to_two_handles_serves_each_on_its_own() -> None:
    log: list[str] = []
    tracer = Tracer("shared", log)
    a = satchel.open(backend="memory", plugins=[tracer, ZlibCodec()])
    b = satchel.open(backend="memory", plugins=[tracer])
    await a.kv("ns").set("k", 1)
    await b.kv("ns").set("k", 2)
    assert log == ["shared", "shared"]
    assert await a.kv("ns").get("k") == 1 and await b.kv("ns").get("k") == 2
    raw_b = await b.raw_backend.get("default:kv:ns", "k")
    assert raw_b is not None and raw_b.value == 2
    await a.close()
    await b.kv("ns").set("k", 3)  # closing one handle leaves the other working
    assert await b.kv("ns").get("k") == 3
    await b.close()


async def test_a_copy_between_two_handles() -> None:
    source = satchel.open(backend="memory", namespace="src", plugins=[ZlibCodec()])
    target = satchel.open(backend="vault", namespace="dst", plugins=[VaultPlugin()])
    async with source, target:
        await source.kv("agents").set_many({f"a{i}": {"step": i} for i in range(5)})
        async for key, value in source.kv("agents").entries():
            await target.kv("agents").set(key, value)
        assert await target.kv("agents").get_many([f"a{i}" for i in range(5)]) == {
            f"a{i}": {"step": i} for i in range(5)
        }
        copied = await target.raw_backend.get("dst:kv:agents", "a3")
        assert copied is not None and copied.value == {"step": 3}  # no codec on the target
