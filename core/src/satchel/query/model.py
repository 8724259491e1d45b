"""The query model: :class:`Query`, :class:`Condition` and :class:`Order`, the validation
and normalisation of what users pass (fields, operators, values), and how a field path
resolves in a record (:func:`resolve`, :data:`MISSING`, :func:`parse_datetime`)."""

from __future__ import annotations

import enum
import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast

from satchel.errors import InvalidQuery
from satchel.validation import MAX_DEPTH, stored_form

if TYPE_CHECKING:
    from satchel.backend import Record


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


#: How deeply a query value may nest (the limit of stored values, see
#: :data:`satchel.validation.MAX_DEPTH`); deeper ones (or one that contains itself) are refused.
_MAX_VALUE_DEPTH: Final = MAX_DEPTH


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
    (mappings become dicts, tuples stay tuples), or raise :class:`InvalidQuery`. A value a
    store keeps in a JSON form (a model, enum, ``date``, ``Decimal``, ``UUID``...: see
    :func:`satchel.validation.check_value`) stands for that form, so it finds what it
    stored; a ``datetime`` stays an instant."""
    if isinstance(value, enum.Enum):
        value = value.value
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
    converted = stored_form(value)
    if converted is not value:  # a model, enum, date, Decimal, UUID...: as a store keeps it
        return _check_query_value(converted, argument=argument, depth=depth)
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

        ``where`` takes a list of ``(field, op, value)`` triples, :class:`Condition` objects
        or ``{"field": ..., "operator": ..., "value": ...}`` objects, or a mapping
        ``{field: value}`` (equality) / ``{field: {op: value, ...}}``.
        ``order_by`` takes ``"field"``, ``"-field"`` (descending), ``(field, "asc"|"desc")``,
        ``{"field": ..., "direction": "asc"|"desc"}`` or a list of those.
        :func:`parse_query` builds one from a JSON document.
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
            from satchel.query.cursors import decode_cursor  # cursors import this module

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
    Sequence["Condition | tuple[str | Sequence[str], str, Any] | Mapping[str, Any]"]
    | Mapping[str, Any]
    | None
)
OrderInput: TypeAlias = (
    str
    | tuple[str, str]
    | Order
    | Mapping[str, Any]
    | Sequence["str | tuple[str, str] | Order | Mapping[str, Any]"]
    | None
)


def parse_where(where: WhereInput, *, argument: str = "where") -> tuple[Condition, ...]:
    """Normalise the accepted ``where`` forms into conditions (every one checked, also a
    :class:`Condition` built by hand); :class:`InvalidQuery` names what is wrong, and the
    index of the condition in a list (``where[2]: ...``).

    A list takes ``(field, op, value)`` triples, :class:`Condition` objects and the JSON
    form ``{"field": ..., "operator": ..., "value": ...}``, mixed as they come."""
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
                out.extend(Condition.of(name, op, v, argument=argument) for op, v in spec.items())
            else:
                out.append(Condition.of(name, "eq", spec, argument=argument))
        return tuple(out)
    if not isinstance(where, (list, tuple)):
        raise InvalidQuery(
            f"{argument}: takes a list of (field, op, value) or of "
            '{"field", "operator", "value"} objects, or a mapping, not '
            f"{_show_input(where)}"
        )
    for index, item in enumerate(where):
        at = f"{argument}[{index}]"
        if isinstance(item, Condition):
            path = check_path(item.field, argument=at)
            out.append(Condition._checked(path, item.op, item.value, at))
        elif isinstance(item, Mapping):
            out.append(_json_condition(item, at))
        elif isinstance(item, (tuple, list)) and len(item) == 3:
            out.append(Condition.of(item[0], item[1], item[2], argument=at))
        else:
            raise InvalidQuery(
                f"{at}: each condition is (field, op, value) or "
                '{"field": ..., "operator": ..., "value": ...}, '
                f"not {_show_input(item)}"
            )
    return tuple(out)


#: The keys of a condition in the JSON form, all required.
JSON_CONDITION_KEYS: Final = ("field", "operator", "value")
#: The keys of an ordering term in the JSON form, all required.
JSON_ORDER_KEYS: Final = ("field", "direction")
#: Operator spellings the JSON form takes besides :data:`OPERATORS` (those of Codebolt's
#: KV query DSL), and the operator each stands for.
JSON_OPERATOR_SPELLINGS: Final = {"startsWith": "startswith", "endsWith": "endswith"}


def _json_object(item: Mapping[Any, Any], keys: tuple[str, ...], what: str, at: str) -> None:
    """Check that the JSON object ``item`` has exactly ``keys``."""
    unknown = [k for k in item if k not in keys]
    if unknown:
        raise InvalidQuery(
            f"{at}: unknown key {unknown[0]!r} in {what}; its keys are {', '.join(keys)}"
        )
    missing = [k for k in keys if k not in item]
    if missing:
        raise InvalidQuery(
            f"{at}: {what} lacks {', '.join(repr(k) for k in missing)}; "
            f"its keys are {', '.join(keys)}"
        )


def _json_condition(item: Mapping[Any, Any], at: str) -> Condition:
    """A condition of the JSON form, ``{"field": ..., "operator": ..., "value": ...}``."""
    _json_object(item, JSON_CONDITION_KEYS, "a condition", at)
    op = item["operator"]
    if isinstance(op, str):
        op = JSON_OPERATOR_SPELLINGS.get(op, op)
    return Condition.of(item["field"], op, item["value"], argument=at)


def _json_order(item: Mapping[Any, Any], at: str) -> Order:
    """An ordering term of the JSON form, ``{"field": ..., "direction": "asc"|"desc"}``."""
    _json_object(item, JSON_ORDER_KEYS, "an ordering term", at)
    return Order(parse_field(item["field"], argument=at), _descending(item["direction"], at))


def _descending(direction: Any, at: str) -> bool:
    """``True`` for ``"desc"``, ``False`` for ``"asc"`` (in any case), else an error."""
    text = direction.lower() if isinstance(direction, str) else None
    if text not in ("asc", "desc"):
        shown = repr(direction) if isinstance(direction, str) else _show_input(direction)
        raise InvalidQuery(f"{at}: direction is 'asc' or 'desc', not {shown}")
    return text == "desc"


def parse_order_by(order_by: OrderInput, *, argument: str = "order_by") -> tuple[Order, ...]:
    """Normalise the accepted ``order_by`` forms into ordering terms; :class:`InvalidQuery`
    for anything else, naming the index of the term in a list (``order_by[1]: ...``).

    A term is ``"field"``, ``"-field"``, ``(field, "asc"|"desc")``, an :class:`Order`, or
    the JSON form ``{"field": ..., "direction": "asc"|"desc"}``; a list holds several."""
    if order_by is None:
        return ()
    single = isinstance(order_by, (str, Order, Mapping)) or (
        isinstance(order_by, tuple)
        and len(order_by) == 2
        and isinstance(order_by[1], str)
        and order_by[1].lower() in ("asc", "desc")
    )
    if single:
        items: Sequence[Any] = [order_by]
    elif isinstance(order_by, (list, tuple)):
        items = order_by
    else:
        raise InvalidQuery(
            f"{argument}: takes 'field', '-field', (field, 'asc'|'desc'), "
            '{"field": ..., "direction": ...} or a list of those, '
            f"not {_show_input(order_by)}"
        )
    out: list[Order] = []
    for index, item in enumerate(items):
        at = argument if single else f"{argument}[{index}]"
        if isinstance(item, Order):
            if not isinstance(item.descending, bool):
                raise InvalidQuery(
                    f"{at}: descending is True or False, not {_show_input(item.descending)}"
                )
            out.append(Order(check_path(item.field, argument=at), item.descending))
        elif isinstance(item, Mapping):
            out.append(_json_order(item, at))
        elif isinstance(item, str):
            # one leading '-' says descending; what follows is the field, whatever it holds
            # (so '--x' is the value's key '-x', descending)
            descending = item.startswith("-")
            field = item[1:] if descending else item
            out.append(Order(parse_field(field, argument=at), descending))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str):
            descending = _descending(item[1], at)
            out.append(Order(parse_field(item[0], argument=at), descending))
        else:
            raise InvalidQuery(
                f"{at}: takes 'field', '-field', (field, 'asc'|'desc') or "
                '{"field": ..., "direction": ...}, '
                f"not {_show_input(item)}"
            )
    return tuple(out)


#: The keys of a query document (:func:`parse_query`); ``orderBy`` is ``order_by``.
QUERY_DOCUMENT_KEYS: Final = ("where", "order_by", "orderBy", "select", "limit", "offset", "cursor")


def parse_query(document: Mapping[str, Any] | str | bytes) -> Query:
    """The :class:`Query` a JSON query document describes: a mapping (or its JSON text)
    with any of ``where``, ``order_by`` (or ``orderBy``), ``select``, ``limit``,
    ``offset`` and ``cursor``, each taken as :meth:`Query.build` takes it. So a query can be
    stored or sent (a config file, an HTTP request, a tool call) and run with
    ``kv.query(parse_query(document))``::

        parse_query({
            "where": [{"field": "value.user.age", "operator": "gte", "value": 18}],
            "orderBy": {"field": "updated_at", "direction": "desc"},
            "limit": 20,
        })

    :raises InvalidQuery: the text is not JSON, the document is not an object, a key is
        unknown, ``order_by`` and ``orderBy`` are both given, or a part is invalid (the
        message names it: ``where[1]: unknown operator 'like'``).
    """
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
            raise InvalidQuery(f"query: not a JSON document ({exc})") from None
        except RecursionError:  # nested deeper than the parser goes
            raise InvalidQuery("query: not a JSON document (nested too deeply)") from None
    if not isinstance(document, Mapping):
        raise InvalidQuery(f"query: a query document is a JSON object, not {_show_input(document)}")
    unknown = [k for k in document if k not in QUERY_DOCUMENT_KEYS]
    if unknown:
        raise InvalidQuery(
            f"query: unknown key {_show_key(unknown[0])}; a query document has "
            f"{', '.join(QUERY_DOCUMENT_KEYS)}"
        )
    if "order_by" in document and "orderBy" in document:
        raise InvalidQuery("query: give order_by or orderBy, not both")
    order_key = "orderBy" if "orderBy" in document else "order_by"
    offset = document.get("offset", 0)
    return Query.build(
        parse_where(document.get("where")),
        parse_order_by(document.get(order_key), argument=order_key),
        document.get("select"),
        document.get("limit"),
        0 if offset is None else offset,
        document.get("cursor"),
    )


def _show_key(key: Any) -> str:
    return repr(key) if isinstance(key, str) else _show_input(key)


def check_query(query: Query, *, argument: str = "query") -> Query:
    """``query`` checked as :meth:`Query.build` checks what users pass (a :class:`Query`
    may be built by hand), or :class:`InvalidQuery`."""
    if not isinstance(query, Query):
        raise InvalidQuery(f"{argument}: must be a Query, not {_show_input(query)}")
    select = query.select
    if select is not None:
        if not isinstance(select, tuple):
            raise InvalidQuery(f"select: takes a tuple of field paths, not {_show_input(select)}")
        for path in select:
            if check_path(path, argument="select")[0] != "value":
                raise InvalidQuery(f"select: {path[0]!r} is metadata; select names value fields")
    built = Query.build(query.where, query.order_by, None, query.limit, query.offset, query.cursor)
    return Query(built.where, built.order_by, select, built.limit, built.offset, built.cursor)


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
