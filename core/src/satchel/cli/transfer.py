"""``satchel copy``, ``satchel export`` and ``satchel import``: records moved between backends
and to and from files, with their metadata (:mod:`satchel.transfer`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from satchel.cli.common import open_handle, unused_variables
from satchel.cli.output import (
    EPILOG,
    confirm,
    dry_run_option,
    dumps,
    json_option,
    run,
    yes_option,
)
from satchel.cli.root import cli

if TYPE_CHECKING:
    from satchel.handle import Satchel
    from satchel.transfer import Progress, Report

__all__ = ["copy", "export", "import_", "open_end", "read_env_file"]

#: URL schemes an end may be given as, and the backend each names.
SCHEMES: dict[str, tuple[str, str]] = {
    "redis://": ("redis", "url"),
    "rediss://": ("redis", "url"),
    "unix://": ("redis", "url"),
    "mongodb://": ("mongodb", "uri"),
    "mongodb+srv://": ("mongodb", "uri"),
}

_END_HELP = (
    "a URL (redis://..., rediss://..., unix://..., mongodb://..., mongodb+srv://...), an "
    "environment file (KEY=VALUE lines, as SATCHEL_BACKEND=redis), or a backend's name; "
    "default: this environment"
)


def read_env_file(path: Path, option: str) -> dict[str, str]:
    """The variables of an environment file: ``KEY=VALUE`` lines (``export`` before the key,
    quotes around the value and ``#`` comment lines allowed). A line that is none of these
    is a usage error naming ``option`` and the line's number (never its text: it may hold
    a password)."""
    environ: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {str(path)!r}: {exc}", param_hint=option) from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise click.BadParameter(
                f"{str(path)!r} line {number}: not KEY=VALUE", param_hint=option
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        environ[name] = value
    return environ


def open_end(spec: str | None, option: str) -> Satchel:
    """The handle an end of a copy names (see :data:`_END_HELP`): a URL opens its backend
    with that URL (the other settings from this environment), an existing file is read as
    the environment to open, a name opens that backend; ``None``: this environment."""
    import os

    from satchel.handle import open as open_satchel

    if spec is None:
        return open_handle()
    head, sep, rest = spec.partition("://")
    if sep:  # a URL's scheme is read in any case (RFC 3986), and passed on in lower case
        spec = f"{head.lower()}://{rest}"
    for scheme, (backend, field) in SCHEMES.items():
        if spec.startswith(scheme):
            return open_satchel(backend=backend, backend_settings={field: spec}, environ=os.environ)
    if "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise click.BadParameter(
            f"a URL of scheme {scheme!r} names no backend satchel knows; use "
            f"{', '.join(SCHEMES)}, an environment file or a backend's name",
            param_hint=option,
        )
    path = Path(spec)
    if path.is_file():
        environ = read_env_file(path, option)
        handle = open_satchel(environ=environ)
        for name in unused_variables(handle.plugins, environ):
            click.echo(
                f"warning: {option} {str(path)!r}: {name} is set, but nothing installed reads "
                "it (a typo?)",
                err=True,
            )
        return handle
    if spec.replace("-", "_").isidentifier():
        return open_satchel(backend=spec, environ=os.environ)
    # a mistyped URL (redis:/:password@host) may hold a password: repeated only when it
    # holds none of the characters that set one off
    shown = "the value given" if any(c in spec for c in "@:=") else repr(spec)
    raise click.BadParameter(
        f"{shown}: no such file, not a backend name, and not a URL ({', '.join(SCHEMES)})",
        param_hint=option,
    )


class _Meter:
    """Progress on stderr: a bar with records, rate and time left on a terminal, a line per
    namespace otherwise; nothing under ``--json`` or ``--quiet``."""

    def __init__(self, verb: str, enabled: bool, file: TextIO | None = None) -> None:
        self.verb = verb
        self.enabled = enabled
        self.file = sys.stderr if file is None else file
        self.tty = enabled and self.file.isatty()
        self.bar: Any = None
        self.shown = 0
        self.namespace: str | None = None
        self.namespace_done = 0
        self.started = time.monotonic()

    def __call__(self, event: Progress) -> None:
        if not self.enabled:
            return
        if event.namespace != self.namespace:
            self._namespace_done()
            self.namespace = event.namespace
        self.namespace_done = event.namespace_done
        if self.tty:
            if self.bar is None:
                self.bar = click.progressbar(
                    length=event.expected,
                    label=f"{self.verb} records",
                    show_pos=True,
                    show_eta=True,
                    file=self.file,
                    item_show_func=lambda _: self._rate(),
                )
                self.bar.__enter__()
            self.bar.update(event.done - self.shown)
            self.shown = event.done

    def _rate(self) -> str:
        elapsed = time.monotonic() - self.started
        if not self.shown or elapsed <= 0:
            return ""
        return f"{self.shown / elapsed:,.0f} records/s"

    def _namespace_done(self) -> None:
        if self.namespace is not None and not self.tty:
            click.echo(f"{self.namespace}: {self.namespace_done} records", file=self.file)

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
        self._namespace_done()
        self.namespace = None


@contextmanager
def _metered(verb: str, enabled: bool) -> Iterator[_Meter]:
    meter = _Meter(verb, enabled)
    try:
        yield meter
    finally:
        meter.close()


async def _reachable(source: Satchel | None, target: Satchel | None = None) -> None:
    """Ping each end before anything is read or written (an unreachable one is exit 4,
    also for a dry run or an empty source), and warn when the target keeps records in
    this process only: what is written there is gone when the command ends."""
    if source is not None:
        await source.backend.ping()
    if target is None:
        return
    await target.backend.ping()
    if not target.raw_backend.capabilities.shared_across_processes:
        click.echo(
            f"warning: the target, {target.raw_backend.describe()}, keeps records in this "
            "process only: what is written there is gone when the command ends",
            err=True,
        )


def _report(report: Report, extra: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        **extra,
        "dry_run": report.dry_run,
        "records": dict(report.records),
        "total": report.total,
        "expired": report.expired,
        "skipped": list(report.skipped),
    }
    if report.source is not None and report.target is not None:
        document["verify"] = {
            name: {
                "source": {"records": s.records, "checksum": s.checksum},
                "target": {
                    "records": report.target[name].records,
                    "checksum": report.target[name].checksum,
                }
                if name in report.target
                else None,
            }
            for name, s in report.source.items()
        }
        document["mismatched"] = report.mismatched
    return document


def _print_report(document: dict[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        click.echo(dumps(document))
        return
    for name, count in document["records"].items():
        click.echo(f"{name}: {count} records")
    done = "would be " + verb if document["dry_run"] else verb
    click.echo(f"{document['total']} records {done}")
    if document["expired"]:
        click.echo(f"{document['expired']} of them had expired (stored as expired: absent)")
    for name in document["skipped"]:
        click.echo(f"skipped {name} (logs are not moved)")
    if "mismatched" in document:
        if document["mismatched"]:
            click.echo(f"verify: MISMATCH in {', '.join(document['mismatched'])}")
        else:
            click.echo(f"verify: counts and checksums agree in {len(document['verify'])} stores")


def _namespaces(values: tuple[str, ...]) -> list[str] | None:
    return list(values) or None


_namespace_option = click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    metavar="NAME",
    help="Only this store's collection (kv:NAME, task:NAME, session:NAME); repeatable. "
    "Default: every one.",
)
_batch_option = click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=10_000),
    default=500,
    show_default=True,
    help="Records read and written per round trip.",
)
_quiet_option = click.option("--quiet", is_flag=True, help="No progress on stderr.")


@cli.command("copy", epilog=EPILOG)
@click.option("--from", "source", metavar="SOURCE", help=f"Where to copy from: {_END_HELP}.")
@click.option("--to", "target", metavar="TARGET", required=True, help=f"Where to: {_END_HELP}.")
@_namespace_option
@_batch_option
@click.option(
    "--verify", is_flag=True, help="Afterwards, compare counts and checksums on both sides."
)
@_quiet_option
@yes_option
@dry_run_option
@json_option
def copy(
    source: str | None,
    target: str,
    namespaces: tuple[str, ...],
    batch_size: int,
    verify: bool,
    quiet: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Copy every record (or those of --namespace) from one backend to another, with its
    key, value, version, times, expiry and index entries, replacing the target's records
    under the same keys; asks for confirmation unless --yes.

    Streams in batches; a copy interrupted and run again finishes the job. Logs are not
    copied. With --verify, exits 5 when a store's count or checksum differs.

    \b
    Examples:
      satchel copy --to redis://localhost:6379/0 --yes
      satchel copy --from prod.env --to mongodb://localhost:27017 --verify
      satchel copy --from redis://a:6379/0 --to redis://b:6379/0 -n kv:agent-state --dry-run
    """
    run(
        _copy(source, target, _namespaces(namespaces), batch_size, verify, quiet, yes, dry_run,
              as_json),
        as_json,
    )  # fmt: skip


async def _copy(
    source: str | None,
    target: str,
    namespaces: list[str] | None,
    batch_size: int,
    verify: bool,
    quiet: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    from satchel import transfer

    async with open_end(source, "--from") as src, open_end(target, "--to") as dst:
        described = {
            "source": src.raw_backend.describe(),
            "target": dst.raw_backend.describe(),
        }
        await _reachable(src, dst)
        if not dry_run:
            confirm(
                f"Copy from {described['source']} to {described['target']}, replacing "
                "records under the same keys there?",
                yes=yes,
                as_json=as_json,
            )
        with _metered("copying", not (quiet or as_json)) as meter:
            report = await transfer.copy(
                src,
                dst,
                namespaces,
                batch_size=batch_size,
                progress=meter,
                dry_run=dry_run,
                verify=verify,
            )
    document = _report(report, described)
    _print_report(document, "copied", as_json)
    _fail_on_mismatch(document, as_json)


def _fail_on_mismatch(document: dict[str, Any], as_json: bool) -> None:
    from satchel.cli.output import CommandError

    if document.get("mismatched"):
        raise CommandError(
            f"verify: the target differs from the source in {', '.join(document['mismatched'])}",
            exit_code=5,
            kind="Mismatch",
            as_json=as_json,
            reported=as_json,
        )


@cli.command("export", epilog=EPILOG)
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--from", "source", metavar="SOURCE", help=f"Where to export from: {_END_HELP}.")
@_namespace_option
@click.option(
    "--gzip/--no-gzip", "compress", default=None, help="Compress (default: when FILE ends in .gz)."
)
@_batch_option
@_quiet_option
@json_option
def export(
    file: Path,
    source: str | None,
    namespaces: tuple[str, ...],
    compress: bool | None,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Write every record (or those of --namespace) to FILE as JSON Lines, with its metadata:
    the stable format of docs/moving-data.md (gzip when FILE ends in .gz).

    \b
    Examples:
      satchel export backup.jsonl.gz
      satchel export --from redis://localhost:6379/0 -n kv:agent-state state.jsonl
    """
    run(_export(file, source, _namespaces(namespaces), compress, batch_size, quiet, as_json),
        as_json)  # fmt: skip


async def _export(
    file: Path,
    source: str | None,
    namespaces: list[str] | None,
    compress: bool | None,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    from satchel import transfer

    async with open_end(source, "--from") as src:
        await _reachable(src)
        with _metered("exporting", not (quiet or as_json)) as meter:
            report = await transfer.export(
                src, file, namespaces, gzip=compress, batch_size=batch_size, progress=meter
            )
        document = _report(report, {"source": src.raw_backend.describe(), "file": str(file)})
    _print_report(document, "exported", as_json)


@cli.command("import", epilog=EPILOG)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "target", metavar="TARGET", help=f"Where to import into: {_END_HELP}.")
@_namespace_option
@_batch_option
@_quiet_option
@yes_option
@dry_run_option
@json_option
def import_(
    file: Path,
    target: str | None,
    namespaces: tuple[str, ...],
    batch_size: int,
    quiet: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Restore the records of an export (FILE, gzip or not) with their metadata, each into
    the store it was exported from, replacing records under the same keys; asks for
    confirmation unless --yes.

    The whole file is checked before anything is written: a damaged or truncated file
    writes nothing (exit 2). --dry-run checks it and counts its records.

    \b
    Examples:
      satchel import backup.jsonl.gz --yes
      satchel import state.jsonl --to mongodb://localhost:27017 -n kv:agent-state
    """
    run(_import(file, target, _namespaces(namespaces), batch_size, quiet, yes, dry_run, as_json),
        as_json)  # fmt: skip


async def _import(
    file: Path,
    target: str | None,
    namespaces: list[str] | None,
    batch_size: int,
    quiet: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    from satchel import transfer

    async with open_end(target, "--to") as dst:
        described = {"target": dst.raw_backend.describe(), "file": str(file)}
        await _reachable(None, dst)
        if not dry_run:
            confirm(
                f"Import {str(file)!r} into {described['target']}, replacing records under "
                "the same keys there?",
                yes=yes,
                as_json=as_json,
            )
        with _metered("importing", not (quiet or as_json)) as meter:
            report = await transfer.import_(
                dst, file, namespaces, batch_size=batch_size, progress=meter, dry_run=dry_run
            )
    _print_report(_report(report, described), "imported", as_json)
