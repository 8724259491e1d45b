"""The ``satchel`` command line: inspect the configuration, check a backend, read and write.

Every command reads the same environment as :func:`satchel.open` (``SATCHEL_BACKEND``,
``SATCHEL_<NAME>_*``, ...), prints aligned text, or JSON with stable keys under ``--json``,
and exits with one of the codes in :data:`EXIT_CODES`. A failure is one line,
``satchel: error: <message>``, on stderr: never a traceback, never a secret.

Only :mod:`click` and a few standard modules are imported at module level; satchel's own
modules, asyncio and the backends are imported inside the commands, so that ``satchel
--help`` stays fast.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from satchel.backend import Record
    from satchel.handle import Satchel
    from satchel.plugins import LoadedPlugins
    from satchel.settings import SatchelSettings
    from satchel.stores.kv import Entry

__all__ = [
    "EXIT_BACKEND_UNAVAILABLE",
    "EXIT_CODES",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "cli",
    "exit_code_for",
    "main",
]

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_BACKEND_UNAVAILABLE = 4
EXIT_ERROR = 5
EXIT_INTERRUPTED = 130

#: Every exit code and what it means (the ``--help`` epilog and ``docs/cli.md`` say the same).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_NOT_FOUND: "not found (kv get/del of a missing key, tasks show of a missing id)",
    EXIT_USAGE: "usage error: a bad option or argument, a malformed query or value",
    EXIT_CONFIG: "configuration or plugin error (ConfigError, BackendNotFound, PluginError)",
    EXIT_BACKEND_UNAVAILABLE: "backend unavailable (BackendUnavailable)",
    EXIT_ERROR: "any other satchel error",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

_EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:<3} {meaning}" for code, meaning in EXIT_CODES.items()
)

#: Seconds each call of ``satchel doctor`` may take, unless the backend's bound is longer.
DOCTOR_TIMEOUT = 10.0
#: Added to a backend's ``call_timeout``: the backend's own error comes first.
DOCTOR_GRACE = 1.0
#: The KV namespace ``satchel doctor`` writes its probe key to.
DOCTOR_NAMESPACE = "satchel-doctor"
_TEXT_VALUE_WIDTH = 100


# --------------------------------------------------------------------------------------
# errors and exit codes


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


def _one_line(message: str) -> str:
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
        self.message = _one_line(message)
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
            click.echo(_dumps({"error": self.as_dict()}))
        click.echo(f"satchel: error: {self.message}", err=True)


@contextmanager
def _reporting_errors(as_json: bool) -> Iterator[None]:
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


def _run(coroutine: Coroutine[Any, Any, None], as_json: bool) -> None:
    """Run a command's coroutine, reporting satchel errors."""
    import asyncio

    with _reporting_errors(as_json):
        asyncio.run(coroutine)


# --------------------------------------------------------------------------------------
# output


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=_json_default)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _show(value: Any) -> str:
    """A value as text: ``(unset)`` for None, JSON for containers."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _when(value)
    if isinstance(value, (dict, list)):
        return _compact(value)
    return str(value)


def _setting(value: Any) -> str:
    """A setting as text: ``(unset)`` for None or an empty value."""
    return "(unset)" if value in (None, "") else _show(value)


def _masked(value: Any) -> Any:
    """A setting's value with any password in a URL masked, whatever the value's type
    (``settings_summary`` masks ``str`` URLs; pydantic URL types carry passwords too)."""
    from satchel.redaction import redact_url, scrub_secrets

    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if "://" not in text:
        return value if isinstance(value, str) else text
    return redact_url(text) if " " not in text.strip() else scrub_secrets(text)


def _clip(text: str, width: int = _TEXT_VALUE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(
    rows: Sequence[Sequence[str]],
    header: Sequence[str] | None = None,
    *,
    right: Sequence[int] = (),
    indent: str = "  ",
) -> list[str]:
    """Rows as aligned lines; columns in ``right`` are right-aligned."""
    lines = [list(header)] if header else []
    lines += [list(row) for row in rows]
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


def _echo_lines(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line)


_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON with stable keys instead of text."
)


# --------------------------------------------------------------------------------------
# opening satchel


def _open() -> Satchel:
    """The handle :func:`satchel.open` gives for this environment.

    A plugin that fails to load is not logged here: when it matters (it provides the
    selected backend) the error says so, and ``backends`` and ``doctor`` list every failure.
    """
    from satchel.handle import open as open_satchel

    with _quiet_plugin_log():
        return open_satchel()


def _process_local_hint(handle: Satchel) -> str:
    """Why a record written by an earlier command may be missing."""
    if handle.raw_backend.capabilities.shared_across_processes:
        return ""
    return (
        f" (backend {handle.raw_backend.name!r} keeps records in one process only, so what "
        "an earlier satchel command wrote is not here; see docs/cli.md)"
    )


@contextmanager
def _quiet_plugin_log() -> Iterator[None]:
    """Silence satchel's plugin-failure warnings while a command reports them itself."""
    import logging

    logger = logging.getLogger("satchel")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _unused_variables(plugins: LoadedPlugins, environ: Mapping[str, str]) -> list[str]:
    """``SATCHEL_*`` variables set in the environment that nothing installed reads (typos,
    or the variables of a backend that is not installed)."""
    from satchel.settings import SatchelSettings, describe_variables

    known: set[str] = set()
    classes = [SatchelSettings] + [
        rb.spec.settings_cls for rb in plugins.backends.values() if rb.spec.settings_cls
    ]
    for cls in classes:
        for variable in describe_variables(cls):
            known.add(variable.name.upper())
            known.update(alias.upper() for alias in variable.aliases)
    # Plugins that register no backend may read SATCHEL_<NAME>_* themselves.
    other_prefixes = tuple(
        f"SATCHEL_{name.upper()}_"
        for name, plugin in plugins.manager.list_name_plugin()
        if plugin is not None and name not in plugins.backends
    )
    return sorted(
        name
        for name in (key.upper() for key in environ)
        if name.startswith("SATCHEL_") and name not in known and not name.startswith(other_prefixes)
    )


# --------------------------------------------------------------------------------------
# the command group


@click.group(
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="satchel", prog_name="satchel")
def cli() -> None:
    """satchel: pluggable persistence for AI agents.

    Every command uses the backend the environment selects: SATCHEL_BACKEND (default
    memory), or SATCHEL_BACKEND_MODULE and SATCHEL_BACKEND_CLASS for a custom class, with
    the backend's own SATCHEL_<NAME>_* variables. `satchel backends --variables` lists them
    all. Every command takes --json.
    """


def main(argv: Sequence[str] | None = None) -> None:
    """The console script ``satchel``."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="satchel")


# --------------------------------------------------------------------------------------
# satchel backends


@cli.command(epilog=_EPILOG)
@click.option(
    "--variables",
    is_flag=True,
    help="List every environment variable of core and of each installed backend instead.",
)
@_json_option
def backends(variables: bool, as_json: bool) -> None:
    """What is installed, what is selected, and its settings (secrets masked).

    Exits 3 after the listing when the selected backend cannot be used.
    """
    import os

    from satchel.plugins import load_plugins
    from satchel.settings import SatchelSettings, load_settings

    with _reporting_errors(as_json):
        settings = load_settings(SatchelSettings)
        with _quiet_plugin_log():
            plugins = load_plugins(disabled=settings.disable_plugins)
        if variables:
            _print_variables(plugins, os.environ, as_json)
            return
        report = _backends_report(settings, plugins, os.environ)
        if as_json:
            click.echo(_dumps(report))
        else:
            _print_backends(report)
        error = report["selected"]["error"]
        if error is not None:
            raise CommandError(
                error,
                exit_code=EXIT_CONFIG,
                kind=report["selected"]["error_type"],
                as_json=as_json,
                reported=True,
            )


def _selected_backend(settings: SatchelSettings, plugins: LoadedPlugins) -> dict[str, Any]:
    from satchel.errors import ConfigError
    from satchel.settings import load_settings, settings_summary

    selected: dict[str, Any] = {
        "name": settings.backend,
        "kind": "plugin",
        "module": None,
        "class": None,
        "distribution": None,
        "installed": False,
        "settings": {},
        "error": None,
        "error_type": None,
    }
    try:
        custom = settings.custom_backend()
        if custom is not None:
            from satchel.loader import load_backend_class

            module, class_name = custom
            selected.update(name=f"{module}:{class_name}", kind="custom", module=module)
            selected["class"] = class_name
            load_backend_class(module, class_name)
            selected["installed"] = True
            return selected
        registered = plugins.backends.get(settings.backend)
        if registered is None:
            from satchel.handle import build_backend

            # Not registered: build_backend raises its "unknown backend ..." error at once.
            build_backend(settings, plugins)
            return selected
        selected.update(installed=True, distribution=registered.distribution)
        if registered.spec.settings_cls is not None:
            summary = settings_summary(load_settings(registered.spec.settings_cls))
            selected["settings"] = {name: _masked(value) for name, value in summary.items()}
    except ConfigError as exc:
        selected.update(error=_one_line(str(exc)), error_type=type(exc).__name__)
    return selected


def _backends_report(
    settings: SatchelSettings, plugins: LoadedPlugins, environ: Mapping[str, str]
) -> dict[str, Any]:
    from satchel.settings import settings_summary

    selected = _selected_backend(settings, plugins)
    return {
        "backends": [
            {
                "name": name,
                "distribution": registered.distribution,
                "plugin": registered.plugin,
                "description": registered.spec.description,
                "selected": selected["kind"] == "plugin" and name == settings.backend,
            }
            for name, registered in sorted(plugins.backends.items())
        ],
        "selected": selected,
        "core_settings": {k: _masked(v) for k, v in settings_summary(settings).items()},
        "plugins": [
            {"name": name, "distribution": plugins.distributions.get(name, "")}
            for name, plugin in plugins.manager.list_name_plugin()
            if plugin is not None
        ],
        "codecs": [codec.name for codec in plugins.codecs],
        "failed_plugins": [
            {"name": f.name, "distribution": f.distribution, "error": _one_line(f.error)}
            for f in plugins.failures
        ],
        "disabled_plugins": list(settings.disable_plugins),
        "unused_variables": _unused_variables(plugins, environ),
    }


def _print_backends(report: dict[str, Any]) -> None:
    click.echo("installed backends")
    rows = [
        [
            ("* " if b["selected"] else "  ") + b["name"],
            b["distribution"],
            b["description"],
        ]
        for b in report["backends"]
    ]
    if rows:
        _echo_lines(_table(rows, ["  NAME", "DISTRIBUTION", "DESCRIPTION"], indent=""))
    else:
        click.echo("  (none)")

    selected = report["selected"]
    click.echo("")
    if selected["kind"] == "custom":
        click.echo(
            f"selected: custom class {selected['class']} from {selected['module']} "
            "(SATCHEL_BACKEND_MODULE, SATCHEL_BACKEND_CLASS)"
        )
    else:
        where = f", from {selected['distribution']}" if selected["distribution"] else ""
        click.echo(f"selected: {selected['name']} (SATCHEL_BACKEND{where})")
    if selected["error"]:
        click.echo(f"  error: {selected['error']}")
    settings_rows = [[name, _setting(value)] for name, value in selected["settings"].items()]
    _echo_lines(_table(settings_rows))

    click.echo("")
    click.echo("core settings")
    _echo_lines(_table([[k, _setting(v)] for k, v in report["core_settings"].items()]))

    click.echo("")
    plugins = ", ".join(f"{p['name']} ({p['distribution']})" for p in report["plugins"])
    click.echo(f"plugins: {plugins}")
    click.echo(f"codecs: {', '.join(report['codecs']) or '(none)'}")
    click.echo(f"disabled plugins: {', '.join(report['disabled_plugins']) or '(none)'}")
    if report["failed_plugins"]:
        click.echo("failed plugins:")
        for failure in report["failed_plugins"]:
            click.echo(f"  {failure['name']} ({failure['distribution']}): {failure['error']}")
    else:
        click.echo("failed plugins: (none)")
    if report["unused_variables"]:
        click.echo(
            "unused variables (set, but read by nothing installed; a typo?): "
            + ", ".join(report["unused_variables"])
        )


def _print_variables(plugins: LoadedPlugins, environ: Mapping[str, str], as_json: bool) -> None:
    from satchel.settings import SatchelSettings, describe_variables

    upper_env = {key.upper() for key in environ}
    groups: list[tuple[str, str, Any]] = [("core", "satchel", SatchelSettings)]
    groups += [
        (name, registered.distribution, registered.spec.settings_cls)
        for name, registered in sorted(plugins.backends.items())
        if registered.spec.settings_cls is not None
    ]
    rows: list[dict[str, Any]] = []
    for plugin, distribution, settings_cls in groups:
        for variable in describe_variables(settings_cls):
            rows.append(
                {
                    "plugin": plugin,
                    "distribution": distribution,
                    "name": variable.name,
                    "aliases": list(variable.aliases),
                    "type": variable.type,
                    "default": _masked(variable.default),
                    "secret": variable.secret,
                    "set": any(n.upper() in upper_env for n in (variable.name, *variable.aliases)),
                    "description": variable.description,
                }
            )
    if as_json:
        click.echo(_dumps({"variables": rows}))
        return
    current = None
    for row in rows:
        if row["plugin"] != current:
            if current is not None:
                click.echo("")
            current = row["plugin"]
            click.echo(f"{row['plugin']} ({row['distribution']})")
        flags = [row["type"], f"default: {row['default']}"]
        if row["secret"]:
            flags.append("secret")
        if row["set"]:
            flags.append("set")
        click.echo(f"  {row['name']}  [{', '.join(flags)}]")
        for line in textwrap.wrap(row["description"], 88):
            click.echo(f"      {line}")
        if row["aliases"]:
            click.echo(f"      also read from: {', '.join(row['aliases'])}")


# --------------------------------------------------------------------------------------
# satchel doctor


@cli.command(epilog=_EPILOG)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DOCTOR_TIMEOUT,
    show_default=True,
    help="Seconds each call may take before it counts as a failure; never less than the "
    "backend's own bound (its call_timeout), so that the backend's error, which names the "
    "cause, comes first.",
)
@_json_option
def doctor(timeout: float, as_json: bool) -> None:
    """Open the configured backend, ping it, write, read and delete a probe key and a probe
    log, and report the backend's figures and per-operation metrics.

    Each check prints OK, FAIL or SKIP; doctor stops at the first failing check (the later
    ones print SKIP) and exits with its code.
    """
    _run(_doctor(timeout, as_json), as_json)


class _Doctor:
    """The checks' report, printed as it goes (text) or at the end (``--json``)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.report: dict[str, Any] = {
            "ok": True,
            "backend": None,
            "description": None,
            "distribution": None,
            "namespace": None,
            "capabilities": None,
            "checks": [],
            "warnings": [],
            "notes": [],
            "backend_stats": None,
            "operations": {},
            "error": None,
        }
        self.failure: CommandError | None = None

    def passed(self, name: str, detail: str, elapsed_ms: float | None = None) -> None:
        self.report["checks"].append(
            {"name": name, "status": "ok", "ok": True, "detail": detail, "elapsed_ms": elapsed_ms}
        )
        if not self.as_json:
            took = f" ({elapsed_ms:.2f} ms)" if elapsed_ms is not None else ""
            click.echo(f"OK    {name:<14} {detail}{took}")

    def failed(self, name: str, error: BaseException) -> None:
        self.failure = CommandError.of(error, as_json=self.as_json, reported=True)
        self.report["ok"] = False
        self.report["error"] = self.failure.as_dict()
        self.report["checks"].append(
            {
                "name": name,
                "status": "fail",
                "ok": False,
                "detail": self.failure.message,
                "elapsed_ms": None,
            }
        )
        if not self.as_json:
            click.echo(f"FAIL  {name:<14} {self.failure.message}")

    def skipped(self, name: str, reason: str) -> None:
        self.report["checks"].append(
            {"name": name, "status": "skip", "ok": False, "detail": reason, "elapsed_ms": None}
        )
        if not self.as_json:
            click.echo(f"SKIP  {name:<14} {reason}")

    def warn(self, message: str) -> None:
        self.report["warnings"].append(message)
        if not self.as_json:
            click.echo(f"WARN  {message}")

    def note(self, message: str) -> None:
        self.report["notes"].append(message)
        if not self.as_json:
            click.echo(f"NOTE  {message}")


async def _doctor(timeout: float, as_json: bool) -> None:
    import asyncio
    import os
    import time
    import uuid

    from satchel.errors import BackendUnavailable, SatchelError

    doc = _Doctor(as_json)
    try:
        handle = _open()
    except SatchelError as exc:
        if not as_json:
            raise  # one line on stderr, like every other command
        doc.failed("configuration", exc)
        click.echo(_dumps(doc.report))
        raise CommandError.of(exc, as_json=True, reported=True) from exc

    async with handle:
        backend = handle.raw_backend
        # a backend that states its bound raises within it, naming the cause: wait that long
        bound = getattr(backend, "call_timeout", None)
        limit = timeout
        if isinstance(bound, (int, float)) and not isinstance(bound, bool) and bound > 0:
            limit = max(timeout, float(bound) + DOCTOR_GRACE)

        async def timed(name: str, coroutine: Coroutine[Any, Any, Any]) -> Any:
            try:
                return await asyncio.wait_for(coroutine, limit)
            except asyncio.TimeoutError:
                raise BackendUnavailable(
                    f"{name}: the backend did not answer within {limit:g} s (--timeout)"
                ) from None

        registered = None
        if handle.settings.custom_backend() is None:
            registered = handle.plugins.backends.get(handle.settings.backend)
        doc.report.update(
            backend=backend.name,
            description=backend.describe(),
            distribution=registered.distribution if registered else None,
            namespace=handle.namespace,
            capabilities=_capabilities(backend.capabilities),
        )
        if not as_json:
            click.echo(f"satchel doctor: {backend.describe()}, namespace {handle.namespace!r}")
        if registered is not None:
            origin = f"backend {backend.name!r} from {registered.distribution}"
        else:
            module, class_name = handle.settings.custom_backend() or ("?", "?")
            origin = f"custom class {class_name} from {module}"
        doc.passed("configuration", origin)
        for failure in handle.plugins.failures:
            doc.warn(_one_line(str(failure)))
        for name in _unused_variables(handle.plugins, os.environ):
            doc.warn(f"{name} is set, but nothing installed reads it (a typo?)")
        if not backend.capabilities.shared_across_processes:
            doc.note(
                f"backend {backend.name!r} keeps records in this process only: they are not "
                "shared between processes or replicas, and are lost when the process exits"
            )

        try:
            start = time.perf_counter()
            await timed("ping", handle.ping())
            doc.passed("ping", "the backend answered", (time.perf_counter() - start) * 1000)
        except SatchelError as exc:
            doc.failed("ping", exc)

        if doc.failure is not None:
            doc.skipped("round trip", "the ping failed")
        else:
            kv = handle.kv(DOCTOR_NAMESPACE, ttl=60)
            key = f"probe-{uuid.uuid4().hex}"
            value = {
                "probe": key,
                "text": "naïve café ✓ 日本",
                "numbers": [0, -7, 2.5, 1e300],
                "flags": {"yes": True, "no": False, "none": None},
                "$dollar": 1,
                "dotted.key": {"nested": [1, {"deep": "x"}]},
            }
            try:
                start = time.perf_counter()
                await timed("round trip", kv.set(key, value))
                read = await timed("round trip", kv.get(key))
                if read != value:
                    raise SatchelError(
                        f"round trip: the value read back from key {key!r} in KV namespace "
                        f"{DOCTOR_NAMESPACE!r} differs from the value written: {_compact(read)}"
                    )
                deleted = await timed("round trip", kv.delete(key))
                left = await timed("round trip", kv.exists(key))
                if not deleted or left:
                    raise SatchelError(
                        f"round trip: deleting key {key!r} in KV namespace {DOCTOR_NAMESPACE!r} "
                        f"did not remove it (delete returned {deleted}, exists after: {left})"
                    )
                logs = handle.logs(DOCTOR_NAMESPACE, ttl=60)
                seqs = await timed("round trip", logs.append(key, value, "second"))
                last = await timed("round trip", logs.last(key, 2))
                popped = await timed("round trip", logs.pop(key))
                deleted = await timed("round trip", logs.delete(key))
                length = await timed("round trip", logs.length(key))
                expected = [(seqs[0], value), (seqs[1], "second")]
                if (
                    [(i.seq, i.value) for i in last] != expected
                    or [(i.seq, i.value) for i in popped] != expected[1:]
                    or not deleted
                    or length != 0
                ):
                    raise SatchelError(
                        f"round trip: the probe log {key!r} in log store {DOCTOR_NAMESPACE!r} "
                        f"did not read back what was appended (appended at {seqs}, read "
                        f"{[i.seq for i in last]}, popped {[i.seq for i in popped]}, deleted: "
                        f"{deleted}, length after: {length})"
                    )
                doc.passed(
                    "round trip",
                    f"set, get, delete of a probe key in KV namespace {DOCTOR_NAMESPACE!r}, and "
                    "append, read, pop, delete of a probe log: the values came back equal",
                    (time.perf_counter() - start) * 1000,
                )
            except SatchelError as exc:
                doc.failed("round trip", exc)

        metrics = handle.plugins.metrics
        if doc.failure is not None:
            # stop at the first failure: the stats would only wait for the same cause
            doc.report["operations"] = metrics.snapshot() if metrics else {}
        else:
            try:
                stats = await timed("stats", handle.stats())
                doc.report["backend_stats"] = stats["backend_stats"]
                doc.report["operations"] = stats["operations"]
            except SatchelError as exc:
                doc.warn(f"the backend's stats are unavailable: {_one_line(str(exc))}")
                doc.report["operations"] = metrics.snapshot() if metrics else {}

    if as_json:
        click.echo(_dumps(doc.report))
    else:
        _print_stats(doc.report)
    if doc.failure is not None:
        raise doc.failure


def _capabilities(capabilities: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(capabilities)


def _print_stats(report: dict[str, Any]) -> None:
    if report["backend_stats"] is not None:
        click.echo("")
        click.echo("backend stats")
        rows = [[k, _show(v)] for k, v in report["backend_stats"].items()]
        _echo_lines(_table(rows) or ["  (none)"])
    click.echo("")
    click.echo("operations (this process)")
    operations = report["operations"]
    if not operations:
        click.echo("  (no metrics: the metrics plugin is disabled)")
        return
    columns = ("p50_ms", "p95_ms", "p99_ms", "max_ms")
    rows = [
        [
            name,
            str(entry.get("calls", 0)),
            str(entry.get("errors", 0)),
            *(f"{entry[c]:.3f}" if c in entry else "-" for c in columns),
        ]
        for name, entry in operations.items()
    ]
    header = ["OPERATION", "CALLS", "ERRORS", "P50 MS", "P95 MS", "P99 MS", "MAX MS"]
    _echo_lines(_table(rows, header, right=range(1, 7)))


# --------------------------------------------------------------------------------------
# satchel demo


@cli.command(epilog=_EPILOG)
@_json_option
def demo(as_json: bool) -> None:
    """Run a scripted agent-task lifecycle on the configured backend, printing each step.

    Create a task, pause it, find it by request_id and resume it, complete it, list tasks
    by status and clean up finished ones; then a short key-value and session part. It
    writes to the task store, session store and KV namespace 'satchel-demo' only, and
    removes what it wrote.
    """
    _run(_demo(as_json), as_json)


async def _demo(as_json: bool) -> None:
    from satchel.demo import DEMO_NAMESPACE, DEMO_STORE, DemoStep, run_demo

    steps: list[dict[str, Any]] = []
    section: list[str] = []
    titles = {
        "tasks": f"tasks (task store {DEMO_STORE!r}, model AgentTask)",
        "kv": f"key-value (namespace {DEMO_NAMESPACE!r})",
        "sessions": f"sessions (session store {DEMO_STORE!r})",
    }

    def emit(step: DemoStep) -> None:
        steps.append(
            {"section": step.section, "action": step.action, "detail": step.detail, **step.data}
        )
        if as_json:
            return
        if section[-1:] != [step.section]:
            section.append(step.section)
            click.echo("")
            click.echo(titles.get(step.section, step.section))
        click.echo(f"  {step.action:<9} {step.detail}")

    async with _open() as handle:
        if not as_json:
            click.echo(
                f"satchel demo on {handle.backend.describe()}, namespace {handle.namespace!r}"
            )
        await run_demo(handle, emit)
        if as_json:
            click.echo(
                _dumps(
                    {
                        "backend": handle.raw_backend.name,
                        "namespace": handle.namespace,
                        "steps": steps,
                    }
                )
            )
        else:
            click.echo("")
            click.echo("done: the demo removed everything it wrote")


# --------------------------------------------------------------------------------------
# satchel kv


@cli.group(epilog=_EPILOG)
def kv() -> None:
    """Read and write key-value namespaces.

    Values are JSON. With the memory backend each command runs in its own process, so a
    value set by one command is gone by the next: use a shared backend (Redis, MongoDB).
    """


def _entry_document(namespace: str, entry: Entry) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "key": entry.key,
        "value": entry.value,
        "version": entry.version,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "expires_at": entry.expires_at,
    }


def _strict_json(text: str) -> Any:
    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON value")

    return json.loads(text, parse_constant=reject)


def _loose_json(text: str) -> Any:
    """``text`` parsed as JSON, or the string itself when it is not JSON."""
    try:
        return _strict_json(text)
    except ValueError:
        return text


@kv.command("get", epilog=_EPILOG)
@click.argument("namespace")
@click.argument("key")
@_json_option
def kv_get(namespace: str, key: str, as_json: bool) -> None:
    """Print the value under KEY as JSON (exit 1 when there is none).

    With --json: the value with its version and timestamps.
    """
    _run(_kv_get(namespace, key, as_json), as_json)


async def _kv_get(namespace: str, key: str, as_json: bool) -> None:
    from satchel.errors import NotFound

    async with _open() as handle:
        entry = await handle.kv(namespace).get_entry(key)
        if entry is None:
            raise NotFound(
                f"no value under key {key!r} in KV namespace {namespace!r}"
                + _process_local_hint(handle)
            )
    if as_json:
        click.echo(_dumps(_entry_document(namespace, entry)))
    else:
        click.echo(_dumps(entry.value))


@kv.command("set", epilog=_EPILOG)
@click.argument("namespace")
@click.argument("key")
@click.argument("value")
@click.option(
    "--ttl",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds the value lives (default: SATCHEL_DEFAULT_TTL, else it never expires).",
)
@click.option(
    "--string",
    "as_string",
    is_flag=True,
    help="Store VALUE as a string, verbatim, instead of parsing it as JSON.",
)
@_json_option
def kv_set(
    namespace: str, key: str, value: str, ttl: float | None, as_string: bool, as_json: bool
) -> None:
    """Store VALUE under KEY. VALUE is JSON ('{"step": 5}', '42', '"text"', 'true');
    text that is not JSON is a usage error unless --string is given."""
    if as_string:
        parsed: Any = value
    else:
        try:
            parsed = _strict_json(value)
        except ValueError as exc:
            raise click.BadParameter(
                f"{value!r} is not JSON ({exc}); pass --string to store it as a string",
                param_hint="VALUE",
            ) from None
    _run(_kv_set(namespace, key, parsed, ttl, as_json), as_json)


async def _kv_set(namespace: str, key: str, value: Any, ttl: float | None, as_json: bool) -> None:
    from satchel.stores.base import DEFAULT

    async with _open() as handle:
        version = await handle.kv(namespace).set(key, value, ttl=DEFAULT if ttl is None else ttl)
        effective_ttl = ttl if ttl is not None else handle.settings.default_ttl
    if as_json:
        click.echo(
            _dumps({"namespace": namespace, "key": key, "version": version, "ttl": effective_ttl})
        )
    else:
        expiry = f", expires in {effective_ttl:g} s" if effective_ttl is not None else ""
        click.echo(f"set {key!r} in KV namespace {namespace!r}: version {version}{expiry}")


@kv.command("del", epilog=_EPILOG)
@click.argument("namespace")
@click.argument("key")
@_json_option
def kv_del(namespace: str, key: str, as_json: bool) -> None:
    """Delete the value under KEY (exit 1 when there is none)."""
    _run(_kv_del(namespace, key, as_json), as_json)


async def _kv_del(namespace: str, key: str, as_json: bool) -> None:
    from satchel.errors import NotFound

    async with _open() as handle:
        if not await handle.kv(namespace).delete(key):
            raise NotFound(
                f"no value under key {key!r} in KV namespace {namespace!r}"
                + _process_local_hint(handle)
            )
    if as_json:
        click.echo(_dumps({"namespace": namespace, "key": key, "deleted": True}))
    else:
        click.echo(f"deleted {key!r} from KV namespace {namespace!r}")


@kv.command("keys", epilog=_EPILOG)
@click.argument("namespace")
@click.argument("pattern", default="*")
@_json_option
def kv_keys(namespace: str, pattern: str, as_json: bool) -> None:
    """List the keys matching the glob PATTERN (default '*'), sorted, one per line.

    The pattern language is Redis's: * any run, ? one character, [abc] a set, and a
    backslash escapes the next character.
    """
    _run(_kv_keys(namespace, pattern, as_json), as_json)


async def _kv_keys(namespace: str, pattern: str, as_json: bool) -> None:
    async with _open() as handle:
        keys = await handle.kv(namespace).keys(pattern)
        hint = _process_local_hint(handle)
    if as_json:
        click.echo(_dumps({"namespace": namespace, "pattern": pattern, "keys": keys}))
        return
    for key in keys:
        click.echo(key)
    if not keys:
        click.echo(f"no keys match {pattern!r} in KV namespace {namespace!r}{hint}", err=True)


@kv.command("namespaces", epilog=_EPILOG)
@_json_option
def kv_namespaces(as_json: bool) -> None:
    """List the KV namespaces that hold at least one value."""
    _run(_kv_namespaces(as_json), as_json)


async def _kv_namespaces(as_json: bool) -> None:
    async with _open() as handle:
        names = await handle.namespaces()
    if as_json:
        click.echo(_dumps({"namespaces": names}))
        return
    for name in names:
        click.echo(name)


def _parse_condition(text: str) -> tuple[str, str, Any]:
    parts = text.split(None, 2)
    if len(parts) == 2 and parts[1] == "exists":
        return parts[0], "exists", True
    if len(parts) != 3:
        raise click.BadParameter(
            f"{text!r}: write 'FIELD OP VALUE', e.g. 'step gte 3' or 'user.name eq alice'",
            param_hint="--where",
        )
    return parts[0], parts[1], _loose_json(parts[2])


@kv.command("query", epilog=_EPILOG)
@click.argument("namespace")
@click.option(
    "--where",
    "-w",
    "where",
    multiple=True,
    metavar='"FIELD OP VALUE"',
    help="A condition; repeat for AND. OP: eq neq gt gte lt lte in contains startswith "
    "endswith exists. VALUE is parsed as JSON, else taken as a string.",
)
@click.option(
    "--order-by",
    "-o",
    "order_by",
    multiple=True,
    metavar="FIELD|-FIELD",
    help="Sort by FIELD (-FIELD: descending); repeat for more keys. Ties by key.",
)
@click.option(
    "--select", "-s", "select", multiple=True, metavar="FIELD", help="Return only these fields."
)
@click.option("--limit", "-n", type=click.IntRange(min=0), help="At most this many entries.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@click.option("--cursor", help="The next-page cursor a previous run of the same query printed.")
@click.option("--count", "count_only", is_flag=True, help="Print only how many entries match.")
@_json_option
def kv_query(
    namespace: str,
    where: tuple[str, ...],
    order_by: tuple[str, ...],
    select: tuple[str, ...],
    limit: int | None,
    offset: int,
    cursor: str | None,
    count_only: bool,
    as_json: bool,
) -> None:
    """Query a namespace.

    Fields are dotted paths into the value (user.name, items.0.role), 'value' for a
    scalar value, or key, version, created_at, updated_at, expires_at.

    \b
    Examples:
      satchel kv query agent-state -w "step gte 3" -o -step -n 10
      satchel kv query agent-state -w 'model in ["small", "large"]' -s step
      satchel kv query agent-state -w "key startswith agent-" --count
    """
    conditions = [_parse_condition(text) for text in where]
    _run(
        _kv_query(
            namespace,
            conditions,
            list(order_by),
            list(select) or None,
            limit,
            offset,
            cursor,
            count_only,
            as_json,
        ),
        as_json,
    )


async def _kv_query(
    namespace: str,
    where: list[tuple[str, str, Any]],
    order_by: list[str],
    select: list[str] | None,
    limit: int | None,
    offset: int,
    cursor: str | None,
    count_only: bool,
    as_json: bool,
) -> None:
    async with _open() as handle:
        store = handle.kv(namespace)
        if count_only:
            count = await store.count(where)
            click.echo(_dumps({"namespace": namespace, "count": count}) if as_json else count)
            return
        page = await store.query(
            where, order_by=order_by, select=select, limit=limit, offset=offset, cursor=cursor
        )
    if as_json:
        click.echo(
            _dumps(
                {
                    "namespace": namespace,
                    "items": [_entry_document(namespace, e) for e in page.items],
                    "next_cursor": page.next_cursor,
                }
            )
        )
        return
    rows = [
        [e.key, str(e.version), _when(e.updated_at), _clip(_compact(e.value))] for e in page.items
    ]
    _echo_lines(_table(rows, ["KEY", "VERSION", "UPDATED", "VALUE"], right=[1], indent=""))
    noun = "entry" if len(page.items) == 1 else "entries"
    click.echo(f"{len(page.items)} {noun}")
    if page.next_cursor is not None:
        click.echo(f"next page: --cursor {page.next_cursor}")


# --------------------------------------------------------------------------------------
# satchel tasks


_store_option = click.option(
    "--store",
    default="tasks",
    show_default=True,
    help="The task store's name (as in store.tasks(Model, name=...)).",
)


@cli.group(epilog=_EPILOG)
def tasks() -> None:
    """Inspect stored agent tasks, whatever their model.

    Tasks are read as plain JSON, so these commands need no import of your task model.
    """


def _task_collection(handle: Satchel, store: str) -> str:
    from satchel.stores.base import collection_name
    from satchel.validation import check_name

    return collection_name(handle.namespace, "task", check_name(store, "--store"))


def _task_summary(record: Record, status_field: str) -> dict[str, Any]:
    value = record.value if isinstance(record.value, dict) else {}
    items = value.get("items")
    return {
        "task_id": record.key,
        "status": value.get(status_field),
        "user_id": value.get("user_id"),
        "session_id": value.get("session_id"),
        "items": len(items) if isinstance(items, list) else None,
        "version": record.version,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "expires_at": record.expires_at,
    }


@tasks.command("ls", epilog=_EPILOG)
@_store_option
@click.option(
    "--status",
    multiple=True,
    help="Only tasks with this status (exact, e.g. Running); repeat for any of several.",
)
@click.option(
    "--status-field", default="status", show_default=True, help="The field holding the status."
)
@click.option(
    "--limit", "-n", type=click.IntRange(min=0), default=50, show_default=True, help="At most."
)
@click.option("--cursor", help="The next-page cursor a previous run printed.")
@_json_option
def tasks_ls(
    store: str,
    status: tuple[str, ...],
    status_field: str,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """List tasks, most recently updated first."""
    _run(_tasks_ls(store, list(status), status_field, limit, cursor, as_json), as_json)


async def _tasks_ls(
    store: str,
    statuses: list[str],
    status_field: str,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    from satchel.query import Query

    where = [(status_field, "in", statuses)] if statuses else None
    async with _open() as handle:
        collection = _task_collection(handle, store)
        query = Query.build(where, "-updated_at", None, limit, 0, cursor)
        page = await handle.backend.query(collection, query)
        namespace, hint = handle.namespace, _process_local_hint(handle)
    found = [_task_summary(record, status_field) for record in page.items]
    if as_json:
        click.echo(
            _dumps(
                {
                    "store": store,
                    "namespace": namespace,
                    "tasks": found,
                    "next_cursor": page.next_cursor,
                }
            )
        )
        return
    if not found:
        click.echo(f"no tasks in task store {store!r} (namespace {namespace!r}){hint}")
        return
    rows = [
        [
            t["task_id"],
            _show(t["status"]) if t["status"] is not None else "-",
            str(t["items"]) if t["items"] is not None else "-",
            str(t["user_id"] or "-"),
            str(t["session_id"] or "-"),
            _when(t["updated_at"]),
            str(t["version"]),
        ]
        for t in found
    ]
    header = ["TASK_ID", "STATUS", "ITEMS", "USER", "SESSION", "UPDATED", "VERSION"]
    _echo_lines(_table(rows, header, right=[2, 6], indent=""))
    if page.next_cursor is not None:
        click.echo(f"next page: --cursor {page.next_cursor}")


@tasks.command("show", epilog=_EPILOG)
@click.argument("task_id", required=False)
@click.option("--request-id", help="Find the task by a request_id of one of its items instead.")
@_store_option
@_json_option
def tasks_show(task_id: str | None, request_id: str | None, store: str, as_json: bool) -> None:
    """Show one task: its fields, its items and its record metadata (exit 1 when missing)."""
    if (task_id is None) == (request_id is None):
        raise click.UsageError("give either TASK_ID or --request-id")
    _run(_tasks_show(task_id, request_id, store, as_json), as_json)


async def _tasks_show(
    task_id: str | None, request_id: str | None, store: str, as_json: bool
) -> None:
    from satchel.errors import NotFound

    async with _open() as handle:
        collection = _task_collection(handle, store)
        record: Record | None
        if task_id is not None:
            record = await handle.backend.get(collection, task_id)
            wanted = f"task {task_id!r}"
        else:
            assert request_id is not None
            # The most recently updated one, as TaskStore.load_by_request_id chooses.
            found = await handle.backend.find(collection, "request_id", request_id)
            epoch = datetime.min.replace(tzinfo=timezone.utc)
            found.sort(key=lambda r: r.key)
            found.sort(key=lambda r: (r.updated_at or epoch, r.version), reverse=True)
            record = found[0] if found else None
            wanted = f"a task with request_id {request_id!r}"
        if record is None:
            raise NotFound(
                f"no {wanted} in task store {store!r} (namespace {handle.namespace!r})"
                + _process_local_hint(handle)
            )
        namespace = handle.namespace
    if as_json:
        click.echo(
            _dumps(
                {
                    "store": store,
                    "namespace": namespace,
                    "task_id": record.key,
                    "version": record.version,
                    "created_at": record.created_at,
                    "updated_at": record.updated_at,
                    "expires_at": record.expires_at,
                    "task": record.value,
                }
            )
        )
        return
    _print_task(record)


def _print_task(record: Record) -> None:
    value = record.value if isinstance(record.value, dict) else {"value": record.value}
    scalars = [[k, _show(v)] for k, v in value.items() if not isinstance(v, (dict, list))]
    _echo_lines(_table(scalars, indent=""))
    items = value.get("items")
    if isinstance(items, list):
        click.echo("")
        click.echo(f"items ({len(items)})")
        rows = []
        for number, item in enumerate(items, 1):
            entry = item if isinstance(item, dict) else {}
            content = entry.get("item")
            content = content if isinstance(content, dict) else {}
            text = _show(content.get("content", "")).replace("\n", " ")
            if entry.get("pending_tool_calls"):
                text += f"  [pending tool calls: {_compact(entry['pending_tool_calls'])}]"
            rows.append(
                [
                    str(number),
                    str(entry.get("request_id", "-")),
                    str(entry.get("role", "-")),
                    str(content.get("content_type", "-")),
                    _clip(text),
                ]
            )
        _echo_lines(_table(rows, ["#", "REQUEST_ID", "ROLE", "TYPE", "CONTENT"], right=[0]))
    others = [[k, _clip(_compact(v))] for k, v in value.items() if isinstance(v, (dict, list))]
    others = [row for row in others if row[0] != "items"]
    if others:
        click.echo("")
        _echo_lines(_table(others, indent=""))
    click.echo("")
    click.echo("record")
    metadata = [
        ["version", str(record.version)],
        ["created_at", _when(record.created_at)],
        ["updated_at", _when(record.updated_at)],
        ["expires_at", _when(record.expires_at) if record.expires_at else "never"],
    ]
    _echo_lines(_table(metadata))


@tasks.command("stores", epilog=_EPILOG)
@_json_option
def tasks_stores(as_json: bool) -> None:
    """List the task stores that hold at least one task."""
    _run(_tasks_stores(as_json), as_json)


async def _tasks_stores(as_json: bool) -> None:
    from satchel.stores.base import collection_name

    async with _open() as handle:
        prefix = collection_name(handle.namespace, "task", "")
        names = [
            c[len(prefix) :] for c in await handle.backend.collections() if c.startswith(prefix)
        ]
        namespace = handle.namespace
    if as_json:
        click.echo(_dumps({"namespace": namespace, "stores": names}))
        return
    for name in names:
        click.echo(name)


if __name__ == "__main__":
    main()
