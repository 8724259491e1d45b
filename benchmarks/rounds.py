"""Timing rounds, shared by the benchmarks: every side of an operation timed in the same run.

A :class:`Case` is one timed operation of one side. :func:`run_rounds` warms every case up,
then times, ``repeats`` times, each group's cases (the sides of one operation) back to back,
in an order that rotates from one repeat to the next, so that a busy moment of the machine
weighs on all sides alike. The figures are medians of the repeats; a comparison of two
sides is the median of each repeat's own ratio (:func:`paired_ratio`) or difference
(:func:`paired_extra`), which a noisy machine moves far less than figures made of two
medians taken apart.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: One timed call: ``op(i)`` for the ``i``-th iteration of a repeat.
Operation = Callable[[int], Awaitable[Any]]
#: An untimed step run after the warm-up and after every repeat.
Reset = Callable[[], Awaitable[None]]

#: Nanoseconds per unit of the figures.
US = 1000
MS = 1_000_000


@dataclass
class Case:
    """One timed operation: ``iterations`` awaits of ``op(i)`` per repeat, and the
    repeats' timings in ns."""

    op: Operation
    iterations: int
    timings: list[int] = field(default_factory=list)


async def timed(op: Operation, iterations: int) -> int:
    """ns taken by ``iterations`` awaits of ``op(i)``."""
    start = time.perf_counter_ns()
    for i in range(iterations):
        await op(i)
    return time.perf_counter_ns() - start


async def run_rounds(
    groups: Iterable[Iterable[Case]], repeats: int, warmup: int, reset: Reset | None = None
) -> None:
    """Warm every case up (``warmup`` iterations at most), then time each group's cases back
    to back, ``repeats`` times, rotating the order within each group from one repeat to the
    next; ``reset`` (untimed) after the warm-up and after every repeat."""
    lists = [list(group) for group in groups]
    for group in lists:
        for case in group:
            await timed(case.op, min(case.iterations, warmup))
    if reset is not None:
        await reset()
    for r in range(repeats):
        for group in lists:
            shift = r % len(group)
            for case in group[shift:] + group[:shift]:
                case.timings.append(await timed(case.op, case.iterations))
        if reset is not None:
            await reset()


async def time_cases(
    cases: Mapping[str, Mapping[str, Case]],
    repeats: int,
    warmup: int,
    unit: int,
    reset: Reset | None = None,
) -> dict[str, list[float]]:
    """Time ``cases`` (by operation, then side; the sides of an operation are a group) in
    rounds; return every repeat's figure per operation, in ``unit`` ns, by
    ``"<operation> <side>"``."""
    await run_rounds([sides.values() for sides in cases.values()], repeats, warmup, reset)
    return {
        f"{op} {side}": [t / case.iterations / unit for t in case.timings]
        for op, sides in cases.items()
        for side, case in sides.items()
    }


def paired_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the repeats' ratios: each repeat timed both sides back to back, so
    their ratio is far steadier than the ratio of two medians taken apart."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def paired_extra(ours: list[float], theirs: list[float]) -> float:
    """The median of the repeats' differences, for the same reason."""
    return statistics.median(a - b for a, b in zip(ours, theirs, strict=True))


def medians(runs: Mapping[str, list[float]]) -> dict[str, float]:
    """The median of every case's repeats."""
    return {name: statistics.median(values) for name, values in runs.items()}


def rounded(runs: Mapping[str, list[float]], digits: int) -> dict[str, list[float]]:
    """Every repeat's figure, in the order taken, rounded (what ``--json`` reports)."""
    return {name: [round(v, digits) for v in values] for name, values in runs.items()}


def side_names(runs: Mapping[str, list[float]]) -> list[str]:
    """The sides of ``"<operation> <side>"`` figures, in the order first met."""
    return list(dict.fromkeys(name.split(" ", 1)[1] for name in runs))


def by_side(runs: Mapping[str, list[float]], ops: Iterable[str]) -> dict[str, dict[str, float]]:
    """Every side's median ms of each operation, as ``{side: {"<op>_ms": ms}}``."""
    ops = list(ops)
    return {
        name: {f"{op}_ms": round(statistics.median(runs[f"{op} {name}"]), 3) for op in ops}
        for name in side_names(runs)
    }
