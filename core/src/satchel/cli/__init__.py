"""The ``satchel`` command line: inspect the configuration, check a backend, read, write
and maintain the stores.

Every command reads the same environment as :func:`satchel.open` (``SATCHEL_BACKEND``,
``SATCHEL_<NAME>_*``, ...), goes through the handle and its stores, prints aligned text,
or JSON with stable keys under ``--json``, and exits with one of the codes in
:data:`EXIT_CODES`. A failure is one line, ``satchel: error: <message>``, on stderr: never
a traceback, never a secret. Destructive commands ask for confirmation unless ``--yes``,
and take ``--dry-run``.

One module per command group, each adding its commands to :data:`cli`
(:mod:`satchel.cli.root`): :mod:`~satchel.cli.backends`, :mod:`~satchel.cli.doctor`,
:mod:`~satchel.cli.demo`, :mod:`~satchel.cli.kv`, :mod:`~satchel.cli.tasks`,
:mod:`~satchel.cli.sessions`, :mod:`~satchel.cli.maintenance`,
:mod:`~satchel.cli.transfer`, :mod:`~satchel.cli.instances`; a new group is one more
module and one more line in :data:`COMMAND_MODULES`. What they print and how they fail is
:mod:`satchel.cli.output`; opening the handle is :mod:`satchel.cli.common`.

Only :mod:`click` and a few standard modules are imported when the commands are
registered; satchel's own modules, asyncio and the backends are imported inside the
commands, so that ``satchel --help`` stays fast.
"""

from __future__ import annotations

import importlib

from satchel.cli.output import (
    EXIT_BACKEND_UNAVAILABLE,
    EXIT_BROKEN_PIPE,
    EXIT_CODES,
    EXIT_CONFIG,
    EXIT_DECLINED,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    exit_code_for,
)
from satchel.cli.root import cli, main

__all__ = [
    "COMMAND_MODULES",
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
    "cli",
    "exit_code_for",
    "main",
]

#: The modules that add commands to :data:`cli`, in the order ``--help`` has no say in
#: (click sorts the commands by name).
COMMAND_MODULES: tuple[str, ...] = (
    "backends",
    "doctor",
    "demo",
    "kv",
    "tasks",
    "sessions",
    "maintenance",
    "transfer",
    "instances",
)

for _module in COMMAND_MODULES:
    importlib.import_module(f"satchel.cli.{_module}")
