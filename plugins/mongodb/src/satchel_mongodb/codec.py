"""How a satchel value becomes a MongoDB document, and back.

A value is stored in the form this module calls *shadow*: a BSON tree that holds exactly the
value, shaped so that MongoDB's plain query operators mean what satchel's do.

* An object becomes ``{"n": <number of keys>, "o": {<escaped key>: <shadow>, ...}}``; its keys
  keep their order.
* A list becomes ``{"l": [<shadow>, ...]}``.
* Strings, booleans, ``null`` and numbers stay themselves; an integer beyond 64 bits is a
  ``Decimal128`` (exact up to 34 digits; longer integers are refused).

So the shadow has no array anywhere a query path can stop at: MongoDB never applies a
condition to the elements of a list on its own (``{"tags": "x"}`` does not match a list
holding ``"x"``), a path into an object never walks into a list, and a list is reached by
index only through ``l``. ``n`` lets an equality test tell ``{"a": 1}`` from
``{"a": 1, "b": 2}`` without depending on key order.

Object keys are escaped so that none can be read as an operator or a path: ``%``, ``.``,
``$`` and NUL become ``%25``, ``%2E``, ``%24`` and ``%00``, and the empty key becomes ``%``.

Strings that read as ISO-8601 datetimes (the grammar of :mod:`satchel.query`) also have
their instant, in microseconds since the epoch, in a second tree (``d``) of the same shape,
which holds nothing else: a datetime in a query is compared with that tree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

import bson
from bson.decimal128 import Decimal128
from bson.int64 import Int64

from satchel.errors import InvalidArgument, ValueTooLarge
from satchel.query import parse_datetime

__all__ = [
    "DIGITS",
    "MAX_DOCUMENT_BYTES",
    "copy_value",
    "decode",
    "document_bytes",
    "encode",
    "escape",
    "instant",
    "shadow_paths",
    "string_instant",
    "unescape",
]

#: MongoDB's largest document.
MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024
_ENCODE_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NEEDS_ESCAPE: Final = re.compile(r"[%.$\x00]")
_ESCAPES: Final = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}
_UNESCAPE: Final = re.compile(r"%(25|2E|24|00)")
_UNESCAPES: Final = {"25": "%", "2E": ".", "24": "$", "00": "\x00"}
#: The first character of every string that may read as a datetime.
DIGITS: Final = frozenset("0123456789")


def escape(key: str) -> str:
    """An object key as a MongoDB field name that is never an operator or a path."""
    if not key:
        return "%"
    if _NEEDS_ESCAPE.search(key) is None:
        return key
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], key)


def unescape(name: str) -> str:
    """The object key that :func:`escape` turned into ``name``."""
    if "%" not in name:
        return name
    if name == "%":
        return ""
    return _UNESCAPE.sub(lambda m: _UNESCAPES[m.group(1)], name)


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


def encode(value: Any) -> tuple[Any, Any]:
    """``(shadow, datetimes)`` of a JSON value; ``datetimes`` is ``None`` when the value holds
    no string that reads as a datetime."""
    kind = type(value)
    if kind is dict:
        fields: dict[str, Any] = {}
        times: dict[str, Any] | None = None
        for key, item in value.items():
            name = key if key and _NEEDS_ESCAPE.search(key) is None else escape(key)
            item_kind = type(item)
            if item_kind is str:
                fields[name] = item
                if item and item[0] in DIGITS:
                    moment = string_instant(item)
                    if moment is not None:
                        if times is None:
                            times = {}
                        times[name] = moment
            elif item_kind is bool or item_kind is float or item is None:
                fields[name] = item
            else:
                shadow, when = encode(item)
                fields[name] = shadow
                if when is not None:
                    if times is None:
                        times = {}
                    times[name] = when
        return {"n": len(value), "o": fields}, (None if times is None else {"o": times})
    if kind is list or kind is tuple:
        items: list[Any] = []
        nested: dict[str, Any] | None = None
        direct: list[int] | None = None
        for index, item in enumerate(value):
            shadow, when = encode(item)
            items.append(shadow)
            if when is not None:
                if isinstance(when, int):
                    if direct is None:
                        direct = []
                    direct.append(when)
                if nested is None:
                    nested = {}
                nested[str(index)] = when
        if nested is None:
            return {"l": items}, None
        return {"l": items}, {"l": nested, "e": direct or []}
    if kind is str:
        return value, string_instant(value)
    if kind is int:
        return _number(value), None
    if isinstance(value, bool) or value is None or kind is float:
        return value, None
    if isinstance(value, int):  # an int subclass
        return _number(int(value)), None
    raise InvalidArgument(f"value: {type(value).__name__} is not a JSON value: {value!r:.80}")


class _Bad(Exception):
    """A document part that no encoding makes."""


def decode(shadow: Any) -> Any:
    """The JSON value :func:`encode` made ``shadow`` from (``ValueError`` if it made none)."""
    kind = type(shadow)
    if kind is dict:
        fields = shadow.get("o")
        if fields is not None:
            if type(fields) is not dict:
                raise ValueError("an object's fields are not a document")
            out = {}
            for name, item in fields.items():
                key = name if "%" not in name else unescape(name)
                item_kind = type(item)
                out[key] = (
                    item
                    if item_kind is str or item_kind is int or item_kind is float
                    else decode(item)
                )
            return out
        items = shadow.get("l")
        if items is not None:
            if type(items) is not list:
                raise ValueError("a list's items are not an array")
            return [decode(item) for item in items]
        if not shadow or "n" in shadow:  # an object, or what a projection left of one
            return {}
        raise ValueError(f"a document with fields {sorted(shadow)[:5]} is not a stored value")
    if kind is str or kind is float or kind is bool or shadow is None or kind is int:
        return shadow
    if kind is Int64:
        return int(shadow)
    if kind is Decimal128:
        number = shadow.to_decimal()
        if number != number.to_integral_value():
            raise ValueError(f"{shadow} is not an integer")
        return int(number)
    raise ValueError(f"{type(shadow).__name__} is not a JSON value")


def shadow_paths(root: str, segments: Sequence[str]) -> list[str]:
    """The shadow paths a satchel path into the value can take: one per way of reading each
    all-digit segment (an object's key, or a list's index)."""
    paths = [root]
    for segment in segments:
        if segment.isascii() and segment.isdigit() and int(segment) < 2**31:
            paths = [f"{p}.o.{escape(segment)}" for p in paths] + [
                f"{p}.l.{int(segment)}" for p in paths
            ]
        else:
            name = escape(segment)
            paths = [f"{p}.o.{name}" for p in paths]
    return paths


def document_bytes(doc: Mapping[str, Any], value: Any, what: str) -> bytes:
    """``doc`` (which holds ``value`` in shadow form) as BSON, checked for size: a document
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
        text = len(_ENCODE_JSON(value).encode("utf-8"))
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
