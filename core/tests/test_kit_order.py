"""The conformance kit fails fast: its plain rules run first, and the random-program tests
(the fuzzer and the stateful test) run last, after a subclass's own tests too.

A backend that breaks a basic rule must meet its first failure in the first few tests, not
after the stateful test has run its random programs and shrunk the one that fails.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from satchel.testing import BackendConformance, StatefulRules
from satchel.testing.suite import BackendConformance as SuiteConformance

#: A backend that ignores ``if_version``: the kind of mistake the kit exists to catch.
BROKEN = """
from __future__ import annotations

import pytest

from satchel.backend import Record
from satchel.testing import BackendConformance, MakeBackend
from satchel_memory import MemoryBackend


class IgnoresIfVersion(MemoryBackend):
    async def put(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> Record:
        return await super().put(record, if_absent=if_absent)


class TestBroken(BackendConformance):
    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        return IgnoresIfVersion

    def test_of_the_authors_own(self) -> None:
        pass
"""

STATEFUL = "test_stateful_backend_agrees_with_the_reference_model"
FUZZ = "test_fuzzed_input_round_trips_or_raises_a_satchel_error"


#: The three runs of pytest on the broken backend that the tests below read, by name.
RUNS = {
    "collect": ("--collect-only", "-q"),
    "fail fast": ("-x", "-rf", "-q"),
    "stateful": ("--collect-only", "-q", "-k", "stateful"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The output lines of each of :data:`RUNS`, run at once (each is mostly the start of
    an interpreter and the collection of the kit)."""
    started = {}
    for name, args in RUNS.items():
        where = tmp_path_factory.mktemp(name.replace(" ", "_"))
        (where / "test_broken.py").write_text(textwrap.dedent(BROKEN), encoding="utf-8")
        started[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                "-o",
                "asyncio_default_fixture_loop_scope=function",
                "--rootdir",
                str(where),
                *args,
                str(where / "test_broken.py"),
            ],
            cwd=where,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return {
        name: process.communicate(timeout=300)[0].splitlines() for name, process in started.items()
    }


def test_the_random_program_tests_are_collected_last(runs: dict[str, list[str]]) -> None:
    tests = [line.rsplit("::", 1)[1] for line in runs["collect"] if "::" in line]
    assert len(tests) > 200
    assert tests[-2:] == [FUZZ, STATEFUL]
    assert tests.index("test_of_the_authors_own") < len(tests) - 2
    # the plain rules open the run, versions and conditional writes first
    assert tests[0] == "test_put_creates_version_1_and_returns_the_stored_record"


def test_a_broken_backend_fails_in_the_first_tests(runs: dict[str, list[str]]) -> None:
    lines = runs["fail fast"]
    failed = [line for line in lines if line.startswith("FAILED")]
    assert len(failed) == 1, lines[-20:]
    assert "TestBroken::test_if_version_writes_only_over_that_version" in failed[0]
    summary = lines[-1]
    assert "1 failed" in summary
    passed = int(summary.split(" passed")[0].rsplit(" ", 1)[-1]) if " passed" in summary else 0
    assert passed < 10, summary


def test_dash_k_stateful_selects_the_stateful_test(runs: dict[str, list[str]]) -> None:
    lines = runs["stateful"]
    assert [line.rsplit("::", 1)[1] for line in lines if "::" in line] == [STATEFUL]


def test_the_stateful_test_is_named_as_the_docs_name_its_class() -> None:
    assert StatefulRules.__name__ == "StatefulRules"
    assert "stateful" in STATEFUL
    assert hasattr(StatefulRules, STATEFUL)
    assert BackendConformance.RUN_LAST == (FUZZ, STATEFUL)


def test_no_rule_group_hides_a_test_of_another() -> None:
    """Two groups defining one test name would run only one of the two tests."""
    homes: dict[str, str] = {}
    for group in SuiteConformance.__mro__[1:]:
        for name in vars(group):
            if name.startswith("test_"):
                assert name not in homes, f"{name} is in {homes.get(name)} and {group.__name__}"
                homes[name] = group.__name__
