"""LangGraph's own checkpointer conformance suite (langgraph-checkpoint-conformance) on
every backend: every capability, base (put, put_writes, get_tuple, list, delete_thread)
and extended (delete_for_runs, copy_thread, prune), is detected and passes all its tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import Capability
from langgraph.checkpoint.conformance.report import ProgressCallbacks

from satchel import Satchel
from satchel_langgraph import SatchelSaver

#: The tests of each capability in langgraph-checkpoint-conformance 0.0.2 (a later release
#: may add some: then raise these, after reading what the new ones check).
TESTS = {
    "put": 17,
    "put_writes": 10,
    "get_tuple": 10,
    "list": 16,
    "delete_thread": 5,
    "delete_for_runs": 7,
    "copy_thread": 8,
    "prune": 8,
}


async def test_every_capability_passes_conformance(store: Satchel, backend: str) -> None:
    @checkpointer_test(name=f"SatchelSaver[{backend}]")
    async def factory() -> AsyncIterator[SatchelSaver]:
        yield SatchelSaver(store=store)

    report = await validate(factory, progress=ProgressCallbacks.quiet())
    if not report.passed_all():
        report.print_report()
    assert set(TESTS) == {c.value for c in Capability}
    assert report.conformance_level() == "FULL", report.to_dict()
    for capability, count in TESTS.items():
        result = report.results[capability]
        assert result.detected, capability
        assert result.passed is True, (capability, result.failures)
        assert result.tests_passed >= count, capability
        assert result.tests_failed == 0, (capability, result.failures)
    assert sum(r.tests_passed for r in report.results.values()) >= 81
