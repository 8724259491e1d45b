"""SatchelSession against the SDK's own SQLiteSession: the same operations, the same
results, on every backend (memory, Redis, MongoDB). The one difference, on purpose: a
negative ``limit`` reads nothing (SQLiteSession reads everything: SQL's ``LIMIT -1``)."""

from __future__ import annotations

import uuid
from typing import Any

from agents import SQLiteSession
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from items import SAMPLES, items

from satchel import Satchel
from satchel_openai_agents import SatchelSession

operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(items, max_size=4)),
        st.tuples(st.just("get"), st.none() | st.integers(-2, 7)),
        st.tuples(st.just("pop"), st.none()),
        st.tuples(st.just("clear"), st.none()),
    ),
    max_size=14,
)


async def run_both(store: Satchel, ops: list[tuple[str, Any]], **kwargs: Any) -> None:
    ours = SatchelSession(f"s-{uuid.uuid4().hex}", store=store, **kwargs)
    theirs = SQLiteSession(ours.session_id, **kwargs)
    try:
        for op, arg in ops:
            if op == "add":
                await ours.add_items(arg)
                await theirs.add_items(arg)
            elif op == "get":
                got = await ours.get_items(arg)
                if arg is not None and arg < 0:
                    assert got == []
                else:
                    assert got == await theirs.get_items(arg), (op, arg)
            elif op == "pop":
                assert await ours.pop_item() == await theirs.pop_item()
            else:
                await ours.clear_session()
                await theirs.clear_session()
        assert await ours.get_items() == await theirs.get_items()
    finally:
        theirs.close()


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
async def test_same_results_as_sqlite_session(store: Satchel, ops: list[tuple[str, Any]]) -> None:
    await run_both(store, ops)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations, limit=st.integers(0, 5))
async def test_same_results_with_a_default_limit(
    store: Satchel, ops: list[tuple[str, Any]], limit: int
) -> None:
    await run_both(store, ops, session_settings={"limit": limit})


async def test_a_table_of_cases(store: Satchel) -> None:
    a, b, c, d = SAMPLES[:4]
    cases: list[list[tuple[str, Any]]] = [
        [("get", None), ("pop", None), ("get", 0), ("get", 3)],
        [("add", []), ("get", None)],
        [("add", [a, b, c]), ("get", 1), ("get", 2), ("get", 3), ("get", 4), ("get", 0)],
        [("add", [a]), ("add", [b, c]), ("pop", None), ("add", [d]), ("get", None)],
        [("add", [a, b]), ("clear", None), ("get", None), ("pop", None), ("add", [c])],
        [("add", [a, a, a]), ("pop", None), ("get", 5), ("get", -1)],
    ]
    for ops in cases:
        await run_both(store, ops)
