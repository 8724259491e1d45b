"""The form satchel-mongodb stored values in before natural documents, read back for
:func:`satchel_mongodb.migrate.migrate` only.

A value was stored under ``v`` as a *shadow*: an object as ``{"n": <key count>, "o":
{<escaped key>: ...}}`` (``%``, ``.``, ``$`` and NUL as ``%25``, ``%2E``, ``%24``, ``%00``,
the empty key as ``%``), a list as ``{"l": [...]}``, with the instants of datetime strings in
a parallel tree ``d``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from bson.decimal128 import Decimal128
from bson.int64 import Int64

__all__ = ["decode_shadow"]

_UNESCAPE: Final = re.compile(r"%(25|2E|24|00)")
_UNESCAPES: Final = {"25": "%", "2E": ".", "24": "$", "00": "\x00"}


def _unescape(name: str) -> str:
    if name == "%":
        return ""
    return _UNESCAPE.sub(lambda m: _UNESCAPES[m.group(1)], name)


def decode_shadow(shadow: Any) -> Any:
    """The JSON value a shadow holds (``ValueError`` if it is not one)."""
    kind = type(shadow)
    if kind is dict:
        fields = shadow.get("o")
        if fields is not None:
            if type(fields) is not dict:
                raise ValueError("an object's fields are not a document")
            return {_unescape(name): decode_shadow(item) for name, item in fields.items()}
        items = shadow.get("l")
        if items is not None:
            if type(items) is not list:
                raise ValueError("a list's items are not an array")
            return [decode_shadow(item) for item in items]
        if not shadow or "n" in shadow:
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
