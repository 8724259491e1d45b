"""What every ``satchel`` command promises, checked by walking the command tree: ``--help``
with the exit codes, ``--json`` (one JSON document on stdout, also for an error),
``--yes`` and ``--dry-run`` on every destructive command, the documented exit codes, and a
section of docs/cli.md naming the command and each of its options.

A new command must be added to :data:`SAMPLES` (how to run it), which makes it go through
every check here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from satchel.cli import EXIT_CODES, cli

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
#: An export of nothing, for ``satchel import``.
EMPTY_EXPORT = str(Path(__file__).resolve().parent / "data" / "empty-export.jsonl")

#: Each command's path, the arguments to run it on an empty memory backend, and the exit
#: code that gives (1: what it looks up is not there).
SAMPLES: dict[str, tuple[list[str], int]] = {
    "backends": ([], 0),
    "doctor": ([], 0),
    "demo": ([], 0),
    "kv get": (["ns", "k"], 1),
    "kv set": (["ns", "k", "1"], 0),
    "kv del": (["ns", "k", "--yes"], 1),
    "kv clear": (["ns", "--yes"], 0),
    "kv keys": (["ns"], 0),
    "kv namespaces": ([], 0),
    "kv query": (["ns", "-w", "step gte 1"], 0),
    "tasks ls": ([], 0),
    "tasks show": (["t1"], 1),
    "tasks rm": (["t1", "--yes"], 1),
    "tasks cleanup": (["--older-than", "7d", "--yes"], 0),
    "tasks stores": ([], 0),
    "sessions ls": ([], 0),
    "sessions show": (["s1"], 1),
    "sessions rm": (["s1", "--yes"], 1),
    "sessions stores": ([], 0),
    "stats": ([], 0),
    "purge-expired": (["--yes"], 0),
    "copy": (["--to", "memory", "--yes"], 0),
    "export": ([os.devnull], 0),
    "import": ([EMPTY_EXPORT, "--yes"], 0),
    "instances create": (["team"], 0),
    "instances ls": ([], 0),
    "instances show": (["0123456789abcdef"], 1),
    "instances update": (["0123456789abcdef", "--name", "x"], 1),
    "instances rm": (["0123456789abcdef", "--yes"], 1),
    "instances orphans": ([], 0),
}

#: The commands that remove or replace records: they ask first, unless --yes, and take
#: --dry-run.
DESTRUCTIVE = {
    "kv del",
    "kv clear",
    "tasks rm",
    "tasks cleanup",
    "sessions rm",
    "instances rm",
    "copy",
    "import",
    "purge-expired",
}


def leaves(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found.update(leaves(command, f"{path} "))
        else:
            found[path] = command
    return found


COMMANDS = leaves()


def run(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), prog_name="satchel", input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def options(command: click.Command) -> set[str]:
    return {name for p in command.params for name in getattr(p, "opts", ())}


def test_every_command_has_a_sample() -> None:
    assert set(COMMANDS) == set(SAMPLES)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_json_and_confirmation(path: str) -> None:
    command = COMMANDS[path]
    result = run(*path.split(), "--help")
    assert result.exit_code == 0, result.output
    assert "Exit codes:" in result.stdout
    for code in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s", result.stdout, re.M), (path, code)
    assert "--json" in options(command), f"{path} prints data: it takes --json"
    if path in DESTRUCTIVE:
        assert {"--yes", "--dry-run"} <= options(command), path
        assert "confirmation" in (command.help or ""), path
    else:
        assert not {"--yes", "--dry-run"} & options(command), path


def test_destructive_commands_are_those_that_remove() -> None:
    verbs = {"del", "clear", "rm", "cleanup", "copy", "import", "purge-expired"}
    removing = {p for p in COMMANDS if p.split()[-1] in verbs}
    assert removing == DESTRUCTIVE


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_exit_codes_hold(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On an empty memory backend each command exits as :data:`SAMPLES` says, with one
    JSON document on stdout under --json (an error document when it fails); an unknown
    option exits 2; an unknown backend exits 3 with one error line on stderr."""
    args, code = SAMPLES[path]
    words = path.split()
    result = run(*words, *args, "--json")
    assert result.exit_code == code, result.output
    document = json.loads(result.stdout)
    if code:
        assert document["error"]["exit_code"] == code
        assert result.stderr.startswith("satchel: error: ")
    assert run(*words, *args, "--no-such-option").exit_code == 2

    monkeypatch.setenv("SATCHEL_BACKEND", "no-such-backend")
    failed = run(*words, *args)
    assert failed.exit_code == 3, failed.output
    assert "satchel: error: " in failed.stderr and "Traceback" not in failed.output
    assert "no-such-backend" in failed.stderr
    failed = run(*words, *args, "--json")
    assert failed.exit_code == 3
    assert json.loads(failed.stdout)  # the report, or the error document


def test_help_names_every_command_that_exits_1() -> None:
    """The --help epilog's line for exit 1 names each group whose commands exit 1 for a
    missing record, as docs/cli.md does."""
    groups = {path.split()[0] for path, (_, code) in SAMPLES.items() if code == 1}
    for group in groups:
        assert group in EXIT_CODES[1], group


def test_the_documented_exit_codes_are_the_codes() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", section, re.M)}
    assert documented == set(EXIT_CODES)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_docs_name_every_command_and_option(path: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert f"`satchel {path}`" in text or f"`{path}" in text, path
    for option in options(COMMANDS[path]):
        if option.startswith("--") and option not in ("--help", "--json"):
            assert option in text, (path, option)
