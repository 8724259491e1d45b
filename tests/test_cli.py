"""The ``satchel`` command line: every command, its --json form and its exit codes.

Most tests drive the CLI in-process with click's ``CliRunner``. The memory backend lives
in one process and every command opens a fresh one, so the tests that need records to
survive from one command to the next select a custom backend class
(``SATCHEL_BACKEND_MODULE``/``SATCHEL_BACKEND_CLASS``) whose records are kept at class
level. A few tests run the installed ``satchel`` console script in a real subprocess.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pydantic import AnyUrl, HttpUrl, SecretStr
from pydantic_settings import BaseSettings

import satchel
import satchel.handle
import satchel.plugins
from satchel import BackendSpec, hookimpl
from satchel.cli import EXIT_CODES, cli, exit_code_for
from satchel.demo import AgentTask, AgentTaskItem, MultiModalItem, TaskStatus
from satchel.errors import (
    AlreadyExists,
    BackendNotFound,
    BackendUnavailable,
    ConfigError,
    Conflict,
    CorruptRecord,
    InvalidArgument,
    InvalidQuery,
    NotFound,
    PluginError,
    SatchelError,
    ValueTooLarge,
)
from satchel.settings import plugin_settings_config
from satchel_memory import MemoryBackend

BACKENDS_MODULE = "satchel_cli_test_backends"

BACKENDS_SOURCE = '''
"""Backends for the CLI tests (written to a temporary directory by tests/test_cli.py)."""

import asyncio
import dataclasses

from satchel.errors import BackendUnavailable, CorruptRecord
from satchel_memory import MemoryBackend


class SharedMemoryBackend(MemoryBackend):
    """The memory backend with its records kept at class level, so that every instance
    (every CLI command run in this process) sees the same records: a stand-in for a
    shared server, and declared as one."""

    name = "shared"
    _state = None
    # every piece of the memory backend's state: a piece left out (the ordered keys, say)
    # would be empty in each new command, and a query would page through nothing
    _SHARED = ("_lock", "_data", "_keys", "_index", "_floor", "_logs")

    def __init__(self, settings=None):
        super().__init__()
        self.capabilities = dataclasses.replace(self.capabilities, shared_across_processes=True)
        cls = SharedMemoryBackend
        if cls._state is None:
            cls._state = {name: getattr(self, name) for name in cls._SHARED}
        for name, value in cls._state.items():
            setattr(self, name, value)

    @classmethod
    def reset(cls):
        cls._state = None


def _down(*args, **kwargs):
    raise BackendUnavailable("cannot reach db.example:6379: connection refused")


class DownBackend(MemoryBackend):
    """A backend whose server cannot be reached."""

    name = "down"

    def __init__(self, settings=None):
        super().__init__()

    async def ping(self):
        _down()

    async def get(self, collection, key):
        _down()

    async def put(self, record, *, if_absent=False, if_version=None):
        _down()

    async def query(self, collection, query):
        _down()


class SlowBackend(MemoryBackend):
    """A backend whose server takes too long to answer."""

    name = "slow"

    def __init__(self, settings=None):
        super().__init__()

    async def ping(self):
        await asyncio.sleep(30)


class CorruptBackend(MemoryBackend):
    """A backend whose stored data is damaged."""

    name = "corrupt"

    def __init__(self, settings=None):
        super().__init__()

    async def get(self, collection, key):
        raise CorruptRecord(f"{key!r} in {collection!r} is not a satchel record")


class LosingPopBackend(MemoryBackend):
    """A backend whose pop removes the last entry of a log but does not return it."""

    name = "losing"

    def __init__(self, settings=None):
        super().__init__()

    async def log_pop(self, collection, key, count):
        await super().log_pop(collection, key, count)
        return []
'''

SECRET = "hunter2"


# --------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never depend on the caller's SATCHEL_* / TA_* variables."""
    for name in list(os.environ):
        if name.upper().startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def backends_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli-backends")
    (directory / f"{BACKENDS_MODULE}.py").write_text(BACKENDS_SOURCE, encoding="utf-8")
    return directory


@pytest.fixture
def custom_backend(
    backends_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], None]]:
    """Select one of the test backends by class name, as a dotted module (so that it is
    imported once and its class-level records survive from one command to the next)."""
    monkeypatch.syspath_prepend(str(backends_dir))
    module = importlib.import_module(BACKENDS_MODULE)
    module.SharedMemoryBackend.reset()

    def select(class_name: str) -> None:
        monkeypatch.setenv("SATCHEL_BACKEND_MODULE", BACKENDS_MODULE)
        monkeypatch.setenv("SATCHEL_BACKEND_CLASS", class_name)

    yield select
    module.SharedMemoryBackend.reset()


@pytest.fixture
def shared(custom_backend: Callable[[str], None]) -> None:
    """Records survive from one command to the next (within this test)."""
    custom_backend("SharedMemoryBackend")


def run(*args: str) -> Result:
    """Invoke the CLI in-process; an unexpected exception fails the test."""
    result = CliRunner().invoke(cli, list(args), prog_name="satchel")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def run_json(*args: str, exit_code: int = 0) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def assert_one_error_line(result: Result, exit_code: int, message: str | None = None) -> None:
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("satchel: error: ")
    assert "Traceback" not in result.output
    if message is not None:
        assert lines[0] == f"satchel: error: {message}"


def with_plugins(monkeypatch: pytest.MonkeyPatch, *extra: tuple[str, object]) -> None:
    """Load ``extra`` plugins too, as if they were installed."""
    real = satchel.plugins.load_plugins

    def load_plugins(
        disabled: Any = (), entry_points: Any = None, extra_plugins: Any = (), **more: Any
    ) -> satchel.plugins.LoadedPlugins:
        return real(disabled, entry_points, [*extra_plugins, *extra], **more)

    monkeypatch.setattr(satchel.plugins, "load_plugins", load_plugins)
    monkeypatch.setattr(satchel.handle, "load_plugins", load_plugins)


class VaultSettings(BaseSettings):
    """A backend with secrets in its settings."""

    model_config = plugin_settings_config("vault")

    url: str = "vault://localhost:8200"
    password: SecretStr | None = None
    replica_url: HttpUrl | None = None
    mirror_url: AnyUrl = AnyUrl(f"vault://reader:{SECRET}@mirror.example:8200")


class VaultPlugin:
    @hookimpl
    def satchel_register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        register(
            BackendSpec(
                "vault", lambda s, c: MemoryBackend(), VaultSettings, "A backend with secrets."
            )
        )


class BrokenPlugin:
    @hookimpl
    def satchel_register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        raise RuntimeError(f"cannot connect to redis://admin:{SECRET}@db:6379")


def seed_tasks() -> None:
    """Three tasks in the default task store, one per status, through the public API."""

    async def create() -> None:
        async with satchel.open() as store:
            tasks = store.tasks(AgentTask)
            statuses: tuple[TaskStatus, ...] = ("Running", "Paused", "Completed")
            for number, status in enumerate(statuses):
                now = satchel.backend.utcnow()
                task_id = f"task-{number}"
                item = AgentTaskItem(
                    task_id=task_id,
                    request_id=f"request-{number}",
                    role="user",
                    item=MultiModalItem(content=f"question {number}"),
                    updated=now,
                )
                await tasks.create(
                    AgentTask(
                        task_id=task_id,
                        session_id="session-1",
                        user_id="user-1",
                        items=[item],
                        created_at=now,
                        last_updated=now,
                        status=status,
                    )
                )

    asyncio.run(create())


# --------------------------------------------------------------------------------------
# help and exit codes


def test_help_lists_commands_and_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("backends", "doctor", "demo", "kv", "tasks"):
        assert command in result.stdout
    assert "Exit codes:" in result.stdout
    for code in range(6):
        assert f"  {code}   " in result.stdout
    assert "Exit codes:" in run("kv", "query", "--help").stdout


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert satchel.__version__ in result.stdout


def test_usage_error_exits_2() -> None:
    assert run("no-such-command").exit_code == 2
    assert run("kv", "get", "only-namespace").exit_code == 2


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotFound("x"), 1),
        (InvalidArgument("x"), 2),
        (InvalidQuery("x"), 2),
        (ValueTooLarge("x"), 2),
        (ConfigError("x"), 3),
        (BackendNotFound("x"), 3),
        (PluginError("x"), 3),
        (BackendUnavailable("x"), 4),
        (Conflict("x"), 5),
        (AlreadyExists("x"), 5),
        (CorruptRecord("x"), 5),
        (SatchelError("x"), 5),
    ],
)
def test_exit_code_for(error: SatchelError, code: int) -> None:
    assert exit_code_for(error) == code
    assert code in EXIT_CODES


# --------------------------------------------------------------------------------------
# satchel backends


def test_backends_text() -> None:
    result = run("backends")
    assert result.exit_code == 0, result.stderr
    assert "installed backends" in result.stdout
    assert "* memory" in result.stdout
    assert "selected: memory (SATCHEL_BACKEND" in result.stdout
    assert "SATCHEL_MEMORY_MAX_VALUE_BYTES" in result.stdout
    assert "core settings" in result.stdout
    assert "failed plugins: (none)" in result.stdout


def test_backends_json() -> None:
    report = run_json("backends")
    assert set(report) >= {
        "backends",
        "selected",
        "core_settings",
        "plugins",
        "codecs",
        "failed_plugins",
        "disabled_plugins",
        "unused_variables",
    }
    memory = next(b for b in report["backends"] if b["name"] == "memory")
    assert memory["selected"] is True
    assert memory["distribution"].startswith("satchel-memory")
    assert report["selected"]["name"] == "memory"
    assert report["selected"]["installed"] is True
    assert report["selected"]["error"] is None
    assert "SATCHEL_MEMORY_MAX_VALUE_BYTES" in report["selected"]["settings"]
    assert report["core_settings"]["SATCHEL_BACKEND"] == "memory"
    assert report["failed_plugins"] == []


def test_backends_unknown_backend_lists_and_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "reddis")
    result = run("backends")
    message = "unknown backend 'reddis' (SATCHEL_BACKEND); installed: memory, mongodb, redis"
    assert_one_error_line(result, 3, message)
    assert "memory" in result.stdout
    report = run_json("backends", exit_code=3)
    assert report["selected"]["error"] == message
    assert not any(b["selected"] for b in report["backends"])


def test_backends_custom_class(custom_backend: Callable[[str], None]) -> None:
    custom_backend("SharedMemoryBackend")
    report = run_json("backends")
    assert report["selected"]["kind"] == "custom"
    assert report["selected"]["class"] == "SharedMemoryBackend"
    assert report["selected"]["installed"] is True
    custom_backend("NoSuchClass")
    report = run_json("backends", exit_code=3)
    assert "NoSuchClass" in report["selected"]["error"]


def test_backends_flags_unused_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BAKEND", "redis")  # a typo
    monkeypatch.setenv("SATCHEL_MEMORY_MAX_VALUE_BYTE", "10")  # another
    assert run_json("backends")["unused_variables"] == [
        "SATCHEL_BAKEND",
        "SATCHEL_MEMORY_MAX_VALUE_BYTE",
    ]
    assert "SATCHEL_BAKEND" in run("backends").stdout


def test_backends_disabled_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_DISABLE_PLUGINS", "metrics")
    report = run_json("backends")
    assert report["disabled_plugins"] == ["metrics"]
    assert "metrics" not in [p["name"] for p in report["plugins"]]


def test_backends_variables() -> None:
    rows = run_json("backends", "--variables")["variables"]
    by_name = {row["name"]: row for row in rows}
    assert by_name["SATCHEL_BACKEND"]["plugin"] == "core"
    assert by_name["SATCHEL_BACKEND"]["default"] == "memory"
    assert "TA_PERSISTENCE_MODULE" in by_name["SATCHEL_BACKEND_MODULE"]["aliases"]
    assert by_name["SATCHEL_MEMORY_MAX_VALUE_BYTES"]["plugin"] == "memory"
    text = run("backends", "--variables").stdout
    assert "SATCHEL_MEMORY_MAX_VALUE_BYTES" in text
    assert "also read from: TA_PERSISTENCE_CLASS" in text


def test_backends_variables_lists_the_platform_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KV_STORE_BACKEND", "redis")
    monkeypatch.setenv("KV_STORE_TTL", "60")
    monkeypatch.setenv("REDIS_URL", f"redis://admin:{SECRET}@platform.example:6390/0")
    rows = {row["name"]: row for row in run_json("backends", "--variables")["variables"]}
    for name, alias in (
        ("SATCHEL_BACKEND", "KV_STORE_BACKEND"),
        ("SATCHEL_DEFAULT_TTL", "KV_STORE_TTL"),
        ("SATCHEL_REDIS_URL", "REDIS_URL"),
    ):
        assert rows[name]["aliases"][-1] == alias, rows[name]  # the lowest precedence
        assert rows[name]["set"], name  # set by its alias alone
        assert rows[name]["source"] == alias, name  # where the value comes from
    assert rows["SATCHEL_REDIS_URL"]["secret"]
    assert rows["SATCHEL_NAMESPACE"]["source"] is None  # not set at all
    text = run("backends", "--variables").stdout
    assert "also read from: KV_STORE_BACKEND" in text
    assert "also read from: REDIS_URL" in text
    assert "set, from KV_STORE_BACKEND" in text and "set, from REDIS_URL" in text
    # the backend they select, with the URL masked, and the variable that selected it
    report = run_json("backends")
    assert report["selected"]["name"] == "redis"
    assert report["backend_source"] == "KV_STORE_BACKEND"
    assert "selected: redis (KV_STORE_BACKEND, from satchel-redis " in run("backends").stdout
    # a name of higher precedence wins, and the listing says so
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    assert run_json("backends")["backend_source"] == "SATCHEL_BACKEND"
    rows = {row["name"]: row for row in run_json("backends", "--variables")["variables"]}
    assert rows["SATCHEL_BACKEND"]["source"] == "SATCHEL_BACKEND"
    monkeypatch.delenv("SATCHEL_BACKEND")
    assert report["selected"]["settings"]["SATCHEL_REDIS_URL"] == "***"
    assert report["core_settings"]["SATCHEL_DEFAULT_TTL"] == 60.0
    for args in (("backends",), ("backends", "--json"), ("backends", "--variables", "--json")):
        assert SECRET not in run(*args).output, args


def test_plugin_failures_and_secrets_are_reported_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_plugins(monkeypatch, ("vault", VaultPlugin()), ("broken", BrokenPlugin()))
    monkeypatch.setenv("SATCHEL_BACKEND", "vault")
    monkeypatch.setenv("SATCHEL_VAULT_URL", f"vault://admin:{SECRET}@vault.example:8200")
    monkeypatch.setenv("SATCHEL_VAULT_PASSWORD", SECRET)
    monkeypatch.setenv("SATCHEL_VAULT_REPLICA_URL", f"https://admin:{SECRET}@replica.example/")

    report = run_json("backends")
    assert report["selected"]["settings"]["SATCHEL_VAULT_URL"] == (
        "vault://admin:***@vault.example:8200"
    )
    assert report["selected"]["settings"]["SATCHEL_VAULT_PASSWORD"] == "***"
    assert report["selected"]["settings"]["SATCHEL_VAULT_REPLICA_URL"] == (
        "https://admin:***@replica.example/"
    )
    [failure] = report["failed_plugins"]
    assert failure["name"] == "broken"
    assert "RuntimeError" in failure["error"]
    assert "admin:***@db" in failure["error"]

    text = run("backends")
    assert "failed plugins:" in text.stdout
    assert "broken" in text.stdout
    for args in (
        ("backends",),
        ("backends", "--json"),
        ("backends", "--variables"),
        ("backends", "--variables", "--json"),
        ("doctor",),
        ("doctor", "--json"),
    ):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
        assert SECRET not in result.output, args

    doctor = run_json("doctor")
    assert any("broken" in warning for warning in doctor["warnings"])


def test_selected_plugin_that_failed_to_load_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    with_plugins(monkeypatch, ("broken", BrokenPlugin()))
    monkeypatch.setenv("SATCHEL_BACKEND", "broken")
    for args in (("kv", "get", "ns", "k"), ("doctor",), ("backends",)):
        result = run(*args)
        assert_one_error_line(result, 3)
        assert "plugin 'broken'" in result.stderr
        assert "failed to load: RuntimeError" in result.stderr
        assert SECRET not in result.output


def test_config_error_never_shows_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    with_plugins(monkeypatch, ("vault", VaultPlugin()))
    monkeypatch.setenv("SATCHEL_BACKEND", "vault")
    monkeypatch.setenv("SATCHEL_VAULT_REPLICA_URL", f"http://admin:{SECRET}@replica:notaport")
    for command in ("doctor", "demo", "backends"):
        result = run(command)
        assert result.exit_code == 3, (command, result.output)
        assert "SATCHEL_VAULT_REPLICA_URL" in result.stderr
        assert SECRET not in result.output


# --------------------------------------------------------------------------------------
# satchel doctor


def test_doctor_ok() -> None:
    result = run("doctor")
    assert result.exit_code == 0, result.output
    for check in ("configuration", "ping", "round trip"):
        assert f"OK    {check}" in result.stdout
    assert "FAIL" not in result.stdout
    assert "NOTE  backend 'memory' keeps records in this process only" in result.stdout
    assert "backend stats" in result.stdout
    assert "OPERATION" in result.stdout
    assert result.stderr == ""


def test_doctor_json() -> None:
    report = run_json("doctor")
    assert report["ok"] is True
    assert report["backend"] == "memory"
    assert report["error"] is None
    assert [c["name"] for c in report["checks"]] == ["configuration", "ping", "round trip"]
    assert all(c["ok"] and c["status"] == "ok" for c in report["checks"])
    assert report["capabilities"]["shared_across_processes"] is False
    assert set(report["backend_stats"]) >= {"records"}
    operations = report["operations"]
    for name in ("ping", "put", "get", "delete"):
        assert operations[name]["calls"] >= 1
        assert operations[name]["errors"] == 0
        assert {"p50_ms", "p95_ms", "p99_ms", "max_ms"} <= set(operations[name])


def test_doctor_leaves_no_probe_behind(shared: None) -> None:
    assert run("doctor").exit_code == 0
    assert run_json("kv", "keys", "satchel-doctor")["keys"] == []
    assert run_json("doctor")["operations"]["log_append"]["calls"] == 1


def test_doctor_checks_logs_and_exits_5_when_a_pop_loses_its_entry(
    custom_backend: Callable[[str], None],
) -> None:
    custom_backend("LosingPopBackend")
    result = run("doctor")
    assert result.exit_code == 5, result.output
    assert "FAIL  round trip" in result.stdout and "did not read back" in result.stdout
    assert "popped []" in result.stdout


def test_doctor_backend_unavailable_exits_4(custom_backend: Callable[[str], None]) -> None:
    custom_backend("DownBackend")
    result = run("doctor")
    message = "cannot reach db.example:6379: connection refused"
    assert_one_error_line(result, 4, message)
    assert f"FAIL  ping           {message}" in result.stdout
    assert "SKIP  round trip" in result.stdout
    report = run_json("doctor", exit_code=4)
    assert report["ok"] is False
    assert report["error"] == {"type": "BackendUnavailable", "message": message, "exit_code": 4}
    assert [c["status"] for c in report["checks"]] == ["ok", "fail", "skip"]
    assert report["operations"]["ping"]["errors"] == 1


def test_doctor_timeout_exits_4(custom_backend: Callable[[str], None]) -> None:
    custom_backend("SlowBackend")
    result = run("doctor", "--timeout", "0.05")
    assert_one_error_line(result, 4, "ping: the backend did not answer within 0.05 s (--timeout)")
    assert "FAIL  ping" in result.stdout


@pytest.mark.parametrize("timeout", ["nan", "NaN", "0", "-1"])
def test_doctor_timeout_that_is_no_number_of_seconds_is_a_usage_error(timeout: str) -> None:
    """Not 'the backend did not answer within nan s' (exit 4): every call would time out
    at once, whatever the backend."""
    result = run("doctor", "--timeout", timeout)
    assert result.exit_code == 2, result.output
    assert "did not answer" not in result.output


def test_doctor_bad_backend_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "reddis")
    result = run("doctor")
    assert_one_error_line(
        result, 3, "unknown backend 'reddis' (SATCHEL_BACKEND); installed: memory, mongodb, redis"
    )
    assert result.stdout == ""
    report = run_json("doctor", exit_code=3)
    assert report["ok"] is False
    assert [(c["name"], c["status"]) for c in report["checks"]] == [
        ("configuration", "fail"),
        ("ping", "skip"),
        ("round trip", "skip"),
    ]
    assert report["error"]["type"] == "BackendNotFound"


# --------------------------------------------------------------------------------------
# satchel demo

DEMO_ACTIONS = [
    ("tasks", "create"),
    ("tasks", "pause"),
    ("tasks", "conflict"),
    ("tasks", "find"),
    ("tasks", "resume"),
    ("tasks", "complete"),
    ("tasks", "list"),
    ("tasks", "cleanup"),
    ("kv", "set"),
    ("kv", "get"),
    ("kv", "query"),
    ("kv", "delete"),
    ("sessions", "save"),
    ("sessions", "load"),
    ("sessions", "delete"),
]


def step_line(output: str, action: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(f"  {action} ")]
    return line


def test_demo_text() -> None:
    result = run("demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for _, action in DEMO_ACTIONS:
        assert f"\n  {action} " in out, action
    assert "Running, 1 item with request_id r1=" in out
    assert "status Paused" in out
    assert "load_by_request_id(r1) -> task demo-task-" in out
    assert "status Paused" in step_line(out, "find")
    assert "new request_id r2=" in out
    assert "status Completed" in out
    assert "Completed: demo-task-" in out
    assert "removed 1 finished task(s)" in out
    assert "-> None" in step_line(out, "cleanup")


def test_demo_json() -> None:
    report = run_json("demo")
    assert report["backend"] == "memory"
    steps = report["steps"]
    assert [(s["section"], s["action"]) for s in steps] == DEMO_ACTIONS
    by_action = {(s["section"], s["action"]): s for s in steps}
    create = by_action["tasks", "create"]
    assert create["status"] == "Running"
    assert create["version"] == 1
    assert by_action["tasks", "pause"]["status"] == "Paused"
    assert by_action["tasks", "conflict"]["actual_version"] == 2
    find = by_action["tasks", "find"]
    assert find["request_id"] == create["request_id"]
    assert find["task_id"] == create["task_id"]
    assert find["status"] == "Paused"
    resume = by_action["tasks", "resume"]
    assert resume["request_id"] != create["request_id"]
    assert resume["status"] == "Running"
    assert by_action["tasks", "complete"]["status"] == "Completed"
    assert create["task_id"] in by_action["tasks", "list"]["by_status"]["Completed"]
    assert by_action["tasks", "cleanup"]["gone"] is True


def test_demo_repeats_and_cleans_up_after_itself(shared: None) -> None:
    for _ in range(2):
        assert run("demo").exit_code == 0
    assert run_json("tasks", "stores")["stores"] == []
    assert run_json("kv", "namespaces")["namespaces"] == []


# --------------------------------------------------------------------------------------
# satchel kv


def test_kv_set_get_del(shared: None) -> None:
    result = run("kv", "set", "agents", "agent-1", '{"step": 5, "tags": ["a"]}')
    assert result.exit_code == 0, result.output
    assert "version 1" in result.stdout
    assert json.loads(run("kv", "get", "agents", "agent-1").stdout) == {"step": 5, "tags": ["a"]}

    entry = run_json("kv", "get", "agents", "agent-1")
    assert entry["value"] == {"step": 5, "tags": ["a"]}
    assert entry["version"] == 1
    assert entry["expires_at"] is None
    assert set(entry) == {
        "namespace",
        "key",
        "value",
        "version",
        "created_at",
        "updated_at",
        "expires_at",
    }

    assert run_json("kv", "set", "agents", "agent-1", "7", "--ttl", "60") == {
        "namespace": "agents",
        "key": "agent-1",
        "version": 2,
        "ttl": 60.0,
    }
    entry = run_json("kv", "get", "agents", "agent-1")
    assert entry["value"] == 7
    assert entry["expires_at"] is not None

    assert run("kv", "del", "agents", "agent-1", "--yes").exit_code == 0
    assert_one_error_line(run("kv", "del", "agents", "agent-1", "--yes"), 1)
    assert_one_error_line(
        run("kv", "get", "agents", "agent-1"),
        1,
        "no value under key 'agent-1' in KV namespace 'agents'",
    )


def test_kv_values_are_json_unless_string(shared: None) -> None:
    result = run("kv", "set", "ns", "greeting", "hello")
    assert result.exit_code == 2
    assert "--string" in result.stderr
    assert run("kv", "set", "ns", "nan", "NaN").exit_code == 2
    assert run("kv", "set", "ns", "greeting", "hello", "--string").exit_code == 0
    assert run_json("kv", "get", "ns", "greeting")["value"] == "hello"
    assert run("kv", "set", "ns", "quoted", '"42"').exit_code == 0
    assert run_json("kv", "get", "ns", "quoted")["value"] == "42"
    assert run("kv", "set", "ns", "flag", "true").exit_code == 0
    assert run_json("kv", "get", "ns", "flag")["value"] is True


def test_kv_missing_key_json_error(shared: None) -> None:
    result = run("kv", "get", "ns", "nope", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["type"] == "NotFound"
    assert json.loads(result.stdout)["error"]["exit_code"] == 1
    assert result.stderr.startswith("satchel: error: no value under key 'nope'")


def test_kv_get_on_memory_explains_the_process_boundary() -> None:
    assert run("kv", "set", "ns", "k", "1").exit_code == 0
    result = run("kv", "get", "ns", "k")
    assert_one_error_line(result, 1)
    assert "keeps records in one process only" in result.stderr


def test_kv_keys_and_namespaces(shared: None) -> None:
    for key in ("agent-1", "agent-2", "other", "a*b"):
        assert run("kv", "set", "ns", key, "1").exit_code == 0
    assert run("kv", "set", "second", "k", "1").exit_code == 0
    assert run("kv", "keys", "ns").stdout.splitlines() == ["a*b", "agent-1", "agent-2", "other"]
    assert run_json("kv", "keys", "ns", "agent-*")["keys"] == ["agent-1", "agent-2"]
    assert run_json("kv", "keys", "ns", "a\\*b")["keys"] == ["a*b"]
    empty = run("kv", "keys", "ns", "zzz*")
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert run_json("kv", "namespaces")["namespaces"] == ["ns", "second"]


def test_kv_query_takes_a_json_query_document(shared: None, tmp_path: Path) -> None:
    values = {
        "a1": {"step": 5, "model": "small"},
        "a2": {"step": 2, "model": "large"},
        "a3": {"step": 9, "model": "large"},
    }
    for key, value in values.items():
        assert run("kv", "set", "agents", key, json.dumps(value)).exit_code == 0
    document = {
        "where": [{"field": "value.step", "operator": "gte", "value": 3}],
        "orderBy": {"field": "value.step", "direction": "desc"},
        "select": ["value.model"],
        "limit": 1,
    }
    page = run_json("kv", "query", "agents", "--query", json.dumps(document))
    assert [(i["key"], i["value"]) for i in page["items"]] == [("a3", {"model": "large"})]
    assert page["next_cursor"]
    # the same as the options say it
    assert page == run_json(
        "kv", "query", "agents", "-w", "step gte 3", "-o", "-step", "-s", "model", "-n", "1"
    )
    saved = tmp_path / "query.json"
    saved.write_text(json.dumps({"where": document["where"]}), encoding="utf-8")
    assert run_json("kv", "query", "agents", "-q", f"@{saved}", "--count")["count"] == 2
    piped = CliRunner().invoke(
        cli, ["kv", "query", "agents", "-q", "@-", "--json"], input=json.dumps(document)
    )
    assert piped.exit_code == 0, piped.output
    assert [i["key"] for i in json.loads(piped.stdout)["items"]] == ["a3"]
    # the document's errors name the item; with an option it also says, the query is refused
    bad = run("kv", "query", "agents", "-q", '{"where": [{"field": "value.step", '
              '"operator": "like", "value": 1}]}')  # fmt: skip
    assert_one_error_line(bad, 2)
    assert bad.stderr.startswith("satchel: error: where[0]: unknown operator 'like'")
    both = run("kv", "query", "agents", "-q", "{}", "-w", "step gte 1")
    assert both.exit_code == 2
    assert "--query: not with --where" in both.stderr
    missing = run("kv", "query", "agents", "-q", f"@{tmp_path / 'none.json'}")
    assert missing.exit_code == 2
    assert "cannot read" in missing.stderr


def test_kv_query(shared: None) -> None:
    values = {
        "a1": {"step": 5, "model": "small", "user": {"name": "ann"}},
        "a2": {"step": 2, "model": "large"},
        "a3": {"step": 9, "model": "large"},
        "a4": {"step": "nine", "model": "odd one"},
    }
    for key, value in values.items():
        assert run("kv", "set", "agents", key, json.dumps(value)).exit_code == 0

    page = run_json("kv", "query", "agents", "--where", "step gte 3", "--order-by", "-step")
    assert [item["key"] for item in page["items"]] == ["a3", "a1"]
    assert page["next_cursor"] is None
    assert page["items"][0]["value"] == values["a3"]

    page = run_json("kv", "query", "agents", "-w", 'model in ["large"]', "-s", "step")
    assert [(i["key"], i["value"]) for i in page["items"]] == [
        ("a2", {"step": 2}),
        ("a3", {"step": 9}),
    ]
    # Not JSON: taken as a string, spaces and all.
    page = run_json("kv", "query", "agents", "-w", "model eq odd one")
    assert [i["key"] for i in page["items"]] == ["a4"]
    page = run_json("kv", "query", "agents", "-w", "user.name eq ann", "-w", "step lt 6")
    assert [i["key"] for i in page["items"]] == ["a1"]
    page = run_json("kv", "query", "agents", "-w", "user exists")
    assert [i["key"] for i in page["items"]] == ["a1"]

    first = run_json("kv", "query", "agents", "-o", "key", "--limit", "3")
    assert [i["key"] for i in first["items"]] == ["a1", "a2", "a3"]
    assert first["next_cursor"]
    second = run_json(
        "kv", "query", "agents", "-o", "key", "--limit", "3", "--cursor", first["next_cursor"]
    )
    assert [i["key"] for i in second["items"]] == ["a4"]
    assert second["next_cursor"] is None

    assert run_json("kv", "query", "agents", "--count", "-w", "model eq large") == {
        "namespace": "agents",
        "count": 2,
    }
    assert run("kv", "query", "agents", "--count").stdout.strip() == "4"

    text = run("kv", "query", "agents", "-w", "step gte 3", "-o", "-step", "--limit", "1")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["KEY", "VERSION", "UPDATED", "VALUE"]
    assert lines[1].startswith("a3 ")
    assert lines[2] == "1 entry"
    assert lines[3].startswith("next page: --cursor ")


def test_kv_query_pages_through_what_earlier_commands_wrote(shared: None) -> None:
    """The shared test backend shares all of the memory backend's state: a query with a
    limit (which walks the ordered keys) finds what earlier commands wrote."""
    for key in ("a1", "a2", "a3"):
        assert run("kv", "set", "agents", key, "1").exit_code == 0
    first = run_json("kv", "query", "agents", "-n", "2")
    assert [i["key"] for i in first["items"]] == ["a1", "a2"]
    rest = run_json("kv", "query", "agents", "-n", "2", "--cursor", first["next_cursor"])
    assert [i["key"] for i in rest["items"]] == ["a3"]


def test_kv_query_usage_errors(shared: None) -> None:
    assert run("kv", "set", "agents", "a1", "1").exit_code == 0
    malformed = run("kv", "query", "agents", "--where", "step")
    assert malformed.exit_code == 2
    assert "FIELD OP VALUE" in malformed.stderr
    assert_one_error_line(run("kv", "query", "agents", "-w", "step near 3"), 2)
    assert_one_error_line(run("kv", "query", "agents", "--cursor", "not-a-cursor"), 2)
    assert_one_error_line(run("kv", "query", "agents", "-w", "step in 3"), 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kv", "set", "ns", "k", "hello"], "VALUE: 'hello' is not JSON"),
        (["kv", "set", "ns", "k", "NaN"], "VALUE: 'NaN' is not JSON"),
        (["kv", "query", "ns", "-w", "step"], "--where: 'step': write 'FIELD OP VALUE'"),
        (["kv", "query", "ns", "-q", "{}", "-w", "step gte 1"], "--query: not with --where"),
        (["kv", "query", "ns", "-q", "@/no/such/query.json"], "--query: cannot read"),
        (["kv", "set", "ns", "k", "[" * 100_000], "nested too deeply"),
        (["kv", "query", "ns", "-q", "[" * 100_000], "query: not a JSON document"),
        (["tasks", "show"], "TASK_ID, --request-id: give one of them"),
        (["tasks", "show", "t1", "--request-id", "r1"], "TASK_ID, --request-id: give one"),
        (
            ["tasks", "cleanup", "--older-than", "1d", "--status", "Failed", "--any-status"],
            "--status, --any-status: give one of them, not both",
        ),
    ],
)
def test_the_cli_own_usage_errors_are_one_line_and_a_json_document(
    args: list[str], message: str
) -> None:
    """A VALUE that is not JSON, a malformed --where, a --query with options or an
    unreadable @FILE are satchel's usage errors, not click's: exit 2, one line on stderr,
    and under --json the error document on stdout, as for every other failure."""
    assert_one_error_line(run(*args), 2)
    result = run(*args, "--json")
    assert_one_error_line(result, 2)
    assert message in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 2 and message in error["message"]


def test_a_where_value_nested_too_deeply_is_text() -> None:
    """VALUE is JSON, else text: a JSON parse that runs out of stack is 'else' too."""
    result = run("kv", "query", "ns", "-w", "value eq " + "[" * 100_000, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == []


def test_kv_backend_unavailable_exits_4(custom_backend: Callable[[str], None]) -> None:
    custom_backend("DownBackend")
    message = "cannot reach db.example:6379: connection refused"
    assert_one_error_line(run("kv", "get", "ns", "k"), 4, message)
    assert_one_error_line(run("kv", "set", "ns", "k", "1"), 4, message)
    assert_one_error_line(run("kv", "query", "ns"), 4, message)
    assert_one_error_line(run("tasks", "ls"), 4, message)
    error = run_json("kv", "get", "ns", "k", exit_code=4)["error"]
    assert error == {"type": "BackendUnavailable", "message": message, "exit_code": 4}


def test_other_satchel_errors_exit_5(custom_backend: Callable[[str], None]) -> None:
    custom_backend("CorruptBackend")
    result = run("kv", "get", "ns", "k")
    assert_one_error_line(result, 5, "'k' in 'default:kv:ns' is not a satchel record")


def test_custom_backend_config_errors_exit_3(custom_backend: Callable[[str], None]) -> None:
    custom_backend("NoSuchClass")
    result = run("kv", "get", "ns", "k")
    assert_one_error_line(result, 3)
    assert "SATCHEL_BACKEND_CLASS='NoSuchClass'" in result.stderr


def test_bad_setting_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_DEFAULT_TTL", "-5")
    for args in (("kv", "get", "ns", "k"), ("tasks", "ls"), ("demo",), ("backends",)):
        result = run(*args)
        assert_one_error_line(result, 3)
        assert "SATCHEL_DEFAULT_TTL='-5'" in result.stderr


# --------------------------------------------------------------------------------------
# satchel tasks


def test_tasks_ls(shared: None) -> None:
    seed_tasks()
    result = run("tasks", "ls")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "TASK_ID",
        "STATUS",
        "ITEMS",
        "USER",
        "SESSION",
        "UPDATED",
        "VERSION",
    ]
    assert {line.split()[0] for line in lines[1:]} == {"task-0", "task-1", "task-2"}

    listing = run_json("tasks", "ls")
    assert listing["store"] == "tasks"
    assert listing["next_cursor"] is None
    first = listing["tasks"][0]
    assert set(first) == {
        "task_id",
        "status",
        "user_id",
        "session_id",
        "items",
        "version",
        "created_at",
        "updated_at",
        "expires_at",
    }
    statuses = {t["task_id"]: t["status"] for t in listing["tasks"]}
    assert statuses == {"task-0": "Running", "task-1": "Paused", "task-2": "Completed"}

    paused = run_json("tasks", "ls", "--status", "Paused")["tasks"]
    assert [t["task_id"] for t in paused] == ["task-1"]
    either = run_json("tasks", "ls", "--status", "Paused", "--status", "Running")["tasks"]
    assert {t["task_id"] for t in either} == {"task-0", "task-1"}

    page = run_json("tasks", "ls", "--limit", "2")
    assert len(page["tasks"]) == 2
    assert page["next_cursor"]
    rest = run_json("tasks", "ls", "--limit", "2", "--cursor", page["next_cursor"])
    assert len(rest["tasks"]) == 1

    empty = run("tasks", "ls", "--store", "elsewhere")
    assert empty.exit_code == 0
    assert "no tasks in task store 'elsewhere'" in empty.stdout
    assert run_json("tasks", "stores")["stores"] == ["tasks"]


def test_tasks_show(shared: None) -> None:
    seed_tasks()
    result = run("tasks", "show", "task-1")
    assert result.exit_code == 0, result.output
    assert "status        Paused" in result.stdout
    assert "items (1)" in result.stdout
    assert "request-1" in result.stdout
    assert "question 1" in result.stdout
    assert "version     1" in result.stdout

    shown = run_json("tasks", "show", "task-2")
    assert shown["task_id"] == "task-2"
    assert shown["task"]["status"] == "Completed"
    assert shown["task"]["items"][0]["request_id"] == "request-2"
    assert shown["version"] == 1

    assert run_json("tasks", "show", "--request-id", "request-0")["task_id"] == "task-0"


def test_tasks_show_missing_exits_1(shared: None) -> None:
    seed_tasks()
    assert_one_error_line(
        run("tasks", "show", "nope"),
        1,
        "no task 'nope' in task store 'tasks' (namespace 'default')",
    )
    assert_one_error_line(run("tasks", "show", "--request-id", "nope"), 1)
    assert_one_error_line(run("tasks", "show", "task-1", "--store", "elsewhere"), 1)
    assert run("tasks", "show").exit_code == 2
    assert run("tasks", "show", "task-1", "--request-id", "request-1").exit_code == 2


# --------------------------------------------------------------------------------------
# the installed console script, in a real subprocess


def satchel_command() -> list[str]:
    script = shutil.which("satchel", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "satchel.cli"]


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL"))
    }
    environ.update(env)
    return subprocess.run(
        [*satchel_command(), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environ,
        timeout=120,
        check=False,
    )


def clean_environment() -> dict[str, str]:
    """This environment without any variable satchel reads."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL"))
    }


def run_with_its_reader_gone(
    args: list[str], environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The CLI run as ``satchel ... | head`` whose reader is gone before the first line."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [*satchel_command(), *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [["backends", "--variables"], ["demo"], ["doctor", "--json"]])
def test_script_whose_reader_went_away_exits_141_quietly(args: list[str]) -> None:
    """`satchel ... | head -1`: the pipe closes before the output is written. That is not
    exit 1 (not found), and not a traceback: 141, as a shell reports SIGPIPE."""
    done = run_with_its_reader_gone(args, clean_environment())
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_script_error_with_its_reader_gone_keeps_its_code_and_line() -> None:
    """With --json the error document goes to stdout too; stdout closed, the error is still
    the one reported: its exit code and its line on stderr, not click's exit 1."""
    environ = {**clean_environment(), "SATCHEL_BACKEND": "reddis"}
    done = run_with_its_reader_gone(["kv", "get", "ns", "k", "--json"], environ)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("satchel: error: unknown backend 'reddis'"), done.stderr


def test_script_on_an_output_that_is_not_unicode_escapes_what_it_cannot_write() -> None:
    """A Latin-1 locale (or a pipe opened as Latin-1) and a name in Japanese: the command
    does its work and says so, escaped, instead of a traceback and exit 1 after the write;
    --json is escaped as JSON, so it still reads back as the name."""
    name = "日本 cafe 😀"  # no Latin-1 letter: its byte would not read back as UTF-8 here
    done = run_script("instances", "create", name, PYTHONIOENCODING="latin-1")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "\\u65e5\\u672c" in done.stdout
    as_json = run_script("instances", "create", name, "--json", PYTHONIOENCODING="latin-1")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["name"] == name
    failed = run_script("kv", "get", name, "k", PYTHONIOENCODING="latin-1")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr


def test_script_demo() -> None:
    done = run_script("demo")
    assert done.returncode == 0, done.stderr
    for _, action in DEMO_ACTIONS:
        assert f"\n  {action} " in done.stdout, action
    assert "done: the demo removed everything it wrote" in done.stdout


def test_script_bad_backend_is_one_line_exit_3() -> None:
    done = run_script("doctor", SATCHEL_BACKEND="reddis")
    assert done.returncode == 3
    assert done.stderr == (
        "satchel: error: unknown backend 'reddis' (SATCHEL_BACKEND); installed: memory, mongodb, redis\n"
    )
    assert "Traceback" not in done.stdout
    assert done.stdout == ""


# --------------------------------------------------------------------------------------
# a misbehaving plugin


class ForgetfulWrapper:
    """An operation wrapper that forgets to return an awaitable."""

    @hookimpl(wrapper=True)
    def satchel_backend_operation(self, operation: Any) -> Any:
        inner = yield

        async def traced() -> Any:
            return await inner

        return traced


class SealingCodec:
    """A codec whose encode returns bytes."""

    @hookimpl
    def satchel_register_codecs(self, register: Callable[[Any], None]) -> None:
        register(satchel.Codec("seal", lambda v, c, k: b"sealed", lambda v, c, k: v))


def test_a_misbehaving_plugin_exits_3_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with_plugins(monkeypatch, ("tracer", ForgetfulWrapper()))
    result = run("doctor")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert "FAIL  ping" in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("satchel: error: plugin 'tracer'"), lines
    assert "satchel_backend_operation" in lines[0]
    report = run_json("doctor", exit_code=3)
    assert report["error"]["type"] == "PluginError"
    assert "plugin 'tracer'" in report["error"]["message"]
    for args in (("kv", "set", "ns", "k", "1"), ("kv", "get", "ns", "k")):
        result = run(*args)
        assert_one_error_line(result, 3)
        assert "plugin 'tracer'" in result.stderr


def test_a_codec_returning_bytes_exits_3_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with_plugins(monkeypatch, ("sealer", SealingCodec()))
    result = run("kv", "set", "ns", "k", '{"a": 1}')
    assert_one_error_line(result, 3)
    assert "codec 'seal' of plugin 'sealer'" in result.stderr
    assert "encode" in result.stderr
    assert "not JSON-serialisable" not in result.stderr.split("(")[0]
    result = run("doctor")
    assert result.exit_code == 3, result.output
    assert "FAIL  round trip" in result.stdout
    assert "codec 'seal'" in result.stderr


def test_a_long_value_that_is_not_json_is_named_clipped(shared: None) -> None:
    """The error names the VALUE, clipped: a large paste does not flood the terminal."""
    result = run("kv", "set", "ns", "k", "not json " + "x" * 10_000)
    assert result.exit_code == 2
    assert "VALUE: 'not json xxx" in result.stderr and "is not JSON" in result.stderr
    assert len(result.stderr) < 400


@pytest.mark.parametrize("command", [["tasks", "ls"], ["sessions", "ls", "chats"]])
def test_a_listing_of_no_rows_at_all_is_a_usage_error(shared: None, command: list[str]) -> None:
    """``--limit 0`` would list nothing and say the store is empty: refused instead."""
    result = run(*command, "--limit", "0")
    assert result.exit_code == 2
    assert "--limit" in result.stderr
