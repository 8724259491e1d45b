"""Environment variables choose the backend; every mistake is one clear ConfigError line."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

import satchel
from satchel.errors import BackendNotFound, ConfigError
from satchel.settings import SatchelSettings, describe_variables, load_settings

CUSTOM = """
    from satchel_memory import MemoryBackend

    class TenantBackend(MemoryBackend):
        name = "tenant"

        def __init__(self, settings=None):
            super().__init__()
            self.settings = settings

    class NoArgs(MemoryBackend):
        name = "noargs"

    class NotABackend:
        async def get(self, collection, key):
            return None

    def not_a_class():
        pass

    class Exploding(MemoryBackend):
        def __init__(self):
            raise RuntimeError("cannot connect to redis://admin:s3cret@db:6379")
"""


@pytest.fixture
def custom_module(tmp_path: Path) -> Path:
    path = tmp_path / "my_backends.py"
    path.write_text(textwrap.dedent(CUSTOM))
    yield path
    sys.modules.pop("my_backends", None)


def test_the_default_is_memory_with_no_configuration() -> None:
    store = satchel.open()
    assert store.raw_backend.name == "memory"
    assert store.namespace == "default"
    assert store.settings.default_ttl is None


def test_an_unknown_backend_names_the_variable_and_lists_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "reddis")
    with pytest.raises(BackendNotFound) as info:
        satchel.open()
    assert (
        str(info.value)
        == "unknown backend 'reddis' (SATCHEL_BACKEND); installed: memory, mongodb, redis"
    )
    assert isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "SATCHEL_DEFAULT_TTL",
            "-5",
            "SATCHEL_DEFAULT_TTL='-5': must be a positive number of seconds",
        ),
        (
            "SATCHEL_DEFAULT_TTL",
            "0",
            "SATCHEL_DEFAULT_TTL='0': must be a positive number of seconds",
        ),
        ("SATCHEL_DEFAULT_TTL", "soon", "SATCHEL_DEFAULT_TTL='soon': "),
        ("SATCHEL_NAMESPACE", "a:b", "SATCHEL_NAMESPACE='a:b': must be 1 to 64 letters"),
        ("SATCHEL_BACKEND", "Red is", "SATCHEL_BACKEND='Red is': must be a backend name"),
        ("SATCHEL_MEMORY_MAX_VALUE_BYTES", "-1", "SATCHEL_MEMORY_MAX_VALUE_BYTES='-1': "),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        satchel.open()
    message = str(info.value)
    assert message.startswith(expected), message
    assert "\n" not in message
    assert "model_fields" not in message and "validation error" not in message


def test_the_default_ttl_applies_to_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_DEFAULT_TTL", "90")
    monkeypatch.setenv("SATCHEL_NAMESPACE", "tenant-1")
    store = satchel.open()
    assert store.kv("x").default_ttl == 90
    assert store.kv("x", ttl=None).default_ttl is None
    assert store.kv("x").collection == "tenant-1:kv:x"


def test_load_settings_reads_a_given_mapping_and_restores_the_environment() -> None:
    settings = load_settings(
        SatchelSettings, {"SATCHEL_BACKEND": "memory", "SATCHEL_DEFAULT_TTL": "2.5"}
    )
    assert settings.default_ttl == 2.5
    with pytest.raises(ConfigError, match="SATCHEL_DEFAULT_TTL"):
        load_settings(SatchelSettings, {"SATCHEL_DEFAULT_TTL": "x"})
    import os

    assert "SATCHEL_DEFAULT_TTL" not in os.environ


def test_a_custom_backend_by_file_path(
    monkeypatch: pytest.MonkeyPatch, custom_module: Path
) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND_MODULE", str(custom_module))
    monkeypatch.setenv("SATCHEL_BACKEND_CLASS", "TenantBackend")
    store = satchel.open()
    assert store.raw_backend.name == "tenant"
    assert store.raw_backend.settings is store.settings  # type: ignore[attr-defined]
    assert "my_backends" in sys.modules  # registered under the file's base name, as Teal does


def test_a_custom_backend_built_with_no_arguments(
    monkeypatch: pytest.MonkeyPatch, custom_module: Path
) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND_MODULE", str(custom_module))
    monkeypatch.setenv("SATCHEL_BACKEND_CLASS", "NoArgs")
    assert satchel.open().raw_backend.name == "noargs"


def test_a_custom_backend_by_dotted_module(
    monkeypatch: pytest.MonkeyPatch, custom_module: Path
) -> None:
    monkeypatch.syspath_prepend(str(custom_module.parent))
    monkeypatch.setenv("SATCHEL_BACKEND_MODULE", "my_backends")
    monkeypatch.setenv("SATCHEL_BACKEND_CLASS", "TenantBackend")
    assert satchel.open().raw_backend.name == "tenant"


def test_teal_agents_variables_are_read_as_aliases(
    monkeypatch: pytest.MonkeyPatch, custom_module: Path
) -> None:
    monkeypatch.setenv("TA_PERSISTENCE_MODULE", str(custom_module))
    monkeypatch.setenv("TA_PERSISTENCE_CLASS", "TenantBackend")
    assert satchel.open().raw_backend.name == "tenant"


def test_teal_agents_defaults_mean_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TA_PERSISTENCE_MODULE", "persistence/in_memory_persistence_manager.py")
    monkeypatch.setenv("TA_PERSISTENCE_CLASS", "InMemoryPersistenceManager")
    assert satchel.open().raw_backend.name == "memory"


@pytest.mark.parametrize(
    ("module", "cls", "expected"),
    [
        ("nowhere/missing.py", "X", "SATCHEL_BACKEND_MODULE='nowhere/missing.py': no such file"),
        (
            "not_a_module_anywhere",
            "X",
            "SATCHEL_BACKEND_MODULE='not_a_module_anywhere': no module named",
        ),
        (None, "Missing", "SATCHEL_BACKEND_CLASS='Missing': "),
        (
            None,
            "NotABackend",
            "SATCHEL_BACKEND_CLASS='NotABackend': does not implement the backend contract",
        ),
        (None, "not_a_class", "SATCHEL_BACKEND_CLASS='not_a_class': is a function, not a class"),
        (None, "Exploding", "SATCHEL_BACKEND_CLASS='Exploding': building it failed: RuntimeError"),
    ],
)
def test_custom_backend_mistakes_are_config_errors(
    monkeypatch: pytest.MonkeyPatch,
    custom_module: Path,
    module: str | None,
    cls: str,
    expected: str,
) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND_MODULE", module or str(custom_module))
    monkeypatch.setenv("SATCHEL_BACKEND_CLASS", cls)
    with pytest.raises(ConfigError) as info:
        satchel.open()
    message = str(info.value)
    assert message.startswith(expected), message
    assert "s3cret" not in message


def test_missing_class_lists_what_the_module_has(
    monkeypatch: pytest.MonkeyPatch, custom_module: Path
) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND_MODULE", str(custom_module))
    monkeypatch.setenv("SATCHEL_BACKEND_CLASS", "Missing")
    with pytest.raises(ConfigError, match=r"it has: .*TenantBackend"):
        satchel.open()


def test_the_contract_error_lists_missing_methods(
    monkeypatch: pytest.MonkeyPatch, custom_module: Path
) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND_MODULE", str(custom_module))
    monkeypatch.setenv("SATCHEL_BACKEND_CLASS", "NotABackend")
    with pytest.raises(ConfigError) as info:
        satchel.open()
    assert "put" in str(info.value) and "query" in str(info.value)
    assert "get," not in str(info.value)  # get is there


def test_the_error_names_the_teal_variable_when_that_was_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TA_PERSISTENCE_MODULE", "src/nowhere.py")
    monkeypatch.setenv("TA_PERSISTENCE_CLASS", "RedisTaskPersistenceManager")
    with pytest.raises(ConfigError, match=r"^TA_PERSISTENCE_MODULE='src/nowhere.py': no such file"):
        satchel.open()


def test_half_a_custom_backend_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND_CLASS", "Foo")
    with pytest.raises(ConfigError, match="SATCHEL_BACKEND_MODULE is not set"):
        satchel.open()
    monkeypatch.delenv("SATCHEL_BACKEND_CLASS")
    monkeypatch.setenv("SATCHEL_BACKEND_MODULE", "x.py")
    with pytest.raises(ConfigError, match="SATCHEL_BACKEND_CLASS is not set"):
        satchel.open()


def test_a_module_that_fails_on_import_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad_backend.py"
    bad.write_text("raise ImportError('needs redis://u:pw@h')\n")
    monkeypatch.setenv("SATCHEL_BACKEND_MODULE", str(bad))
    monkeypatch.setenv("SATCHEL_BACKEND_CLASS", "X")
    with pytest.raises(ConfigError) as info:
        satchel.open()
    assert "importing it failed: ImportError" in str(info.value)
    assert ":pw@" not in str(info.value)


def test_settings_given_in_code(custom_module: Path) -> None:
    settings = SatchelSettings(backend_module=str(custom_module), backend_class="NoArgs")
    assert satchel.open(settings).raw_backend.name == "noargs"
    assert satchel.open(SatchelSettings(backend="memory", namespace="t2")).namespace == "t2"


@pytest.mark.parametrize(
    "module",
    [
        "src/sk_agents/persistence/custom/example_redis_persistence.py",
        "sk_agents.persistence.custom.example_redis_persistence",
    ],
)
def test_teal_redis_example_selects_the_redis_backend(module: str) -> None:
    """A Teal deployment that ran the Redis example class moves over with its variables
    unchanged: the redis backend reads the same TA_REDIS_* variables."""
    environ = {
        "TA_PERSISTENCE_MODULE": module,
        "TA_PERSISTENCE_CLASS": "RedisTaskPersistenceManager",
        "TA_REDIS_HOST": "redis.example",
        "TA_REDIS_PORT": "6390",
    }
    settings = load_settings(SatchelSettings, environ)
    assert settings.backend == "redis"
    assert settings.custom_backend() is None
    handle = satchel.open(environ=environ)
    assert "redis://redis.example:6390/0" in handle.raw_backend.describe()
    explicit = load_settings(SatchelSettings, {**environ, "SATCHEL_BACKEND": "memory"})
    assert explicit.backend == "memory" and explicit.custom_backend() is None


def test_another_class_in_a_module_of_that_name_is_still_loaded_as_custom() -> None:
    environ = {
        "TA_PERSISTENCE_MODULE": "custom/example_redis_persistence.py",
        "TA_PERSISTENCE_CLASS": "MyOwnManager",
    }
    settings = load_settings(SatchelSettings, environ)
    assert settings.backend == "memory"
    assert settings.custom_backend() == ("custom/example_redis_persistence.py", "MyOwnManager")


# --------------------------------------------------------------------------------------
# the elizaOS KV store proposal's names: aliases at the lowest precedence


def _sources(environ: dict[str, str]) -> dict[str, str | None]:
    return {v.name: v.source for v in describe_variables(SatchelSettings, environ)}


def test_kv_store_variables_are_read_when_nothing_else_is_set() -> None:
    environ = {"KV_STORE_BACKEND": "mongodb", "KV_STORE_TTL": "90"}
    settings = load_settings(SatchelSettings, environ)
    assert settings.backend == "mongodb"
    assert settings.default_ttl == 90.0
    sources = _sources(environ)
    assert sources["SATCHEL_BACKEND"] == "KV_STORE_BACKEND"
    assert sources["SATCHEL_DEFAULT_TTL"] == "KV_STORE_TTL"
    assert sources["SATCHEL_NAMESPACE"] is None
    # the listing names them as aliases, after the SATCHEL_ name
    described = {v.name: v for v in describe_variables(SatchelSettings)}
    assert described["SATCHEL_BACKEND"].aliases == ("KV_STORE_BACKEND",)
    assert described["SATCHEL_DEFAULT_TTL"].aliases == ("KV_STORE_TTL",)


def test_the_satchel_variables_win_over_the_kv_store_ones() -> None:
    environ = {
        "SATCHEL_BACKEND": "memory",
        "KV_STORE_BACKEND": "mongodb",
        "SATCHEL_DEFAULT_TTL": "5",
        "KV_STORE_TTL": "not even a number",  # shadowed: never read, so no error
    }
    settings = load_settings(SatchelSettings, environ)
    assert (settings.backend, settings.default_ttl) == ("memory", 5.0)
    sources = _sources(environ)
    assert sources["SATCHEL_BACKEND"] == "SATCHEL_BACKEND"
    assert sources["SATCHEL_DEFAULT_TTL"] == "SATCHEL_DEFAULT_TTL"
    # an empty SATCHEL_ variable counts as unset: the alias is read
    settings = load_settings(SatchelSettings, {"SATCHEL_BACKEND": "", "KV_STORE_BACKEND": "redis"})
    assert settings.backend == "redis"
    # and settings given in code win over both
    store = satchel.open(default_ttl=7, environ={"KV_STORE_TTL": "90"})
    assert store.settings.default_ttl == 7.0


def test_teal_agents_variables_win_over_kv_store_backend(custom_module: Path) -> None:
    teal_redis = {
        "TA_PERSISTENCE_MODULE": "src/sk_agents/persistence/custom/example_redis_persistence.py",
        "TA_PERSISTENCE_CLASS": "RedisTaskPersistenceManager",
    }
    # Teal's Redis example selects redis, whatever KV_STORE_BACKEND says
    environ = {**teal_redis, "KV_STORE_BACKEND": "mongodb"}
    assert load_settings(SatchelSettings, environ).backend == "redis"
    assert _sources(environ)["SATCHEL_BACKEND"] is None  # KV_STORE_BACKEND is not used
    # ... but SATCHEL_BACKEND still says otherwise
    environ = {**teal_redis, "SATCHEL_BACKEND": "memory", "KV_STORE_BACKEND": "mongodb"}
    assert load_settings(SatchelSettings, environ).backend == "memory"
    # Teal's custom class wins over KV_STORE_BACKEND as over SATCHEL_BACKEND
    environ = {
        "TA_PERSISTENCE_MODULE": str(custom_module),
        "TA_PERSISTENCE_CLASS": "TenantBackend",
        "KV_STORE_BACKEND": "mongodb",
    }
    assert satchel.open(environ=environ).raw_backend.name == "tenant"
    # Teal's defaults (its in-memory manager) leave the choice to KV_STORE_BACKEND
    environ = {
        "TA_PERSISTENCE_MODULE": "persistence/in_memory_persistence_manager.py",
        "TA_PERSISTENCE_CLASS": "InMemoryPersistenceManager",
        "KV_STORE_BACKEND": "mongodb",
    }
    settings = load_settings(SatchelSettings, environ)
    assert settings.backend == "mongodb"
    assert settings.custom_backend(environ) is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"KV_STORE_TTL": "-5"},
            "KV_STORE_TTL='-5': must be a positive number of seconds",
        ),
        (
            {"KV_STORE_TTL": "soon"},
            "KV_STORE_TTL='soon': Input should be a valid number",
        ),
        (
            {"KV_STORE_BACKEND": "Not A Name"},
            "KV_STORE_BACKEND='Not A Name': must be a backend name",
        ),
    ],
)
def test_a_bad_kv_store_value_names_its_variable(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        satchel.open(environ=environ)
    assert str(info.value).startswith(expected), str(info.value)


def test_an_unknown_backend_names_kv_store_backend_when_that_was_used() -> None:
    with pytest.raises(BackendNotFound) as info:
        satchel.open(environ={"KV_STORE_BACKEND": "reddis"})
    assert str(info.value).startswith("unknown backend 'reddis' (KV_STORE_BACKEND);")
    with pytest.raises(BackendNotFound) as info:
        satchel.open(environ={"KV_STORE_BACKEND": "memory", "SATCHEL_BACKEND": "reddis"})
    assert str(info.value).startswith("unknown backend 'reddis' (SATCHEL_BACKEND);")


async def test_kv_store_ttl_applies_to_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KV_STORE_TTL", "60")
    async with satchel.open() as store:
        assert store.settings.default_ttl == 60.0
        kv = store.kv("ns")
        await kv.set("k", 1)
        entry = await kv.get_entry("k")
        assert entry is not None and entry.expires_at is not None
        assert 59 < (entry.expires_at - entry.updated_at).total_seconds() <= 60  # type: ignore[operator]
