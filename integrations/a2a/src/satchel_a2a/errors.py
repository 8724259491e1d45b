"""The errors of satchel-a2a: satchel errors (under :class:`satchel.SatchelError`), and where
the A2A SDK has an error for the same case, that one too, so that its request handlers
answer the client as they would for their own stores."""

from __future__ import annotations

from a2a.server.cluster.task_store import ConcurrentTaskModificationError
from a2a.utils.errors import InvalidParamsError

from satchel import Conflict, CorruptRecord, InvalidArgument

__all__ = ["InvalidListRequest", "PushConfigUnreadable", "TaskModified"]


class InvalidListRequest(InvalidArgument, InvalidParamsError):
    """A ``ListTasksRequest`` the store cannot answer: a ``page_token`` that is not the
    ``next_page_token`` of the same listing, or a negative ``page_size``. Nothing is read.

    It is also the SDK's ``InvalidParamsError``, so a client gets an invalid-params error.
    """

    def __init__(self, message: str) -> None:
        InvalidArgument.__init__(self, message)
        self.data = None


class PushConfigUnreadable(CorruptRecord):
    """A stored push notification config cannot be read with this store's encryption key
    (it was encrypted with another key, or the store has no key). The message names the
    task and the config, never a key or a secret of the config."""


class TaskModified(Conflict, ConcurrentTaskModificationError):
    """A save with an expected version found the task at another version (or gone, or
    already there when a new task was expected). Nothing was written; load the task and
    decide again.

    It is also the SDK's ``ConcurrentTaskModificationError``, which its request handler
    answers by reloading the task.

    :param task_id: the task.
    :param expected: the version the save expected (``0``: no task).
    :param actual: the stored version (``0``: no task; ``None``: not known).
    """

    def __init__(
        self,
        message: str,
        *,
        task_id: str,
        expected: int | None = None,
        actual: int | None = None,
    ) -> None:
        Conflict.__init__(self, message, expected=expected, actual=actual)
        self.task_id = task_id
