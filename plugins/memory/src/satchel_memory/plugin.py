"""The ``memory`` entry point: registers :class:`~satchel_memory.backend.MemoryBackend`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings

from satchel import BackendSpec, hookimpl
from satchel.settings import plugin_settings_config

if TYPE_CHECKING:
    from collections.abc import Callable

    from satchel.backend import Backend
    from satchel.settings import SatchelSettings

__all__ = ["MemorySettings", "satchel_register_backends"]


class MemorySettings(BaseSettings):
    """Settings of the memory backend (``SATCHEL_MEMORY_*``)."""

    model_config = plugin_settings_config("memory")

    max_value_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="The largest value accepted, in bytes of UTF-8 JSON (the same default "
        "as MongoDB's document limit, so that code that works here works there).",
    )


def build(settings: MemorySettings, core: SatchelSettings) -> Backend:
    """Build the backend from its settings."""
    from satchel_memory.backend import MemoryBackend

    return MemoryBackend(max_value_bytes=settings.max_value_bytes)


@hookimpl
def satchel_register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="memory",
            factory=build,
            settings_cls=MemorySettings,
            description="In this process's memory; zero configuration (the default).",
        )
    )
