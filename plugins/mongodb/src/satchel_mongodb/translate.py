"""satchel queries as MongoDB filters, sorts and aggregation stages.

Conditions on the value are written against the shadow form of :mod:`satchel_mongodb.codec`,
in which MongoDB's plain operators mean what satchel's mean: no query path ever stops at an
array, so ``{"v.o.tags": "x"}`` never matches a list holding ``"x"``; equality with a list or
an object is spelled out field by field (with the key count ``n`` and ``$size``), so key
order does not matter; ``null`` is matched with ``$type``, because ``{f: null}`` would also
match a missing field; ``neq`` is the ``$nor`` of ``eq``; datetimes are compared with the
instants tree ``d``. User data only ever appears as an operand, never as an operator or a
field name: keys are escaped, strings in regular expressions are escaped character by
character.

Ordering by a value path (whose values may be objects and lists, which satchel ranks as
equal among themselves) runs as an aggregation that computes each term's rank and value;
ordering by the key, version, ``created_at`` or ``updated_at`` is a plain ``find``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from bson.decimal128 import Decimal128

from satchel.errors import InvalidQuery
from satchel.query import Condition, FieldPath, Order, Query, cursor_position
from satchel_mongodb.codec import escape, instant, shadow_paths

__all__ = [
    "FALSE",
    "live",
    "needs_pipeline",
    "page_after",
    "projection",
    "sort_fields",
    "where_filter",
]

#: A filter that matches nothing.
FALSE: Final[dict[str, Any]] = {"_id": {"$in": []}}
_INT64: Final = 2**63
_MAX_INDEX: Final = 2**31
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Where each metadata field is stored, and the rank (in satchel's sort order) of its values.
_METADATA: Final = {"key": "_id", "version": "ver", "created_at": "ca", "updated_at": "ua"}
_RANKS: Final = {"key": 2, "version": 1, "created_at": 6, "updated_at": 6}
_OPS: Final = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


def live(now: datetime) -> dict[str, Any]:
    """Records that have not expired at ``now``."""
    return {"$or": [{"exp": None}, {"exp": {"$gt": now}}]}


def _and(clauses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if any(c is FALSE for c in clauses):
        return FALSE
    kept = [dict(c) for c in clauses if c]
    if not kept:
        return {}
    return kept[0] if len(kept) == 1 else {"$and": kept}


def _merge(clauses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The conjunction of ``clauses`` as one document when their fields differ (as the
    parts of an equality do): inside ``$elemMatch``, not every server reads ``$and``."""
    if any(c is FALSE for c in clauses):
        return FALSE
    merged: dict[str, Any] = {}
    for clause in clauses:
        for name, condition in clause.items():
            if name.startswith("$") or name in merged:
                return _and(clauses)
            merged[name] = condition
    return merged


def _or(clauses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    kept = [dict(c) for c in clauses if c is not FALSE]
    if not kept:
        return FALSE
    if any(not c for c in kept):
        return {}
    return kept[0] if len(kept) == 1 else {"$or": kept}


def _not(clause: Mapping[str, Any]) -> dict[str, Any]:
    if clause is FALSE:
        return {}
    if not clause:
        return FALSE
    return {"$nor": [dict(clause)]}


def _number(value: int | float) -> Any:
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        text = str(value)
        return Decimal128(text) if len(text.lstrip("-")) <= 34 else float(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _regex(text: str) -> str:
    """``text`` as a regular expression matching itself, in the syntax that PCRE and
    Python's ``re`` share (``\\xHH`` for control characters: a pattern cannot hold NUL)."""
    out = []
    for char in text:
        if char.isalnum() or ord(char) > 127:
            out.append(char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append("\\" + char)
    return "".join(out)


#: "Nothing follows": the end of the text in PCRE and in Python alike (``$`` also matches
#: before a final newline).
_END: Final = "(?![\\s\\S])"


def _has_datetime(value: Any) -> bool:
    if isinstance(value, datetime):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_datetime(v) for v in value)
    if isinstance(value, Mapping):
        return any(_has_datetime(v) for v in value.values())
    return False


# -- conditions on the value ------------------------------------------------------------


def _eq(path: str, dates: str, wanted: Any) -> dict[str, Any]:
    """Records whose value at the shadow ``path`` (instants at ``dates``) equals ``wanted``.
    ``path`` is empty for "the element itself" inside ``$elemMatch``."""
    prefix = f"{path}." if path else ""
    dprefix = f"{dates}." if dates else ""
    if wanted is None:
        return {path: {"$type": "null"}} if path else {"$type": "null"}
    if isinstance(wanted, datetime):
        if not dates:
            return FALSE
        return {dates: instant(_aware(wanted))}
    if isinstance(wanted, (bool, str)) or _is_number(wanted):
        operand = _number(wanted) if _is_number(wanted) else wanted
        return {path: operand} if path else {"$eq": operand}
    if isinstance(wanted, (list, tuple)):
        return _merge(
            [{f"{prefix}l": {"$size": len(wanted)}}]
            + [
                _eq(f"{prefix}l.{i}", f"{dprefix}l.{i}" if dates else "", item)
                for i, item in enumerate(wanted)
            ]
        )
    if isinstance(wanted, Mapping):
        return _merge(
            [{f"{prefix}n": len(wanted)}]
            + [
                _eq(
                    f"{prefix}o.{escape(k)}",
                    f"{dprefix}o.{escape(k)}" if dates else "",
                    item,
                )
                for k, item in wanted.items()
            ]
        )
    raise InvalidQuery(f"where: {wanted!r} is not a JSON value or a datetime")


def _value_condition(path: str, dates: str, op: str, wanted: Any) -> dict[str, Any]:
    """One condition on one shadow path (one reading of the satchel path)."""
    if op == "eq":
        return _eq(path, dates, wanted)
    if op == "in":
        return _or([_eq(path, dates, item) for item in wanted])
    if op == "exists":
        return {path: {"$exists": True}}
    if op in ("startswith", "endswith"):
        pattern = "^" + _regex(wanted) if op == "startswith" else _regex(wanted) + _END
        return {path: {"$regex": pattern}}
    if op == "contains":
        if isinstance(wanted, datetime):
            in_list: dict[str, Any] = {f"{dates}.e": instant(_aware(wanted))}
        elif isinstance(wanted, (list, tuple, Mapping)) and _has_datetime(wanted):
            raise InvalidQuery(
                "where: 'contains' with a list or object that holds a datetime is not "
                "supported by the mongodb backend; compare with ISO-8601 strings instead"
            )
        else:
            in_list = {f"{path}.l": {"$elemMatch": _eq("", "", wanted)}}
        if isinstance(wanted, str):
            return _or([{path: {"$regex": _regex(wanted)}}, in_list])
        return in_list
    # gt gte lt lte
    mongo_op = _OPS[op]
    if isinstance(wanted, datetime):
        return {dates: {mongo_op: instant(_aware(wanted))}}
    if _is_number(wanted):
        return {path: {mongo_op: _number(wanted)}}
    if isinstance(wanted, (str, bool)):
        return {path: {mongo_op: wanted}}
    return FALSE  # null, lists and objects are not ordered


def _paths(field: FieldPath) -> list[tuple[str, str]]:
    segments = field[1:]
    shadows = shadow_paths("v", segments)
    dates = shadow_paths("d", segments)
    if len(shadows) > 256:
        raise InvalidQuery(
            f"where: the path {'.'.join(segments)!r} has more than 8 all-digit segments"
        )
    return list(zip(shadows, dates, strict=True))


def _value(condition: Condition) -> dict[str, Any]:
    op, wanted = condition.op, condition.value
    readings = _paths(condition.field)
    if op == "neq":
        return _not(_or([_eq(p, d, wanted) for p, d in readings]))
    if op == "exists" and wanted is False:
        return _not(_or([_value_condition(p, d, "exists", True) for p, d in readings]))
    if op == "exists":
        return _or([_value_condition(p, d, "exists", True) for p, d in readings])
    return _or([_value_condition(p, d, op, wanted) for p, d in readings])


# -- conditions on metadata ---------------------------------------------------------------


def _moment(field: str, op: str, wanted: Any) -> dict[str, Any]:
    """A condition on a stored datetime (millisecond precision), or ``null`` for
    ``expires_at``; the query's datetime may carry microseconds."""
    if op == "exists":
        return {} if wanted else FALSE
    if op == "in":
        return _or([_moment(field, "eq", item) for item in wanted])
    if op == "eq":
        if wanted is None:
            return {field: None} if field == "exp" else FALSE
        if not isinstance(wanted, datetime):
            return FALSE
        moment = _aware(wanted)
        if moment.microsecond % 1000:
            return FALSE
        return {field: moment}
    if op in _OPS:
        if not isinstance(wanted, datetime):
            return FALSE
        moment = _aware(wanted)
        whole = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        # stored values have whole milliseconds: s > w iff s > trunc(w), s < w iff s <= trunc(w)
        mongo_op = _OPS[op] if whole == moment else ("$gt" if op in ("gt", "gte") else "$lte")
        return {field: {mongo_op: whole}}
    return FALSE  # contains / startswith / endswith: a datetime is not a string or a list


def _metadata(condition: Condition) -> dict[str, Any]:
    name, op, wanted = condition.field[0], condition.op, condition.value
    if op == "neq":
        return _not(_metadata(Condition(condition.field, "eq", wanted)))
    if name in ("created_at", "updated_at", "expires_at"):
        return _moment({"created_at": "ca", "updated_at": "ua"}.get(name, "exp"), op, wanted)
    if op == "exists":
        return {} if wanted else FALSE
    if op == "in":
        return _or([_metadata(Condition(condition.field, "eq", item)) for item in wanted])
    if name == "key":
        if isinstance(wanted, datetime):
            if op == "eq":
                return {"kd": instant(_aware(wanted))}
            if op in _OPS:
                return {"kd": {_OPS[op]: instant(_aware(wanted))}}
            return FALSE
        if not isinstance(wanted, str):
            return FALSE
        if op == "eq":
            return {"_id": wanted}
        if op in _OPS:
            return {"_id": {_OPS[op]: wanted}}
        if op == "startswith":
            return {"_id": {"$gte": wanted, "$regex": "^" + _regex(wanted)}}
        if op == "endswith":
            return {"_id": {"$regex": _regex(wanted) + _END}}
        return {"_id": {"$regex": _regex(wanted)}}  # contains
    # version: a whole number
    if not _is_number(wanted):
        return FALSE
    if op == "eq":
        return {"ver": _number(wanted)}
    if op in _OPS:
        return {"ver": {_OPS[op]: _number(wanted)}}
    return FALSE


def where_filter(where: Sequence[Condition]) -> dict[str, Any]:
    """The filter for ``where`` (conditions joined by AND); :data:`FALSE` when nothing can
    match."""
    return _and([_value(c) if c.field[0] == "value" else _metadata(c) for c in where])


# -- ordering and paging --------------------------------------------------------------------


def needs_pipeline(order_by: Sequence[Order]) -> bool:
    """Whether ordering needs computed sort fields (a value path, or ``expires_at``, whose
    values are of several types)."""
    return any(o.field[0] not in _METADATA for o in order_by)


def sort_fields(order_by: Sequence[Order]) -> list[tuple[str, int]]:
    """The sort of a plain ``find`` (metadata terms only), the key last."""
    out = [(_METADATA[o.field[0]], -1 if o.descending else 1) for o in order_by]
    if not any(name == "_id" for name, _ in out):
        out.append(("_id", 1))
    return out


def _with_suffix(expression: Any, suffix: str) -> Any:
    if not suffix:
        return expression
    if isinstance(expression, str):
        return expression + suffix
    return {"$let": {"vars": {"c": _bound(expression)}, "in": "$$c" + suffix}}


def _bound(expression: Any) -> Any:
    """``expression`` with missing made ``null``, to bind to a ``$let`` variable (a missing
    value bound to a variable is not read back as missing by every server; for ordering,
    missing and ``null`` are the same)."""
    return {"$ifNull": [expression, None]}


def _resolve(field: FieldPath) -> Any:
    """An aggregation expression for the shadow at a satchel path (missing if none).
    Aggregation paths do not index lists, so an all-digit segment reads ``l`` with
    ``$arrayElemAt`` when the node is a list, and the key otherwise."""
    expression: Any = "$v"
    pending = ""
    for segment in field[1:]:
        if segment.isascii() and segment.isdigit() and int(segment) < _MAX_INDEX:
            current = _with_suffix(expression, pending)
            pending = ""
            expression = {
                "$let": {
                    "vars": {"c": _bound(current)},
                    "in": {
                        "$cond": [
                            {"$isArray": "$$c.l"},
                            {"$arrayElemAt": ["$$c.l", int(segment)]},
                            f"$$c.o.{escape(segment)}",
                        ]
                    },
                }
            }
        else:
            pending += f".o.{escape(segment)}"
    return _with_suffix(expression, pending)


def _atom_fields(order: Order, index: int) -> dict[str, Any]:
    """``r<i>`` (the rank of the value in satchel's order) and ``x<i>`` (what orders values
    of one rank; ``null`` for ranks whose values tie)."""
    name = order.field[0]
    if name in _METADATA:
        return {f"r{index}": _RANKS[name], f"x{index}": "$" + _METADATA[name]}
    if name == "expires_at":
        is_date = {"$eq": [{"$type": "$exp"}, "date"]}
        return {
            f"r{index}": {"$cond": [is_date, 6, 0]},
            f"x{index}": {"$cond": [is_date, "$exp", None]},
        }
    value = "$$a"
    kind = {"$type": value}
    rank = {
        "$switch": {
            "branches": [
                {"case": {"$in": [kind, ["int", "long", "double", "decimal"]]}, "then": 1},
                {"case": {"$eq": [kind, "string"]}, "then": 2},
                {
                    "case": {"$eq": [kind, "object"]},
                    "then": {"$cond": [{"$isArray": "$$a.l"}, 4, 3]},
                },
                {"case": {"$eq": [kind, "bool"]}, "then": 5},
                {"case": {"$eq": [kind, "date"]}, "then": 6},
            ],
            "default": 0,
        }
    }
    comparable = {"$cond": [{"$in": [kind, ["object", "missing", "null"]]}, None, value]}
    resolved = _bound(_resolve(order.field))
    return {
        f"r{index}": {"$let": {"vars": {"a": resolved}, "in": rank}},
        f"x{index}": {"$let": {"vars": {"a": resolved}, "in": comparable}},
    }


def atom_stage(order_by: Sequence[Order]) -> dict[str, Any]:
    """The ``$addFields`` of the computed sort fields."""
    fields: dict[str, Any] = {}
    for index, order in enumerate(order_by):
        fields.update(_atom_fields(order, index))
    return {"$addFields": fields}


def pipeline_sort(order_by: Sequence[Order]) -> dict[str, int]:
    sort: dict[str, int] = {}
    for index, order in enumerate(order_by):
        direction = -1 if order.descending else 1
        sort[f"r{index}"] = direction
        sort[f"x{index}"] = direction
    sort["_id"] = 1
    return sort


def _atom_operand(rank: int, value: Any) -> Any:
    if rank == 6:
        return _EPOCH + timedelta(milliseconds=round(value * 1000))
    if rank == 1:
        return _number(value)
    return value


def page_after(query: Query, pipeline: bool) -> dict[str, Any]:
    """Records after the position ``query.cursor`` points at, in the query's order."""
    atoms, key = cursor_position(query)
    branches: list[dict[str, Any]] = []
    equal: list[dict[str, Any]] = []
    for index, (order, (rank, value)) in enumerate(zip(query.order_by, atoms, strict=True)):
        beyond = "$lt" if order.descending else "$gt"
        if pipeline:
            r, x = f"r{index}", f"x{index}"
            if rank in (0, 3, 4):
                after: dict[str, Any] = {r: {beyond: rank}}
                same: dict[str, Any] = {r: rank}
            else:
                operand = _atom_operand(rank, value)
                after = {"$or": [{r: {beyond: rank}}, {r: rank, x: {beyond: operand}}]}
                same = {r: rank, x: operand}
        else:
            name = order.field[0]
            fixed = _RANKS[name]
            if rank != fixed:
                after = {} if (fixed > rank) != order.descending else FALSE
                same = FALSE
            else:
                operand = _atom_operand(rank, value)
                after = {_METADATA[name]: {beyond: operand}}
                same = {_METADATA[name]: operand}
        branches.append(_and([*equal, after]))
        equal.append(same)
    branches.append(_and([*equal, {"_id": {"$gt": key}}]))
    return _or(branches)


def projection(select: Sequence[FieldPath] | None) -> dict[str, Any] | None:
    """The fields to fetch: every top-level field a selected path starts with (the exact
    projection is applied to what comes back, with :func:`satchel.query.project`)."""
    if select is None or any(len(path) == 1 for path in select):
        return None
    fields: dict[str, Any] = {"v.o." + escape(path[1]): 1 for path in select}
    fields.update({"ver": 1, "ca": 1, "ua": 1, "exp": 1, "ix": 1, "ixe": 1})
    return fields
