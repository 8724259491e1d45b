"""satchel queries as MongoDB filters and sorts.

A condition is either *exact* on the server or *refined*. Exact: every condition on the
key and the metadata, and a condition on the value whose meaning MongoDB's can be made
equal to (:func:`_exact`): a path with no all-digit segment, each of its steps guarded with
``$not: {$type: "array"}`` (MongoDB walks into the elements of an array), compared with a
string, a boolean, ``null`` (``$type: "null"``: ``{f: null}`` also matches a missing field)
or a number below 2**53; ``neq`` and ``exists false`` as the ``$nor`` of the exact match.
Refined: the server runs a filter that selects a superset of the matches (:func:`superset`)
and the backend applies :func:`satchel.query.evaluate` to those candidates only (the split
satchel-redis makes for ``keys(pattern)``). A query whose conditions are all exact, ordered
by the key or metadata only, runs wholly on the server (filter, sort, skip, limit, cursor).
User data only ever appears as an operand, never as an operator or a field name: keys are
escaped (:func:`satchel_mongodb.codec.escape`), strings in regular expressions are escaped
character by character.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from bson.decimal128 import Decimal128

from satchel.errors import InvalidQuery
from satchel.query import Condition, FieldPath, Order, Query, SortRank, cursor_position
from satchel.toolkit import EPOCH
from satchel_mongodb.codec import decode as decode_number
from satchel_mongodb.codec import instant, value_path

__all__ = [
    "FALSE",
    "INSTANTS",
    "METADATA_FIELDS",
    "RECORDS",
    "all_of",
    "candidate_fields",
    "exact_on_server",
    "light_filter",
    "live",
    "page_after",
    "projection",
    "sort_fields",
    "superset",
    "where_filter",
]

#: A filter that matches nothing.
FALSE: Final[dict[str, Any]] = {"_id": {"$in": []}}
_INT64: Final = 2**63
_MAX_INDEX: Final = 2**31
_EPOCH: Final = EPOCH
#: Where each metadata field is stored, and the rank (in satchel's sort order) of its values.
_METADATA: Final = {
    "key": "_id",
    "version": "version",
    "created_at": "created",
    "updated_at": "updated",
}
#: Where each metadata field is stored.
_STORED: Final = {**_METADATA, "expires_at": "expires"}
_OPS: Final = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}
_LAST_CHAR: Final = "\U0010ffff"
#: Records only (not the documents of a log in the same collection, which have ``seq``).
RECORDS: Final[dict[str, Any]] = {"seq": {"$exists": False}}
#: The metadata of a record, beside its value (what a projection fetches).
_RECORD_FIELDS: Final = {"version": 1, "created": 1, "updated": 1, "expires": 1, "write_id": 1}
METADATA_FIELDS: Final = {**_RECORD_FIELDS, "index_entries": 1, "empty_indexes": 1}
#: The field that lists the instants of the value's strings that read as datetimes.
INSTANTS: Final = "instants"
#: Below this magnitude a number compares on the server as in Python, whatever the server
#: does with a long or a Decimal128 against a double (at worst it rounds them to doubles,
#: which keeps their order against a number that a double holds exactly, as this one is).
_EXACT_NUMBER: Final = 2**53


def live(now: datetime) -> dict[str, Any]:
    """Records that have not expired at ``now``: ``expires`` is ``null``, missing or later.
    (One field condition, not an ``$or``: a server may stop using the ``_id`` or ``index_entries``
    index for a filter with a top-level operator.)"""
    return {"expires": {"$not": {"$lte": now}}}


def all_of(clauses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The conjunction, as one document when the clauses' fields differ (so that a server
    sees the plain fields an index can serve), else with ``$and``."""
    if any(c is FALSE for c in clauses):
        return FALSE
    kept = [dict(c) for c in clauses if c]
    if not kept:
        return {}
    if len(kept) == 1:
        return kept[0]
    merged: dict[str, Any] = {}
    for clause in kept:
        for name, condition in clause.items():
            if name in merged:
                joined = _join_key_bounds(name, merged[name], condition)
                if joined is None:
                    return {"$and": kept}
                condition = joined
            merged[name] = condition
    return merged


def _join_key_bounds(name: str, first: Any, second: Any) -> dict[str, Any] | None:
    """Two conditions on one field as one operator document (``{"$gte": a, "$lt": b}``
    and ``{"$gt": c}``: one range, which a server reads from an index), or ``None`` when
    they share an operator or one is an object to equal. A plain operand becomes ``$eq``.
    (MongoDB applies each operator of a document on its own, also to an array's elements,
    so the joined condition means what the two meant.)"""
    first, second = _operators(first), _operators(second)
    if first is None or second is None or set(first) & set(second):
        return None
    return {**first, **second}


def _operators(condition: Any) -> dict[str, Any] | None:
    if isinstance(condition, Mapping):
        if condition and all(isinstance(k, str) and k.startswith("$") for k in condition):
            return dict(condition)
        return None
    if isinstance(condition, (list, tuple)):
        return None
    return {"$eq": condition}


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


# -- conditions on the value: supersets --------------------------------------------------


def _scalar_operand(wanted: Any) -> Any:
    return _number(wanted) if _is_number(wanted) else wanted


def _number_range(path: str, op: str, wanted: int | float) -> dict[str, Any]:
    """Numbers at ``path`` that may be ``op wanted``: exactly those for a number a double
    holds exactly and below 2**53, else a range widened by one double on each side (which
    holds whether the server compares exactly or through doubles)."""
    if abs(wanted) < _EXACT_NUMBER:
        if op == "eq":
            return {path: wanted}
        return {path: {_OPS[op]: wanted}}
    near = float(wanted)
    below, above = math.nextafter(near, -math.inf), math.nextafter(near, math.inf)
    if op == "eq":
        return {path: {"$gte": below, "$lte": above}}
    if op in ("gt", "gte"):
        return {path: {"$gte": below}}
    return {path: {"$lte": above}}


def _eq_superset(path: str, wanted: Any) -> dict[str, Any]:
    """A filter matching at least every record whose value at ``path`` equals ``wanted``."""
    if wanted is None:
        return {path: None}  # null, or missing, or a list holding null
    if isinstance(wanted, datetime):
        return {path: {"$type": "string"}, INSTANTS: instant(_aware(wanted))}
    if _is_number(wanted):
        return _number_range(path, "eq", wanted)
    if isinstance(wanted, (bool, str)):
        return {path: wanted}
    if isinstance(wanted, (list, tuple)):
        return all_of(
            [{path: {"$size": len(wanted)}}]
            + [_eq_superset(f"{path}.{i}", item) for i, item in enumerate(wanted)]
        )
    if isinstance(wanted, Mapping):
        if not wanted:
            return {path: {"$type": "object"}}
        return all_of([_eq_superset(value_path((k,), path), item) for k, item in wanted.items()])
    raise InvalidQuery(f"where: {wanted!r} is not a JSON value or a datetime")


def superset(condition: Condition) -> dict[str, Any]:
    """A filter that matches at least every record ``condition`` (on the value) matches;
    :data:`FALSE` when it matches none, ``{}`` when the server cannot narrow."""
    op, wanted = condition.op, condition.value
    segments = condition.field[1:]
    odd = next((i for i, s in enumerate(segments) if s.isdigit() and not s.isascii()), None)
    if odd is not None:
        # a segment of digits other than 0-9 ("²"), which some servers fail to read: the
        # records where the path up to it exists (none of its values is missing at "²")
        if op == "neq" or (op == "exists" and not wanted):
            return {}
        return {value_path(segments[:odd]): {"$exists": True}} if odd else {}
    path = value_path(segments)
    if op == "eq":
        return _eq_superset(path, wanted)
    if op == "in":
        return _or([_eq_superset(path, item) for item in wanted])
    if op == "exists":
        return {path: {"$exists": True}} if wanted else {}
    if op == "neq":
        return {}
    if op in ("startswith", "endswith"):
        pattern = "^" + _regex(wanted) if op == "startswith" else _regex(wanted) + _END
        return {path: {"$regex": pattern}}
    if op == "contains":
        if isinstance(wanted, str):
            return {path: {"$regex": _regex(wanted)}}  # a substring, or a list's element
        if wanted is None or isinstance(wanted, (bool, datetime)) or _is_number(wanted):
            return _eq_superset(path, wanted)  # MongoDB matches a list's elements too
        return {path: {"$exists": True}}
    # gt gte lt lte
    if isinstance(wanted, datetime):
        return {path: {"$type": "string"}, INSTANTS: {_OPS[op]: instant(_aware(wanted))}}
    if _is_number(wanted):
        return _number_range(path, op, wanted)
    if isinstance(wanted, (str, bool)):
        return {path: {_OPS[op]: wanted}}
    return FALSE  # null, lists and objects are not ordered


def _exact_scalar(wanted: Any) -> bool:
    """Whether MongoDB compares ``wanted`` with a stored scalar as satchel does: a string,
    a boolean, ``null``, or a number below 2**53 (see :data:`_EXACT_NUMBER`)."""
    if isinstance(wanted, (str, bool)) or wanted is None:
        return True
    return _is_number(wanted) and abs(wanted) < _EXACT_NUMBER


def _not_array(path: str) -> dict[str, Any]:
    return {path: {"$not": {"$type": "array"}}}


def _exact(condition: Condition, guarded: bool = True) -> dict[str, Any] | None:
    """The exact filter of a condition on the value, or ``None`` when MongoDB's meaning
    cannot be made satchel's (then :func:`superset` narrows and the client refines).

    Exact: paths without an all-digit segment (which MongoDB reads as a list index or a
    key, and walks into the elements of a list), guarded so that no step of the path is an
    array (MongoDB would walk into its elements); scalars that compare alike (strings,
    booleans, ``null``, numbers below 2**53).

    ``guarded=False``: the guards left out of every condition that is not a negation (each
    is one more test of every candidate on the server), which makes the filter match a
    superset: also the records holding an array on the way (see :func:`light_filter`)."""
    segments = condition.field[1:]
    if any(segment.isdigit() for segment in segments):
        return None
    op, wanted = condition.op, condition.value
    path = value_path(segments)
    negated = op == "neq" or (op == "exists" and not wanted)
    steps = [_not_array(value_path(segments[:n])) for n in range(len(segments))]
    if not (guarded or negated):
        steps = []
    at = [_not_array(path), *steps] if guarded or negated else []
    if op == "exists":
        there = all_of([{path: {"$exists": True}}, *steps])
        return there if wanted else _not(there)
    if op in ("eq", "neq"):
        if not _exact_scalar(wanted):
            return None
        operand = {"$type": "null"} if wanted is None else wanted
        equal = all_of([{path: operand}, *at])
        return equal if op == "eq" else _not(equal)
    if op == "in":
        if not all(_exact_scalar(item) for item in wanted):
            return None
        return _or([all_of([{path: {"$type": "null"} if w is None else w}, *at]) for w in wanted])
    if op in ("startswith", "endswith"):
        return all_of([superset(condition), *at])
    if op == "contains":
        if not _exact_scalar(wanted):
            return None
        in_list = all_of([{path: wanted}, {path: {"$type": "array"}}, *steps])
        if not isinstance(wanted, str):
            return in_list
        within = all_of([{path: {"$regex": _regex(wanted)}}, _not_array(path), *steps])
        return _or([within, in_list])
    if op in _OPS:
        if wanted is None or isinstance(wanted, (list, tuple, Mapping)):
            return FALSE  # not ordered: nothing matches
        if not _exact_scalar(wanted):
            return None
        return all_of([{path: {_OPS[op]: wanted}}, *at])
    return None


def exact_on_server(condition: Condition) -> bool:
    """Whether :func:`where_filter` decides ``condition`` on the server exactly."""
    return condition.field[0] != "value" or _exact(condition) is not None


def _value_filter(condition: Condition) -> dict[str, Any]:
    exact = _exact(condition)
    return superset(condition) if exact is None else exact


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
            return {field: None} if field == "expires" else FALSE
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
        return _moment(
            {"created_at": "created", "updated_at": "updated"}.get(name, "expires"), op, wanted
        )
    if op == "exists":
        return {} if wanted else FALSE
    if op == "in":
        return _or([_metadata(Condition(condition.field, "eq", item)) for item in wanted])
    if name == "key":
        if isinstance(wanted, datetime):
            if op == "eq":
                return {"key_instant": instant(_aware(wanted))}
            if op in _OPS:
                return {"key_instant": {_OPS[op]: instant(_aware(wanted))}}
            return FALSE
        if not isinstance(wanted, str):
            return FALSE
        if op == "eq":
            return {"_id": wanted}
        if op in _OPS:
            return {"_id": {_OPS[op]: wanted}}
        if op == "startswith":
            # a range of the _id index: exactly the strings that start with `wanted`
            above = successor(wanted)
            if above is None:
                return {"_id": {"$gte": wanted, "$regex": "^" + _regex(wanted)}}
            return {"_id": {"$gte": wanted, "$lt": above}}
        if op == "endswith":
            return {"_id": {"$regex": _regex(wanted) + _END}}
        return {"_id": {"$regex": _regex(wanted)}}  # contains
    # version: a whole number
    if not _is_number(wanted):
        return FALSE
    if op == "eq":
        return {"version": _number(wanted)}
    if op in _OPS:
        return {"version": {_OPS[op]: _number(wanted)}}
    return FALSE


def successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (strings
    compared by code point, as MongoDB compares them: by their UTF-8 bytes), or ``None``
    when there is none (``prefix`` is empty or only U+10FFFF). A string starts with
    ``prefix`` exactly when it is ``>= prefix`` and ``< successor(prefix)``."""
    kept = prefix.rstrip(_LAST_CHAR)
    if not kept:
        return None
    following = ord(kept[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: no string holds one
        following = 0xE000
    return kept[:-1] + chr(following)


def light_filter(where: Sequence[Condition]) -> dict[str, Any]:
    """A filter cheaper than the exact one for ``where`` (every condition
    :func:`exact_on_server`): it matches a superset of :func:`where_filter`'s matches
    among all documents, live or expired, records or not: the array guards of each
    condition that is not a negation are left out. A server's first ``n`` documents by it
    are the exact query's first ``n`` whenever each of them is a live record that matches
    (the caller checks them; else it asks again with the exact filter)."""
    return all_of(
        [_exact(c, guarded=False) or {} if c.field[0] == "value" else _metadata(c) for c in where]
    )


def where_filter(where: Sequence[Condition]) -> dict[str, Any]:
    """The filter for ``where`` (conditions joined by AND): exact for the conditions
    :func:`exact_on_server` accepts, a superset for the others; :data:`FALSE` when nothing
    can match."""
    return all_of([_value_filter(c) if c.field[0] == "value" else _metadata(c) for c in where])


# -- ordering and paging --------------------------------------------------------------------


def _sort_field(order: Order, index: int) -> str:
    """The field a term sorts on: the stored metadata field, or the path into the value."""
    name = order.field[0]
    if name == "value":
        return value_path(order.field[1:])
    return _STORED[name]


def server_sortable(order_by: Sequence[Order]) -> bool:
    """Whether the server may sort by ``order_by`` once :func:`unsortable` finds no
    candidate: the key and metadata, and value paths without all-digit segments."""
    return all(o.field[0] != "value" or not any(s.isdigit() for s in o.field[1:]) for o in order_by)


def unsortable(order_by: Sequence[Order]) -> dict[str, Any]:
    """Records that MongoDB may place otherwise than satchel by the value paths of
    ``order_by``, anywhere in the order: those with an array at a step of a path or at its
    end (MongoDB sorts by an element; satchel reads the path as missing, or ranks the
    list). (An object, or a number of 2**53 or more, is placed in its own rank by both, so
    it cannot hide past a page it belongs in: :func:`sortable_document` catches it on the
    page.) :data:`FALSE` when no term is on the value."""
    clauses: list[dict[str, Any]] = []
    for order in order_by:
        segments = order.field[1:]
        if order.field[0] != "value":
            continue
        clauses.extend(
            {value_path(segments[:n]): {"$type": "array"}} for n in range(len(segments) + 1)
        )
    return _or(clauses)


def sortable_document(doc: Mapping[str, Any], order_by: Sequence[Order]) -> bool:
    """Whether a fetched document holds, at every value path of ``order_by``, what the
    server orders as satchel does (the check :func:`unsortable` makes, on one document)."""
    for order in order_by:
        if order.field[0] != "value":
            continue
        current: Any = doc
        for part in value_path(order.field[1:]).split("."):
            if isinstance(current, list):
                return False
            if not isinstance(current, Mapping) or part not in current:
                current = None
                break
            current = current[part]
        if isinstance(current, (list, Mapping)):
            return False
        if isinstance(current, (int, float)) and not isinstance(current, bool):
            if abs(current) >= _EXACT_NUMBER:
                return False
        elif current is not None and not isinstance(current, (str, bool)):
            return False  # a long or a Decimal128 beyond 2**53... or anything else
    return True


def _lookup(doc: Mapping[str, Any], field: str) -> Any:
    current: Any = doc
    for part in field.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def sort_fields(order_by: Sequence[Order]) -> list[tuple[str, int]]:
    """The sort: each term's field in its direction, then the key (unless a term is the
    key, which decides alone)."""
    out: list[tuple[str, int]] = []
    for i, o in enumerate(order_by):
        name = _sort_field(o, i)
        if any(name == seen for seen, _ in out):
            continue  # a term repeated decides nothing more (and a sort document holds one)
        out.append((name, -1 if o.descending else 1))
        if name == "_id":
            return out  # the key is unique: the terms after it decide nothing
    out.append(("_id", 1))
    return out


def _atom_operand(rank: int, value: Any) -> Any:
    if rank == SortRank.DATETIME:
        return _EPOCH + timedelta(milliseconds=round(value * 1000))
    if rank == SortRank.NUMBER:
        return _number(value)
    if rank == SortRank.BOOLEAN:
        return bool(value)  # the cursor keeps a boolean as 0 or 1
    return value


#: The BSON types of each sort rank but null (objects and arrays tie within their rank in
#: satchel: a page on the server that holds one falls back to the client, see
#: sortable_document).
_RANK_TYPES: Final[dict[int, list[str]]] = {
    SortRank.NUMBER: ["double", "int", "long", "decimal"],
    SortRank.STRING: ["string"],
    SortRank.OBJECT: ["object"],
    SortRank.LIST: ["array"],
    SortRank.BOOLEAN: ["bool"],
    SortRank.DATETIME: ["date"],
}


def _in_ranks(field: str, ranks: Sequence[int]) -> dict[str, Any]:
    """Records whose sort value at ``field`` has one of ``ranks``."""
    clauses: list[dict[str, Any]] = []
    types = [t for rank in ranks for t in _RANK_TYPES.get(rank, ())]
    if types:
        clauses.append({field: {"$type": types}})
    if SortRank.NULL in ranks:
        clauses.append({field: None})
    return _or(clauses)


def _same(field: str, rank: int, value: Any) -> dict[str, Any]:
    if rank == SortRank.NULL:
        return {field: None}
    if rank in (SortRank.OBJECT, SortRank.LIST):
        return {field: {"$type": _RANK_TYPES[rank]}}
    return {field: _atom_operand(rank, value)}


def page_after(query: Query) -> dict[str, Any]:
    """Records after the position ``query.cursor`` points at, in the query's order."""
    atoms, key = cursor_position(query)
    branches: list[dict[str, Any]] = []
    equal: list[dict[str, Any]] = []
    for index, (order, (rank, value)) in enumerate(zip(query.order_by, atoms, strict=True)):
        field = _sort_field(order, index)
        beyond = range(rank) if order.descending else range(rank + 1, len(SortRank))
        after = [_in_ranks(field, list(beyond))]
        if rank not in (SortRank.NULL, SortRank.OBJECT, SortRank.LIST):
            operator = "$lt" if order.descending else "$gt"
            after.append({field: {operator: _atom_operand(rank, value)}})
        branches.append(all_of([*equal, _or(after)]))
        equal.append(_same(field, rank, value))
    branches.append(all_of([*equal, {"_id": {"$gt": key}}]))
    return _or(branches)


def atoms(doc: Mapping[str, Any], order_by: Sequence[Order]) -> list[tuple[int, Any]]:
    """The sort atoms (see :func:`satchel.query.cursor_position`) of a fetched document."""
    out: list[tuple[int, Any]] = []
    for index, order in enumerate(order_by):
        value = _lookup(doc, _sort_field(order, index))
        if value is None:
            out.append((SortRank.NULL, 0))
        elif isinstance(value, bool):
            out.append((SortRank.BOOLEAN, int(value)))
        elif isinstance(value, str):
            out.append((SortRank.STRING, value))
        elif isinstance(value, datetime):
            out.append((SortRank.DATETIME, _aware(value).timestamp()))
        elif isinstance(value, Mapping):
            out.append((SortRank.OBJECT, 0))
        elif isinstance(value, list):
            out.append((SortRank.LIST, 0))
        else:
            out.append((SortRank.NUMBER, decode_number(value)))
    return out


def candidate_fields(where: Sequence[Condition]) -> dict[str, Any]:
    """The fields to fetch of a candidate that ``where`` is tested on in the client (with
    :func:`satchel.query.matches`): the metadata, and every top-level field of the value a
    condition's path starts with (the whole value when a condition names the value itself
    or a list index first). A value that is not an object comes back without those fields,
    or as a list; either way a path into it finds nothing, as in the whole value."""
    fields = dict(_RECORD_FIELDS)
    paths = [c.field[1:] for c in where if c.field[0] == "value"]
    if any(not path or path[0].isdigit() for path in paths):
        fields["value"] = 1
    else:
        fields.update({value_path(path[:1]): 1 for path in paths})
    return fields


def projection(select: Sequence[FieldPath] | None) -> dict[str, Any] | None:
    """The fields to fetch: every top-level field a selected path starts with (the exact
    projection is applied to what comes back, with :func:`satchel.query.project`)."""
    if select is None or any(len(path) == 1 or path[1].isdigit() for path in select):
        return None  # the whole value (a list's elements cannot be projected by index)
    fields: dict[str, Any] = {value_path(path[1:2]): 1 for path in select}
    fields.update(METADATA_FIELDS)
    return fields
