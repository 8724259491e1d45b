"""The maintenance and inspection commands (``tasks rm``, ``tasks cleanup``, ``sessions
ls/show/rm``, ``kv del``, ``kv clear``, ``stats``, ``purge-expired``), run as the real CLI
(click's runner, in process) on a memory backend shared between commands, on a throwaway
redis-server and on a SecantusDB server. Each test writes under a namespace of its own.

The records are written with the library (``satchel.open()`` over the same environment)
and the CLI is checked to find, show and remove exactly them.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pydantic import BaseModel

import satchel
from satchel.cli import EXIT_DECLINED, cli
from satchel.demo import AgentTask, AgentTaskItem, MultiModalItem
from satchel_mongodb.testing.fixtures import mongodb_uri  # noqa: F401
from satchel_redis.testing.fixtures import redis_binary, redis_url  # noqa: F401

SHARED_MODULE = "satchel_cli_maintenance_backend"
SHARED_SOURCE = '''
import dataclasses

from satchel_memory import MemoryBackend


class SharedMemoryBackend(MemoryBackend):
    """The memory backend with its records kept at class level, shared by every command
    run in this process, and declared as shared."""

    name = "shared"
    _state = None
    _SHARED = ("_lock", "_data", "_keys", "_index", "_floor", "_logs")

    def __init__(self, settings=None):
        super().__init__()
        self.capabilities = dataclasses.replace(self.capabilities, shared_across_processes=True)
        cls = SharedMemoryBackend
        if cls._state is None:
            cls._state = {name: getattr(self, name) for name in cls._SHARED}
        for name, value in cls._state.items():
            setattr(self, name, value)
'''


class Chat(BaseModel):
    user: str
    turns: list[str]


@pytest.fixture(params=["memory", "redis", "mongodb"])
def backend(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """Select the backend (the memory one shared between commands) and a fresh namespace."""
    monkeypatch.setenv("SATCHEL_NAMESPACE", f"cli-{uuid.uuid4().hex[:10]}")
    name: str = request.param
    if name == "memory":
        directory = tmp_path_factory.mktemp("shared-backend")
        (directory / f"{SHARED_MODULE}.py").write_text(SHARED_SOURCE, encoding="utf-8")
        monkeypatch.syspath_prepend(str(directory))
        module = importlib.import_module(SHARED_MODULE)
        module.SharedMemoryBackend._state = None
        monkeypatch.setenv("SATCHEL_BACKEND_MODULE", SHARED_MODULE)
        monkeypatch.setenv("SATCHEL_BACKEND_CLASS", "SharedMemoryBackend")
        yield name
        module.SharedMemoryBackend._state = None
        return
    if name == "redis":
        monkeypatch.setenv("SATCHEL_BACKEND", "redis")
        monkeypatch.setenv("SATCHEL_REDIS_URL", request.getfixturevalue("redis_url"))
    else:
        monkeypatch.setenv("SATCHEL_BACKEND", "mongodb")
        monkeypatch.setenv("SATCHEL_MONGODB_URI", request.getfixturevalue("mongodb_uri"))
    yield name


def run(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), prog_name="satchel", input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def run_json(*args: str, exit_code: int = 0) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == exit_code, (args, result.output)
    return json.loads(result.stdout)


def with_handle(use: Callable[[satchel.Satchel], Coroutine[Any, Any, Any]]) -> Any:
    async def main() -> Any:
        async with satchel.open() as handle:
            return await use(handle)

    return asyncio.run(main())


def make_task(task_id: str, status: str, request_id: str = "r") -> AgentTask:
    now = datetime.now(timezone.utc)
    return AgentTask(
        task_id=task_id,
        created_at=now,
        last_updated=now,
        session_id="s1",
        user_id="u1",
        status=status,  # type: ignore[arg-type]
        items=[
            AgentTaskItem(
                task_id=task_id,
                request_id=f"{request_id}-{task_id}",
                role="user",
                item=MultiModalItem(content="hello"),
                updated=now,
            )
        ],
    )


def seed_tasks(*tasks: AgentTask, name: str = "tasks") -> None:
    async def seed(handle: satchel.Satchel) -> None:
        store = handle.tasks(AgentTask, name=name)
        for task in tasks:
            await store.create(task)
            await asyncio.sleep(0.002)

    with_handle(seed)


def task_ids(name: str = "tasks") -> list[str]:
    async def ids(handle: satchel.Satchel) -> list[str]:
        page = await handle.tasks(AgentTask, name=name).list()
        return sorted(t.task_id for t in page)

    result: list[str] = with_handle(ids)
    return result


# --------------------------------------------------------------------------------------
# kv query --query


def test_kv_query_document_refuses_every_option_given_and_pages_by_its_cursor(
    backend: str,
) -> None:
    """--limit 0, --offset 0 and --cursor '' are given too: with --query they are refused,
    not silently dropped; and the text's next-page hint is one the document form can follow."""
    for key in ("a1", "a2", "a3"):
        assert run("kv", "set", "agents", key, "1").exit_code == 0
    for option in (["--limit", "0"], ["--offset", "0"], ["--cursor", ""], ["-n", "0"]):
        refused = run("kv", "query", "agents", "-q", "{}", *option)
        assert refused.exit_code == 2, (option, refused.output)
        assert "--query: not with" in refused.stderr, option
    first = run("kv", "query", "agents", "-q", '{"limit": 2}')
    assert first.exit_code == 0, first.output
    hint = first.stdout.splitlines()[-1]
    assert hint.startswith('next page: "cursor": "') and "--query" in hint, hint
    cursor = hint.split('"')[3]
    second = run_json("kv", "query", "agents", "-q", json.dumps({"limit": 2, "cursor": cursor}))
    assert [item["key"] for item in second["items"]] == ["a3"]


# --------------------------------------------------------------------------------------
# text output of stored data


def test_text_output_escapes_control_characters(backend: str) -> None:
    """Keys, ids and fields are data: printed for people, a newline in one does not forge
    a line and an escape sequence in one (here: erase the line above) does not reach the
    terminal, least of all in the list a destructive command asks about."""
    erase = "\x1b[1A\x1b[2K"
    task = make_task("t1", "Completed")
    task.user_id = f"u1{erase}"
    seed_tasks(task)

    async def seed(handle: satchel.Satchel) -> None:
        await handle.kv("notes").set("a\nforged", 1)
        await handle.sessions(Chat).save(f"s{erase}", Chat(user="u", turns=[]))

    with_handle(seed)
    outputs = [
        run("tasks", "ls"),
        run("tasks", "show", "t1"),
        run("tasks", "cleanup", "--older-than", "0", "--dry-run"),
        run("kv", "keys", "notes"),
        run("kv", "query", "notes"),
        run("kv", "clear", "notes", "--dry-run"),
        run("sessions", "ls"),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output, result.output
        assert "\\x1b[1A" in result.output or "a\\nforged" in result.output, result.output
        assert "forged" not in result.output or "a\\nforged" in result.output
    assert run("kv", "keys", "notes").stdout == "a\\nforged\n"
    assert run_json("kv", "keys", "notes")["keys"] == ["a\nforged"]  # JSON keeps the data


# --------------------------------------------------------------------------------------
# tasks rm


def test_tasks_rm(backend: str) -> None:
    seed_tasks(make_task("t1", "Running"), make_task("t2", "Paused"))

    declined = run("tasks", "rm", "t1", input="n\n")
    assert declined.exit_code == EXIT_DECLINED, declined.output
    assert "Remove task 't1' (version 1)" in declined.stderr
    assert "not confirmed" in declined.stderr
    assert run("tasks", "rm", "t1").exit_code == EXIT_DECLINED  # no answer: stdin closed
    assert task_ids() == ["t1", "t2"]

    dry = run_json("tasks", "rm", "t1", "--dry-run")
    assert dry["dry_run"] is True and dry["removed"] is False and dry["version"] == 1
    assert "would remove task 't1'" in run("tasks", "rm", "t1", "--dry-run").stdout
    assert task_ids() == ["t1", "t2"]

    stale = run_json("tasks", "rm", "t1", "--expected-version", "7", "--yes", exit_code=5)
    assert stale["error"]["type"] == "Conflict"
    assert task_ids() == ["t1", "t2"]

    confirmed = run("tasks", "rm", "t1", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "removed task 't1' (version 1)" in confirmed.stdout
    assert task_ids() == ["t2"]

    removed = run_json("tasks", "rm", "t2", "--expected-version", "1", "--yes")
    assert removed["removed"] is True and removed["task_id"] == "t2"
    assert task_ids() == []
    missing = run_json("tasks", "rm", "t2", "--yes", exit_code=1)
    assert missing["error"]["type"] == "NotFound"
    assert run("tasks", "rm", "t2", "--dry-run").exit_code == 1


def test_tasks_rm_in_another_store(backend: str) -> None:
    seed_tasks(make_task("t1", "Running"), name="other")
    assert run("tasks", "rm", "t1", "--yes").exit_code == 1  # not in 'tasks'
    assert run("tasks", "rm", "t1", "--store", "other", "--yes").exit_code == 0
    assert task_ids("other") == []


# --------------------------------------------------------------------------------------
# tasks cleanup


def test_tasks_cleanup(backend: str) -> None:
    seed_tasks(
        make_task("done", "Completed"),
        make_task("failed", "Failed"),
        make_task("paused", "Paused"),
        make_task("running", "Running"),
    )
    time.sleep(0.05)
    assert run_json("tasks", "cleanup", "--older-than", "7d")["tasks"] == []
    none = run("tasks", "cleanup", "--older-than", "7d")
    assert none.exit_code == 0 and "no task to remove" in none.stdout

    dry = run_json("tasks", "cleanup", "--older-than", "0s", "--dry-run")
    assert [t["task_id"] for t in dry["tasks"]] == ["done", "failed"]  # oldest first
    assert dry["statuses"] == ["Completed", "Failed", "Canceled"] and dry["removed"] == []
    text = run("tasks", "cleanup", "--older-than", "0s", "--dry-run").stdout
    assert "done" in text and "failed" in text and "would remove 2 tasks" in text
    assert "running" not in text
    assert task_ids() == ["done", "failed", "paused", "running"]

    assert run("tasks", "cleanup", "--older-than", "0s", input="n\n").exit_code == EXIT_DECLINED
    assert task_ids() == ["done", "failed", "paused", "running"]

    paused = run_json("tasks", "cleanup", "--older-than", "0s", "--status", "Paused", "--yes")
    assert paused["removed"] == ["paused"] and paused["skipped"] == []
    removed = run_json("tasks", "cleanup", "--older-than", "0h", "--yes")
    assert removed["removed"] == ["done", "failed"]
    assert task_ids() == ["running"]

    everything = run("tasks", "cleanup", "--older-than", "0", "--any-status", input="y\n")
    assert everything.exit_code == 0, everything.output
    assert "removed 1 task" in everything.stdout
    assert task_ids() == []


def test_tasks_cleanup_older_than_the_calendar_removes_nothing(backend: str) -> None:
    """An age longer than datetime reaches back is no task's: nothing is listed, nothing
    removed; one longer than a timedelta holds is a usage error. Never a traceback."""
    seed_tasks(make_task("done", "Completed"))
    for age in ("999999d", "999999999d", "1000000w"):
        report = run_json("tasks", "cleanup", "--older-than", age, "--any-status", "--yes")
        assert report["tasks"] == [] and report["removed"] == [], age
    for age in ("1000000000d", "9" * 30 + "d", "9" * 400):
        result = run("tasks", "cleanup", "--older-than", age, "--yes")
        assert result.exit_code == 2, (age, result.output)
        assert "too long a duration" in result.stderr
    assert task_ids() == ["done"]


@pytest.mark.parametrize(
    "args",
    [
        ["--older-than", "7x"],
        ["--older-than", "-1d"],
        [],
        ["--older-than", "1d", "--status", "Completed", "--any-status"],
    ],
)
def test_tasks_cleanup_usage_errors(args: list[str]) -> None:
    result = run("tasks", "cleanup", *args, "--yes")
    assert result.exit_code == 2, result.output


# --------------------------------------------------------------------------------------
# sessions


def test_sessions_ls_show_rm(backend: str) -> None:
    async def seed(handle: satchel.Satchel) -> None:
        chats = handle.sessions(Chat)
        await chats.save("s2", Chat(user="bo", turns=[]))
        await chats.save("s1", Chat(user="ann", turns=["hi"]))
        await chats.save("s1", Chat(user="ann", turns=["hi", "hello"]), ttl=3600)
        await handle.sessions(Chat, name="other").save("x", Chat(user="cy", turns=[]))

    with_handle(seed)
    listed = run_json("sessions", "ls")
    assert listed["sessions"] == ["s1", "s2"] and listed["next_cursor"] is None
    assert run("sessions", "ls").stdout.split() == ["s1", "s2"]
    # stdout is the ids, one per line, whatever else is said: a script reads them
    paged = run("sessions", "ls", "--limit", "1")
    assert paged.stdout == "s1\n" and "next page: --cursor " in paged.stderr
    empty = run("sessions", "ls", "--store", "empty")
    assert empty.exit_code == 0 and empty.stdout == "" and "no sessions" in empty.stderr
    first = run_json("sessions", "ls", "--limit", "1")
    assert first["sessions"] == ["s1"]
    assert run_json("sessions", "ls", "--cursor", first["next_cursor"])["sessions"] == ["s2"]
    assert run_json("sessions", "ls", "--store", "other")["sessions"] == ["x"]
    assert run_json("sessions", "stores")["stores"] == ["other", "sessions"]

    shown = run_json("sessions", "show", "s1")
    assert shown["session"] == {"user": "ann", "turns": ["hi", "hello"]}
    assert shown["version"] == 2 and shown["expires_at"] is not None
    text = run("sessions", "show", "s1").stdout
    assert "ann" in text and "version" in text
    assert run_json("sessions", "show", "nope", exit_code=1)["error"]["type"] == "NotFound"

    assert run("sessions", "rm", "s1", input="n\n").exit_code == EXIT_DECLINED
    assert run_json("sessions", "rm", "s1", "--dry-run")["removed"] is False
    assert run("sessions", "rm", "s1", "--expected-version", "1", "--yes").exit_code == 5
    assert run_json("sessions", "ls")["sessions"] == ["s1", "s2"]
    assert run_json("sessions", "rm", "s1", "--yes")["removed"] is True
    assert run_json("sessions", "ls")["sessions"] == ["s2"]
    assert run("sessions", "rm", "s1", "--yes").exit_code == 1


# --------------------------------------------------------------------------------------
# kv del, kv clear


def test_kv_del_and_clear(backend: str) -> None:
    async def seed(handle: satchel.Satchel) -> None:
        await handle.kv("agents").set_many({"a1": 1, "a2": {"step": 2}, "a3": "x"})
        await handle.kv("keep").set("k", 1)

    with_handle(seed)
    assert run("kv", "del", "agents", "a1", input="n\n").exit_code == EXIT_DECLINED
    dry = run_json("kv", "del", "agents", "a1", "--dry-run")
    assert dry == {
        "namespace": "agents",
        "key": "a1",
        "version": 1,
        "dry_run": True,
        "deleted": False,
    }
    assert run("kv", "del", "agents", "a1", "--expected-version", "3", "--yes").exit_code == 5
    assert run_json("kv", "keys", "agents")["keys"] == ["a1", "a2", "a3"]
    assert run_json("kv", "del", "agents", "a1", "--yes")["deleted"] is True
    assert run("kv", "del", "agents", "a1", "--yes").exit_code == 1

    assert run_json("kv", "clear", "agents", "--dry-run")["keys"] == ["a2", "a3"]
    text = run("kv", "clear", "agents", "--dry-run").stdout
    assert text.splitlines()[:2] == ["a2", "a3"] and "would delete 2 values" in text
    assert run("kv", "clear", "agents").exit_code == EXIT_DECLINED
    assert run_json("kv", "keys", "agents")["keys"] == ["a2", "a3"]
    confirmed = run("kv", "clear", "agents", input="y\n")
    assert confirmed.exit_code == 0 and "deleted 2 values" in confirmed.stdout
    assert run_json("kv", "keys", "agents")["keys"] == []
    assert run_json("kv", "namespaces")["namespaces"] == ["keep"]
    empty = run_json("kv", "clear", "agents", "--yes")
    assert empty["deleted"] == 0 and empty["keys"] == []


# --------------------------------------------------------------------------------------
# stats, purge-expired


def test_stats(backend: str) -> None:
    values = {"a1": {"step": 1, "note": "naïve"}, "a2": [1, 2], "a3": "x"}

    async def seed(handle: satchel.Satchel) -> None:
        kv = handle.kv("agents")
        await kv.set_many({k: v for k, v in values.items() if k != "a3"})
        await kv.set("a3", values["a3"], ttl=3600)
        await handle.tasks(AgentTask).create(make_task("t1", "Running"))
        await handle.sessions(Chat).save("s1", Chat(user="ann", turns=[]), ttl=3600)
        logs = handle.logs("events")
        await logs.append("run-1", 1, 2)
        await logs.append("run-2", 3)

    with_handle(seed)
    report = run_json("stats")
    figures = {(s["kind"], s["name"]): s for s in report["stores"]}
    assert set(figures) == {
        ("kv", "agents"),
        ("task", "tasks"),
        ("session", "sessions"),
        ("log", "events"),
    }
    assert figures[("kv", "agents")] == {
        "kind": "kv",
        "name": "agents",
        "records": 3,
        "expiring": 1,
        "bytes": None,
    }
    assert figures[("task", "tasks")]["records"] == 1
    assert figures[("task", "tasks")]["expiring"] == 0
    assert figures[("session", "sessions")]["expiring"] == 1
    assert figures[("log", "events")]["records"] == 2
    assert figures[("log", "events")]["expiring"] is None

    sized = {(s["kind"], s["name"]): s for s in run_json("stats", "--bytes")["stores"]}
    expected = sum(
        len(json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode())
        for v in values.values()
    )
    assert sized[("kv", "agents")]["bytes"] == expected
    assert sized[("log", "events")]["bytes"] is None

    text = run("stats", "--bytes").stdout
    assert "KIND" in text and "BYTES" in text and "agents" in text
    assert "7 records in 4 stores" in text


def test_purge_expired(backend: str) -> None:
    async def seed(handle: satchel.Satchel) -> None:
        await handle.kv("brief").set("gone", 1, ttl=timedelta(milliseconds=300))
        await handle.kv("brief").set("stays", 2)

    with_handle(seed)
    time.sleep(0.6)
    dry = run_json("purge-expired", "--dry-run")
    assert dry["dry_run"] is True and dry["purged"] is None
    declined = run("purge-expired", input="n\n")
    assert declined.exit_code == EXIT_DECLINED
    assert "every expired record and log" in declined.stderr
    report = run_json("purge-expired", "--yes")
    assert isinstance(report["purged"], int) and report["purged"] >= 0
    if backend == "memory":
        assert report["purged"] == 1  # the memory backend keeps expired records until then
    assert run("purge-expired", "--yes").exit_code == 0
    assert run_json("kv", "keys", "brief")["keys"] == ["stays"]
    stats = {(s["kind"], s["name"]): s for s in run_json("stats")["stores"]}
    assert stats[("kv", "brief")]["records"] == 1


def test_an_empty_namespace(backend: str) -> None:
    assert run_json("stats")["stores"] == []
    assert "no store holds a record" in run("stats").stdout
    assert run_json("sessions", "ls")["sessions"] == []
    assert run_json("tasks", "cleanup", "--older-than", "0s", "--any-status")["tasks"] == []


# -- instances ------------------------------------------------------------------------------


def test_instances_create_list_show_update_and_remove(backend: str) -> None:
    created = run_json("instances", "create", "team", "--description", "the team's agents")
    instance_id = created["id"]
    assert created["name"] == "team" and created["version"] >= 1
    assert created["tenant"].endswith(f".i-{instance_id}")

    async def fill(handle: satchel.Satchel) -> None:
        notes = await handle.instances().kv(instance_id, "notes")
        await notes.set_many({"a": 1, "b": 2})
        await (await handle.instances().kv(instance_id, "state")).set("s", {"step": 1})

    with_handle(fill)
    listed = run_json("instances", "ls")["instances"]
    assert [(i["id"], i["records"]) for i in listed] == [(instance_id, 3)]
    shown = run_json("instances", "show", instance_id)
    assert shown["namespaces"] == {"notes": 2, "state": 1} and shown["records"] == 3
    assert "notes: 2" in run("instances", "show", instance_id).stdout

    updated = run_json("instances", "update", instance_id, "--name", "renamed")
    assert updated["name"] == "renamed" and updated["version"] == created["version"] + 1
    stale = run("instances", "update", instance_id, "-d", "x", "--expected-version", "1")
    assert stale.exit_code == 5
    assert run_json("instances", "show", instance_id)["records"] == 3  # the data stayed

    dry = run_json("instances", "rm", instance_id, "--dry-run")
    assert dry["removed"] is False and dry["records"] == 3
    declined = run("instances", "rm", instance_id, input="n\n")
    assert declined.exit_code == EXIT_DECLINED
    assert "and its 3 records" in declined.stderr
    removed = run_json("instances", "rm", instance_id, "--yes")
    assert removed["removed"] is True
    assert run_json("instances", "ls")["instances"] == []
    assert run("instances", "show", instance_id).exit_code == 1

    async def gone(handle: satchel.Satchel) -> list[str]:
        tenant = created["tenant"]
        return [c for c in await handle.backend.collections() if c.startswith(tenant)]

    assert with_handle(gone) == []


def test_instances_rm_names_every_record_it_removes(backend: str) -> None:
    """The delete drops every store of the instance's tenant, not only its KV namespaces:
    the question and --dry-run count all of it (tasks and logs too), and so for an
    instance whose delete was interrupted."""
    created = run_json("instances", "create", "team")
    instance_id, tenant = created["id"], created["tenant"]

    async def fill(handle: satchel.Satchel) -> None:
        await (await handle.instances().kv(instance_id, "notes")).set("a", 1)
        environ = {**os.environ, "SATCHEL_NAMESPACE": tenant}
        async with satchel.open(environ=environ) as inside:
            await inside.tasks(AgentTask).create(make_task("t1", "Running"))
            await inside.logs("events").append("run-1", {"step": 1})

    with_handle(fill)
    dry = run_json("instances", "rm", instance_id, "--dry-run")
    assert dry["namespaces"] == {"notes": 1} and dry["records"] == 3
    declined = run("instances", "rm", instance_id, input="n\n")
    assert declined.exit_code == EXIT_DECLINED
    assert "and its 3 records" in declined.stderr

    async def interrupt(handle: satchel.Satchel) -> None:  # marked deleting, data left
        store = handle.instances()
        record = await handle.backend.get(store.collection, instance_id)
        assert record is not None
        marked = store._record(instance_id, "team", "", True)
        await handle.backend.put_version(marked, if_version=record.version)

    with_handle(interrupt)
    assert run_json("instances", "rm", instance_id, "--dry-run")["records"] == 3
    assert run_json("instances", "rm", instance_id, "--yes")["removed"] is True

    async def left(handle: satchel.Satchel) -> list[str]:
        return [c for c in await handle.backend.collections() if c.startswith(tenant)]

    assert with_handle(left) == []


def test_instances_orphans_are_listed_and_removed(backend: str) -> None:
    instance_id = run_json("instances", "create", "short-lived")["id"]

    async def leave_data(handle: satchel.Satchel) -> None:
        notes = await handle.instances().kv(instance_id, "notes")  # taken before the delete
        await handle.instances().delete(instance_id)
        await notes.set("late", 1)  # written after it: an orphan

    with_handle(leave_data)
    assert run_json("instances", "orphans")["orphans"] == [instance_id]
    # an orphan has no version: an expected one cannot hold, and nothing is removed
    assert run("instances", "rm", instance_id, "--expected-version", "1", "--yes").exit_code == 1
    assert run_json("instances", "orphans")["orphans"] == [instance_id]
    dry = run_json("instances", "rm", instance_id, "--dry-run")
    assert dry["orphan"] is True and dry["removed"] is False and len(dry["collections"]) == 1
    assert run_json("instances", "rm", instance_id, "--yes")["removed"] is True
    assert run_json("instances", "orphans")["orphans"] == []
    assert run("instances", "rm", instance_id, "--yes").exit_code == 1
