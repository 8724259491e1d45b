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

if TYPE_CHECKING:
    from satchel.testing.bounds import BoundRules, SilentServer
    from satchel.testing.concurrency import ConcurrencyRules
    from satchel.testing.expiry import ExpiryRules
    from satchel.testing.fixtures import CollectionNames, ConformanceFixtures, MakeBackend
    from satchel.testing.fuzz import FuzzRules
    from satchel.testing.incarnations import IncarnationRules
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
    from satchel.testing.stateful import (
        BackendStateMachine,
        backend_state_machine,
        stateful_settings,
    )
    from satchel.testing.stores import StoreRules
    from satchel.testing.suite import BackendConformance, StatefulRules
    from satchel.testing.threads import SyncRules, threads_share_one_handle

__all__ = [
    "BackendConformance",
    "BackendStateMachine",
    "BatchRules",
    "BoundRules",
    "CollectionIsolationRules",
    "CollectionNames",
    "CollectionRules",
    "ConcurrencyRules",
    "ConformanceFixtures",
    "CopyRules",
    "CorruptRecordRules",
    "CountRules",
    "EventLoopRules",
    "ExpiryRules",
    "FindRules",
    "FuzzRules",
    "IncarnationRules",
    "KeyIsolationRules",
    "LifeRules",
    "LogRules",
    "MakeBackend",
    "PagingRules",
    "ProjectionRules",
    "QueryMetadataRules",
    "QueryOperatorRules",
    "QueryOrderRules",
    "QueryPathRules",
    "SilentServer",
    "StatefulRules",
    "StoreRules",
    "SyncRules",
    "ValueSizeRules",
    "VersionOnlyRules",
    "VersionRules",
    "backend_state_machine",
    "stateful_settings",
    "threads_share_one_handle",
]

#: Where each public name lives.
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
    "ValueSizeRules": "records",
    "VersionOnlyRules": "records",
    "VersionRules": "records",
    "StoreRules": "stores",
    "SyncRules": "threads",
    "threads_share_one_handle": "threads",
}


_MODULES = (
    "concurrency",
    "expiry",
    "fixtures",
    "fuzz",
    "incarnations",
    "isolation",
    "logs",
    "loops",
    "queries",
    "records",
    "stateful",
    "stores",
    "suite",
    "threads",
)


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
