"""The ``satchel`` command group and the console script; each command module adds its
commands to :data:`cli`."""

from __future__ import annotations

from collections.abc import Sequence

import click

from satchel.cli.output import EPILOG

__all__ = ["cli", "main"]


@click.group(
    epilog=EPILOG,
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
    _never_fail_to_encode()
    cli.main(args=list(argv) if argv is not None else None, prog_name="satchel")


def _never_fail_to_encode() -> None:
    """On a terminal or file whose encoding cannot hold a character (a Latin-1 locale and a
    name in Japanese), print it escaped (``\\u65e5``) rather than fail with a traceback
    after the command did its work. (``--json`` stays valid JSON: it is escaped as JSON
    there, see :func:`satchel.cli.output.dumps`.)"""
    import io
    import sys

    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
