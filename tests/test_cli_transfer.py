"""``satchel copy``, ``satchel export`` and ``satchel import`` run as the real CLI (click's
runner, in process) between a throwaway redis-server and a SecantusDB server: every record
arrives with its key, value, version, times and expiry, and no secret is ever printed."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import satchel
from satchel.cli import EXIT_DECLINED, cli
from satchel_mongodb.testing.fixtures import mongodb_uri  # noqa: F401
from satchel_redis.testing.fixtures import redis_binary, redis_url  # noqa: F401

SECRET = "hunter2-not-shown"


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean environment (no backend chosen) with a tenant of its own."""
    for name in list(os.environ):
        if name.upper().startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL")):
            monkeypatch.delenv(name)
    tenant = f"cp-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("SATCHEL_NAMESPACE", tenant)
    return tenant


def run(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), prog_name="satchel", input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def entries(handle: satchel.Satchel, store: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        kv = handle.kv(store)
        found = {}
        for key in await kv.keys():
            entry = await kv.get_entry(key)
            assert entry is not None
            found[key] = (
                entry.value,
                entry.version,
                entry.created_at,
                entry.updated_at,
                entry.expires_at,
            )
        return found

    return asyncio.run(read())


def fill(url: str, tenant: str) -> dict[str, Any]:
    """Records with histories (versions above 1), expiries and nested values, in two stores."""

    async def write() -> None:
        async with satchel.open(
            backend="redis", backend_settings={"url": url}, namespace=tenant
        ) as handle:
            state = handle.kv("agent-state")
            await state.set_many(
                {f"a{i:03d}": {"step": i, "tags": ["x", i % 3]} for i in range(130)}
            )
            for i in range(0, 130, 7):
                await state.set(f"a{i:03d}", {"step": i, "again": True}, expected_version=1)
            await state.set("soon", {"ttl": True}, ttl=3600)
            await handle.kv("other").set("k", "v")

    asyncio.run(write())
    with_redis = satchel.open(backend="redis", backend_settings={"url": url}, namespace=tenant)
    return {store: entries(with_redis, store) for store in ("agent-state", "other")}


def mongo(uri: str, tenant: str) -> satchel.Satchel:
    return satchel.open(backend="mongodb", backend_settings={"uri": uri}, namespace=tenant)


def test_copy_moves_every_record_with_its_metadata(
    redis_url: str,  # noqa: F811
    mongodb_uri: str,  # noqa: F811
    namespace: str,
) -> None:
    source = fill(redis_url, namespace)
    result = run(
        "copy", "--from", redis_url, "--to", mongodb_uri, "--yes", "--verify",
        "--batch-size", "50", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["records"] == {"kv:agent-state": 131, "kv:other": 1}
    assert report["total"] == 132 and report["mismatched"] == []
    target = mongo(mongodb_uri, namespace)
    assert {s: entries(target, s) for s in ("agent-state", "other")} == source
    assert source["agent-state"]["a007"][1] == 2  # versions came along, not renumbered

    # run again (as after an interruption): the same records, nothing doubled
    again = run("copy", "--from", redis_url, "--to", mongodb_uri, "--yes", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["total"] == 132
    assert {s: entries(target, s) for s in ("agent-state", "other")} == source

    async def next_version() -> int:
        async with mongo(mongodb_uri, namespace) as handle:
            return await handle.kv("agent-state").set("a007", 1, expected_version=2)

    assert asyncio.run(next_version()) == 3


def test_one_namespace_a_dry_run_and_a_no_write_nothing(
    redis_url: str,  # noqa: F811
    mongodb_uri: str,  # noqa: F811
    namespace: str,
) -> None:
    fill(redis_url, namespace)
    dry = run("copy", "--from", redis_url, "--to", mongodb_uri, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["dry_run"] is True
    declined = run("copy", "--from", redis_url, "--to", mongodb_uri, input="n\n")
    assert declined.exit_code == EXIT_DECLINED
    target = mongo(mongodb_uri, namespace)
    assert entries(target, "agent-state") == {} and entries(target, "other") == {}
    only = run("copy", "--from", redis_url, "--to", mongodb_uri, "-n", "kv:other", "--yes")
    assert only.exit_code == 0, only.output
    assert "kv:other: 1 records" in only.stdout and "1 records copied" in only.stdout
    assert entries(target, "agent-state") == {} and len(entries(target, "other")) == 1


def test_export_then_import_restores_the_same_records(
    redis_url: str,  # noqa: F811
    mongodb_uri: str,  # noqa: F811
    namespace: str,
    tmp_path: Path,
) -> None:
    source = fill(redis_url, namespace)
    backup = tmp_path / "backup.jsonl.gz"
    exported = run("export", str(backup), "--from", redis_url, "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["total"] == 132
    assert backup.read_bytes()[:2] == b"\x1f\x8b"  # gzip, from the name
    checked = run("import", str(backup), "--to", mongodb_uri, "--dry-run", "--json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["total"] == 132
    target = mongo(mongodb_uri, namespace)
    assert entries(target, "agent-state") == {}
    imported = run("import", str(backup), "--to", mongodb_uri, "--yes", "--json")
    assert imported.exit_code == 0, imported.output
    assert {s: entries(target, s) for s in ("agent-state", "other")} == source

    # a truncated file is refused whole: nothing written
    cut = tmp_path / "cut.jsonl"
    lines = run("export", str(cut), "--from", redis_url, "--quiet").exit_code
    assert lines == 0
    text = cut.read_text(encoding="utf-8").splitlines()
    cut.write_text("\n".join(text[:-1]) + "\n", encoding="utf-8")
    elsewhere = f"{namespace}-b"
    os.environ["SATCHEL_NAMESPACE"] = elsewhere
    refused = run("import", str(cut), "--to", mongodb_uri, "--yes")
    assert refused.exit_code == 2, refused.output
    assert entries(mongo(mongodb_uri, elsewhere), "agent-state") == {}


def test_an_environment_file_names_an_end(
    redis_url: str,  # noqa: F811
    mongodb_uri: str,  # noqa: F811
    namespace: str,
    tmp_path: Path,
) -> None:
    source = fill(redis_url, namespace)
    env = tmp_path / "source.env"
    env.write_text(
        f"# the source\nexport SATCHEL_BACKEND=redis\nSATCHEL_REDIS_URL='{redis_url}'\n"
        f"SATCHEL_NAMESPACE={namespace}\n",
        encoding="utf-8",
    )
    result = run("copy", "--from", str(env), "--to", mongodb_uri, "--yes", "--quiet")
    assert result.exit_code == 0, result.output
    assert entries(mongo(mongodb_uri, namespace), "agent-state") == source["agent-state"]
    bad = tmp_path / "bad.env"
    bad.write_text(f"SATCHEL_REDIS_URL={SECRET}\nthis is not a variable\n", encoding="utf-8")
    refused = run("copy", "--from", str(bad), "--to", mongodb_uri, "--yes")
    assert refused.exit_code == 2
    assert "line 2: not KEY=VALUE" in refused.stderr and SECRET not in refused.output


def test_a_password_in_a_url_is_never_printed(
    redis_url: str,  # noqa: F811
    namespace: str,
    tmp_path: Path,
) -> None:
    with_password = redis_url.replace("redis://", f"redis://:{SECRET}@", 1)
    for args in (
        ("copy", "--from", with_password, "--to", "memory", "--yes"),
        ("copy", "--from", "memory", "--to", with_password, "--yes", "--json"),
        ("export", str(tmp_path / "x.jsonl"), "--from", with_password, "--json"),
        ("copy", "--from", f"ftp://u:{SECRET}@h/x", "--to", "memory", "--yes"),
    ):
        result = run(*args)
        # shown: each end as the backend describes it, the password as ***
        assert SECRET not in result.output, args
        assert "Traceback" not in result.output
    assert result.exit_code == 2  # the ftp URL
    assert "scheme 'ftp'" in result.stderr


def test_verify_fails_when_the_target_holds_more(
    redis_url: str,  # noqa: F811
    mongodb_uri: str,  # noqa: F811
    namespace: str,
) -> None:
    fill(redis_url, namespace)

    async def extra() -> None:
        async with mongo(mongodb_uri, namespace) as handle:
            await handle.kv("other").set("only-in-the-target", 1)

    asyncio.run(extra())
    result = run("copy", "--from", redis_url, "--to", mongodb_uri, "--yes", "--verify", "--json")
    assert result.exit_code == 5, result.output
    report = json.loads(result.stdout)
    assert report["mismatched"] == ["kv:other"]
    assert report["verify"]["kv:other"]["source"]["records"] == 1
    assert report["verify"]["kv:other"]["target"]["records"] == 2
    assert "verify: the target differs from the source in kv:other" in result.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    from satchel.cli.transfer import _Meter
    from satchel.transfer import Progress

    events = [
        Progress("kv:a", 0, 0, 1500),
        Progress("kv:a", 500, 500, 1500),
        Progress("kv:a", 1000, 1000, 1500),
        Progress("kv:b", 0, 1000, 1500),
        Progress("kv:b", 500, 1500, 1500),
    ]
    terminal = Terminal()
    meter = _Meter("copying", True, terminal)
    for event in events:
        meter(event)
    meter.close()
    shown = terminal.getvalue()
    assert "copying records" in shown
    assert "1500/1500" in shown  # records moved of those expected
    assert re.search(r"[\d,]+ records/s", shown)  # the rate
    plain = io.StringIO()
    meter = _Meter("copying", True, plain)
    for event in events:
        meter(event)
    meter.close()
    assert plain.getvalue() == "kv:a: 1000 records\nkv:b: 500 records\n"
    quiet = io.StringIO()
    meter = _Meter("copying", False, quiet)
    for event in events:
        meter(event)
    meter.close()
    assert quiet.getvalue() == ""


def test_a_copy_onto_its_own_source_is_refused(
    redis_url: str,  # noqa: F811
    namespace: str,
) -> None:
    fill(redis_url, namespace)
    result = run("copy", "--from", redis_url, "--to", redis_url, "--yes")
    assert result.exit_code == 2, result.output
    assert "target: is the source itself" in result.stderr
    other = redis_url.rsplit("/", 1)[0] + "/3"  # another database of the same server
    moved = run("copy", "--from", redis_url, "--to", other, "--yes", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["total"] == 132


def test_an_unreachable_end_fails_before_anything_and_a_process_local_target_is_warned(
    redis_url: str,  # noqa: F811
    namespace: str,
    tmp_path: Path,
) -> None:
    from satchel.cli import EXIT_BACKEND_UNAVAILABLE

    env = tmp_path / "nowhere.env"
    env.write_text(
        "SATCHEL_BACKEND=redis\nSATCHEL_REDIS_URL=redis://127.0.0.1:1/0\n"
        "SATCHEL_REDIS_CONNECT_TIMEOUT=0.5\nSATCHEL_REDIS_RETRIES=0\n",
        encoding="utf-8",
    )
    for args in (
        ("copy", "--from", redis_url, "--to", str(env), "--dry-run"),  # an empty source too
        ("copy", "--from", str(env), "--to", redis_url, "--yes"),
        ("export", str(tmp_path / "x.jsonl"), "--from", str(env)),
    ):
        result = run(*args)
        assert result.exit_code == EXIT_BACKEND_UNAVAILABLE, (args, result.output)
    assert not (tmp_path / "x.jsonl").exists()
    warned = run("copy", "--from", redis_url, "--to", "memory", "--yes")
    assert warned.exit_code == 0, warned.output
    assert "warning: the target" in warned.stderr and "this process only" in warned.stderr


def test_a_mistyped_url_holding_a_password_is_not_echoed(namespace: str, tmp_path: Path) -> None:
    for spec in (
        f"redis:/:{SECRET}@localhost:6379/0",
        f"mongodb:u:{SECRET}@localhost",
        f"redis//:{SECRET}@localhost",
        f"localhost/?password={SECRET}",
        f"redis//u:{SECRET}@h/0",
        f"u:{SECRET}@h",
        f"mongodb:{SECRET}@h",
    ):
        for args in (
            ("copy", "--from", "memory", "--to", spec, "--yes"),
            ("copy", "--from", spec, "--to", "memory", "--yes", "--json"),
            ("export", str(tmp_path / "x.jsonl"), "--from", spec),
        ):
            result = run(*args)
            assert result.exit_code == 2, (args, result.output)
            assert SECRET not in result.output, args
            assert "not a backend name" in result.stderr, result.stderr
    # a plain name is still repeated, so a typo in a file's name shows
    result = run("copy", "--from", "memory", "--to", "prod.evn", "--yes")
    assert result.exit_code == 2
    assert "'prod.evn'" in result.stderr


def test_a_url_scheme_in_capitals_names_its_backend_and_a_typo_in_an_env_file_is_warned(
    redis_url: str,  # noqa: F811
    namespace: str,
    tmp_path: Path,
) -> None:
    """A URL's scheme is read in any case; a variable of an environment file that nothing
    installed reads is named on stderr (the copy still runs: it may be another
    backend's)."""
    source = fill(redis_url, namespace)
    env = tmp_path / "source.env"
    env.write_text(
        f"SATCHEL_BACKEND=redis\nSATCHEL_REDIS_URL={redis_url}\nSATCHEL_NAMESPACE={namespace}\n"
        f"SATCHEL_REDIS_ULR=redis://:{SECRET}@elsewhere:6379\n",
        encoding="utf-8",
    )
    target = tmp_path / "target.jsonl"
    result = run("export", str(target), "--from", str(env), "--quiet")
    assert result.exit_code == 0, result.output
    assert "SATCHEL_REDIS_ULR is set, but nothing installed reads it" in result.stderr
    assert SECRET not in result.output
    upper = "REDIS://" + redis_url.split("://", 1)[1]
    result = run("import", str(target), "--to", upper, "--yes", "--quiet")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    with_redis = satchel.open(
        backend="redis", backend_settings={"url": redis_url}, namespace=namespace
    )
    assert entries(with_redis, "agent-state") == source["agent-state"]
