"""Argument checks shared by the stores: each failure is an
:class:`~satchel.errors.InvalidArgument` naming the argument, raised before anything is
written."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable
from contextvars import ContextVar, Token
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from satchel.errors import InvalidArgument

__all__ = [
    "MAX_DEPTH",
    "MAX_TTL_SECONDS",
    "MAX_VERSION",
    "check_json",
    "check_model",
    "check_value",
    "check_key",
    "check_keys",
    "check_limit",
    "check_name",
    "check_ttl",
    "check_version",
    "decode_json",
    "encode_json",
]

#: The longest TTL accepted: 100 years (longer ones overflow datetimes; use ``None``).
MAX_TTL_SECONDS = 100 * 365.25 * 24 * 3600
#: How deeply objects and lists may nest in a value (``[1]`` is one level, ``{"a": [1]}``
#: two). MongoDB refuses documents nested more than 100 levels and satchel-mongodb's stored
#: form takes two levels per object or list, plus the document itself: 48 levels are 97,
#: so a value that works on one backend works on all.
MAX_DEPTH = 48


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
    if seconds > MAX_TTL_SECONDS:
        raise InvalidArgument(
            f"{argument}: {ttl!r} is more than {MAX_TTL_SECONDS:.0f} seconds (100 years); "
            "use None for a record that never expires"
        )
    return seconds


#: The largest version a record can have: versions are 64-bit counters on every backend.
MAX_VERSION = 2**63 - 1


def check_version(version: Any, argument: str) -> int | None:
    """``None`` (unconditional), or a version number: a whole number from 1 to
    :data:`MAX_VERSION` (not a bool)."""
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidArgument(
            f"{argument}: must be a version number from 1 to {MAX_VERSION}, not {version!r}"
        )
    return version


def check_limit(limit: Any, argument: str = "limit") -> int | None:
    """``None`` (no limit) or a whole number from 0 to :data:`MAX_VERSION` (2**63 - 1)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_VERSION:
        raise InvalidArgument(
            f"{argument}: must be a whole number from 0 to {MAX_VERSION}, not {limit!r}"
        )
    return limit


_SCALARS = (str, int, bool, type(None))


def _path(where: Any) -> str:
    """``argument[key][index]...`` from the (parent, key) pairs :func:`check_json` keeps."""
    steps = []
    while isinstance(where, tuple):
        where, step = where
        steps.append(f"[{step!r}]")
    return str(where) + "".join(reversed(steps))


#: orjson refuses (instead of converting) what satchel refuses too: datetimes, dataclasses,
#: and subclasses of str, int, dict and list (those go to the exact check, which accepts
#: them as values but not as object keys).
_ORJSON_STRICT = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_ALL_BUT_BRACKETS = bytes(b for b in range(256) if b not in b'[]{}"\\')
_OPENING = bytes.maketrans(b"{}", b"[]")
_stdlib_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False
).encode
# every digit a "0", everything else a space: 19 zeros in a row are a number that may be an
# integer orjson reads as a float (one below -2**63, which has 19 digits, or above
# 2**64 - 1, which has 20), or digits in a string
_DIGITS_AS_ZEROS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_DIGITS = b"0" * 19


def _shallow(data: bytes, max_depth: int) -> bool:
    """Whether the JSON text ``data`` nests at most ``max_depth`` levels: ``True`` is sure,
    ``False`` means "not shown" (the exact check decides). With the string contents
    dropped, the brackets left are the structure; each pass of ``replace("[]", "")`` removes
    the innermost level, so the value is shallow enough if they are gone within
    ``max_depth`` passes. A string holding a bracket, a quote or a backslash leaves a quote
    behind, which sends the value to the exact check."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return True
    structure = data.translate(_OPENING, _ALL_BUT_BRACKETS).replace(b'""', b"")
    if b'"' in structure or b"\\" in structure:
        return False
    for _ in range(max_depth):
        structure = structure.replace(b"[]", b"")
        if not structure:
            return True
    return False


#: The values a store has checked for the backend call it is making, by ``id``: each with
#: its JSON, the copy read back from it and the nesting limit it passed, so that the
#: backend's own :func:`encode_json` of the same object (the next step of the same call, in
#: the same task) takes them instead of checking and encoding it again. ``None`` outside
#: such a call. See :func:`vouching`.
_VOUCHED: ContextVar[dict[int, tuple[Any, bytes, Any, int]] | None] = ContextVar(
    "satchel_vouched", default=None
)


class Vouching:
    """What :func:`vouching` started: its context token and the values it keeps."""

    __slots__ = ("kept", "token")

    def __init__(self) -> None:
        self.kept: dict[int, tuple[Any, bytes, Any, int]] = {}
        self.token: Token[dict[int, tuple[Any, bytes, Any, int]] | None] = _VOUCHED.set(self.kept)


def vouching() -> Vouching:
    """Start keeping what :func:`encode_json` checks, for the backend call a store is about
    to make (end it with :func:`end_vouching`, in a ``finally``). Each value is handed over
    once, to the first :func:`encode_json` of the very same object; the backend gets its
    JSON and a copy no one else holds. A value changed in between would go unchecked, which
    is why :class:`~satchel.instrument.InstrumentedBackend` drops them (:func:`forget_vouched`)
    before a plugin's operation wrapper, which may suspend the call, runs."""
    return Vouching()


def end_vouching(started: Vouching) -> None:
    """End what :func:`vouching` started: its values are let go (also by a task that a
    driver started meanwhile and that holds a copy of the context)."""
    started.kept.clear()
    _VOUCHED.reset(started.token)


def forget_vouched() -> None:
    """Drop the values kept for the current call: the backend checks everything itself."""
    if _VOUCHED.get() is not None:
        _VOUCHED.set(None)


def encode_json(
    value: Any, argument: str = "value", *, max_depth: int = MAX_DEPTH
) -> tuple[bytes, Any]:
    """Check ``value`` as :func:`check_json` does and encode it: its compact UTF-8 JSON and
    a fresh copy read back from that JSON (lists for tuples). ``max_depth`` is the nesting
    limit (:data:`MAX_DEPTH`, the stores' limit, unless a backend stores what it builds
    around a value).

    orjson encodes (in native code) and refuses most of what is not JSON on the way; reading
    the text back and comparing it with ``value`` (no Python loop either) catches what it
    would write anyway (NaN
    and infinities as ``null``, enums, UUIDs), and :func:`_shallow` the nesting limit. A
    value these cannot vouch for (a refusal, an integer beyond 64 bits, a tuple, a str
    subclass) takes the exact check in Python, which raises the message naming the
    offending part; if it passes, the standard library encodes it."""
    return _encode_json(value, argument, max_depth, False)


def _encode_json(value: Any, argument: str, max_depth: int, vouch: bool) -> tuple[bytes, Any]:
    """:func:`encode_json`; with ``vouch`` (a store's check, :func:`check_json`), what it
    encodes is kept for the backend call that follows (:func:`vouching`)."""
    vouched = _VOUCHED.get()
    if vouched:
        kept = vouched.pop(id(value), None)
        if kept is not None and kept[0] is value and kept[3] <= max_depth:
            return kept[1], kept[2]
    try:
        data = orjson.dumps(value, option=_ORJSON_STRICT)
    except TypeError:
        pass
    else:
        copy = orjson.loads(data)
        if copy == value and _shallow(data, max_depth):
            if vouch and vouched is not None:  # a store's check: for the backend to take
                vouched[id(value)] = (value, data, copy, max_depth)
            return data, copy
    _walk(value, argument, max_depth)
    text = _stdlib_encode(value)
    return text.encode(), json.loads(text)


def decode_json(data: bytes | str) -> Any:
    """The value of JSON text that :func:`encode_json` wrote (integers of any size stay
    integers). Raises ``ValueError`` if ``data`` is not JSON."""
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_DIGITS in raw.translate(_DIGITS_AS_ZEROS):
        return json.loads(data)
    return orjson.loads(data)


def check_json(value: Any, argument: str = "value") -> Any:
    """Check that ``value`` is a JSON value that survives a round trip unchanged.

    Objects need string keys; floats must be finite; strings must be valid Unicode; tuples
    are accepted and come back as lists; nesting is at most :data:`MAX_DEPTH` levels (which
    also stops a value that contains itself). Anything else (sets, bytes, datetimes,
    objects) is refused with the path of the offending part, so that nothing is stored that
    would come back different. (The check is :func:`encode_json`'s: a native encoder first,
    the walk in Python for the exact message.)
    """
    _encode_json(value, argument, MAX_DEPTH, True)
    return value


def _walk(value: Any, argument: str, max_depth: int = MAX_DEPTH) -> None:
    """The exact check, in Python: raise the message naming the offending part."""
    # Paths are kept as (parent, key) pairs and spelt out only for an error message, so a
    # valid value costs no string building.
    # depth: how many objects and lists enclose the item, the item included if it is one
    stack: list[tuple[Any, Any, int]] = [(value, argument, 1)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth and isinstance(item, (dict, list, tuple)):
            raise InvalidArgument(
                f"{argument}: nests deeper than {max_depth} levels (or contains itself) at "
                f"{_path(where)[:120]}"
            )
        if isinstance(item, dict):
            for k, v in item.items():
                if type(k) is not str:
                    raise InvalidArgument(
                        f"{_path(where)}: object keys must be strings; {k!r} is {type(k).__name__}"
                    )
                if not k.isascii():
                    _check_text(k, f"{_path(where)} key")
                if type(v) is str:
                    if not v.isascii():
                        _check_text(v, _path((where, k)))
                elif type(v) not in _SCALARS:
                    stack.append((v, (where, k), depth + 1))
        elif isinstance(item, (list, tuple)):
            for i, v in enumerate(item):
                if type(v) is str:
                    if not v.isascii():
                        _check_text(v, _path((where, i)))
                elif type(v) not in _SCALARS:
                    stack.append((v, (where, i), depth + 1))
        elif isinstance(item, str):
            if not item.isascii():
                _check_text(item, _path(where))
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidArgument(
                    f"{_path(where)}: {item!r} is not JSON (NaN and infinity are not)"
                )
        elif not (item is None or isinstance(item, (str, int))):
            raise InvalidArgument(
                f"{_path(where)}: {type(item).__name__} is not JSON-serialisable: {item!r:.80}"
            )


def check_model(instance: Any, argument: str) -> Any:
    """The JSON form of a pydantic model instance (``model_dump(mode="json")``), checked as
    :func:`check_json` checks a value: the same nesting limit, valid Unicode, on every
    backend. A field pydantic cannot serialise (bytes that are not UTF-8, a dict key that is
    not valid Unicode) is an :class:`~satchel.errors.InvalidArgument` too."""
    try:
        dumped = instance.model_dump(mode="json")
    except ValueError as exc:  # PydanticSerializationError, UnicodeError
        raise InvalidArgument(
            f"{argument}: {type(instance).__name__} cannot be turned into JSON: "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    return check_json(dumped, argument)


#: The standard types :func:`check_value` turns into JSON, as pydantic's JSON mode does (a
#: datetime before a date: it is one).
_CONVERTED = (date, time, timedelta, Decimal, UUID)


def stored_form(value: Any) -> Any:
    """The JSON form of one model, enum, or :data:`_CONVERTED` value (as
    :func:`check_value` stores it); any other value itself (a ``datetime`` too)."""
    from pydantic import BaseModel

    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _CONVERTED) and not isinstance(value, datetime):
        from pydantic_core import to_jsonable_python

        return to_jsonable_python(value)
    if isinstance(value, BaseModel):
        try:
            return value.model_dump(mode="json")
        except ValueError:
            return value  # refused as it stands
    return value


def _to_json(value: Any, where: str, depth: int) -> Any:
    """``value`` with every model, enum and :data:`_CONVERTED` value in it replaced by its
    JSON form; anything else is left for :func:`check_json` to accept or refuse."""
    from pydantic import BaseModel

    if depth > MAX_DEPTH + 1:  # too deep, or contains itself: check_json says so
        return value
    if isinstance(value, dict):
        return {k: _to_json(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, enum.Enum):
        return _to_json(value.value, where, depth)
    if isinstance(value, _CONVERTED):
        from pydantic_core import to_jsonable_python

        return to_jsonable_python(value)
    if isinstance(value, BaseModel):
        return check_model(value, where)
    return value


def check_value(value: Any, argument: str = "value") -> Any:
    """The JSON form in which a value is stored (KV values, untyped log entries).

    A JSON value (see :func:`check_json`) is stored as it is. Beyond those, the values
    pydantic's JSON mode turns into JSON are stored in that form, exactly as a field of the
    same type is in a :class:`~satchel.TaskStore` model:

    * a pydantic model: ``model_dump(mode="json")``;
    * ``datetime``: an ISO 8601 string, ``2026-01-02T03:04:05Z`` (UTC),
      ``2026-01-02T03:04:05.123456+02:00``; a naive one has no offset (queries read it as
      UTC);
    * ``date``: ``2026-01-02``; ``time``: ``03:04:05`` (with its offset, if any);
    * ``timedelta``: an ISO 8601 duration, ``PT1H30M``;
    * ``Decimal``: its exact text, ``"1.10"`` (a string: it is not rounded to a float);
    * ``UUID``: ``"00000000-0000-0000-0000-000000000005"``;
    * an enum member: its value (itself stored by these rules).

    They may sit anywhere in a dict, list or tuple. Every one comes back as its JSON form
    (a string, a dict), never as the object. Anything else (sets, bytes, other objects,
    non-string dict keys, NaN) is an :class:`~satchel.errors.InvalidArgument` naming the
    part of ``argument`` at fault.
    """
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        return check_json(value, argument)
    except InvalidArgument:
        pass  # not plain JSON: convert what converts, then check again
    return check_json(_to_json(value, argument, 1), argument)
