"""The errors of satchel-a2a: satchel errors (under :class:`satchel.SatchelError`), and where
the A2A SDK has an error for the same case, that one too, so that its request handlers
answer the client as they would for their own stores."""

from __future__ import annotations

from a2a.utils.errors import InvalidParamsError

from satchel import CorruptRecord, InvalidArgument

__all__ = ["InvalidListRequest", "PushConfigUnreadable"]


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
