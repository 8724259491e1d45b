"""What every backend needs and should not write again: the stored form of a value, times
in Unix milliseconds, the errors of a conditional write, the check of its conditions, the
ranks of the sort order, and a loop over the pages of a query.

``docs/writing-a-backend.md`` shows each in use; the memory and Redis backends and the
SQLite example of the docs are built on them::

    from satchel.toolkit import check_put_condition, conflict, encode_value, now_ms

    async def put(self, record, *, if_absent=False, if_version=None):
        check_put_condition(if_absent, if_version)
        data, copy = encode_value(record.value, f"value of {record.key!r}", max_bytes=...)
        ...
        if stored_version != if_version:
            raise conflict(record.collection, record.key, if_version, stored_version)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Protocol, TypeVar

from satchel.backend import truncate_ms
from satchel.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    ValueTooLarge,
)
from satchel.query import SortRank
from satchel.validation import decode_json, encode_json

__all__ = [
    "EPOCH",
    "MAX_STORED_DEPTH",
    "Encoded",
    "SortRank",
    "already_exists",
    "check_put_condition",
    "conflict",
    "decode_json",
    "encode_json",
    "encode_value",
    "from_unix_ms",
    "iter_pages",
    "not_found",
    "now_ms",
    "unix_ms",
]

T = TypeVar("T")

# -- values --------------------------------------------------------------------------------

#: How deeply a value a backend stores may nest. The stores refuse values nested deeper
#: than :data:`satchel.validation.MAX_DEPTH` (48); a backend stores what it is given, and
#: what satchel builds around a value (the default log layout, a codec's wrapper, a record
#: written under an earlier, higher limit) nests deeper. This bound only stops a value
#: that contains itself, or one no server would take.
MAX_STORED_DEPTH = 200


class Encoded(NamedTuple):
    """A value as a backend stores it (:func:`encode_value`)."""

    #: Its compact UTF-8 JSON: non-ASCII kept as UTF-8, no spaces, no NaN or infinities.
    data: bytes
    #: A fresh copy of the value, read back from ``data`` (tuples became lists): what the
    #: backend returns to its caller, who may change it at will.
    copy: Any


def encode_value(
    value: Any, what: str, *, max_bytes: int | None = None, setting: str = ""
) -> Encoded:
    """``value`` in its stored form, checked: a JSON value (the rules of
    :func:`satchel.validation.check_json`, with their messages naming the offending part,
    but nested at most :data:`MAX_STORED_DEPTH` levels) of at most ``max_bytes`` bytes of
    JSON (``None``: no limit).

    :param what: names the value in errors, as ``"value of 'k' in 'c'"``.
    :param setting: the setting that holds ``max_bytes``, named in the
        :class:`~satchel.errors.ValueTooLarge` message (``"SATCHEL_FOO_MAX_VALUE_BYTES"``).
    :raises InvalidArgument: ``value`` is not JSON.
    :raises ValueTooLarge: its JSON is over ``max_bytes``.
    """
    try:
        data, copy = encode_json(value, max_depth=MAX_STORED_DEPTH)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{what}: {exc}") from None
    if max_bytes is not None and len(data) > max_bytes:
        source = f" ({setting})" if setting else ""
        raise ValueTooLarge(
            f"{what} is {len(data)} bytes of JSON; the maximum is {max_bytes}{source}"
        )
    return Encoded(data, copy)


# -- times ---------------------------------------------------------------------------------

#: The Unix epoch, as an aware UTC datetime.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def now_ms() -> int:
    """Now, in Unix milliseconds (the instant :func:`satchel.backend.utcnow` gives)."""
    return time.time_ns() // 1_000_000


def unix_ms(at: datetime) -> int:
    """``at`` in Unix milliseconds (truncated; a naive datetime is taken as UTC)."""
    return (truncate_ms(at) - EPOCH) // _MS


def from_unix_ms(ms: int) -> datetime:
    """The aware UTC datetime of ``ms`` Unix milliseconds."""
    return EPOCH + timedelta(milliseconds=ms)


# -- conditional writes --------------------------------------------------------------------


def check_put_condition(if_absent: bool, if_version: int | None) -> None:
    """Refuse a ``put`` given both conditions: they contradict each other (there is a
    record at ``if_version``, and there is none), so no backend picks one of them."""
    if if_absent and if_version is not None:
        raise InvalidArgument("if_absent and if_version: give one or the other")


def conflict(collection: str, key: str, expected: int | None, actual: int) -> Conflict:
    """The :class:`~satchel.errors.Conflict` of a write or delete conditional on version
    ``expected`` that found the record at version ``actual``."""
    return Conflict(
        f"{key!r} in {collection!r} is at version {actual}, not {expected}; "
        "reload it and try again",
        expected=expected,
        actual=actual,
    )


def not_found(collection: str, key: str) -> NotFound:
    """The :class:`~satchel.errors.NotFound` of a write or delete conditional on a version,
    when no live record is under ``key``."""
    return NotFound(f"{key!r} does not exist in {collection!r}")


def already_exists(collection: str, key: str, version: int | None = None) -> AlreadyExists:
    """The :class:`~satchel.errors.AlreadyExists` of a ``put(..., if_absent=True)`` that
    found a live record (at ``version``, when the backend knows it)."""
    at = "" if version is None else f" (version {version})"
    return AlreadyExists(f"{key!r} already exists in {collection!r}{at}")


# -- paging --------------------------------------------------------------------------------


class Paged(Protocol):
    """A page of a paged listing: a :class:`~satchel.backend.Page`, or any object that
    says where the next page starts (``None``: this is the last)."""

    @property
    def next_cursor(self) -> str | None: ...


P = TypeVar("P", bound=Paged)


async def iter_pages(
    fetch: Callable[[str | None], Awaitable[P]], cursor: str | None = None
) -> AsyncIterator[P]:
    """Every page of a paged listing, from ``cursor`` on: ``fetch(cursor)`` gets a page
    (a :class:`~satchel.backend.Page`, or anything with a ``next_cursor``), and its
    ``next_cursor`` is passed to the next call, until it is ``None``::

        async for page in iter_pages(
            lambda cursor: backend.query(collection, Query(limit=500, cursor=cursor))
        ):
            ...
    """
    while True:
        page = await fetch(cursor)
        yield page
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
