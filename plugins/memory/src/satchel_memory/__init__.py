"""satchel-memory: the in-memory reference backend of satchel.

Installed with ``satchel`` and selected by default (``SATCHEL_BACKEND=memory``). Records live
in the process and are gone when it ends; use it in development and tests.
"""

from __future__ import annotations

from satchel_memory.backend import MemoryBackend
from satchel_memory.plugin import MemorySettings

__all__ = ["MemoryBackend", "MemorySettings"]
