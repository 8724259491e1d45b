"""LangGraph search filters: their meaning, and their translation into satchel queries.

The meaning is that of LangGraph's reference store (``InMemoryStore``):

* ``{"field": value}`` holds when the item's top-level ``field`` equals ``value`` by
  Python's ``==`` (so ``1``, ``1.0`` and ``True`` are equal, and ``None`` also matches a
  missing field); a field name is taken as it is (``"a.b"`` is one field, not a path);
* a dict value without ``$`` keys matches a dict holding at least those items, each
  compared in the same way (nested keys); a list matches a list of the same length whose
  items match in order;
* a dict with ``$`` keys applies operators: ``$eq`` and ``$ne`` compare with ``==`` and
  ``!=``; ``$gt``, ``$gte``, ``$lt`` and ``$lte`` compare ``float(stored)`` with
  ``float(operand)`` (a numeric string or a boolean stored is converted too).

One difference, on purpose: where the reference raises because a stored value cannot be
converted by ``float()`` (a missing field, ``null``, a string that is not a number, an
object, a list), the item does not match here. A filter that is wrong in itself (an
unknown operator, an operand that is not a number) is an
:class:`~satchel.InvalidArgument` naming ``filter``, raised before the store is read.

:func:`plan` turns a filter into satchel ``where`` conditions that every matching item
meets (they narrow what the backend returns), and says whether they are *exact* (they
match nothing else, so ``offset`` and ``limit`` can run on the backend too). What they do
not decide is decided by :func:`matches`, on the items the backend returns.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from satchel import InvalidArgument

__all__ = ["OPERATORS", "Plan", "check_filter", "matches", "plan"]

#: The operators a filter may use.
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
_RANGE = {"$gt": "gt", "$gte": "gt", "$lt": "lt", "$lte": "lt"}
#: The integers satchel compares exactly on every backend (64-bit on the servers).
_INT_RANGE = 2**63
#: A condition: ``(field path, satchel operator, value)``.
Condition = tuple[tuple[str, ...], str, Any]


# -- meaning --------------------------------------------------------------------------------


def check_filter(filter: Any) -> None:
    """Refuse a filter that is wrong in itself, with :class:`InvalidArgument` naming it."""
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise InvalidArgument(
            f"filter: must be a mapping of field to value or {{operator: value}}, "
            f"not {type(filter).__name__}"
        )
    for name, wanted in filter.items():
        if not isinstance(name, str):
            raise InvalidArgument(f"filter: field names are strings, not {name!r}")
        _check(wanted, f"filter[{name!r}]")


def _check(wanted: Any, where: str) -> None:
    if isinstance(wanted, dict):
        for name in wanted:
            if not isinstance(name, str):
                raise InvalidArgument(f"{where}: field names are strings, not {name!r}")
        if any(name.startswith("$") for name in wanted):
            for op, operand in wanted.items():
                if op not in OPERATORS:
                    raise InvalidArgument(
                        f"{where}: unsupported operator {op!r}; use {', '.join(OPERATORS)} "
                        "(a dict with a $ key holds operators only)"
                    )
                if op in _RANGE:
                    try:
                        float(operand)
                    except (TypeError, ValueError, OverflowError):
                        raise InvalidArgument(
                            f"{where}: {op} compares numbers, and {operand!r} is not one"
                        ) from None
        else:
            for name, nested in wanted.items():
                _check(nested, f"{where}[{name!r}]")
    elif isinstance(wanted, (list, tuple)):
        for index, nested in enumerate(wanted):
            _check(nested, f"{where}[{index}]")


def matches(value: dict[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether an item's ``value`` meets ``filter`` (checked by :func:`check_filter`)."""
    if not filter:
        return True
    try:
        return all(_compare(value.get(name), wanted) for name, wanted in filter.items())
    except (TypeError, ValueError, OverflowError):  # float() of a stored value: no match
        return False


def _compare(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if any(name.startswith("$") for name in wanted):
            return all(_apply(stored, op, operand) for op, operand in wanted.items())
        if not isinstance(stored, dict):
            return False
        return all(_compare(stored.get(name), nested) for name, nested in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(stored, (list, tuple))
            and len(stored) == len(wanted)
            and all(_compare(s, w) for s, w in zip(stored, wanted, strict=True))
        )
    return bool(stored == wanted)


def _apply(stored: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(stored == operand)
    if op == "$ne":
        return bool(stored != operand)
    if op == "$gt":
        return float(stored) > float(operand)
    if op == "$gte":
        return float(stored) >= float(operand)
    if op == "$lt":
        return float(stored) < float(operand)
    return float(stored) <= float(operand)  # $lte, the last one check_filter lets through


# -- translation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The satchel queries of a filter.

    :param alternatives: the ``where`` lists to run; an item matches the filter only if it
        matches one of them (they never overlap). None: nothing can match.
    :param exact: one ``where``, matched by exactly the items the filter matches.
    """

    alternatives: tuple[tuple[Condition, ...], ...]
    exact: bool


@dataclass
class _Conditions:
    where: list[Condition] = field(default_factory=list)
    exact: bool = True
    never: bool = False
    ranges: list[tuple[tuple[str, ...], str, float]] = field(default_factory=list)


def plan(filter: Mapping[str, Any] | None, base: tuple[str, ...], *, split: bool) -> Plan:
    """The satchel queries that find the items meeting ``filter``, whose values are at the
    field path ``base`` of the records.

    :param split: a comparison (``$gt`` ...) may run as three queries, one per type that
        ``float()`` converts (numbers, by the bound; strings; booleans), instead of one
        that only requires the field; for backends that run queries on their server.
    """
    found = _Conditions()
    for name, wanted in (filter or {}).items():
        _compare_at(found, (*base, name), wanted)
    if found.never:
        return Plan((), True)
    where = list(found.where)
    alternatives: list[list[Condition]] = [where]
    for n, (path, op, bound) in enumerate(found.ranges):
        if split and n == 0:
            number = _number_condition(path, op, bound)
            alternatives = [
                *([[*where, number]] if number is not None else []),
                [*where, (path, "gte", "")],  # every string
                [*where, (path, "in", [True, False])],
            ]
        else:  # float() converts no missing or null value
            for alternative in alternatives:
                alternative += [(path, "exists", True), (path, "neq", None)]
    exact = found.exact and not found.ranges and len(alternatives) == 1
    return Plan(tuple(tuple(a) for a in alternatives), exact)


def _compare_at(found: _Conditions, path: tuple[str, ...], wanted: Any) -> bool:
    """Add the conditions of ``_compare(<value at path>, wanted)``; return whether they
    imply that the path resolves (through objects, for nested keys)."""
    if not _pushable(path):  # a name no satchel field path can hold: decided in Python
        found.exact = False
        return False
    if isinstance(wanted, dict):
        if any(name.startswith("$") for name in wanted):
            present = False
            for op, operand in wanted.items():
                present |= _operator(found, path, op, operand)
            return present
        present = False
        for name, nested_wanted in wanted.items():
            child = _compare_at(found, (*path, name), nested_wanted)
            # satchel's paths also index lists by number, and a condition that holds on a
            # missing field does not say that the parent is an object: decided in Python
            if not child or _is_index(name):
                found.exact = False
            present |= child and not _is_index(name)
        if not wanted:  # an empty dict matches any dict
            found.where.append((path, "exists", True))
            found.exact = False
            return True
        return present
    if isinstance(wanted, (list, tuple)):
        found.where.append((path, "exists", True))
        found.exact = False
        return True
    return _equal(found, path, wanted)


def _operator(found: _Conditions, path: tuple[str, ...], op: str, operand: Any) -> bool:
    if op == "$eq":
        if isinstance(operand, (dict, list, tuple)):
            found.where.append((path, "exists", True))
            found.exact = False
            return True
        return _equal(found, path, operand)
    if op == "$ne":
        return _not_equal(found, path, operand)
    bound = float(operand)
    if math.isnan(bound):  # no comparison with NaN holds
        found.never = True
    else:
        found.ranges.append((path, op, bound))
    return True


def _equal(found: _Conditions, path: tuple[str, ...], wanted: Any) -> bool:
    """``stored == wanted`` for a value that is not a dict or a list."""
    equals = _equals(wanted)
    if equals is None:  # None (also a missing field) or a non-JSON object: decided in Python
        found.exact = False
        return False
    if not equals:
        found.never = True
    else:
        found.where.append((path, "in", equals))
    return True


def _not_equal(found: _Conditions, path: tuple[str, ...], wanted: Any) -> bool:
    """``stored != wanted``."""
    if wanted is None:
        found.where += [(path, "exists", True), (path, "neq", None)]
        return True
    if isinstance(wanted, (dict, list, tuple)):
        found.exact = False
        return False
    equals = _equals(wanted)
    if equals is None:
        found.exact = False
        return False
    found.where += [(path, "neq", value) for value in equals]
    return False


def _equals(wanted: Any) -> list[Any] | None:
    """The JSON values that ``==`` a scalar ``wanted`` (``[]``: none can), for the types
    satchel compares exactly; ``None`` for the others."""
    kind = type(wanted)
    if kind is str:
        try:
            wanted.encode("utf-8")
        except UnicodeEncodeError:  # no stored string holds a lone surrogate
            return []
        return [wanted]
    if kind is bool:
        return [wanted, int(wanted)]
    if kind is int or kind is float:
        if kind is float and not math.isfinite(wanted):
            return []  # JSON holds no NaN or infinity
        if abs(wanted) >= _INT_RANGE:
            return None
        return [wanted, *([True] if wanted == 1 else []), *([False] if wanted == 0 else [])]
    return None


def _number_condition(path: tuple[str, ...], op: str, bound: float) -> Condition | None:
    """A condition met by every number ``n`` with ``float(n) <op> bound``, and by no other
    type; ``None`` when no number meets it."""
    upward = _RANGE[op] == "gt"
    if op in ("$gte", "$lte"):  # float(n) >= b implies n > the float below b
        bound = math.nextafter(bound, -math.inf if upward else math.inf)
    elif bound == (math.inf if upward else -math.inf):
        return None
    if math.isinf(bound):  # every number (those float() overflows on never match)
        return (path, "gte", -sys.float_info.max)
    return (path, _RANGE[op], bound)


def _pushable(path: tuple[str, ...]) -> bool:
    """Whether satchel queries can address ``path``: no empty name, valid Unicode."""
    try:
        return all(name and name.encode("utf-8") for name in path)
    except UnicodeEncodeError:
        return False


def _is_index(name: str) -> bool:
    return name.isascii() and name.isdigit()
