"""How a satchel value becomes a MongoDB document, and back.

A value is stored as the plain BSON its JSON maps to: an object is a sub-document with its
keys in their order, a list is an array, strings, booleans, ``null`` and numbers stay
themselves; an integer beyond 64 bits is a ``Decimal128`` (exact up to 34 digits; longer
integers are refused).

The one change made to a value is the escape of object keys MongoDB cannot store or
address as they are: a key is *escaped* when it is empty, starts with ``$`` or ``%``, or
holds a ``.`` or NUL. An escaped key is ``%`` followed by the key with ``%``, ``.``, ``$``
and NUL written ``%25``, ``%2E``, ``%24`` and ``%00`` (the empty key is ``%`` alone). Every
other key is stored untouched; a stored key starting with ``%`` is always an escaped one.

Strings that read as ISO-8601 datetimes (the grammar of :mod:`satchel.query`) have their
instants (microseconds since the epoch) listed beside the value, in a field of their own,
so that a query comparing with a datetime can narrow its candidates on the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import bson
from bson.decimal128 import Decimal128
from bson.int64 import Int64

from satchel.errors import InvalidArgument, ValueTooLarge
from satchel.query import parse_datetime
from satchel.toolkit import EPOCH, MAX_STORED_DEPTH, encode_json

__all__ = [
    "DIGITS",
    "MAX_DOCUMENT_BYTES",
    "copy_value",
    "decode",
    "document_bytes",
    "encode",
    "encode_copy",
    "escape",
    "instant",
    "string_instant",
    "unescape",
    "value_path",
]

#: MongoDB's largest document.
MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_EPOCH: Final = EPOCH
_NEEDS_ESCAPE: Final = re.compile(r"^[$%]|[.\x00]")
_ESCAPED_CHARS: Final = re.compile(r"[%.$\x00]")
_ESCAPES: Final = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}
_UNESCAPE: Final = re.compile(r"%(25|2E|24|00)")
_UNESCAPES: Final = {"25": "%", "2E": ".", "24": "$", "00": "\x00"}
#: The first character of every string that may read as a datetime.
DIGITS: Final = frozenset("0123456789")


def escape(key: str) -> str:
    """An object key as the field name it is stored under (itself, unless MongoDB cannot
    store or address it as it is, or it starts with the escape mark ``%``)."""
    if key and _NEEDS_ESCAPE.search(key) is None:
        return key
    return "%" + _ESCAPED_CHARS.sub(lambda m: _ESCAPES[m.group()], key)


def unescape(name: str) -> str:
    """The object key that :func:`escape` turned into ``name``."""
    if not name.startswith("%"):
        return name
    return _UNESCAPE.sub(lambda m: _UNESCAPES[m.group(1)], name[1:])


def instant(moment: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def string_instant(text: str) -> int | None:
    """The instant of a string that reads as a datetime, or ``None``."""
    if len(text) < 10 or text[0] not in DIGITS:
        return None
    moment = parse_datetime(text)
    return None if moment is None else instant(moment)


def _number(value: int) -> Any:
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    text = str(value)
    if len(text.lstrip("-")) > 34:
        raise InvalidArgument(
            f"value: the integer {text[:20]}... has {len(text.lstrip('-'))} digits; MongoDB "
            "stores at most 34 exactly (store it as a string)"
        )
    return Decimal128(text)


def _natural(value: Any, instants: list[int], changed: list[bool]) -> Any:
    kind = type(value)
    if kind is str:
        if value and value[0] in DIGITS:
            moment = string_instant(value)
            if moment is not None:
                instants.append(moment)
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if not key or _NEEDS_ESCAPE.search(key) is not None:
                changed.append(True)
                key = escape(key)
            out[key] = _natural(item, instants, changed)
        return out
    if kind is list or kind is tuple:
        return [_natural(item, instants, changed) for item in value]
    if kind is bool or kind is float or value is None:
        return value
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        changed.append(True)
        return _number(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):  # an int subclass
        return _natural(int(value), instants, changed)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return _natural(str(value), instants, changed)
    raise InvalidArgument(f"value: {type(value).__name__} is not a JSON value: {value!r:.80}")


def encode(value: Any) -> tuple[Any, list[int] | None]:
    """``(stored, instants)`` of a JSON value: ``stored`` is its BSON form, ``instants`` the
    distinct instants of its strings that read as datetimes (``None`` when there are
    none)."""
    stored, instants, _ = encode_copy(value)
    return stored, instants


def encode_copy(value: Any) -> tuple[Any, list[int] | None, Any]:
    """``(stored, instants, copy)``: what :func:`encode` gives, and a deep copy of the value
    (as :func:`copy_value` makes it): ``stored`` itself when no key was escaped and no
    integer became a ``Decimal128``, which saves a second walk."""
    instants: list[int] = []
    changed: list[bool] = []
    stored = _natural(value, instants, changed)
    copy = copy_value(value) if changed else stored
    if not instants:
        return stored, None, copy
    return stored, sorted(set(instants)), copy


def _plain(stored: dict[str, Any] | list[Any]) -> bool:
    """Whether a decoded object or array is its JSON value as it is: no escaped key, and
    nothing but objects, arrays, strings, numbers of 64 bits or less (as the driver decodes
    them: ``int`` for a 32-bit one), booleans and ``null``. A walk that builds nothing:
    most stored values are plain, and then :func:`decode` returns the driver's own."""
    items = stored.items() if type(stored) is dict else enumerate(stored)
    for name, item in items:
        if type(name) is str and name[:1] == "%":
            return False
        kind = type(item)
        if kind is str or kind is int or kind is float or kind is bool or item is None:
            continue
        if (kind is dict or kind is list) and _plain(item):
            continue
        return False
    return True


def decode(stored: Any) -> Any:
    """The JSON value :func:`encode` stored as ``stored`` (``ValueError`` if it is none).
    ``stored`` is the driver's freshly decoded value: a plain one is returned as it is."""
    kind = type(stored)
    if (kind is dict or kind is list) and _plain(stored):
        return stored
    return _decoded(stored)


def _decoded(stored: Any) -> Any:
    """:func:`decode`, building a new value."""
    kind = type(stored)
    if kind is str or kind is int or kind is float or kind is bool or stored is None:
        return stored
    if kind is dict:
        return {
            (name if not name.startswith("%") else unescape(name)): _decoded(item)
            for name, item in stored.items()
        }
    if kind is list:
        return [_decoded(item) for item in stored]
    if kind is Int64:
        return int(stored)
    if kind is Decimal128:
        number = stored.to_decimal()
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(f"{stored} is not an integer")
        return int(number)
    raise ValueError(f"{type(stored).__name__} is not a JSON value")


def value_path(segments: Sequence[str], root: str = "value") -> str:
    """The dotted MongoDB path of a satchel path into the value (``root`` for none)."""
    if not segments:
        return root
    return root + "." + ".".join(escape(segment) for segment in segments)


def document_bytes(doc: Mapping[str, Any], value: Any, what: str) -> bytes:
    """``doc`` (which holds ``value`` in stored form) as BSON, checked for size: a document
    over MongoDB's 16 MiB, or a value whose JSON is over that, raises ``ValueTooLarge``;
    a document BSON cannot hold raises ``InvalidArgument``. ``what`` names the value in
    those messages (``"value of 'k'"``)."""
    try:
        data = bson.encode(doc)
    except (bson.errors.InvalidDocument, OverflowError) as exc:
        raise InvalidArgument(f"{what}: cannot be stored in MongoDB: {exc}") from None
    size = len(data)
    if size > MAX_DOCUMENT_BYTES:
        raise ValueTooLarge(
            f"{what}: its MongoDB document would be {size} bytes; MongoDB's "
            f"limit is {MAX_DOCUMENT_BYTES} bytes (16 MiB)"
        )
    if size * 6 > MAX_DOCUMENT_BYTES:  # only then can its JSON be over the limit
        text = len(encode_json(value, max_depth=MAX_STORED_DEPTH)[0])
        if text > MAX_DOCUMENT_BYTES:
            raise ValueTooLarge(
                f"{what}: {text} bytes of JSON; the mongodb backend's maximum "
                f"is {MAX_DOCUMENT_BYTES} bytes"
            )
    return data


def copy_value(value: Any) -> Any:
    """A deep copy of a JSON value (lists and tuples become lists)."""
    kind = type(value)
    if kind is dict:
        return {k: copy_value(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [copy_value(v) for v in value]
    return value
