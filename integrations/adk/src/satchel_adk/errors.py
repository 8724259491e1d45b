"""The errors of satchel-adk: each is both satchel's error and the one ADK's own services
raise for the same case, so code written for either catches it."""

from __future__ import annotations

from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError

from satchel import AlreadyExists, Conflict, NotFound

__all__ = ["SessionAlreadyExists", "SessionNotFound", "StaleSession"]


class SessionAlreadyExists(AlreadyExists, AlreadyExistsError):
    """``create_session`` was given the id of a session that exists; it is left as it was.
    A :class:`satchel.AlreadyExists` and ADK's ``AlreadyExistsError``."""


class SessionNotFound(NotFound, SessionNotFoundError):
    """``append_event`` was given a session that does not exist (or was deleted, or
    expired); nothing was committed, and a log the call appended to is deleted. A
    :class:`satchel.NotFound` and ADK's ``SessionNotFoundError``."""


class StaleSession(Conflict, StaleSessionError):
    """``append_event`` found that another writer changed the session since the caller's
    copy was read, in a way the event conflicts with; nothing was committed (an entry
    appended to the log by an attempt that lost the race is never read). Reload the session
    (``get_session``) and try again. A :class:`satchel.Conflict` and ADK's
    ``StaleSessionError`` (a ``ValueError``), which ADK's ``Runner`` expects."""
