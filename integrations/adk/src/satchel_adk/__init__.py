"""satchel-adk: a session service for Google's Agent Development Kit that keeps sessions,
their events and the ``app:``/``user:`` state in satchel, on whichever backend it is
configured with (memory, Redis, MongoDB)::

    from google.adk.runners import Runner
    from satchel_adk import SatchelSessionService

    service = SatchelSessionService()  # SATCHEL_BACKEND=redis, ...
    runner = Runner(agent=agent, app_name="app", session_service=service)

See ``docs/adk.md``.
"""

from __future__ import annotations

from satchel.shared import close_shared_store, shared_store
from satchel_adk.errors import SessionAlreadyExists, SessionNotFound, StaleSession
from satchel_adk.service import DEFAULT_PREFIX, SatchelSessionService, SessionPage

__all__ = [
    "DEFAULT_PREFIX",
    "SatchelSessionService",
    "SessionAlreadyExists",
    "SessionNotFound",
    "SessionPage",
    "StaleSession",
    "close_shared_store",
    "shared_store",
]
