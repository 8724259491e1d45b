"""What the commands share: opening the handle the environment selects, and the hints
and checks around it.

satchel's own modules are imported inside the functions (``satchel --help`` stays fast).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from satchel.handle import Satchel
    from satchel.plugins import LoadedPlugins

__all__ = [
    "Duration",
    "remove_one",
    "open_handle",
    "parse_duration",
    "process_local_hint",
    "quiet_plugin_log",
    "store_names",
    "unused_variables",
]


def open_handle() -> Satchel:
    """The handle :func:`satchel.open` gives for this environment.

    A plugin that fails to load is not logged here: when it matters (it provides the
    selected backend) the error says so, and ``backends`` and ``doctor`` list every failure.
    """
    from satchel.handle import open as open_satchel

    with quiet_plugin_log():
        return open_satchel()


def process_local_hint(handle: Satchel) -> str:
    """Why a record written by an earlier command may be missing."""
    if handle.raw_backend.capabilities.shared_across_processes:
        return ""
    return (
        f" (backend {handle.raw_backend.name!r} keeps records in one process only, so what "
        "an earlier satchel command wrote is not here; see docs/cli.md)"
    )


@contextmanager
def quiet_plugin_log() -> Iterator[None]:
    """Silence satchel's plugin-failure warnings while a command reports them itself."""
    import logging

    logger = logging.getLogger("satchel")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def unused_variables(plugins: LoadedPlugins, environ: Mapping[str, str]) -> list[str]:
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


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_DAYS = 999_999_999
_MAX_DURATION = _MAX_DAYS * 86400.0


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``7d``, ``12h``, ``90m``, ``30s``, ``2w`` or
    ``1d12h`` (a plain number is seconds), at most 999999999 days (the longest
    :class:`~datetime.timedelta`); :class:`ValueError` naming the forms otherwise."""
    import re

    stripped = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", stripped):
        seconds = float(stripped)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", stripped)
        if not parts or "".join(n + u for n, u in parts) != stripped:
            raise ValueError(
                f"{text!r} is not a duration: write a number and a unit, s m h d w "
                "(e.g. 7d, 12h, 1d12h), or seconds"
            )
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    # a timedelta holds at most 999999999 days; a longer text would be inf, or overflow
    if not seconds <= _MAX_DURATION:
        raise ValueError(f"{text!r} is too long a duration: at most {_MAX_DAYS} days")
    return seconds


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A click parameter: a duration (:func:`parse_duration`), in seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


async def store_names(handle: Satchel, kind: str) -> list[str]:
    """The names of the stores of ``kind`` (``"task"``, ``"session"``, ...) in the handle's
    namespace that hold at least one record, sorted (their collections are named by
    :func:`satchel.stores.base.collection_name`)."""
    from satchel.stores.base import collection_name

    prefix = collection_name(handle.namespace, kind, "")
    return [c[len(prefix) :] for c in await handle.backend.collections() if c.startswith(prefix)]


async def remove_one(
    *,
    version: int | None,
    expected_version: int | None,
    missing: str,
    subject: str,
    shown: str,
    delete: Callable[[int], Awaitable[object]],
    document: dict[str, Any],
    flag: str,
    verb: str,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    question: str | None = None,
) -> None:
    """Remove one record at the version it was read at, as ``kv del``, ``tasks rm`` and
    ``sessions rm`` do: :class:`~satchel.errors.NotFound` (``missing``) when ``version`` is
    ``None``; :class:`~satchel.errors.Conflict` when ``expected_version`` is given and is
    not ``version`` (``subject`` names the record in that message); under ``dry_run`` the
    report alone; else the question (``question``, or ``"<Verb> <shown>?"``), ``delete(version)``
    and the report: ``document`` with ``flag`` set (JSON), or ``"<verb>d <shown>"``."""
    from satchel.cli.output import confirm, dumps
    from satchel.errors import Conflict, NotFound

    if version is None:
        raise NotFound(missing)
    if expected_version is not None and version != expected_version:
        raise Conflict(
            f"{subject} is at version {version}, not {expected_version} "
            f"(--expected-version): nothing was {verb}d",
            expected=expected_version,
            actual=version,
        )
    document = {**document, "dry_run": dry_run, flag: False}
    if not dry_run:
        confirm(question or f"{verb.capitalize()} {shown}?", yes=yes, as_json=as_json)
        await delete(version)
        document[flag] = True
    if as_json:
        click.echo(dumps(document))
    else:
        click.echo(f"would {verb} {shown}" if dry_run else f"{verb}d {shown}")
