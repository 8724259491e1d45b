"""The fuzz rule of the conformance kit compares a backend with the reference call by call:
what it compares must not depend on when each side ran."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import satchel
import satchel_memory.backend
from satchel.settings import SatchelSettings
from satchel.testing import fuzz
from satchel.testing.fuzz import _Call, _compare, _run, _Side
from satchel_memory import MemoryBackend

PROGRAM = [
    _Call("set", ("b", {})),
    _Call("get_entry", ("[a]",)),
    _Call("set", ("a", {"": -783})),
    _Call("query", ([],), (("order_by", ["created_at"]), ("limit", 1), ("cursor", None))),
]


async def mismatches(rounds: int) -> int:
    """How many of ``rounds`` runs of :data:`PROGRAM` on two memory backends disagree."""
    found = 0
    for n in range(rounds):
        settings = SatchelSettings.model_construct(namespace=f"t{n}")
        sides = [
            _Side(name, satchel.open(settings, backend=MemoryBackend()))
            for name in ("reference", "backend")
        ]
        try:
            for call in PROGRAM:
                expected = await _run(sides[0], "fuzz", call, 10)
                got = await _run(sides[1], "fuzz", call, 10)
                _compare(call, "fuzz", got, expected)
        except AssertionError:
            found += 1
    return found


async def test_an_order_by_a_timestamp_never_differs_by_when_a_side_ran() -> None:
    """Timestamps are kept to the millisecond: two writes within one tie (and the order
    falls back to the keys) on one side and not on the other. The rule spaces writes out,
    so a backend never fails it for that (seen once in 1,500 examples on memory itself)."""
    assert await mismatches(60) == 0


async def test_the_program_gives_different_answers_by_when_each_side_wrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The test above is not vacuous: when one side's two writes share a millisecond and the
    other side's do not, the same program gives different answers on two memory backends
    (on one the order by ``created_at`` ties and falls back to the keys). The rule's pause
    before writes is what keeps every side's writes apart. A clock of the test's own makes
    the two timings, so this holds on every run, whatever the machine's speed."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    now = [base]
    monkeypatch.setattr(satchel_memory.backend, "utcnow", lambda: now[0])
    monkeypatch.setattr(fuzz, "_WRITE_GAP", 0)
    settings = SatchelSettings.model_construct(namespace="clocked")
    sides = [
        _Side(name, satchel.open(settings, backend=MemoryBackend()))
        for name in ("reference", "backend")
    ]

    async def run_both() -> None:
        for step, call in enumerate(PROGRAM):
            now[0] = base  # every write of the reference in one millisecond
            expected = await _run(sides[0], "fuzz", call, 10)
            now[0] = base + timedelta(milliseconds=step)  # the other side's apart
            got = await _run(sides[1], "fuzz", call, 10)
            _compare(call, "fuzz", got, expected)

    with pytest.raises(AssertionError):
        await run_both()
