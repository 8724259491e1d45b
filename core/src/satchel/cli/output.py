"""What every command prints and how it fails: exit codes, one-line errors, text tables,
``--json`` documents, and the confirmation of destructive commands.

Only :mod:`click` and standard modules at module level (``satchel --help`` stays fast).
"""

from __future__ import annotations

import json
import re
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import click

__all__ = [
    "EPILOG",
    "EXIT_BACKEND_UNAVAILABLE",
    "EXIT_BROKEN_PIPE",
    "EXIT_CODES",
    "EXIT_CONFIG",
    "EXIT_DECLINED",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "clip",
    "compact",
    "confirm",
    "dry_run_option",
    "dumps",
    "echo_lines",
    "exit_code_for",
    "json_option",
    "masked",
    "one_line",
    "printable",
    "reporting_errors",
    "run",
    "setting_text",
    "show_value",
    "table",
    "when",
    "yes_option",
]

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_BACKEND_UNAVAILABLE = 4
EXIT_ERROR = 5
EXIT_DECLINED = 6
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Every exit code and what it means (the ``--help`` epilog and ``docs/cli.md`` say the same).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_NOT_FOUND: "not found (kv get/del of a missing key; tasks, sessions, instances "
    "show/rm of a missing id)",
    EXIT_USAGE: "usage error: a bad option or argument, a malformed query or value",
    EXIT_CONFIG: "configuration or plugin error (ConfigError, BackendNotFound, PluginError)",
    EXIT_BACKEND_UNAVAILABLE: "backend unavailable (BackendUnavailable)",
    EXIT_ERROR: "any other satchel error (Conflict: a stale --expected-version, ...)",
    EXIT_DECLINED: "not confirmed: a destructive command was answered no (or no answer came)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "standard output closed before the output was written (| head)",
}

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:<3} {meaning}" for code, meaning in EXIT_CODES.items()
)

TEXT_VALUE_WIDTH = 100


def exit_code_for(error: BaseException) -> int:
    """The exit code of a satchel error (:data:`EXIT_CODES`)."""
    from satchel.errors import (
        BackendUnavailable,
        ConfigError,
        InvalidArgument,
        NotFound,
        PluginError,
    )

    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, InvalidArgument):
        return EXIT_USAGE
    if isinstance(error, (ConfigError, PluginError)):
        return EXIT_CONFIG
    if isinstance(error, BackendUnavailable):
        return EXIT_BACKEND_UNAVAILABLE
    return EXIT_ERROR


def one_line(message: str) -> str:
    """``message`` on one line. satchel's own messages are shown as they are (their known
    secrets were masked where they were raised, and a key or a hint must stay whole); text
    from elsewhere is scrubbed by :meth:`CommandError.of`."""
    return " ".join(message.split())


class CommandError(Exception):
    """A failure reported as ``satchel: error: <message>`` on stderr, with its exit code.

    Under ``--json`` the same error is also printed on stdout as
    ``{"error": {"type", "message", "exit_code"}}``, unless the command already printed its
    own report (``reported=True``).
    """

    def __init__(
        self,
        message: str,
        *,
        exit_code: int,
        kind: str,
        as_json: bool = False,
        reported: bool = False,
    ) -> None:
        self.message = one_line(message)
        super().__init__(self.message)
        self.exit_code = exit_code
        self.kind = kind
        self.as_json = as_json
        self.reported = reported

    @classmethod
    def of(cls, error: BaseException, *, as_json: bool, reported: bool = False) -> CommandError:
        """The command error that reports ``error`` (URL credentials scrubbed from the text
        of an error that is not satchel's)."""
        from satchel.errors import SatchelError
        from satchel.redaction import scrub_secrets

        return cls(
            str(error) if isinstance(error, SatchelError) else scrub_secrets(str(error)),
            exit_code=exit_code_for(error),
            kind=type(error).__name__,
            as_json=as_json,
            reported=reported,
        )

    def as_dict(self) -> dict[str, Any]:
        """``{"type", "message", "exit_code"}``."""
        return {"type": self.kind, "message": self.message, "exit_code": self.exit_code}

    def show(self) -> None:
        """Print the error (stderr; and stdout under ``--json``)."""
        if self.as_json and not self.reported:
            try:
                click.echo(dumps({"error": self.as_dict()}))
            except BrokenPipeError:  # stdout closed (`| head`): the error still counts
                _drop_stdout()
        click.echo(f"satchel: error: {self.message}", err=True)


@contextmanager
def reporting_errors(as_json: bool) -> Iterator[None]:
    """Report a :class:`CommandError` or satchel error in one line and exit with its code."""
    from satchel.errors import SatchelError

    try:
        yield
    except CommandError as exc:
        exc.show()
        raise click.exceptions.Exit(exc.exit_code) from None
    except SatchelError as exc:
        error = CommandError.of(exc, as_json=as_json)
        error.show()
        raise click.exceptions.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        click.echo("satchel: interrupted", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # the reader went away (`| head`): not an error of the command's, and never the
        # exit 1 click gives it, which means "not found"; 128 + SIGPIPE, as a shell says
        _drop_stdout()
        raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None


def _drop_stdout() -> None:
    """Send what is left of standard output nowhere, so that flushing it at exit does not
    fail again on the closed pipe."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test runner's capture)
        pass
    finally:
        os.close(devnull)


def run(coroutine: Coroutine[Any, Any, None], as_json: bool) -> None:
    """Run a command's coroutine, reporting satchel errors."""
    import asyncio

    with reporting_errors(as_json):
        asyncio.run(coroutine)


# --------------------------------------------------------------------------------------
# output


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def dumps(document: Any) -> str:
    """``document`` as indented JSON for standard output: its text as it is on a Unicode
    output, escaped as JSON (``\\u65e5``) on one that is not (a Latin-1 locale), where it
    could not be written otherwise."""
    import sys

    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8").lower().replace("_", "-")
    unicode = encoding.startswith(("utf-8", "utf8", "utf-16", "utf-32"))
    return json.dumps(document, indent=2, ensure_ascii=not unicode, default=_json_default)


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def show_value(value: Any) -> str:
    """A value as text: ``(unset)`` for None, JSON for containers."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, (dict, list)):
        return compact(value)
    return str(value)


def setting_text(value: Any) -> str:
    """A setting as text: ``(unset)`` for None or an empty value."""
    return "(unset)" if value in (None, "") else show_value(value)


def masked(value: Any) -> Any:
    """A setting's value with any password in a URL masked, whatever the value's type
    (``settings_summary`` masks ``str`` URLs; pydantic URL types carry passwords too)."""
    from satchel.redaction import redact_url, scrub_secrets

    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if "://" not in text:
        return value if isinstance(value, str) else text
    return redact_url(text) if " " not in text.strip() else scrub_secrets(text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with its control characters escaped (``\\n``, ``\\x1b``): a key, an id or a
    stored field printed for people must neither forge a line nor send the terminal an
    escape sequence (one that erases the line above, say, from the list a destructive
    command asks about). ``--json`` output is JSON, escaped already."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def clip(text: str, width: int = TEXT_VALUE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(
    rows: Sequence[Sequence[str]],
    header: Sequence[str] | None = None,
    *,
    right: Sequence[int] = (),
    indent: str = "  ",
) -> list[str]:
    """Rows as aligned lines; columns in ``right`` are right-aligned."""
    lines = [list(header)] if header else []
    lines += [[printable(cell) for cell in row] for row in rows]
    if not lines:
        return []
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for line in lines:
        cells = []
        for i, cell in enumerate(line):
            if i in right:
                cells.append(cell.rjust(widths[i]))
            elif i < len(line) - 1:
                cells.append(cell.ljust(widths[i]))
            else:
                cells.append(cell)
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def echo_lines(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON with stable keys instead of text."
)


yes_option = click.option(
    "--yes", "-y", "yes", is_flag=True, help="Do not ask for confirmation before removing."
)
dry_run_option = click.option(
    "--dry-run", "dry_run", is_flag=True, help="Print what would be removed; remove nothing."
)


def confirm(question: str, *, yes: bool, as_json: bool) -> None:
    """Ask ``question`` (yes/no, default no) unless ``yes``; a no, or no answer at all
    (stdin closed), is a :class:`CommandError` with :data:`EXIT_DECLINED`. The question goes
    to stderr, so that stdout holds only the command's report."""
    if yes:
        return
    try:
        agreed = click.confirm(question, default=False, err=True)
    except click.Abort:
        agreed = False
    if not agreed:
        raise CommandError(
            "not confirmed: nothing was removed (pass --yes to skip the question)",
            exit_code=EXIT_DECLINED,
            kind="NotConfirmed",
            as_json=as_json,
        )
