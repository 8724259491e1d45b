"""``satchel doctor``: open the backend, ping it, round-trip a probe, report figures."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import click

from satchel.cli.common import open_handle, unused_variables
from satchel.cli.output import (
    EPILOG,
    CommandError,
    compact,
    dumps,
    echo_lines,
    json_option,
    one_line,
    run,
    show_value,
    table,
)
from satchel.cli.root import cli

__all__ = ["DOCTOR_GRACE", "DOCTOR_NAMESPACE", "DOCTOR_TIMEOUT", "doctor"]

#: Seconds each call of ``satchel doctor`` may take, unless the backend's bound is longer.
DOCTOR_TIMEOUT = 10.0
#: Added to a backend's ``call_timeout``: the backend's own error comes first.
DOCTOR_GRACE = 1.0
#: The KV namespace ``satchel doctor`` writes its probe key to.
DOCTOR_NAMESPACE = "satchel-doctor"


def _seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """``--timeout``: NaN passes FloatRange (it compares false both ways) and would time
    every call out at once, reported as an unavailable backend."""
    if value != value:
        raise click.BadParameter("nan is not a number of seconds", ctx, param)
    return value


@cli.command(epilog=EPILOG)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    callback=_seconds,
    default=DOCTOR_TIMEOUT,
    show_default=True,
    help="Seconds each call may take before it counts as a failure; never less than the "
    "backend's own bound (its call_timeout), so that the backend's error, which names the "
    "cause, comes first.",
)
@json_option
def doctor(timeout: float, as_json: bool) -> None:
    """Open the configured backend, ping it, write, read and delete a probe key and a probe
    log, and report the backend's figures and per-operation metrics.

    Each check prints OK, FAIL or SKIP; doctor stops at the first failing check (the later
    ones print SKIP) and exits with its code.
    """
    run(_doctor(timeout, as_json), as_json)


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
        handle = open_handle()
    except SatchelError as exc:
        if not as_json:
            raise  # one line on stderr, like every other command
        doc.failed("configuration", exc)
        # every check is listed, as after any failing check: the later ones skipped
        doc.skipped("ping", "the configuration failed")
        doc.skipped("round trip", "the configuration failed")
        click.echo(dumps(doc.report))
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
            doc.warn(one_line(str(failure)))
        for name in unused_variables(handle.plugins, os.environ):
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
                        f"{DOCTOR_NAMESPACE!r} differs from the value written: {compact(read)}"
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
                doc.warn(f"the backend's stats are unavailable: {one_line(str(exc))}")
                doc.report["operations"] = metrics.snapshot() if metrics else {}

    if as_json:
        click.echo(dumps(doc.report))
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
        rows = [[k, show_value(v)] for k, v in report["backend_stats"].items()]
        echo_lines(table(rows) or ["  (none)"])
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
    echo_lines(table(rows, header, right=range(1, 7)))
