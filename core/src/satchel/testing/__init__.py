"""The satchel conformance kit: the backend contract as tests a backend author runs.

Install it with ``pip install 'satchel[testing]'`` (pytest, pytest-asyncio, hypothesis),
then subclass :class:`BackendConformance` and override one fixture::

    import pytest
    from satchel.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def make_backend(self):
            return lambda: MyBackend(...)

That runs every rule of "Semantics every backend shares" (versions, conflicts, expiry,
queries, isolation, copies, logs, ...) and a stateful property test that compares the backend
with the reference model (:class:`BackendStateMachine`). Optional features are read from
``backend.capabilities``; optional hooks (:meth:`ConformanceFixtures.plant_corrupt_record`)
are overridden on the class. The opt-in pytest plugin :mod:`satchel.testing.plugin` adds
options to turn the stateful test up.

Importing this package is cheap: the test classes (and pytest and hypothesis with them) are
loaded on first use of a name below.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

#: The public names and the module of the kit each lives in: the one table of them.
#: ``__all__`` and the modules whose asserts pytest rewrites are made from it, and the names
#: are imported on first use. The ``TYPE_CHECKING`` block below repeats it for type checkers,
#: which cannot read a table; a test checks that the two agree.
_HOMES = {
    "BackendConformance": "suite",
    "StatefulRules": "suite",
    "BackendStateMachine": "stateful",
    "backend_state_machine": "stateful",
    "stateful_settings": "stateful",
    "CollectionNames": "fixtures",
    "ConformanceFixtures": "fixtures",
    "MakeBackend": "fixtures",
    "BoundRules": "bounds",
    "SilentServer": "bounds",
    "ConcurrencyRules": "concurrency",
    "ExpiryRules": "expiry",
    "FuzzRules": "fuzz",
    "IncarnationRules": "incarnations",
    "InstanceRules": "instances",
    "EventLoopRules": "loops",
    "LogRules": "logs",
    "CollectionIsolationRules": "isolation",
    "CopyRules": "isolation",
    "KeyIsolationRules": "isolation",
    "CountRules": "queries",
    "PagingRules": "queries",
    "ProjectionRules": "queries",
    "QueryMetadataRules": "queries",
    "QueryOperatorRules": "queries",
    "QueryOrderRules": "queries",
    "QueryPathRules": "queries",
    "BatchRules": "records",
    "CollectionRules": "records",
    "CorruptRecordRules": "records",
    "FindRules": "records",
    "LifeRules": "records",
    "RestoreRules": "restore",
    "ValueSizeRules": "records",
    "VersionOnlyRules": "records",
    "VersionRules": "records",
    "StoreRules": "stores",
    "SyncRules": "threads",
    "threads_share_one_handle": "threads",
}

__all__ = sorted(_HOMES)

#: The kit's modules that hold rules (their ``assert`` statements are rewritten under pytest).
_MODULES = tuple(sorted(set(_HOMES.values())))

if TYPE_CHECKING:
    from satchel.testing.bounds import BoundRules as BoundRules
    from satchel.testing.bounds import SilentServer as SilentServer
    from satchel.testing.concurrency import ConcurrencyRules as ConcurrencyRules
    from satchel.testing.expiry import ExpiryRules as ExpiryRules
    from satchel.testing.fixtures import CollectionNames as CollectionNames
    from satchel.testing.fixtures import ConformanceFixtures as ConformanceFixtures
    from satchel.testing.fixtures import MakeBackend as MakeBackend
    from satchel.testing.fuzz import FuzzRules as FuzzRules
    from satchel.testing.incarnations import IncarnationRules as IncarnationRules
    from satchel.testing.instances import InstanceRules as InstanceRules
    from satchel.testing.isolation import CollectionIsolationRules as CollectionIsolationRules
    from satchel.testing.isolation import CopyRules as CopyRules
    from satchel.testing.isolation import KeyIsolationRules as KeyIsolationRules
    from satchel.testing.logs import LogRules as LogRules
    from satchel.testing.loops import EventLoopRules as EventLoopRules
    from satchel.testing.queries import CountRules as CountRules
    from satchel.testing.queries import PagingRules as PagingRules
    from satchel.testing.queries import ProjectionRules as ProjectionRules
    from satchel.testing.queries import QueryMetadataRules as QueryMetadataRules
    from satchel.testing.queries import QueryOperatorRules as QueryOperatorRules
    from satchel.testing.queries import QueryOrderRules as QueryOrderRules
    from satchel.testing.queries import QueryPathRules as QueryPathRules
    from satchel.testing.records import BatchRules as BatchRules
    from satchel.testing.records import CollectionRules as CollectionRules
    from satchel.testing.records import CorruptRecordRules as CorruptRecordRules
    from satchel.testing.records import FindRules as FindRules
    from satchel.testing.records import LifeRules as LifeRules
    from satchel.testing.records import ValueSizeRules as ValueSizeRules
    from satchel.testing.records import VersionOnlyRules as VersionOnlyRules
    from satchel.testing.records import VersionRules as VersionRules
    from satchel.testing.restore import RestoreRules as RestoreRules
    from satchel.testing.stateful import BackendStateMachine as BackendStateMachine
    from satchel.testing.stateful import backend_state_machine as backend_state_machine
    from satchel.testing.stateful import stateful_settings as stateful_settings
    from satchel.testing.stores import StoreRules as StoreRules
    from satchel.testing.suite import BackendConformance as BackendConformance
    from satchel.testing.suite import StatefulRules as StatefulRules
    from satchel.testing.threads import SyncRules as SyncRules
    from satchel.testing.threads import threads_share_one_handle as threads_share_one_handle


def _rewrite_asserts() -> None:
    """Under pytest, have the kit's modules' ``assert`` statements rewritten (as in test
    modules), so that a failing rule shows the values it compared."""
    pytest = sys.modules.get("pytest")
    if pytest is None:
        return
    names = [f"{__name__}.{m}" for m in _MODULES if f"{__name__}.{m}" not in sys.modules]
    if names:
        pytest.register_assert_rewrite(*names)


_rewrite_asserts()


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'satchel.testing' has no attribute {name!r}")
    _rewrite_asserts()
    try:
        module = importlib.import_module(f"satchel.testing.{home}")
    except ImportError as exc:
        if exc.name in ("pytest", "pytest_asyncio", "hypothesis"):
            raise ImportError(
                f"satchel.testing needs {exc.name}: install the kit's requirements with "
                "pip install 'satchel[testing]'",
                name=exc.name,
            ) from exc
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
