"""The ``sqlite`` entry point: settings, the factory and the registration hook.

This module is imported whenever satchel loads its plugins (every ``satchel.open()``, every
CLI command), so it imports nothing heavy: the backend module, and with it the driver, is
imported by the factory, only when the backend is selected.
"""

from __future__ import annotations

from collections.abc import Callable

import satchel
from pydantic import Field
from pydantic_settings import BaseSettings
from satchel import Backend, BackendSpec, SatchelSettings
from satchel.settings import plugin_settings_config


class SqliteSettings(BaseSettings):
    """Settings of the sqlite backend: ``SATCHEL_SQLITE_PATH``, ``SATCHEL_SQLITE_TIMEOUT``."""

    model_config = plugin_settings_config("sqlite")

    path: str = Field("satchel.sqlite3", description="The database file.")
    timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for another process's write to finish."
    )


def build(settings: SqliteSettings, core: SatchelSettings) -> Backend:
    """Build the backend from its settings (core's settings are there if needed)."""
    from satchel_sqlite.backend import SqliteBackend  # the driver is imported here, not above

    return SqliteBackend(settings.path, timeout=settings.timeout)


@satchel.hookimpl
def satchel_register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="sqlite",
            factory=build,
            settings_cls=SqliteSettings,
            description="A SQLite database file, shared by the processes of one machine.",
        )
    )
