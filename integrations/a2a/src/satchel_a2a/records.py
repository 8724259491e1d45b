"""How tasks and push notification configs become satchel KV records: keys scoped by owner,
values in the A2A JSON form (``MessageToDict``, as the SDK's database stores write them),
and the sortable instant that lists tasks in the SDK's order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from a2a.server.context import ServerCallContext
from google.protobuf.json_format import Error as JSONFormatError
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from satchel import CorruptRecord, InvalidArgument
from satchel.validation import check_key

__all__ = [
    "decode_message",
    "encode_message",
    "instant",
    "owner_of",
    "owner_prefix",
    "scoped_key",
]

M = TypeVar("M", bound=Message)

_EPOCH = datetime(1970, 1, 1)


def owner_of(context: Any, resolver: Callable[[ServerCallContext], str]) -> str:
    """The owner ``resolver`` finds in ``context`` (any string, the empty one too: the
    SDK's unauthenticated user)."""
    if not isinstance(context, ServerCallContext):
        raise InvalidArgument(
            f"context: must be the SDK's ServerCallContext, not {type(context).__name__}"
        )
    owner = resolver(context)
    if not isinstance(owner, str):
        raise InvalidArgument(
            f"owner_resolver: must return a string, returned {type(owner).__name__}"
        )
    if not owner.isascii():
        try:
            owner.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(
                "owner_resolver: returned an owner that is not valid Unicode (a lone surrogate)"
            ) from None
    return owner


def owner_prefix(owner: str) -> str:
    """The start of every key of ``owner``: the owner percent-encoded (so it holds no
    ``/``), then ``/``. No key of another owner starts with it."""
    return quote(owner, safe="") + "/"


def scoped_key(owner: str, *parts: str) -> str:
    """``owner/part/.../last``: every part but the last percent-encoded, the last as it is
    (so ``alice/task-1`` for a task, ``alice/task-1/config-1`` for a config)."""
    *scoped, last = parts
    return owner_prefix(owner) + "".join(quote(p, safe="") + "/" for p in scoped) + last


def encode_message(message: Message, argument: str) -> dict[str, Any]:
    """``message`` in the A2A JSON form (camelCase field names, defaults left out)."""
    try:
        body: dict[str, Any] = MessageToDict(message)
    except (JSONFormatError, ValueError, TypeError) as exc:  # NaN in a Struct, a bad time
        raise InvalidArgument(f"{argument}: cannot be written as JSON: {exc}") from None
    return body


def decode_message(value: Any, message: M, what: str) -> M:
    """``message`` filled from its JSON form (read back from the store)."""
    try:
        ParseDict(value, message)
    except (JSONFormatError, TypeError, ValueError) as exc:
        raise CorruptRecord(f"{what}: the stored value is not one: {exc}") from None
    return message


def instant(timestamp: Timestamp, argument: str) -> str:
    """A timestamp as ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ``: fixed width, so that comparing
    two as strings compares the instants, to the nanosecond."""
    seconds, nanos = timestamp.seconds, timestamp.nanos
    if not 0 <= nanos < 1_000_000_000:
        raise InvalidArgument(f"{argument}: nanos must be from 0 to 999999999, not {nanos}")
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidArgument(
            f"{argument}: {seconds} seconds is outside the years 1 to 9999"
        ) from None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{nanos:09d}Z"
    )


def check_id(value: Any, argument: str) -> str:
    """An id the SDK gives (a task id, a config id): a string, possibly empty."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{argument}: must be a string, not {type(value).__name__}")
    if value:
        check_key(value, argument)
    return value
