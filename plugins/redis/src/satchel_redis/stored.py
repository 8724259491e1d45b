"""How satchel-redis writes values and times into Redis: values as UTF-8 JSON, times as Unix
milliseconds (the precision every satchel backend keeps)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from satchel.backend import truncate_ms

__all__ = ["encode_json", "moment", "now_ms", "text", "unix_ms"]

#: A JSON value as stored: compact, non-ASCII kept as UTF-8, no NaN or infinities.
encode_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def now_ms() -> int:
    """Now, in Unix milliseconds (the same instant :func:`satchel.backend.utcnow` gives)."""
    return time.time_ns() // 1_000_000


def unix_ms(at: datetime) -> int:
    """``at`` in Unix milliseconds."""
    return (truncate_ms(at) - _EPOCH) // _MS


def moment(ms: int) -> datetime:
    """The UTC datetime of ``ms`` Unix milliseconds."""
    return _EPOCH + timedelta(milliseconds=ms)


def text(raw: Any) -> str:
    """A Redis reply (bytes) as text."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)
