"""The reference order of queries: the rank of each type of value (:class:`SortRank`) and
the total-order key of a record under an ``order_by`` (:func:`sort_key`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

from satchel.errors import InvalidQuery
from satchel.query.model import MISSING, Order, _aware, _is_number, check_text, resolve

if TYPE_CHECKING:
    from satchel.backend import Record


class SortRank(IntEnum):
    """The rank of each type of value in satchel's query order.

    ``order_by`` puts values of different types in the order of their ranks (ascending;
    reversed for a descending term), whatever the values are: a missing field and ``null``
    first, then numbers, strings, objects, lists, booleans and datetimes. Within a rank,
    numbers compare as numbers, strings by code point, booleans as ``False < True`` and
    datetimes as instants; objects tie with objects and lists with lists. Ties are broken
    by key, ascending.

    The ranks follow MongoDB's comparison order, so that a server-side sort can agree. A
    backend that sorts or pages on its server uses them: they are the first member of each
    sort atom ``(rank, value)`` of :func:`~satchel.query.cursor_position` and
    :func:`~satchel.query.make_cursor`, and their values (0 to 6) are part of every cursor,
    so they never change.
    """

    #: A missing field, or ``null``.
    NULL = 0
    #: An ``int`` or a ``float`` (not a boolean).
    NUMBER = 1
    #: A string.
    STRING = 2
    #: An object (a ``dict``).
    OBJECT = 3
    #: A list.
    LIST = 4
    #: ``True`` or ``False``.
    BOOLEAN = 5
    #: A ``datetime`` (the atom's value: its Unix timestamp in seconds).
    DATETIME = 6


# plain ints, as sort atoms hold them
_RANK_NULL: Final = int(SortRank.NULL)
_RANK_NUMBER: Final = int(SortRank.NUMBER)
_RANK_STRING: Final = int(SortRank.STRING)
_RANK_OBJECT: Final = int(SortRank.OBJECT)
_RANK_LIST: Final = int(SortRank.LIST)
_RANK_BOOL: Final = int(SortRank.BOOLEAN)
_RANK_DATE: Final = int(SortRank.DATETIME)


def _sort_atom(value: Any) -> tuple[int, Any]:
    if value is MISSING or value is None:
        return (_RANK_NULL, 0)
    if isinstance(value, bool):
        return (_RANK_BOOL, int(value))
    if _is_number(value):
        return (_RANK_NUMBER, value)
    if isinstance(value, str):
        return (_RANK_STRING, value)
    if isinstance(value, datetime):
        return (_RANK_DATE, _aware(value).timestamp())
    if isinstance(value, dict):
        return (_RANK_OBJECT, 0)
    return (_RANK_LIST, 0)


def _valid_text(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogate)."""
    try:
        check_text(text, "text")
    except InvalidQuery:
        return False
    return True


class _Reversed:
    """Inverts the order of what it wraps, for descending terms."""

    __slots__ = ("atom",)

    def __init__(self, atom: tuple[int, Any]) -> None:
        self.atom = atom

    def __lt__(self, other: _Reversed) -> bool:
        return other.atom < self.atom

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.atom == self.atom

    def __hash__(self) -> int:
        return hash(self.atom)


def _atoms_key(
    atoms: Sequence[tuple[int, Any]], orders: Sequence[Order], key: str
) -> tuple[Any, ...]:
    parts: list[Any] = [
        _Reversed(atom) if order.descending else atom
        for atom, order in zip(atoms, orders, strict=True)
    ]
    parts.append(key)
    return tuple(parts)


def sort_key(record: Record, orders: Sequence[Order]) -> tuple[Any, ...]:
    """The total-order key of ``record`` under ``orders`` (the key breaks ties)."""
    atoms = [_sort_atom(resolve(record, o.field)) for o in orders]
    return _atoms_key(atoms, orders, record.key)
