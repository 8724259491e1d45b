"""SatchelStore against LangGraph's reference store, operation by operation.

langgraph, langgraph-checkpoint and langgraph-checkpoint-conformance ship no store test
suite, so a seeded random sequence of puts, deletes, gets, searches (with filters, limit
and offset), namespace listings (prefix, suffix, wildcards, max_depth) and mixed batches
runs on ``InMemoryStore`` and on ``SatchelStore``, on every backend, and every result is
compared.

The reference is used as it is, with two documented differences normalised:

* order: ``InMemoryStore`` returns items in the order their namespaces were first touched
  (a ``get`` counts) and then of insertion; SatchelStore in ``(namespace, key)`` order.
  The expected result of a search or a listing is what a fresh ``InMemoryStore`` returns
  when given the live items in that order;
* ``InMemoryStore`` lists namespaces whose items were all deleted (the fresh store has
  none), and raises ``TypeError``/``ValueError`` when ``float()`` fails on a stored value
  for ``$gt``/``$gte``/``$lt``/``$lte`` (there the expected result is the reference's
  filter applied to each item alone, an item that makes it raise not matching).

Timestamps are compared by their relations: ``created_at`` stays while an item lives,
``updated_at`` never goes back and changes only with a put.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime
from typing import Any

from langgraph.store.base import GetOp, Item, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from satchel import Satchel
from satchel_langgraph import SatchelStore

NAMESPACES = [
    ("a",),
    ("a", "b"),
    ("a", "b", "é"),
    ("a-b",),
    ("b", "a"),
    ("\x01",),
    ("x y", "a"),
    ("b",),
]
KEYS = ["k", "k2", "", "a.b", "\x00z", "é"]
FIELDS = ["n", "s", "flag", "nested", "list", "a.b"]
SCALARS: list[Any] = [0, 1, 2, -1, 1.0, 2.5, True, False, None, "1", "2.5", "abc", "", "a"]
OPERANDS: list[Any] = [0, 1, 2, 1.5, -1, True, "1", "2.5", 0.0]
SEED = 20240611
STEPS = 200
EVERYTHING = 10**6


def catalogue() -> list[dict[str, Any]]:
    """Filters covering every operator with every operand type, nested keys and lists."""
    filters: list[dict[str, Any]] = [{"n": scalar} for scalar in SCALARS]
    filters += [
        {"n": {op: operand}} for op in ("$gt", "$gte", "$lt", "$lte") for operand in OPERANDS
    ]
    filters += [{"n": {op: scalar}} for op in ("$eq", "$ne") for scalar in SCALARS]
    filters += [{"n": {"$eq": [1, 2]}}, {"n": {"$ne": {"k": 1}}}, {"n": {"$gt": "inf"}}]
    filters += [{"n": {"$lte": "-inf"}}, {"n": {"$gt": "nan"}}, {"n": {"$lt": 1e308}}]
    filters += [{"nested": {"k": scalar}} for scalar in SCALARS]
    filters += [{"nested": {"k": {"$gte": 1}}}, {"nested": {"m": {"z": 1}}}, {"nested": {}}]
    filters += [{"nested": {"k": {"$ne": 1}}}, {"nested": {"k": None}}, {"nested": 1}]
    filters += [{"list": []}, {"list": [1]}, {"list": [1, "a"]}, {"list": ({"$gt": 0},)}]
    filters += [{"a.b": 1}, {"missing": None}, {"missing": {"$ne": 1}}, {"n": 1, "s": "a"}]
    filters += [{"n": {"$gte": 0, "$lt": 2}, "flag": True}, {"s": {"$ne": None}}]
    filters += [{"": 1}, {"nested": {"": {"$gt": 0}}}, {"\ud800": None}]
    return filters


def matrix() -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    """Items holding every scalar in ``n`` (and others around it), for the catalogue."""
    items = []
    for n, scalar in enumerate(SCALARS):
        value: dict[str, Any] = {
            "n": scalar,
            "s": SCALARS[(n + 3) % len(SCALARS)],
            "flag": n % 2 == 0,
            "nested": {"k": scalar, "m": {"z": SCALARS[(n + 1) % len(SCALARS)]}}
            if n % 3
            else scalar,
            "list": [scalar, "a"][: n % 3],
        }
        if n % 4 == 0:
            value["a.b"] = value[""] = 1
        items.append((("m", str(n % 2)), f"v{n}", value))
    items.append((("m",), "empty", {}))
    return items


def random_value(rng: random.Random) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for name in rng.sample(FIELDS, rng.randint(2, 5)):
        if name == "nested":
            nested: dict[str, Any] = {"k": rng.choice(SCALARS)}
            if rng.random() < 0.5:
                nested["m"] = {"z": rng.choice(SCALARS)}
            value[name] = rng.choice([nested, rng.choice(SCALARS)])
        elif name == "list":
            value[name] = [rng.choice(SCALARS) for _ in range(rng.randint(0, 2))]
        else:
            value[name] = rng.choice(SCALARS)
    return value


def random_condition(rng: random.Random, name: str) -> Any:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(SCALARS)
    if kind == 1:
        return {rng.choice(["$gt", "$gte", "$lt", "$lte"]): rng.choice(OPERANDS)}
    if kind == 2:
        return {rng.choice(["$eq", "$ne"]): rng.choice([*SCALARS, [1, 2], {"k": 1}])}
    if kind == 3:
        return {"$gte": rng.choice(OPERANDS), "$lt": rng.choice(OPERANDS)}
    if kind == 4 and name == "nested":
        return rng.choice(
            [{"k": rng.choice(SCALARS)}, {"k": {"$gt": 0}}, {"m": {"z": rng.choice(SCALARS)}}, {}]
        )
    if kind == 5:
        return [rng.choice(SCALARS) for _ in range(rng.randint(0, 2))]
    return {"$ne": rng.choice(SCALARS), "$eq": rng.choice(SCALARS)}


def random_filter(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.2:
        return None
    return {
        name: random_condition(rng, name)
        for name in rng.sample([*FIELDS, "missing"], rng.choice([1, 1, 1, 2]))
    }


def random_prefix(rng: random.Random) -> tuple[str, ...]:
    if rng.random() < 0.1:
        return ("zz",)
    namespace = rng.choice(NAMESPACES)
    return namespace[: rng.randint(0, len(namespace))]


def random_path(rng: random.Random) -> tuple[str, ...] | None:
    if rng.random() < 0.4:
        return None
    namespace = rng.choice(NAMESPACES)
    path = list(namespace[: rng.randint(1, len(namespace))])
    if rng.random() < 0.3:
        path[rng.randrange(len(path))] = "*"
    return tuple(path)


def view(item: Item | None) -> tuple[tuple[str, ...], str, dict[str, Any]] | None:
    return None if item is None else (item.namespace, item.key, item.value)


class Differential:
    """Both stores, the expectations, and the timestamps seen."""

    def __init__(self, ours: SatchelStore) -> None:
        self.ours = ours
        self.reference = InMemoryStore()
        #: (namespace, key) -> (created_at, updated_at) last seen, and whether put since
        self.seen: dict[tuple[tuple[str, ...], str], tuple[datetime, datetime, bool]] = {}

    # -- the normalised reference ---------------------------------------------------------

    def live(self) -> list[Item]:
        items = self.reference.search((), limit=EVERYTHING)
        return sorted(items, key=lambda i: (i.namespace, i.key))

    def fresh(self, items: list[Item]) -> InMemoryStore:
        store = InMemoryStore()
        for item in items:
            store.put(item.namespace, item.key, copy.deepcopy(item.value))
        return store

    def expected_search(self, op: SearchOp, live: list[Item]) -> list[Any]:
        try:
            found = self.fresh(live).batch([op])[0]
            return [view(i) for i in found]
        except (TypeError, ValueError):  # float() of a stored value: that item does not match
            pass
        kept = []
        for item in live:
            if item.namespace[: len(op.namespace_prefix)] != op.namespace_prefix:
                continue
            try:
                if self.fresh([item]).search(item.namespace, filter=op.filter):
                    kept.append(view(item))
            except (TypeError, ValueError):
                pass
        return kept[op.offset : op.offset + op.limit]

    def expected_list(self, op: ListNamespacesOp, live: list[Item]) -> list[Any]:
        result: list[Any] = self.fresh(live).batch([op])[0]
        return result

    # -- timestamps -------------------------------------------------------------------------

    def check_times(self, item: Item | None) -> None:
        if item is None:
            return
        assert item.created_at <= item.updated_at
        slot = (item.namespace, item.key)
        if slot in self.seen:
            created, updated, put_since = self.seen[slot]
            assert item.created_at == created, "created_at changed while the item lived"
            assert item.updated_at >= updated, "updated_at went back"
            if not put_since:
                assert item.updated_at == updated, "updated_at changed without a put"
        self.seen[slot] = (item.created_at, item.updated_at, False)

    def written(self, namespace: tuple[str, ...], key: str, deleted: bool) -> None:
        slot = (namespace, key)
        if deleted:
            self.seen.pop(slot, None)
        elif slot in self.seen:
            created, updated, _ = self.seen[slot]
            self.seen[slot] = (created, updated, True)

    # -- steps --------------------------------------------------------------------------------

    async def step(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.33:
            namespace, key, value = rng.choice(NAMESPACES), rng.choice(KEYS), random_value(rng)
            self.reference.put(namespace, key, copy.deepcopy(value))
            await self.ours.aput(namespace, key, value)
            self.written(namespace, key, deleted=False)
            return "put"
        if roll < 0.42:
            namespace, key = rng.choice(NAMESPACES), rng.choice(KEYS)
            self.reference.delete(namespace, key)
            await self.ours.adelete(namespace, key)
            self.written(namespace, key, deleted=True)
            return "delete"
        if roll < 0.55:
            namespace, key = rng.choice(NAMESPACES), rng.choice(KEYS)
            got = await self.ours.aget(namespace, key)
            assert view(got) == view(self.reference.get(namespace, key)), (namespace, key)
            assert got is None or type(got) is Item
            self.check_times(got)
            return "get"
        if roll < 0.8:
            op = SearchOp(
                random_prefix(rng),
                random_filter(rng),
                limit=rng.randint(0, 6),
                offset=rng.choice([0, 0, 1, 3]),
            )
            expected = self.expected_search(op, self.live())
            found = await self.ours.asearch(
                op.namespace_prefix, filter=op.filter, limit=op.limit, offset=op.offset
            )
            assert [view(i) for i in found] == expected, op
            for item in found:
                assert item.score is None
                self.check_times(item)
            return "search"
        if roll < 0.93:
            prefix, suffix = random_path(rng), random_path(rng)
            conditions = [
                MatchCondition(kind, path)
                for kind, path in (("prefix", prefix), ("suffix", suffix))
                if path
            ]
            op = ListNamespacesOp(
                tuple(conditions),
                max_depth=rng.choice([None, None, 1, 2, 3]),
                limit=rng.randint(0, 10),
                offset=rng.choice([0, 0, 1, 2]),
            )
            expected = self.expected_list(op, self.live())
            listed = await self.ours.alist_namespaces(
                prefix=prefix,
                suffix=suffix,
                max_depth=op.max_depth,
                limit=op.limit,
                offset=op.offset,
            )
            assert listed == expected, op
            return "list"
        return await self.batch(rng)

    async def batch(self, rng: random.Random) -> str:
        """A batch mixing reads and writes: its reads see the items before its writes."""
        ops: list[Any] = []
        for _ in range(rng.randint(2, 5)):
            kind = rng.randrange(4)
            namespace, key = rng.choice(NAMESPACES), rng.choice(KEYS)
            if kind == 0:
                ops.append(PutOp(namespace, key, random_value(rng)))
            elif kind == 1:
                ops.append(PutOp(namespace, key, None))
            elif kind == 2:
                ops.append(GetOp(namespace, key))
            else:
                ops.append(SearchOp(random_prefix(rng), random_filter(rng), limit=4))
        live = self.live()
        expected = []
        for op in ops:
            if isinstance(op, SearchOp):
                expected.append(self.expected_search(op, live))
            else:
                expected.append(None)
        # the reference runs the gets and puts (its searches may raise, see above)
        plain = [op for op in ops if not isinstance(op, SearchOp)]
        answers = iter(self.reference.batch(copy.deepcopy(plain)))
        results = await self.ours.abatch(ops)
        for op, want, ours in zip(ops, expected, results, strict=True):
            theirs = next(answers) if not isinstance(op, SearchOp) else None
            if isinstance(op, GetOp):
                assert view(ours) == view(theirs), op
                self.check_times(ours)
            elif isinstance(op, SearchOp):
                assert [view(i) for i in ours] == want, op
                for item in ours:
                    self.check_times(item)
            else:
                assert ours is None
        for op in ops:
            if isinstance(op, PutOp):
                self.written(op.namespace, op.key, deleted=op.value is None)
        return "batch"


async def test_satchel_store_answers_as_the_reference_store(store: Satchel) -> None:
    rng = random.Random(SEED)
    differential = Differential(SatchelStore(store=store))
    kinds: dict[str, int] = {}
    for _ in range(STEPS):
        kind = await differential.step(rng)
        kinds[kind] = kinds.get(kind, 0) + 1
    # the sequence exercised every kind of operation, and the final states agree in full
    assert set(kinds) == {"put", "delete", "get", "search", "list", "batch"}, kinds
    everything = await differential.ours.asearch((), limit=EVERYTHING)
    assert [view(i) for i in everything] == [view(i) for i in differential.live()]

    # every namespace prefix, and every listing by a prefix or suffix of a namespace
    live = differential.live()
    paths = sorted({ns[:n] for ns in NAMESPACES for n in range(len(ns) + 1)} | {("zz",)})
    for path in paths:
        op = SearchOp(path, limit=EVERYTHING)
        found = await differential.ours.asearch(path, limit=EVERYTHING)
        assert [view(i) for i in found] == differential.expected_search(op, live), path
        for kind in ("prefix", "suffix"):
            tail = path if kind == "prefix" else path[::-1]
            for wildcard in ((), (0,)) if path else ((),):
                pattern = tuple("*" if n in wildcard else label for n, label in enumerate(tail))
                listing = ListNamespacesOp((MatchCondition(kind, pattern),), limit=EVERYTHING)
                assert await differential.ours.abatch([listing]) == [
                    differential.expected_list(listing, live)
                ], listing

    # then every filter of the catalogue, over items that hold every kind of value
    await differential.ours.abatch([PutOp(*item) for item in matrix()])
    differential.reference.batch([PutOp(*copy.deepcopy(item)) for item in matrix()])
    live = differential.live()
    matched = 0
    for n, filter in enumerate(catalogue()):
        prefix, limit, offset = ((("m",), EVERYTHING, 0), ((), 3, 1))[n % 2]
        op = SearchOp(prefix, filter, limit=limit, offset=offset)
        expected = differential.expected_search(op, live)
        found = await differential.ours.asearch(prefix, filter=filter, limit=limit, offset=offset)
        assert [view(i) for i in found] == expected, op
        matched += len(expected)
    assert matched > 150  # the catalogue finds items: it tests matches, not only misses
