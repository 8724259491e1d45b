""":class:`BackendConformance`: the whole conformance kit in one class to subclass."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis.stateful import run_state_machine_as_test

from satchel.testing.bounds import BoundRules
from satchel.testing.concurrency import ConcurrencyRules
from satchel.testing.expiry import ExpiryRules
from satchel.testing.fixtures import ConformanceFixtures, MakeBackend
from satchel.testing.fuzz import FuzzRules
from satchel.testing.incarnations import IncarnationRules
from satchel.testing.instances import InstanceRules
from satchel.testing.isolation import CollectionIsolationRules, CopyRules, KeyIsolationRules
from satchel.testing.logs import LogRules
from satchel.testing.loops import EventLoopRules
from satchel.testing.queries import (
    CountRules,
    PagingRules,
    ProjectionRules,
    QueryMetadataRules,
    QueryOperatorRules,
    QueryOrderRules,
    QueryPathRules,
)
from satchel.testing.records import (
    BatchRules,
    CollectionRules,
    CorruptRecordRules,
    FindRules,
    LifeRules,
    ValueSizeRules,
    VersionOnlyRules,
    VersionRules,
)
from satchel.testing.restore import RestoreRules
from satchel.testing.stateful import (
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_STEP_COUNT,
    backend_state_machine,
    stateful_settings,
)
from satchel.testing.stores import StoreRules
from satchel.testing.threads import SyncRules

__all__ = ["BackendConformance", "StatefulRules"]


class StatefulRules(ConformanceFixtures):
    """The backend agrees with the reference model over random sequences of operations
    (see :class:`~satchel.testing.BackendStateMachine`).

    Turn the numbers up with the class attributes, or on the command line with
    ``--satchel-stateful-examples`` / ``--satchel-stateful-steps`` (which need the opt-in
    plugin ``satchel.testing.plugin``).
    """

    #: How many random programs to run.
    stateful_max_examples: ClassVar[int] = DEFAULT_MAX_EXAMPLES
    #: How many operations each program has at most.
    stateful_step_count: ClassVar[int] = DEFAULT_STEP_COUNT

    def test_stateful_backend_agrees_with_the_reference_model(
        self, make_backend: MakeBackend, request: pytest.FixtureRequest
    ) -> None:
        examples = request.config.getoption("satchel_stateful_examples", None)
        steps = request.config.getoption("satchel_stateful_steps", None)
        run_state_machine_as_test(
            backend_state_machine(make_backend),
            settings=stateful_settings(
                examples or self.stateful_max_examples, steps or self.stateful_step_count
            ),
        )


class BackendConformance(
    # pytest runs the tests of a class's bases in the reverse of this order (the last base
    # first): the plain rules, quick and each aimed at one rule, run before the threads,
    # the fuzzer and the stateful test, so a broken backend fails within seconds.
    StatefulRules,
    FuzzRules,
    SyncRules,
    BoundRules,
    EventLoopRules,
    ConcurrencyRules,
    InstanceRules,
    StoreRules,
    LogRules,
    RestoreRules,
    CorruptRecordRules,
    ValueSizeRules,
    LifeRules,
    CollectionRules,
    BatchRules,
    CopyRules,
    CollectionIsolationRules,
    KeyIsolationRules,
    FindRules,
    CountRules,
    PagingRules,
    ProjectionRules,
    QueryOrderRules,
    QueryMetadataRules,
    QueryPathRules,
    QueryOperatorRules,
    ExpiryRules,
    IncarnationRules,
    VersionOnlyRules,
    VersionRules,
):
    """Every rule of the backend contract, as tests. Subclass it in a test module and
    override the ``make_backend`` fixture::

        import pytest
        from satchel.testing import BackendConformance

        class TestMyBackend(BackendConformance):
            @pytest.fixture
            def make_backend(self):
                return lambda: MyBackend(...)

    ``make_backend`` returns a callable with no arguments that builds a fresh backend (or
    an awaitable of one). Tests of optional features read ``backend.capabilities`` and skip
    when a feature is not declared; tests that need an optional hook (such as
    :meth:`~satchel.testing.ConformanceFixtures.plant_corrupt_record`) skip when it is not
    overridden. Every test writes only to collections of its own, with a random run id in
    their names, and drops them afterwards, so the kit can run against a shared server.

    Each rule group is also importable on its own (``VersionRules``, ``QueryOperatorRules``,
    ...) for a backend that wants to run a part of the kit.

    The order is part of the kit: the plain rules run first (the quickest and most basic
    ones, versions and conditional writes, at the head), and the fuzzer and the stateful
    test (:attr:`RUN_LAST`) run after everything else, the subclass's own tests included,
    so that a broken backend meets its first failure within seconds rather than after the
    random programs have run and shrunk.
    """

    #: The tests that run after every other test of a subclass, in this order: the ones that
    #: run random programs and shrink what fails.
    RUN_LAST: ClassVar[tuple[str, ...]] = (
        "test_fuzzed_input_round_trips_or_raises_a_satchel_error",
        "test_stateful_backend_agrees_with_the_reference_model",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # pytest collects a class's own tests after its bases', in the order of the class's
        # ``__dict__``: set the random-program tests again on the subclass, at the end of it.
        for name in cls.RUN_LAST:
            test = getattr(cls, name, None)
            if test is None:
                continue
            if name in cls.__dict__:
                delattr(cls, name)
            setattr(cls, name, test)
