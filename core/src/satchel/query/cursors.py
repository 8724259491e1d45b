"""Cursors: opaque strings that continue a query after the last record of a page, the same
on every backend (:func:`encode_cursor`, :func:`make_cursor`, :func:`decode_cursor`,
:func:`cursor_position`)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from satchel.errors import InvalidQuery
from satchel.query.model import Query, _is_number, resolve
from satchel.query.ordering import (
    _RANK_BOOL,
    _RANK_DATE,
    _RANK_LIST,
    _RANK_NULL,
    _RANK_NUMBER,
    _RANK_OBJECT,
    _RANK_STRING,
    _atoms_key,
    _Reversed,
    _sort_atom,
    _valid_text,
)

if TYPE_CHECKING:
    from satchel.backend import Record


#: The instants a cursor may hold, in seconds since the epoch: those of a ``datetime``, to the
#: millisecond (satchel's precision).
_MIN_INSTANT: Final = datetime.min.replace(tzinfo=timezone.utc).timestamp()
_MAX_INSTANT: Final = datetime.max.replace(microsecond=999000, tzinfo=timezone.utc).timestamp()


def _valid_atom(atom: tuple[int, Any]) -> bool:
    """Whether a decoded cursor atom is one :func:`_sort_atom` can make (so that comparing
    it with real atoms cannot fail)."""
    rank, value = atom
    if rank in (_RANK_NULL, _RANK_OBJECT, _RANK_LIST):
        return value == 0 and _is_number(value)
    if rank == _RANK_BOOL:
        return value in (0, 1) and _is_number(value)
    if rank == _RANK_NUMBER:
        return _is_number(value) and (isinstance(value, int) or math.isfinite(value))
    if rank == _RANK_DATE:  # an instant a datetime can hold (a backend converts it back)
        return _is_number(value) and _MIN_INSTANT <= value <= _MAX_INSTANT
    return rank == _RANK_STRING and isinstance(value, str) and _valid_text(value)


def encode_cursor(query: Query, record: Record) -> str:
    """An opaque cursor that continues ``query`` after ``record``."""
    atoms = [_sort_atom(resolve(record, o.field)) for o in query.order_by]
    return make_cursor(query, atoms, record.key)


def make_cursor(query: Query, atoms: Sequence[tuple[int, Any]], key: str) -> str:
    """The cursor :func:`encode_cursor` makes for a record with these sort atoms (see
    :func:`cursor_position` for their form) and this key, for a backend that computes the
    atoms on its server."""
    payload = [query.fingerprint(), [list(a) for a in atoms], key]
    # ASCII escapes: a key or value may hold a lone surrogate, which UTF-8 cannot encode
    text = json.dumps(payload, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(query: Query) -> tuple[Any, ...]:
    """The sort-key position that ``query.cursor`` points after; :class:`InvalidQuery` if bad."""
    assert query.cursor is not None
    not_ours = InvalidQuery("cursor: not a cursor satchel made; pass next_cursor unchanged")
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
        fingerprint, atoms, key = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise not_ours from exc
    if fingerprint != query.fingerprint():
        raise InvalidQuery(
            "cursor: it belongs to a query with other where/order_by; "
            "a cursor only continues the query that returned it"
        )
    try:
        parsed = [(int(rank), value) for rank, value in atoms]
        if (
            not isinstance(key, str)
            or not _valid_text(key)
            or len(parsed) != len(query.order_by)
            or not all(_valid_atom(atom) for atom in parsed)
        ):
            raise ValueError(query.cursor)
    except (ValueError, TypeError, OverflowError) as exc:
        raise not_ours from exc
    return _atoms_key(parsed, query.order_by, key)


def cursor_position(query: Query) -> tuple[list[tuple[int, Any]], str]:
    """Where ``query.cursor`` points: the sort atoms ``(rank, value)`` of the last record
    returned, one per ``order_by`` term, and its key. The ranks are
    :class:`~satchel.query.SortRank` values (0 missing or ``null``, 1 number, 2 string,
    3 object, 4 list, 5 boolean, 6 datetime, whose value is a Unix timestamp in seconds); the
    value of ranks 0, 3 and 4 is 0. A backend that pages on its server continues after this
    position. :class:`InvalidQuery` if the cursor is bad."""
    position = decode_cursor(query)
    atoms = [part.atom if isinstance(part, _Reversed) else part for part in position[:-1]]
    return atoms, position[-1]
