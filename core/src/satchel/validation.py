"""Argument checks shared by the stores: each failure is an
:class:`~satchel.errors.InvalidArgument` naming the argument, raised before anything is
written."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from satchel.errors import InvalidArgument

__all__ = ["check_json", "check_key", "check_keys", "check_limit", "check_name", "check_ttl"]


def check_key(key: Any, argument: str = "key") -> str:
    """A key is any non-empty string (every character allowed, NUL and non-ASCII too)."""
    if not isinstance(key, str):
        raise InvalidArgument(f"{argument}: must be a string, not {type(key).__name__} {key!r}")
    if not key:
        raise InvalidArgument(f"{argument}: must not be empty")
    if not key.isascii():
        _check_text(key, argument)
    return key


def _check_text(text: str, argument: str) -> None:
    """Refuse a lone surrogate: no backend can store text that is not valid Unicode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"{argument}: {text!r:.60} holds a lone surrogate ({exc.object[exc.start]!r}), "
            "which is not valid Unicode"
        ) from None


def check_keys(keys: Any, argument: str = "keys") -> list[str]:
    """A list (or other iterable, not a string) of keys."""
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
        raise InvalidArgument(f"{argument}: must be a list of keys, not {keys!r}")
    return [check_key(k, f"{argument}[{i}]") for i, k in enumerate(keys)]


def check_name(name: Any, argument: str) -> str:
    """A namespace or store name: a non-empty string without NUL."""
    check_key(name, argument)
    if "\x00" in name:
        raise InvalidArgument(f"{argument}: must not contain NUL (\\x00): {name!r}")
    return str(name)


def check_ttl(ttl: Any, argument: str = "ttl") -> float | None:
    """``None`` (never expires), or a positive number of seconds or ``timedelta``."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise InvalidArgument(
            f"{argument}: must be seconds (a number or timedelta) or None, not {ttl!r}"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidArgument(f"{argument}: must be a positive number of seconds, not {ttl!r}")
    return seconds


def check_limit(limit: Any, argument: str = "limit") -> int | None:
    """``None`` (no limit) or a whole number >= 0."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidArgument(f"{argument}: must be a whole number >= 0, not {limit!r}")
    return limit


_SCALARS = (str, int, bool, type(None))


def check_json(value: Any, argument: str = "value") -> Any:
    """Check that ``value`` is a JSON value that survives a round trip unchanged.

    Objects need string keys; floats must be finite; tuples are accepted and come back as
    lists. Anything else (sets, bytes, datetimes, objects) is refused with the path of the
    offending part, so that nothing is stored that would come back different.
    """
    stack: list[tuple[Any, str]] = [(value, argument)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if type(k) is not str:
                    raise InvalidArgument(
                        f"{path}: object keys must be strings; {k!r} is {type(k).__name__}"
                    )
                if not k.isascii():
                    _check_text(k, f"{path} key")
                if type(v) is str:
                    if not v.isascii():
                        _check_text(v, f"{path}[{k!r}]")
                elif type(v) not in _SCALARS:
                    stack.append((v, f"{path}[{k!r}]"))
        elif isinstance(item, (list, tuple)):
            for i, v in enumerate(item):
                if type(v) is str:
                    if not v.isascii():
                        _check_text(v, f"{path}[{i}]")
                elif type(v) not in _SCALARS:
                    stack.append((v, f"{path}[{i}]"))
        elif isinstance(item, str):
            if not item.isascii():
                _check_text(item, path)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidArgument(f"{path}: {item!r} is not JSON (NaN and infinity are not)")
        elif not (item is None or isinstance(item, (str, int))):
            raise InvalidArgument(
                f"{path}: {type(item).__name__} is not JSON-serialisable: {item!r:.80}"
            )
    return value
