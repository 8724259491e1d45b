"""LangGraph's own checkpointer conformance suite (langgraph-checkpoint-conformance) on
every backend: each base capability (put, put_writes, get_tuple, list, delete_thread)
must pass all its tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import ProgressCallbacks

from satchel import Satchel
from satchel_langgraph import SatchelSaver


async def test_the_base_capabilities_pass_conformance(store: Satchel, backend: str) -> None:
    @checkpointer_test(name=f"SatchelSaver[{backend}]")
    async def factory() -> AsyncIterator[SatchelSaver]:
        yield SatchelSaver(store=store)

    report = await validate(factory, progress=ProgressCallbacks.quiet())
    if not report.passed_all_base():
        report.print_report()
    assert report.passed_all_base(), report.to_dict()
    # every base test ran and passed (58 in langgraph-checkpoint-conformance 0.0.2)
    base = [r for r in report.results.values() if r.detected and r.passed]
    assert sum(r.tests_passed for r in base) >= 58
    assert sum(r.tests_failed for r in report.results.values()) == 0
