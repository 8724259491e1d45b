"""The one exception hierarchy of satchel.

Every error satchel raises is a :class:`SatchelError`. Driver exceptions never leak
unwrapped: a backend catches them and raises one of these, keeping the original as
``__cause__``. Messages say what went wrong, which key or variable, and what to do; they
never contain a password or a URI with credentials.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "BackendNotFound",
    "BackendUnavailable",
    "BlockingCallInEventLoop",
    "ConfigError",
    "Conflict",
    "CorruptRecord",
    "HandleClosed",
    "InvalidArgument",
    "InvalidQuery",
    "NotFound",
    "PluginError",
    "SatchelError",
    "Unsupported",
    "ValueTooLarge",
]


class SatchelError(Exception):
    """Base class of every error satchel raises.

    The message is always non-empty; ``str(error)`` is the message.
    """

    def __init__(self, message: str) -> None:
        if not message:
            raise ValueError("SatchelError needs a message")
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its state, not by calling the constructor again: a subclass may take
        # other arguments than its message, and a masked error (see
        # satchel.redaction.clean_error) keeps its attributes, so copy and pickle work alike.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[SatchelError], args: tuple[Any, ...], state: dict[str, Any]) -> SatchelError:
    """A :class:`SatchelError` of class ``cls`` with ``args`` and attributes ``state``."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(SatchelError):
    """The configuration (environment variables or settings) is wrong.

    The message names the environment variable and the problem with its value.
    """


class BackendNotFound(ConfigError):
    """The selected backend is not installed, or its plugin failed to load."""


class PluginError(SatchelError):
    """A plugin is broken: a hook that does not exist, or a backend name registered twice."""


class InvalidArgument(SatchelError, ValueError):
    """An argument of a public call is invalid; the message names the argument.

    Raised before anything is written, so a call that raises it changed nothing.
    """


class InvalidQuery(InvalidArgument):
    """A query is malformed: unknown operator, bad field path, a cursor from another query."""


class ValueTooLarge(InvalidArgument):
    """A value is larger than the backend accepts; nothing was written."""


class NotFound(SatchelError, LookupError):
    """The record does not exist (or has expired)."""


class AlreadyExists(SatchelError):
    """A create found a live record under the same key; nothing was written."""


class Conflict(SatchelError):
    """A conditional write or delete found another version than the expected one.

    Nothing was written. Reload the record and try again.
    """

    def __init__(self, message: str, *, expected: int | None = None, actual: int | None = None):
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class BackendUnavailable(SatchelError, ConnectionError):
    """The storage server could not be reached, or did not answer in time."""


class CorruptRecord(SatchelError):
    """Something stored under a satchel key is not a satchel record (or cannot be decoded).

    Raised by a log's ``pop`` after the entries were removed (an entry a codec cannot decode,
    or that is not the store's model), it carries them in :attr:`popped`, as the backend
    returned them, so that nothing popped is lost."""

    #: The entries (:class:`~satchel.backend.LogEntry`) a pop removed before one of them
    #: failed to decode; ``None`` for every other error.
    popped: list[Any] | None = None


class Unsupported(SatchelError, NotImplementedError):
    """The backend cannot do what was asked as the contract requires it (a restore that
    keeps a record's version and times, on a backend that does not implement
    :meth:`~satchel.backend.Backend.restore_many`). Nothing was written."""


class HandleClosed(SatchelError, RuntimeError):
    """A call on a blocking handle (:mod:`satchel.sync`) that was closed, or that was closed
    while the call waited. Open a new handle."""


class BlockingCallInEventLoop(SatchelError, RuntimeError):
    """A blocking call (:mod:`satchel.sync`) was made inside a running event loop, where
    waiting would stall the loop (or deadlock it). Use the async API there, or run the
    blocking call in a worker thread (``await asyncio.to_thread(...)``)."""
