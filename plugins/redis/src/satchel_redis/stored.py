"""How satchel-redis writes values and times into Redis: values as UTF-8 JSON, times as Unix
milliseconds (the precision every satchel backend keeps), both in the forms of
:mod:`satchel.toolkit`."""

from __future__ import annotations

from typing import Any

from satchel.toolkit import decode_json, from_unix_ms, now_ms, unix_ms

__all__ = ["decode_json", "moment", "now_ms", "text", "unix_ms"]

#: The UTC datetime of a number of Unix milliseconds.
moment = from_unix_ms


def text(raw: Any) -> str:
    """A Redis reply (bytes) as text."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)
