"""The command line and the report the benchmarks share.

Options that mean the same in every benchmark (``--repeats``, ``--warmup``, ``--url``,
``--uri``, ``--database``, ``--json``, ``--check``, lists such as ``--backends``), the
description of the machine and of the installed versions, and the lines every text report
prints (the machine, how the figures were made, whether the targets were met).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
from collections.abc import Iterable, Sequence
from typing import Any


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of the benchmark's docstring."""
    assert doc is not None
    return argparse.ArgumentParser(description=doc.split("\n\n")[0])


def add_list(
    parser: argparse.ArgumentParser, option: str, allowed: Sequence[str], what: str, every: str
) -> None:
    """A comma-separated list of names from ``allowed``, all of them by default."""
    parser.add_argument(
        option,
        default=",".join(allowed),
        help=f"{what}, from {', '.join(allowed)} (default: {every})",
    )


def parse_list(
    parser: argparse.ArgumentParser, value: str, option: str, allowed: Sequence[str]
) -> list[str]:
    """The names of a list option; a usage error when one is not allowed or none is given."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names or any(name not in allowed for name in names):
        parser.error(f"{option}: choose from {', '.join(allowed)}")
    return names


def add_repeats(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument("--repeats", type=int, default=default, help="timings per figure (median)")


def add_warmup(
    parser: argparse.ArgumentParser,
    default: int,
    help: str = "untimed operations per case before timing",
) -> None:
    parser.add_argument("--warmup", type=int, default=default, help=help)


def add_servers(
    parser: argparse.ArgumentParser,
    redis: str | None = "use this Redis server instead of a throwaway one",
    mongodb: bool = True,
) -> None:
    """``--url`` (a Redis server; ``redis`` is its help, ``None``: no such option), and
    ``--uri`` (a MongoDB server) and ``--database``; without them, throwaway servers."""
    if redis is not None:
        parser.add_argument("--url", help=redis)
    if mongodb:
        parser.add_argument(
            "--uri",
            default=os.environ.get("SATCHEL_BENCH_MONGODB_URI") or None,
            help="use this MongoDB server (default: $SATCHEL_BENCH_MONGODB_URI) instead of "
            "starting a throwaway SecantusDB",
        )
        parser.add_argument(
            "--database",
            default="satchel_bench",
            help="the database of the benchmark's collections",
        )


def add_output(
    parser: argparse.ArgumentParser,
    check: str | None = "exit 1 when a target is missed",
    json: str = "print the results as JSON",
) -> None:
    """``--json``, and ``--check`` (``check`` is its help; ``None``: no such option)."""
    parser.add_argument("--json", action="store_true", help=json)
    if check is not None:
        parser.add_argument("--check", action="store_true", help=check)


def machine(load_average: bool = False) -> dict[str, Any]:
    """The machine the figures were taken on."""
    out: dict[str, Any] = {"nproc": os.cpu_count()}
    if load_average:
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out |= {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    return out


def machine_line(m: dict[str, Any]) -> str:
    load = f", load average {m['load_average']}" if "load_average" in m else ""
    return (
        f"machine: nproc={m['nproc']}{load}, {m['implementation']} {m['python']}, {m['platform']}"
    )


def versions(names: Iterable[str]) -> dict[str, str]:
    """The installed version of each distribution of ``names`` that is installed."""
    out = {}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def versions_line(found: dict[str, str]) -> str:
    return "versions: " + ", ".join(f"{k} {v}" for k, v in found.items())


def method_line(unit: str, repeats: int, compared: str, sides: str) -> str:
    """How the figures were made: medians of the repeats, comparisons of each repeat's own."""
    return (
        f"{unit}: medians of {repeats} repeats; {compared}: medians of each repeat's own "
        f"({sides} timed back to back)"
    )


def verdict(sign: str, target: float, digits: int, met: bool) -> str:
    """A target and whether it was met, e.g. ``<= 1.15x met``."""
    return f"{sign} {target:.{digits}f}x {'met' if met else 'MISSED'}"


def targets_line(missed: list[str]) -> str:
    return "targets: " + ("all met" if not missed else "MISSED: " + ", ".join(missed))


def print_json(result: Any) -> None:
    print(json.dumps(result, indent=2))


def print_sides(
    sides: dict[str, dict[str, float]], labels: dict[str, str], ops: Iterable[str], width: int
) -> None:
    """A table of ms by side (rows) and operation (columns, headed by ``labels``)."""
    ops = list(ops)
    print(f"{'':<{width}}" + "".join(f"{labels[op] + ' ms':>14}" for op in ops))
    for name, s in sides.items():
        print(f"{name:<{width}}" + "".join(f"{s[op + '_ms']:>14.2f}" for op in ops))
