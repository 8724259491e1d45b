"""Per-operation metrics: the in-tree user of the ``satchel_backend_operation`` hook.

Registered by core as the plugin ``metrics`` (``SATCHEL_DISABLE_PLUGINS=metrics`` turns it
off). It counts calls and errors per operation and keeps the latest latencies to report
percentiles; :meth:`satchel.Satchel.stats` and ``satchel doctor`` show them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from satchel.instrument import Operation
from satchel.markers import around_operation

__all__ = ["OperationMetrics"]

#: How many recent latencies each operation keeps for its percentiles.
WINDOW = 2048


@dataclass
class _Counter:
    calls: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    errors_by_type: dict[str, int] = field(default_factory=dict)


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (non-empty)."""
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


class OperationMetrics:
    """Counts, errors and latency percentiles per backend operation (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[str, _Counter] = {}

    @around_operation
    async def satchel_backend_operation(self, operation: Operation, inner: Awaitable[Any]) -> Any:
        """Time the operation: the public fast path of the hook (see
        :func:`satchel.around_operation`), which any plugin may take."""
        name = operation.name
        start = time.perf_counter()
        error: str | None = None
        try:
            return await inner
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                counter = self._ops.get(name)
                if counter is None:
                    counter = self._ops[name] = _Counter()
                counter.calls += 1
                counter.latencies.append(elapsed)
                if error is not None:
                    counter.errors += 1
                    counter.errors_by_type[error] = counter.errors_by_type.get(error, 0) + 1

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{operation: {calls, errors, errors_by_type, p50_ms, p95_ms, p99_ms, max_ms}}``
        over the latest :data:`WINDOW` calls of each operation."""
        with self._lock:
            items = [
                (name, c.calls, c.errors, dict(c.errors_by_type), sorted(c.latencies))
                for name, c in self._ops.items()
            ]
        out: dict[str, dict[str, Any]] = {}
        for name, calls, errors, by_type, ordered in sorted(items):
            entry: dict[str, Any] = {"calls": calls, "errors": errors}
            if by_type:
                entry["errors_by_type"] = by_type
            if ordered:
                for label, fraction in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99)):
                    entry[label] = round(_percentile(ordered, fraction) * 1000, 3)
                entry["max_ms"] = round(ordered[-1] * 1000, 3)
            out[name] = entry
        return out

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._ops.clear()
