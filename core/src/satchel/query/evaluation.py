"""The reference evaluation of a query: :func:`predicate` and :func:`matches` for
``where``, :func:`project` for ``select``, and :func:`evaluate` for the whole page, which
every backend must agree with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from satchel.query.cursors import decode_cursor, encode_cursor
from satchel.query.model import (
    MISSING,
    Condition,
    FieldPath,
    Query,
    _aware,
    _is_number,
    parse_datetime,
    resolve,
)
from satchel.query.ordering import _sort_atom, sort_key

if TYPE_CHECKING:
    from satchel.backend import Record


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
