"""Queries: their model, their validation, and the reference evaluation.

A :class:`Query` is what :meth:`satchel.backend.Backend.query` receives: conditions joined
by AND, an ordering, a projection and paging. :func:`evaluate` is the reference
implementation of its semantics: the memory backend runs it, and any backend that pushes a
query down to its server must return exactly what :func:`evaluate` returns for the same
records. Backends that scan (for queries no index covers) call it on each page they read.

Semantics, in short (``docs/queries.md`` has the long form):

* Fields are dotted paths into the value (``"user.name"``, ``"items.0.role"``; a numeric
  segment indexes a list), ``"value"`` for the whole value, or one of the metadata fields
  ``key version created_at updated_at expires_at``. A tuple of segments addresses value
  fields whose names contain dots: ``("a.b", "c")``.
* Numbers compare as numbers (``1 == 1.0``), strings as strings (by code point), datetimes
  as instants (a stored ISO-8601 string compares with a ``datetime`` query value; naive
  datetimes are UTC); booleans are not numbers. Values of different types never match an
  order comparison (``gt gte lt lte``), and never ``eq``.
* ``neq`` matches a missing field; ``eq None`` matches only a stored ``null``.
* Ordering puts values of different types in a fixed rank: missing and ``null`` first, then
  numbers, strings, objects, lists, booleans, datetimes; objects and lists tie among
  themselves. Ties are broken by key, ascending, whatever the direction.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast

from satchel.errors import InvalidQuery
from satchel.validation import MAX_DEPTH

if TYPE_CHECKING:
    from satchel.backend import Record

__all__ = [
    "MAX_COUNT",
    "METADATA_FIELDS",
    "OPERATORS",
    "Condition",
    "FieldPath",
    "Operator",
    "Order",
    "Query",
    "SortRank",
    "compile_glob",
    "cursor_position",
    "decode_cursor",
    "make_cursor",
    "encode_cursor",
    "evaluate",
    "escape_glob",
    "glob_match",
    "matches",
    "predicate",
    "parse_datetime",
    "check_path",
    "check_text",
    "parse_field",
    "parse_order_by",
    "parse_select",
    "parse_where",
    "project",
    "resolve",
    "sort_key",
]

Operator: TypeAlias = Literal[
    "eq", "neq", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "endswith", "exists"
]
OPERATORS: Final[frozenset[str]] = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "endswith", "exists"}
)
METADATA_FIELDS: Final[frozenset[str]] = frozenset(
    {"key", "version", "created_at", "updated_at", "expires_at"}
)
_DATETIME_FIELDS: Final[frozenset[str]] = frozenset({"created_at", "updated_at", "expires_at"})

#: A normalised field: ``("value", *segments)`` for a path into the value, or
#: ``(metadata_name,)`` for a metadata field.
FieldPath: TypeAlias = tuple[str, ...]


class _Missing:
    """The marker for a path that does not resolve."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


# --------------------------------------------------------------------------------------
# the model


#: How deeply a query value may nest (the limit of stored values, see
#: :data:`satchel.validation.MAX_DEPTH`); deeper ones (or one that contains itself) are refused.
_MAX_VALUE_DEPTH: Final = MAX_DEPTH
#: The instants a cursor may hold, in seconds since the epoch: those of a ``datetime``, to the
#: millisecond (satchel's precision).
_MIN_INSTANT: Final = datetime.min.replace(tzinfo=timezone.utc).timestamp()
_MAX_INSTANT: Final = datetime.max.replace(microsecond=999000, tzinfo=timezone.utc).timestamp()


#: The largest ``limit`` or ``offset``: servers take them as 64-bit integers.
MAX_COUNT: Final = 2**63 - 1


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def check_text(text: str, argument: str) -> str:
    """``text``, or :class:`InvalidQuery` when it holds a lone surrogate (text that is not
    valid Unicode, which no backend can send to its server)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidQuery(
                f"{argument}: {text!r:.60} holds a lone surrogate ({exc.object[exc.start]!r}), "
                "which is not valid Unicode"
            ) from None
    return text


def parse_field(field_: str | Sequence[str], *, argument: str = "field") -> FieldPath:
    """Normalise a user's field into a :data:`FieldPath`, or raise :class:`InvalidQuery`."""
    if isinstance(field_, str):
        if not field_:
            raise InvalidQuery(f"{argument}: a field name must not be empty")
        check_text(field_, argument)
        if field_ in METADATA_FIELDS:
            return (field_,)
        segments = field_.split(".")
        if segments[0] == "value":
            segments = segments[1:]
        if any(not s for s in segments):
            raise InvalidQuery(f"{argument}: {field_!r} has an empty path segment")
        return ("value", *segments)
    if isinstance(field_, (tuple, list)) and field_ and all(isinstance(s, str) for s in field_):
        if any(not s for s in field_):
            raise InvalidQuery(f"{argument}: {tuple(field_)!r} has an empty path segment")
        for segment in field_:
            check_text(segment, argument)
        return ("value", *field_)
    raise InvalidQuery(
        f"{argument}: a field is a dotted string or a non-empty tuple of strings, "
        f"not {_show_input(field_)}"
    )


def check_path(path: Any, *, argument: str = "field") -> FieldPath:
    """A :data:`FieldPath` as :class:`Condition` and :class:`Order` hold it (built by hand,
    not by :func:`parse_field`), checked; :class:`InvalidQuery` if it is not one."""
    if (
        isinstance(path, tuple)
        and path
        and all(isinstance(s, str) and s for s in path)
        and ((path[0] in METADATA_FIELDS and len(path) == 1) or path[0] == "value")
    ):
        for segment in path:
            check_text(segment, argument)
        return path
    raise InvalidQuery(
        f"{argument}: a field path is ('value', segment, ...) or (metadata_name,), "
        f"not {_show_input(path)}"
    )


def _show_input(value: Any) -> str:
    """A short, safe description of a bad argument for an error message."""
    try:
        text = repr(value)
    except Exception:  # a user object whose __repr__ fails
        text = "<unprintable>"
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


def _check_query_value(value: Any, *, argument: str, depth: int = 0) -> Any:
    """A query value must be JSON-like (or a datetime); return it as plain JSON types
    (mappings become dicts, tuples stay tuples), or raise :class:`InvalidQuery`."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return check_text(value, argument)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidQuery(f"{argument}: {value!r} is not a finite number")
        return value
    if isinstance(value, datetime):
        try:
            _aware(value).astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise InvalidQuery(
                f"{argument}: {value!r} is outside the range of datetimes in UTC"
            ) from None
        return value
    if depth >= _MAX_VALUE_DEPTH and isinstance(value, (list, tuple, Mapping)):
        raise InvalidQuery(
            f"{argument}: nests deeper than {_MAX_VALUE_DEPTH} levels (or contains itself)"
        )
    if isinstance(value, list):
        return [_check_query_value(item, argument=argument, depth=depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(_check_query_value(item, argument=argument, depth=depth + 1) for item in value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidQuery(f"{argument}: object keys must be strings, not {_show_input(k)}")
            check_text(k, f"{argument} key")
            out[k] = _check_query_value(v, argument=argument, depth=depth + 1)
        return out
    raise InvalidQuery(f"{argument}: {type(value).__name__} is not a JSON value or a datetime")


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition of a ``where``: ``field op value``.

    Build it with :meth:`Condition.of`, which validates and normalises.
    """

    field: FieldPath
    op: Operator
    value: Any

    @classmethod
    def of(
        cls, field_: str | Sequence[str], op: str, value: Any, *, argument: str = "where"
    ) -> Condition:
        """Validate ``field op value`` and return the condition."""
        return cls._checked(parse_field(field_, argument=argument), op, value, argument)

    @classmethod
    def _checked(cls, path: FieldPath, op: Any, value: Any, argument: str) -> Condition:
        if not isinstance(op, str) or op not in OPERATORS:
            shown = repr(op) if isinstance(op, str) else _show_input(op)
            raise InvalidQuery(
                f"{argument}: unknown operator {shown}; use one of {', '.join(sorted(OPERATORS))}"
            )
        value = _check_query_value(value, argument=f"{argument} ({_show(path)} {op})")
        if op == "in":
            if not isinstance(value, (list, tuple)):
                raise InvalidQuery(f"{argument}: 'in' takes a list, not {value!r}")
            value = tuple(value)
        elif op in ("startswith", "endswith") and not isinstance(value, str):
            raise InvalidQuery(f"{argument}: {op!r} takes a string, not {value!r}")
        elif op == "exists" and not isinstance(value, bool):
            raise InvalidQuery(f"{argument}: 'exists' takes true or false, not {value!r}")
        if path[0] in _DATETIME_FIELDS and op not in ("exists",):
            value = _datetime_query_value(value, op, argument=argument, field_=path[0])
        return cls(path, cast(Operator, op), value)


def _datetime_query_value(value: Any, op: str, *, argument: str, field_: str) -> Any:
    """Metadata timestamps accept datetimes or ISO-8601 strings in queries."""
    if op == "in":
        return tuple(
            _datetime_query_value(v, "eq", argument=argument, field_=field_) for v in value
        )
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str) and op not in ("contains", "startswith", "endswith"):
        parsed = parse_datetime(value)
        if parsed is None:
            raise InvalidQuery(f"{argument}: {field_} takes a datetime, and {value!r} is not one")
        return parsed
    return value


@dataclass(frozen=True, slots=True)
class Order:
    """One ordering term: a field and a direction. Ties are broken by key, ascending."""

    field: FieldPath
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """What :meth:`~satchel.backend.Backend.query` runs. Build it with :meth:`Query.build`.

    :param where: conditions, all of which must hold.
    :param order_by: ordering terms; the key, ascending, always breaks ties.
    :param select: value fields to return (``None``: the whole value).
    :param limit: at most this many records (``None``: all).
    :param offset: skip this many matching records first.
    :param cursor: continue after the last record of an earlier page of the same query.
    """

    where: tuple[Condition, ...] = ()
    order_by: tuple[Order, ...] = ()
    select: tuple[FieldPath, ...] | None = None
    limit: int | None = None
    offset: int = 0
    cursor: str | None = None

    @classmethod
    def build(
        cls,
        where: WhereInput = None,
        order_by: OrderInput = None,
        select: Sequence[str | Sequence[str]] | None = None,
        limit: int | None = None,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Query:
        """Validate user input and build a query; every problem is an :class:`InvalidQuery`.

        ``where`` takes a list of ``(field, op, value)`` triples or :class:`Condition`, or a
        mapping ``{field: value}`` (equality) / ``{field: {op: value, ...}}``.
        ``order_by`` takes ``"field"``, ``"-field"`` (descending), ``(field, "asc"|"desc")``
        or a list of those.
        """
        conditions = parse_where(where)
        orders = parse_order_by(order_by)
        projection = parse_select(select)
        if limit is not None and not _is_count(limit):
            raise InvalidQuery(
                f"limit: must be a whole number from 0 to {MAX_COUNT}, not {_show_input(limit)}"
            )
        if not _is_count(offset):
            raise InvalidQuery(
                f"offset: must be a whole number from 0 to {MAX_COUNT}, not {_show_input(offset)}"
            )
        if cursor is not None:
            if not isinstance(cursor, str) or not cursor:
                raise InvalidQuery(
                    f"cursor: must be a cursor string from a page, not {_show_input(cursor)}"
                )
            if offset:
                raise InvalidQuery("offset: cannot be combined with cursor; use one or the other")
        query = cls(conditions, orders, projection, limit, offset, cursor)
        if cursor is not None:
            decode_cursor(query)  # fail now, not half-way through a backend
        return query

    def fingerprint(self) -> str:
        """A short digest of ``where`` and ``order_by``: a cursor is only valid for these."""
        text = json.dumps(
            [
                [[list(c.field), c.op, _jsonable(c.value)] for c in self.where],
                [[list(o.field), o.descending] for o in self.order_by],
            ],
            sort_keys=True,
            separators=(",", ":"),
        )
        data = text.encode("utf-8", "surrogatepass")
        # two independent 32-bit checksums: enough to tell queries apart, and zlib is loaded
        # anyway (hashlib would cost a few ms of import time)
        return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


WhereInput: TypeAlias = (
    Sequence["Condition | tuple[str | Sequence[str], str, Any]"] | Mapping[str, Any] | None
)
OrderInput: TypeAlias = (
    str | tuple[str, str] | Order | Sequence["str | tuple[str, str] | Order"] | None
)


def parse_where(where: WhereInput) -> tuple[Condition, ...]:
    """Normalise the accepted ``where`` forms into conditions (every one checked, also a
    :class:`Condition` built by hand); :class:`InvalidQuery` names what is wrong."""
    if where is None:
        return ()
    out: list[Condition] = []
    if isinstance(where, Mapping):
        for name, spec in where.items():
            if (
                isinstance(spec, Mapping)
                and spec
                and all(isinstance(k, str) and k in OPERATORS for k in spec)
            ):
                out.extend(Condition.of(name, op, v) for op, v in spec.items())
            else:
                out.append(Condition.of(name, "eq", spec))
        return tuple(out)
    if not isinstance(where, (list, tuple)):
        raise InvalidQuery(
            f"where: takes a list of (field, op, value) or a mapping, not {_show_input(where)}"
        )
    for item in where:
        if isinstance(item, Condition):
            path = check_path(item.field, argument="where")
            out.append(Condition._checked(path, item.op, item.value, "where"))
        elif isinstance(item, (tuple, list)) and len(item) == 3:
            out.append(Condition.of(item[0], item[1], item[2]))
        else:
            raise InvalidQuery(
                f"where: each condition is (field, op, value), not {_show_input(item)}"
            )
    return tuple(out)


def parse_order_by(order_by: OrderInput) -> tuple[Order, ...]:
    """Normalise the accepted ``order_by`` forms into ordering terms; :class:`InvalidQuery`
    for anything else."""
    if order_by is None:
        return ()
    if isinstance(order_by, (str, Order)) or (
        isinstance(order_by, tuple)
        and len(order_by) == 2
        and isinstance(order_by[1], str)
        and order_by[1].lower() in ("asc", "desc")
    ):
        items: Sequence[Any] = [order_by]
    elif isinstance(order_by, (list, tuple)):
        items = order_by
    else:
        raise InvalidQuery(
            "order_by: takes 'field', '-field', (field, 'asc'|'desc') or a list of those, "
            f"not {_show_input(order_by)}"
        )
    out: list[Order] = []
    for item in items:
        if isinstance(item, Order):
            if not isinstance(item.descending, bool):
                raise InvalidQuery(
                    f"order_by: descending is True or False, not {_show_input(item.descending)}"
                )
            out.append(Order(check_path(item.field, argument="order_by"), item.descending))
        elif isinstance(item, str):
            descending = item.startswith("-")
            out.append(Order(parse_field(item.lstrip("-"), argument="order_by"), descending))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str):
            direction = item[1].lower()
            if direction not in ("asc", "desc"):
                raise InvalidQuery(f"order_by: direction is 'asc' or 'desc', not {item[1]!r}")
            out.append(Order(parse_field(item[0], argument="order_by"), direction == "desc"))
        else:
            raise InvalidQuery(
                "order_by: takes 'field', '-field' or (field, 'asc'|'desc'), "
                f"not {_show_input(item)}"
            )
    return tuple(out)


def parse_select(select: Any) -> tuple[FieldPath, ...] | None:
    """Normalise ``select`` (``None``, a field, or a list of fields) into value paths;
    :class:`InvalidQuery` for anything else."""
    if select is None:
        return None
    if isinstance(select, str):
        select = [select]
    elif not isinstance(select, (list, tuple)):
        raise InvalidQuery(f"select: takes a field or a list of fields, not {_show_input(select)}")
    projection = tuple(parse_field(s, argument="select") for s in select)
    for path in projection:
        if path[0] != "value":
            raise InvalidQuery(
                f"select: {path[0]!r} is metadata, which every result carries; "
                "select names value fields"
            )
    return projection


# --------------------------------------------------------------------------------------
# reference evaluation


def resolve(record: Record, path: FieldPath) -> Any:
    """The value at ``path`` in ``record``, or :data:`MISSING`."""
    head = path[0]
    if head != "value":
        return getattr(record, head)
    current: Any = record.value
    for segment in path[1:]:
        if isinstance(current, dict):
            if segment not in current:
                return MISSING
            current = current[segment]
        elif isinstance(current, list) and segment.isascii() and segment.isdigit():
            # isascii: str.isdigit() also accepts digits such as "²" that int() refuses
            index = int(segment)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


# The ISO-8601 forms a stored string may take to compare as a datetime: one grammar on every
# Python version (datetime.fromisoformat accepts more on 3.11+ than on 3.10).
_ISO_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)?)?",
    re.ASCII,  # \d is 0-9 only, as a server-side comparison would read it
)


def parse_datetime(text: str) -> datetime | None:
    """``YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH:MM]`` as an aware datetime (naive is UTC), or
    ``None`` when ``text`` is not one. This is how a stored string compares with a datetime
    in a query; a backend that compares on its server must read strings the same way."""
    match = _ISO_DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        tz = timezone.utc
        if sign is not None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
            tz = timezone(-offset if sign == "-" else offset)
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:  # out of range: month 13, 25:00, offset of 24 hours
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_PLAIN = frozenset({str, int, float, bool, type(None)})
_ORDERED = frozenset({str, int, float, bool})
_NUMBERS = frozenset({int, float})


def _equal(stored: Any, wanted: Any) -> bool:
    """JSON equality with satchel's type rules (``1 == 1.0``, ``True != 1``)."""
    kind = type(stored)
    if kind is type(wanted) and kind in _PLAIN:  # the common case, decided at once
        return bool(stored == wanted)
    if isinstance(wanted, datetime):
        if isinstance(stored, datetime):
            return _aware(stored) == _aware(wanted)
        if isinstance(stored, str):
            instant = parse_datetime(stored)
            return instant is not None and instant == _aware(wanted)
        return False
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if _is_number(stored) or _is_number(wanted):
        return _is_number(stored) and _is_number(wanted) and stored == wanted
    if isinstance(stored, str) or isinstance(wanted, str):
        return isinstance(stored, str) and isinstance(wanted, str) and stored == wanted
    if stored is None or wanted is None:
        return stored is None and wanted is None
    if isinstance(stored, list) and isinstance(wanted, (list, tuple)):
        return len(stored) == len(wanted) and all(
            _equal(a, b) for a, b in zip(stored, wanted, strict=True)
        )
    if isinstance(stored, dict) and isinstance(wanted, Mapping):
        return stored.keys() == wanted.keys() and all(_equal(stored[k], wanted[k]) for k in stored)
    return False


def _order_compare(stored: Any, wanted: Any) -> int | None:
    """-1/0/1 when the two are of one orderable type, else ``None`` (no match)."""
    kind, wanted_kind = type(stored), type(wanted)
    if (kind is wanted_kind and kind in _ORDERED) or (kind in _NUMBERS and wanted_kind in _NUMBERS):
        return int(stored > wanted) - int(stored < wanted)
    if isinstance(wanted, datetime):
        instant = stored if isinstance(stored, datetime) else None
        if isinstance(stored, str):
            instant = parse_datetime(stored)
        if instant is None:
            return None
        a, b = _aware(instant), _aware(wanted)
        return (a > b) - (a < b)
    if isinstance(stored, bool) or isinstance(wanted, bool):
        if isinstance(stored, bool) and isinstance(wanted, bool):
            return (stored > wanted) - (stored < wanted)
        return None
    if _is_number(stored) and _is_number(wanted):
        return int(stored > wanted) - int(stored < wanted)
    if isinstance(stored, str) and isinstance(wanted, str):
        return (stored > wanted) - (stored < wanted)
    return None


def _test(op: str, wanted: Any) -> Callable[[Any], bool]:
    """The test ``op wanted`` on a resolved value, which is never MISSING here."""
    if op == "eq":
        return lambda stored: _equal(stored, wanted)
    if op == "in":
        return lambda stored: any(_equal(stored, w) for w in wanted)
    if op == "contains":

        def contains(stored: Any) -> bool:
            if isinstance(stored, str):
                return isinstance(wanted, str) and wanted in stored
            if isinstance(stored, list):
                return any(_equal(item, wanted) for item in stored)
            return False

        return contains
    if op == "startswith":
        return lambda stored: isinstance(stored, str) and stored.startswith(wanted)
    if op == "endswith":
        return lambda stored: isinstance(stored, str) and stored.endswith(wanted)
    accept = {"gt": (1,), "gte": (0, 1), "lt": (-1,), "lte": (-1, 0)}[op]
    return lambda stored: _order_compare(stored, wanted) in accept


def predicate(condition: Condition) -> Callable[[Record], bool]:
    """``condition`` compiled into a test of one record (build once, run on many)."""
    path, op, wanted = condition.field, condition.op, condition.value
    if op == "exists":
        return lambda record: (resolve(record, path) is not MISSING) is wanted
    if op == "neq":

        def differs(record: Record) -> bool:
            stored = resolve(record, path)
            return stored is MISSING or not _equal(stored, wanted)

        return differs
    test = _test(op, wanted)

    def holds(record: Record) -> bool:
        stored = resolve(record, path)
        return stored is not MISSING and test(stored)

    return holds


def matches(record: Record, where: Iterable[Condition]) -> bool:
    """Whether every condition holds for ``record``."""
    return all(predicate(c)(record) for c in where)


class SortRank(enum.IntEnum):
    """The ranks of the sort order, lowest first: a value of a lower rank sorts before any
    value of a higher one, whatever their values. They follow MongoDB's comparison order,
    so that a server-side sort can agree; they are the first element of each sort atom of
    :func:`cursor_position`."""

    NULL = 0  #: a missing field or ``null``
    NUMBER = 1
    STRING = 2
    OBJECT = 3  #: objects tie among themselves
    LIST = 4  #: lists tie among themselves
    BOOL = 5
    DATE = 6  #: a datetime; its atom value is a Unix timestamp in seconds


_RANK_NULL, _RANK_NUMBER, _RANK_STRING, _RANK_OBJECT, _RANK_LIST, _RANK_BOOL, _RANK_DATE = (
    int(rank) for rank in SortRank
)


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
    returned, one per ``order_by`` term, and its key. The ranks are those of
    :class:`SortRank`: 0 missing or ``null``, 1 number, 2 string, 3 object, 4 list,
    5 boolean, 6 datetime (the value a Unix timestamp in seconds); the value of ranks 0, 3
    and 4 is 0. A backend that pages on its server
    continues after this position. :class:`InvalidQuery` if the cursor is bad."""
    position = decode_cursor(query)
    atoms = [part.atom if isinstance(part, _Reversed) else part for part in position[:-1]]
    return atoms, position[-1]


def project(value: Any, select: Sequence[FieldPath] | None) -> Any:
    """``value`` reduced to the selected paths (a new object; shares leaves with ``value``).

    Paths walk objects only; a selected path that is missing, or that meets a list or a
    scalar before its end, selects nothing.
    """
    if select is None:
        return value
    out: dict[str, Any] = {}
    for path in select:
        segments = path[1:]
        if not segments:
            return value
        current: Any = value
        for segment in segments:
            if not isinstance(current, dict) or segment not in current:
                current = MISSING
                break
            current = current[segment]
        if current is MISSING:
            continue
        target = out
        for segment in segments[:-1]:
            nested = target.get(segment)
            if not isinstance(nested, dict):
                nested = target[segment] = {}
            target = nested
        target[segments[-1]] = current
    return out


def _atom_of(path: FieldPath) -> Callable[[Record], tuple[int, Any]]:
    return lambda record: _sort_atom(resolve(record, path))


def evaluate(records: Iterable[Record], query: Query) -> tuple[list[Record], str | None]:
    """Run ``query`` over live ``records`` (of one collection); the reference semantics.

    Returns the page's records (values projected) and the cursor for the next page, which
    is ``None`` exactly when the page is empty or no matching record follows it.
    """
    from satchel.backend import Record as _Record

    tests = [predicate(c) for c in query.where]
    hits = [r for r in records if all(t(r) for t in tests)] if tests else list(records)
    # Stable sorts, last term first: the key breaks ties, then each term in turn (the same
    # order as sort_key, without comparing wrapped values).
    hits.sort(key=lambda r: r.key)
    for order in reversed(query.order_by):
        hits.sort(key=_atom_of(order.field), reverse=order.descending)
    if query.cursor is not None:
        position = decode_cursor(query)
        hits = [r for r in hits if position < sort_key(r, query.order_by)]
    start = query.offset
    stop = None if query.limit is None else start + query.limit
    page = hits[start:stop]
    more = stop is not None and len(hits) > stop
    next_cursor = encode_cursor(query, page[-1]) if more and page else None
    if query.select is not None:
        page = [
            _Record(
                r.collection,
                r.key,
                project(r.value, query.select),
                r.version,
                r.created_at,
                r.updated_at,
                r.expires_at,
                r.index,
            )
            for r in page
        ]
    return page, next_cursor


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": _aware(value).isoformat()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _show(path: FieldPath) -> str:
    return path[0] if path[0] != "value" else ".".join(path[1:]) or "value"


# --------------------------------------------------------------------------------------
# glob patterns on keys

_GLOB_SPECIAL: Final = frozenset("*?[]\\")


def escape_glob(text: str) -> str:
    """``text`` with every glob character escaped, so that it matches only itself."""
    return "".join("\\" + ch if ch in _GLOB_SPECIAL else ch for ch in text)


def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile a key pattern into a regular expression matching whole keys.

    The language is Redis's ``MATCH`` glob: ``*`` any run of characters (also empty),
    ``?`` one character, ``[abc]`` one of a set, ``[a-z]`` a range, ``[^abc]`` or
    ``[!abc]`` none of a set, ``\\x`` the character ``x`` itself. An unclosed ``[`` is an
    :class:`InvalidQuery`.
    """
    if not isinstance(pattern, str):
        raise InvalidQuery(f"pattern: must be a string, not {_show_input(pattern)}")
    check_text(pattern, "pattern")
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            i += 1
            if i == n:
                raise InvalidQuery(f"pattern: {pattern!r} ends with a lone backslash")
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            j = i + 1
            negate = j < n and pattern[j] in "^!"
            if negate:
                j += 1
            members: list[str] = []
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\" and j + 1 < n:
                    members.append(re.escape(pattern[j + 1]))
                    j += 2
                elif j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    low, high = sorted((pattern[j], pattern[j + 2]))
                    members.append(f"{re.escape(low)}-{re.escape(high)}")
                    j += 3
                else:
                    members.append(re.escape(pattern[j]))
                    j += 1
            if j >= n:
                raise InvalidQuery(f"pattern: {pattern!r} has a '[' that is never closed")
            if not members:
                out.append("(?!)" if not negate else ".")
            else:
                out.append(f"[{'^' if negate else ''}{''.join(members)}]")
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def glob_match(pattern: str, key: str) -> bool:
    """Whether ``key`` matches ``pattern`` as a whole (see :func:`compile_glob`)."""
    return compile_glob(pattern).fullmatch(key) is not None
