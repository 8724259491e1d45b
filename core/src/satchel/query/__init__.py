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
* Ordering puts values of different types in a fixed rank (:class:`SortRank`): missing and
  ``null`` first, then numbers, strings, objects, lists, booleans, datetimes; objects and
  lists tie among themselves. Ties are broken by key, ascending, whatever the direction.

Conditions and ordering terms also take a JSON form (``{"field", "operator", "value"}``,
``{"field", "direction"}``), and :func:`parse_query` turns a whole JSON query document into
a :class:`Query`, so that queries can be stored and sent.

The package's modules: :mod:`~satchel.query.model` (the query, its validation, field paths),
:mod:`~satchel.query.evaluation` (the reference semantics), :mod:`~satchel.query.ordering`
(:class:`SortRank` and sort keys), :mod:`~satchel.query.cursors` and
:mod:`~satchel.query.globs` (key patterns). Every public name is importable from
``satchel.query`` itself.
"""

from __future__ import annotations

from satchel.query.cursors import cursor_position, decode_cursor, encode_cursor, make_cursor
from satchel.query.evaluation import evaluate, matches, predicate, project
from satchel.query.globs import compile_glob, escape_glob, glob_match
from satchel.query.model import (
    JSON_CONDITION_KEYS,
    JSON_OPERATOR_SPELLINGS,
    JSON_ORDER_KEYS,
    MAX_COUNT,
    METADATA_FIELDS,
    MISSING,
    OPERATORS,
    QUERY_DOCUMENT_KEYS,
    Condition,
    FieldPath,
    Operator,
    Order,
    OrderInput,
    Query,
    WhereInput,
    check_path,
    check_query,
    check_text,
    parse_datetime,
    parse_field,
    parse_order_by,
    parse_query,
    parse_select,
    parse_where,
    resolve,
)
from satchel.query.ordering import SortRank, sort_key

__all__ = [
    "MAX_COUNT",
    "METADATA_FIELDS",
    "JSON_CONDITION_KEYS",
    "JSON_OPERATOR_SPELLINGS",
    "JSON_ORDER_KEYS",
    "MISSING",
    "OPERATORS",
    "QUERY_DOCUMENT_KEYS",
    "Condition",
    "FieldPath",
    "Operator",
    "Order",
    "OrderInput",
    "Query",
    "SortRank",
    "WhereInput",
    "check_path",
    "check_query",
    "check_text",
    "compile_glob",
    "cursor_position",
    "decode_cursor",
    "encode_cursor",
    "escape_glob",
    "evaluate",
    "glob_match",
    "make_cursor",
    "matches",
    "parse_datetime",
    "parse_field",
    "parse_order_by",
    "parse_query",
    "parse_select",
    "parse_where",
    "predicate",
    "project",
    "resolve",
    "sort_key",
]
