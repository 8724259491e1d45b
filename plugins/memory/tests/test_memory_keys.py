"""satchel_memory.keys.SortedKeys against a plain sorted list."""

from __future__ import annotations

import bisect

from hypothesis import given, settings
from hypothesis import strategies as st

from satchel_memory import keys as keys_module
from satchel_memory.keys import SortedKeys

# few characters, so that keys repeat and ranges hit block ends
texts = st.text(alphabet="abcø\U0001f600", max_size=4)
steps = st.lists(st.tuples(st.booleans(), texts), max_size=300)
bounds = st.none() | texts


def expected(model: list[str], low: str | None, high: str | None, lo: bool, ho: bool) -> list[str]:
    return [
        k
        for k in model
        if (low is None or (k > low if lo else k >= low))
        and (high is None or (k < high if ho else k <= high))
    ]


@settings(max_examples=300)
@given(steps, bounds, bounds, st.booleans(), st.booleans(), st.lists(texts, max_size=20))
def test_adds_removes_and_ranges_agree_with_a_sorted_list(
    ops: list[tuple[bool, str]],
    low: str | None,
    high: str | None,
    low_open: bool,
    high_open: bool,
    initial: list[str],
) -> None:
    saved = keys_module.LOAD
    keys_module.LOAD = 2  # tiny blocks: every path of splitting and emptying runs
    try:
        model = sorted(set(initial))
        keys = SortedKeys(initial)
        for add, key in ops:
            at = bisect.bisect_left(model, key)
            present = at < len(model) and model[at] == key
            if add and not present:
                keys.add(key)
                model.insert(at, key)
            elif not add and present:
                keys.remove(key)
                del model[at]
            assert len(keys) == len(model)
        assert list(keys) == model
        assert bool(keys) == bool(model)
        got = list(keys.between(low, high, low_open=low_open, high_open=high_open))
        assert got == expected(model, low, high, low_open, high_open)
    finally:
        keys_module.LOAD = saved


def test_a_million_keys_split_into_blocks() -> None:
    keys = SortedKeys()
    for n in range(5000):
        keys.add(f"{(n * 7919) % 5000:05}")
    assert list(keys) == [f"{n:05}" for n in range(5000)]
    assert len(keys._blocks) > 5  # blocks were split
    assert list(keys.between("04990", None, low_open=True)) == [
        f"{n:05}" for n in range(4991, 5000)
    ]
