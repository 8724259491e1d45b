"""Sides of a workload run whole (a graph run, a conversation, a session, a task), compared.

Each :class:`Side` runs the same workload on its own store: ``run(i)`` is one whole run,
``reads`` are timed reads of what the runs wrote, ``reset`` deletes what they wrote. Before
timing, :meth:`Sides.check` has every side run once and read back, and exits unless all
read back the same; :meth:`Sides.run` then times the runs and each kind of read in rounds
(:mod:`rounds`), every side back to back in a rotating order, with a reset after every
repeat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rounds import MS, Case, Operation, Reset, time_cases


async def _nothing() -> None:
    return None


def _keep_nothing() -> None:
    return None


@dataclass
class Side:
    """One side: ``run(i)`` one whole workload on a fresh thread, session or task; ``reads``
    the timed reads of what the runs of this repeat wrote; ``reset`` deletes it all;
    ``digest`` what a run read back (compared across sides); ``fill`` stores, untimed,
    what the reads need before the check; ``keep`` takes the runs so far out of what
    ``reset`` deletes (they stay until the end, when ``finish`` releases what they hold)."""

    name: str
    run: Operation
    reads: dict[str, Operation]
    reset: Reset
    digest: Callable[[], Awaitable[Any]]
    fill: Reset = _nothing
    keep: Callable[[], None] = _keep_nothing
    finish: Reset = _nothing


def agree(digests: dict[str, Any]) -> None:
    """Exit when a side read back other data than the first (``digests``: by side)."""
    first, want = next(iter(digests.items()))
    for name, got in digests.items():
        if got != want:
            raise SystemExit(
                f"{name} read back other data than {first}; the benchmark is wrong:\n"
                f"  {str(got)[:300]}\n  {str(want)[:300]}"
            )


@dataclass
class Sides:
    sides: list[Side] = field(default_factory=list)
    #: Peers that could not run here: name -> the error.
    unavailable: dict[str, str] = field(default_factory=dict)

    def unable(self, name: str, exc: BaseException) -> None:
        """``name`` could not run here, for ``exc``."""
        self.unavailable[name] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]

    async def reset(self) -> None:
        for side in self.sides:
            await side.reset()

    async def check(self) -> None:
        """Every side fills, runs the workload once and reads back the same thing."""
        digests: dict[str, Any] = {}
        for side in self.sides:
            await side.fill()
            await side.run(0)
            digests[side.name] = await side.digest()
        await self.reset()
        agree(digests)

    async def store(self, threads: int) -> None:
        """Every side stores ``threads`` more runs, kept until the end."""
        for side in self.sides:
            for i in range(threads):
                await side.run(i)
            side.keep()

    async def finish(self) -> None:
        for side in self.sides:
            await side.finish()

    async def run(self, iterations: int, repeats: int, warmup: int) -> dict[str, list[float]]:
        """ms per operation, per repeat, by ``"<operation> <side>"``: ``run`` and the reads
        (those of the first side)."""
        cases = {"run": {side.name: Case(side.run, iterations) for side in self.sides}}
        for op in self.sides[0].reads if self.sides else {}:
            cases[op] = {side.name: Case(side.reads[op], iterations) for side in self.sides}
        return await time_cases(cases, repeats, warmup, MS, self.reset)
