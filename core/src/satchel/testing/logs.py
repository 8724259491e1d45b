"""Rules about logs: sequence numbers, ranges, pops and trims, expiry, isolation, copies and
concurrent appenders, pollers and poppers ("Rules of logs" in :mod:`satchel.backend`)."""

from __future__ import annotations

import asyncio
import copy
import itertools
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from satchel.backend import MAX_LOG_BATCH, Backend, JSONValue, LogEntry, utcnow
from satchel.errors import InvalidArgument, ValueTooLarge
from satchel.query import escape_glob, glob_match
from satchel.testing.fixtures import (
    ConformanceFixtures,
    MakeBackend,
    ago,
    assert_same_json,
    assert_utc_ms,
    later,
    open_clients,
)
from satchel.testing.isolation import PATTERNS, SPECIAL_KEYS, SPECIAL_LABELS
from satchel.testing.processes import entry_from, run_workers
from satchel.toolkit import MAX_STORED_DEPTH

__all__ = [
    "LogRules",
    "append_batches",
    "check_appended",
    "check_batches",
    "log_keys",
    "pop_all",
    "room_for",
    "seqs",
]

#: Values of every JSON type, ``1``, ``1.0`` and ``True`` among them (which must stay apart).
_VALUES: tuple[JSONValue, ...] = (
    {"role": "user", "text": "hi", "n": 1, "f": 1.0, "ok": True, "none": None},
    1,
    1.0,
    True,
    None,
    "naïve 🎒",
    [1, 2.5, "x", False, {"$k": {"a.b": []}}],
)
#: Concurrent tasks on one backend, and the entries each appends (in batches of 1 to 4).
TASKS = 12
TASK_ENTRIES = 24
#: Clients (as separate processes would hold) appending to one log, and entries each.
CLIENTS = 8
CLIENT_ENTRIES = 200
#: Entries of the log that clients pop concurrently.
POPPED_LOG = 1000
#: Bytes an entry of the concurrency tests may take in a log kept as one record.
_ENTRY_BYTES = 64


async def log_keys(backend: Backend, collection: str, pattern: str | None = None) -> list[str]:
    """``log_keys`` as a sorted list."""
    return sorted([key async for key in backend.log_keys(collection, pattern)])


def seqs(entries: Sequence[LogEntry]) -> list[int]:
    """The sequence numbers of ``entries``, in order."""
    return [e.seq for e in entries]


def check_appended(entries: Sequence[LogEntry], values: Sequence[JSONValue], what: str) -> None:
    """What ``log_append`` returned: one entry per value, in order, with contiguous
    sequence numbers (positive ints) and UTC millisecond append times."""
    assert len(entries) == len(values), f"{what}: {len(entries)} entries for {len(values)} values"
    numbers = seqs(entries)
    for seq in numbers:
        assert type(seq) is int, f"{what}: seq {seq!r} is not an int"
        assert seq > 0, f"{what}: seq {seq} is not positive"
    expected = list(range(numbers[0], numbers[0] + len(numbers)))
    assert numbers == expected, f"{what}: the batch got seqs {numbers}, not contiguous ones"
    for entry, value in zip(entries, values, strict=True):
        assert_same_json(entry.value, value, f"{what}: entry {entry.seq}")
        assert_utc_ms(entry.appended_at, f"{what}: appended_at of entry {entry.seq}")


def check_batches(
    log: Sequence[LogEntry], batches: Sequence[tuple[int, list[LogEntry]]], what: str
) -> None:
    """The log holds exactly the acknowledged ``batches`` (``(writer, entries)``), each
    contiguous, in increasing sequence order, and each writer's entries (``{"w": writer,
    "i": n}``, ``n`` counting up) in the order it appended them."""
    numbers = seqs(log)
    assert all(a < b for a, b in itertools.pairwise(numbers)), (
        f"{what}: sequence numbers not strictly increasing"
    )
    expected = sum(len(entries) for _, entries in batches)
    assert len(log) == expected, f"{what}: the log holds {len(log)} entries, {expected} appended"
    stored = {e.seq: e.value for e in log}
    for writer, entries in batches:
        check_appended(entries, [e.value for e in entries], f"{what}: a batch of writer {writer}")
        for entry in entries:
            assert entry.seq in stored, f"{what}: acknowledged entry {entry.seq} is not in the log"
            assert_same_json(stored[entry.seq], entry.value, f"{what}: entry {entry.seq}")
    by_writer: dict[int, list[int]] = {}
    for entry in log:
        by_writer.setdefault(entry.value["w"], []).append(entry.value["i"])
    for writer, order in sorted(by_writer.items()):
        assert order == sorted(order), f"{what}: writer {writer}'s entries out of order"


async def append_batches(
    backend: Backend, collection: str, key: str, writer: int, total: int
) -> list[tuple[int, list[LogEntry]]]:
    """Append ``total`` entries ``{"w": writer, "i": n}`` to one log in batches of 1 to 4,
    yielding to the other tasks between them; return ``(writer, entries)`` per batch."""
    batches: list[tuple[int, list[LogEntry]]] = []
    n = 0
    while n < total:
        size = min(1 + (writer + len(batches)) % 4, total - n)
        values = [{"w": writer, "i": i} for i in range(n, n + size)]
        batches.append((writer, await backend.log_append(collection, key, values)))
        n += size
        await asyncio.sleep(0)
    return batches


async def pop_all(backend: Backend, collection: str, key: str, popper: int) -> list[LogEntry]:
    """Pop 1 to 3 entries at a time until the log is empty; check that each pop returned
    adjacent entries, oldest first; return every entry popped."""
    popped: list[LogEntry] = []
    for turn in range(10 * POPPED_LOG):
        got = await backend.log_pop(collection, key, 1 + (popper + turn) % 3)
        if not got:
            return popped
        numbers = seqs(got)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), (
            f"one pop returned {numbers}: not the last entries of the log, oldest first"
        )
        popped.extend(got)
        await asyncio.sleep(0)
    raise AssertionError("the log never became empty")


def room_for(backend: Backend, entries: int) -> None:
    """Skip when ``backend`` keeps each log in one record (the default log operations) and
    its ``max_value_bytes`` is too small for a log of ``entries`` small entries."""
    limit = backend.capabilities.max_value_bytes
    on_defaults = type(backend).log_append is Backend.log_append
    if on_defaults and limit is not None and limit < entries * _ENTRY_BYTES:
        pytest.skip(
            f"a log of {entries} entries may not fit in max_value_bytes={limit} (the default "
            "log operations keep each log in one record)"
        )


def _only_once(popped: Sequence[LogEntry], appended: Sequence[LogEntry]) -> None:
    numbers = sorted(seqs(popped))
    twice = sorted({s for s in numbers if numbers.count(s) > 1})
    assert not twice, f"entries {twice[:10]} were returned by two pops"
    assert numbers == seqs(appended), "every entry is popped exactly once"


class LogRules(ConformanceFixtures):
    """Logs: ``log_append`` gives contiguous, strictly increasing sequence numbers that are
    never reused (after a pop, a trim, a delete, an expiry or a drop); ``log_range`` with
    exclusive bounds, ``limit`` and ``reverse``; ``log_length``; ``log_pop`` of the last
    entries; ``log_trim`` by count and by sequence number; ``log_delete``; ``log_keys`` with
    glob patterns over hostile keys; expiry set by appends and kept by pops and trims;
    ``drop``, ``collections`` and ``purge_expired`` over logs; copies in and out; and under
    concurrency, appends all kept in contiguous batches, pops that never return an entry
    twice, and entries visible in sequence order. With
    ``capabilities.shared_across_processes`` the same holds across clients."""

    # -- appends and reads ------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_append_returns_contiguous_increasing_seqs(
        self, backend: Backend, collection: str
    ) -> None:
        start = utcnow() - timedelta(minutes=5)  # allow for the server's clock
        first = await backend.log_append(collection, "log", list(_VALUES))
        check_appended(first, _VALUES, "the first append")
        second = await backend.log_append(collection, "log", ["one"])
        third = await backend.log_append(collection, "log", [{"a": 1}, {"a": 2}])
        check_appended(second, ["one"], "the second append")
        check_appended(third, [{"a": 1}, {"a": 2}], "the third append")
        assert first[-1].seq < second[0].seq < third[0].seq, "seqs increase in append order"
        for entry in (*first, *second, *third):
            assert start < entry.appended_at < utcnow() + timedelta(minutes=5)
        stored = await backend.log_range(collection, "log")
        assert [(e.seq, e.appended_at) for e in stored] == [
            (e.seq, e.appended_at) for e in (*first, *second, *third)
        ], "range returns the entries as append numbered and dated them"
        for entry, value in zip(stored, [*_VALUES, "one", {"a": 1}, {"a": 2}], strict=True):
            assert_same_json(entry.value, value, f"entry {entry.seq}")
        assert await backend.log_length(collection, "log") == len(_VALUES) + 3

    @pytest.mark.asyncio
    async def test_range_bounds_limit_and_reverse(self, backend: Backend, collection: str) -> None:
        await backend.log_append(collection, "log", list(range(6)))
        await backend.log_pop(collection, "log", 2)  # a gap: 4 and 5's numbers are not reused
        await backend.log_append(collection, "log", list(range(6, 12)))
        log = await backend.log_range(collection, "log")
        assert [e.value for e in log] == [0, 1, 2, 3, *range(6, 12)]
        s = seqs(log)
        gap = s[3] + 1  # the number of popped entry 4: held by no entry now
        afters = (None, 0, s[0] - 1, s[0], s[3], gap, s[6], s[-1], s[-1] + 5)
        befores = (None, s[0], s[1], gap, s[4], s[-1], s[-1] + 1)
        for after in afters:
            for before in befores:
                for limit in (None, 0, 1, 3, 100):
                    for reverse in (False, True):
                        want = [
                            e
                            for e in log
                            if (after is None or e.seq > after)
                            and (before is None or e.seq < before)
                        ]
                        if reverse:
                            want.reverse()
                        if limit is not None:
                            want = want[:limit]
                        got = await backend.log_range(
                            collection,
                            "log",
                            after=after,
                            before=before,
                            limit=limit,
                            reverse=reverse,
                        )
                        asked = f"range(after={after}, before={before}, {limit=}, {reverse=})"
                        assert [(e.seq, e.value) for e in got] == [
                            (e.seq, e.value) for e in want
                        ], asked
        assert await backend.log_range(collection, "absent") == []
        assert await backend.log_range(collection, "absent", reverse=True, limit=3) == []

    @pytest.mark.asyncio
    async def test_length(self, backend: Backend, collection: str) -> None:
        assert await backend.log_length(collection, "log") == 0
        await backend.log_append(collection, "log", list(range(5)))
        await backend.log_append(collection, "other", [1])
        assert await backend.log_length(collection, "log") == 5
        await backend.log_pop(collection, "log", 2)
        assert await backend.log_length(collection, "log") == 3
        await backend.log_trim(collection, "log", keep_last=1)
        assert await backend.log_length(collection, "log") == 1
        assert await backend.log_length(collection, "other") == 1

    # -- pops, trims, deletes ---------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_pop_returns_the_last_entries_oldest_first(
        self, backend: Backend, collection: str
    ) -> None:
        appended = await backend.log_append(collection, "log", ["a", "b", "c", "d", "e"])
        await backend.log_append(collection, "other", ["x"])
        popped = await backend.log_pop(collection, "log", 2)
        assert [(e.seq, e.value) for e in popped] == [(e.seq, e.value) for e in appended[3:]]
        assert [e.appended_at for e in popped] == [e.appended_at for e in appended[3:]]
        assert [e.value for e in await backend.log_pop(collection, "log", 1)] == ["c"]
        assert [e.value for e in await backend.log_range(collection, "log")] == ["a", "b"]
        assert [e.value for e in await backend.log_pop(collection, "log", 10)] == ["a", "b"]
        # popping every entry removed the log
        assert await backend.log_length(collection, "log") == 0
        assert await backend.log_range(collection, "log") == []
        assert await log_keys(backend, collection) == ["other"]
        assert await backend.log_delete(collection, "log") is False
        assert await backend.log_pop(collection, "log", 1) == []
        assert await backend.log_pop(collection, "absent", 3) == []
        assert [e.value for e in await backend.log_range(collection, "other")] == ["x"]

    @pytest.mark.asyncio
    async def test_trim_by_count_by_seq_and_both(self, backend: Backend, collection: str) -> None:
        appended = await backend.log_append(collection, "log", list(range(12)))
        s = seqs(appended)

        async def values() -> list[Any]:
            return [e.value for e in await backend.log_range(collection, "log")]

        assert await backend.log_trim(collection, "log", keep_last=10) == 2
        assert await values() == list(range(2, 12))
        assert await backend.log_trim(collection, "log", keep_last=10) == 0
        assert await backend.log_trim(collection, "log", keep_last=50) == 0
        assert await backend.log_trim(collection, "log", before=s[4]) == 2, "seq < before"
        assert await values() == list(range(4, 12))
        assert await backend.log_trim(collection, "log", before=s[4]) == 0
        assert await backend.log_trim(collection, "log", before=s[0]) == 0
        # both: every entry but the last keep_last, and every entry below before
        assert await backend.log_trim(collection, "log", keep_last=7, before=s[6]) == 2
        assert await values() == list(range(6, 12))
        assert await backend.log_trim(collection, "log", keep_last=2, before=s[7]) == 4
        assert await values() == [10, 11]
        assert await backend.log_length(collection, "log") == 2
        # trimming every entry removes the log
        assert await backend.log_trim(collection, "log", keep_last=0) == 2
        assert await backend.log_range(collection, "log") == []
        assert await log_keys(backend, collection) == []
        again = await backend.log_append(collection, "log", list(range(3)))
        assert await backend.log_trim(collection, "log", before=again[-1].seq + 1) == 3
        assert await backend.log_length(collection, "log") == 0
        assert await backend.log_trim(collection, "absent", keep_last=0) == 0
        assert await backend.log_trim(collection, "absent", before=10) == 0

    @pytest.mark.asyncio
    async def test_log_delete_says_whether_it_deleted(
        self, backend: Backend, collection: str
    ) -> None:
        await backend.log_append(collection, "log", [1, 2])
        await backend.log_append(collection, "other", [3])
        assert await backend.log_delete(collection, "log") is True
        assert await backend.log_range(collection, "log") == []
        assert await backend.log_length(collection, "log") == 0
        assert await backend.log_delete(collection, "log") is False
        assert await backend.log_delete(collection, "never") is False
        assert await log_keys(backend, collection) == ["other"]
        assert [e.value for e in await backend.log_range(collection, "other")] == [3]

    @pytest.mark.asyncio
    async def test_counts_beyond_64_bits_are_answered_like_small_ones(
        self, backend: Backend, collection: str
    ) -> None:
        """A pop, a trim or a range asking for more than any server counts to (a count
        above 2**63) means "all of them", as a count one above the length does."""
        for count in (2**63 - 1, 2**63, 2**64, 10**30):
            appended = await backend.log_append(collection, "log", ["a", "b", "c"])
            popped = await backend.log_pop(collection, "log", count)
            assert seqs(popped) == seqs(appended), f"pop of {count}"
            assert await backend.log_length(collection, "log") == 0, f"pop of {count}"
            appended = await backend.log_append(collection, "kept", ["a", "b", "c"])
            assert await backend.log_trim(collection, "kept", keep_last=count) == 0, count
            got = await backend.log_range(collection, "kept", limit=count, reverse=True)
            assert seqs(got) == seqs(appended)[::-1], f"range of {count}"
            removed = await backend.log_trim(collection, "kept", keep_last=count, before=count)
            assert removed == 3, f"trim of every entry below {count}"
            assert await log_keys(backend, collection) == [], f"trims and pops of {count}"

    # -- sequence numbers are never reused --------------------------------------------------

    @pytest.mark.asyncio
    @pytest.mark.parametrize("removal", ["pop", "trim", "delete", "expiry", "drop"])
    async def test_seqs_are_never_reused(
        self, backend: Backend, collection: str, removal: str
    ) -> None:
        appended = await backend.log_append(collection, "log", [1, 2, 3])
        highest = appended[-1].seq
        if removal == "pop":
            assert len(await backend.log_pop(collection, "log", 2)) == 2
            again = await backend.log_append(collection, "log", ["again"])
            assert again[0].seq > highest, f"a popped entry's seq {again[0].seq} came back"
            await backend.log_pop(collection, "log", 5)
            highest = again[0].seq
        elif removal == "trim":
            assert await backend.log_trim(collection, "log", keep_last=1) == 2
            again = await backend.log_append(collection, "log", ["again"])
            assert again[0].seq > highest, f"after a trim, seq {again[0].seq} came back"
            highest = again[0].seq
            assert await backend.log_trim(collection, "log", keep_last=0) == 2
        elif removal == "delete":
            assert await backend.log_delete(collection, "log") is True
        elif removal == "expiry":
            expired = await backend.log_append(collection, "log", [4], expires_at=ago())
            assert expired[0].seq > highest
            highest = expired[0].seq
            assert await backend.log_length(collection, "log") == 0
        else:
            assert await backend.drop(collection) == 1
        assert await backend.log_length(collection, "log") == 0, f"the log is gone ({removal})"
        again = await backend.log_append(collection, "log", ["a", "b"])
        assert again[0].seq > highest, (
            f"after {removal}, the log starts again at seq {again[0].seq}, a number its "
            f"earlier entries had (up to {highest})"
        )
        check_appended(again, ["a", "b"], f"the append after {removal}")
        assert seqs(await backend.log_range(collection, "log")) == seqs(again)

    # -- bad input ----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_an_append_of_a_value_json_cannot_hold_writes_nothing(
        self, backend: Backend, collection: str
    ) -> None:
        """A batch holding one value JSON cannot hold (NaN, an infinity, an object key that
        is not a string, a lone surrogate, bytes, a set, nesting deeper than any backend
        stores) raises InvalidArgument, as a record's value would, and appends none of the
        batch: not to a log that exists, nor by creating one."""
        deep: Any = "bottom"
        for _ in range(MAX_STORED_DEPTH + 50):
            deep = [deep]
        bad: dict[str, Any] = {
            "nan": math.nan,
            "infinity": {"n": [-math.inf]},
            "int key": {1: "x"},
            "None key": {"a": {None: 1}},
            "surrogate": {"text": "x\ud800"},
            "surrogate key": {"x\udc00": 1},
            "bytes": b"x",
            "set": {1, 2},
            "too deep": deep,
        }
        existing = await backend.log_append(collection, "log", ["kept"])
        for name, value in bad.items():
            for key in ("log", "new"):
                with pytest.raises(InvalidArgument):
                    await backend.log_append(collection, key, ["fine", value, "fine"])
                assert [e.value for e in await backend.log_range(collection, "log")] == ["kept"], (
                    f"{name}: the batch was partly written"
                )
                assert await backend.log_length(collection, "new") == 0, f"{name}: {key!r}"
        assert await log_keys(backend, collection) == ["log"]
        again = await backend.log_append(collection, "log", ["after"])
        assert again[0].seq > existing[0].seq

    @pytest.mark.asyncio
    async def test_a_batch_too_long_or_with_an_entry_too_large_writes_nothing(
        self, backend: Backend, collection: str
    ) -> None:
        """An append of more than :data:`~satchel.backend.MAX_LOG_BATCH` values raises
        InvalidArgument, and one whose last entry is over ``max_value_bytes`` raises
        ValueTooLarge: neither appends any of its batch, to a log or by creating one."""
        first = await backend.log_append(collection, "log", ["first"])
        values: list[JSONValue] = [{"i": i} for i in range(MAX_LOG_BATCH + 1)]
        for key in ("log", "new"):
            with pytest.raises(InvalidArgument, match="values"):
                await backend.log_append(collection, key, values)
        limit = backend.capabilities.max_value_bytes
        if limit is not None and limit <= 64 * 1024 * 1024:
            big = "x" * limit  # its JSON (with the quotes) is over the limit
            for key in ("log", "new"):
                with pytest.raises(ValueTooLarge):
                    await backend.log_append(collection, key, ["fine", "fine", big])
        assert await log_keys(backend, collection) == ["log"]
        assert [(e.seq, e.value) for e in await backend.log_range(collection, "log")] == [
            (first[0].seq, "first")
        ]

    @pytest.mark.asyncio
    async def test_a_batch_or_a_count_of_the_wrong_type_is_refused(
        self, backend: Backend, collection: str
    ) -> None:
        """``values`` is a sequence of values (a string, bytes or a mapping is refused, not
        appended as its characters or its keys); a pop's ``count``, a trim's ``keep_last``
        and ``before``, and a range's ``after``, ``before`` and ``limit`` are whole numbers
        (not ``True``, not ``1.5``): InvalidArgument naming the argument, and the log
        unchanged."""
        appended = await backend.log_append(collection, "log", ["a", "b", "c"])
        for values in ("xyz", b"xyz", {"role": "user"}):
            with pytest.raises(InvalidArgument, match="values"):
                await backend.log_append(collection, "log", values)  # type: ignore[arg-type]
            with pytest.raises(InvalidArgument, match="values"):
                await backend.log_append(collection, "new", values)  # type: ignore[arg-type]
        for count in (True, 1.5, 2.0, "2"):
            with pytest.raises(InvalidArgument, match="count"):
                await backend.log_pop(collection, "log", count)  # type: ignore[arg-type]
        for keep_last in (True, False, 1.5, 2.0, "2"):
            with pytest.raises(InvalidArgument, match="keep_last"):
                await backend.log_trim(collection, "log", keep_last=keep_last)  # type: ignore[arg-type]
        for before in (True, 2.5, "3"):
            with pytest.raises(InvalidArgument, match="before"):
                await backend.log_trim(collection, "log", before=before)  # type: ignore[arg-type]
        for argument in ("after", "before", "limit"):
            for bad in (True, 1.5, 2.0, "2"):
                wrong: dict[str, Any] = {argument: bad}
                with pytest.raises(InvalidArgument, match=argument):
                    await backend.log_range(collection, "log", **wrong)
        assert seqs(await backend.log_range(collection, "log")) == seqs(appended)
        assert await log_keys(backend, collection) == ["log"]

    @pytest.mark.asyncio
    async def test_an_expiry_at_the_end_of_time_keeps_the_log(
        self, backend: Backend, collection: str
    ) -> None:
        """``expires_at`` as late as a datetime goes (``datetime.max``) is a log that lives."""
        end = datetime.max.replace(tzinfo=timezone.utc)
        first = await backend.log_append(collection, "log", [1, 2], expires_at=end)
        check_appended(first, [1, 2], "an append expiring at datetime.max")
        second = await backend.log_append(collection, "log", [3], expires_at=end)
        assert second[0].seq > first[-1].seq
        assert [e.value for e in await backend.log_range(collection, "log")] == [1, 2, 3]
        assert await log_keys(backend, collection) == ["log"]

    # -- keys and collections ---------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_log_keys_lists_logs_with_entries(
        self, backend: Backend, collection: str
    ) -> None:
        for key in ("kept", "popped", "trimmed", "deleted", "expired", "later"):
            await backend.log_append(collection, key, [key, 2])
        await backend.log_pop(collection, "popped", 2)
        await backend.log_trim(collection, "trimmed", keep_last=0)
        await backend.log_delete(collection, "deleted")
        await backend.log_append(collection, "expired", [3], expires_at=ago())
        await backend.log_append(collection, "later", [3], expires_at=later())
        assert await log_keys(backend, collection) == ["kept", "later"]
        assert await log_keys(backend, collection, "*") == ["kept", "later"]
        assert await log_keys(backend, collection, "k*") == ["kept"]
        listed = [key async for key in backend.log_keys(collection)]
        assert len(listed) == len(set(listed)), "each key exactly once"

    @pytest.mark.asyncio
    async def test_hostile_keys_reach_only_their_own_log(
        self, backend: Backend, collection: str
    ) -> None:
        sizes = {key: 1 + i % 3 for i, key in enumerate(SPECIAL_KEYS)}
        for key, size in sizes.items():
            await backend.log_append(collection, key, [{"key": key, "n": n} for n in range(size)])

        def original(key: str) -> list[Any]:
            return [{"key": key, "n": n} for n in range(sizes[key])]

        for key in SPECIAL_KEYS:
            got = await backend.log_range(collection, key)
            assert [e.value for e in got] == original(key), f"log {key!r}"
            assert await backend.log_length(collection, key) == sizes[key], f"log {key!r}"
        for absent in ("a\x00c", "A", "a.", "*b", "🎒🎒", "a\\b"):
            assert await backend.log_range(collection, absent) == [], f"log {absent!r}"
            assert await backend.log_pop(collection, absent, 1) == [], f"log {absent!r}"
            assert await backend.log_length(collection, absent) == 0, f"log {absent!r}"
        assert await log_keys(backend, collection) == sorted(SPECIAL_KEYS)
        changed = ("*", "a*", "a\x00", "a[b]", "a.b")
        for key in changed:
            await backend.log_append(collection, key, ["more"])
            assert await backend.log_delete(collection, key + "x") is False
            assert await backend.log_trim(collection, key + "x", keep_last=0) == 0
        removed = ("?", "a:", "a")
        assert await backend.log_delete(collection, "?") is True
        assert len(await backend.log_pop(collection, "a:", 5)) == sizes["a:"]
        assert await backend.log_trim(collection, "a", keep_last=0) == sizes["a"]
        for key in SPECIAL_KEYS:
            values = [e.value for e in await backend.log_range(collection, key)]
            if key in removed:
                assert values == [], f"{key!r} was removed"
            else:
                extra = ["more"] if key in changed else []
                assert values == original(key) + extra, f"log {key!r}"
        remaining = sorted(set(SPECIAL_KEYS) - set(removed))
        assert await log_keys(backend, collection) == remaining

    @pytest.mark.asyncio
    async def test_log_keys_glob_patterns(self, backend: Backend, collection: str) -> None:
        for key in SPECIAL_KEYS:
            await backend.log_append(collection, key, [key])
        for pattern in PATTERNS:
            expected = sorted(k for k in SPECIAL_KEYS if glob_match(pattern, k))
            assert await log_keys(backend, collection, pattern) == expected, repr(pattern)
        for key in SPECIAL_KEYS:
            assert await log_keys(backend, collection, escape_glob(key)) == [key], repr(key)

    @pytest.mark.asyncio
    async def test_each_collection_holds_its_own_logs(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        names = {label: new_collection(label) for label in SPECIAL_LABELS}
        for label, name in names.items():
            await backend.log_append(name, "k", [label])
            await backend.log_append(name, label, [label, label])
        for label, name in names.items():
            assert [e.value for e in await backend.log_range(name, "k")] == [label], label
            assert await backend.log_length(name, label) == 2, label
            assert await log_keys(backend, name) == sorted({"k", label}), label
        listed = await backend.collections()
        assert [c for c in listed if c in names.values()] == sorted(names.values())
        assert [e.value for e in await backend.log_pop(names["c*"], "k", 5)] == ["c*"]
        assert await backend.log_delete(names["c?"], "k") is True
        assert await backend.drop(names["c."]) == 2
        for label, name in names.items():
            want = [] if label in ("c*", "c?", "c.") else [label]
            assert [e.value for e in await backend.log_range(name, "k")] == want, label
        # "p" + "q:r" and "p:q" + "r" stay two logs, whatever joins them in storage
        outer, inner = new_collection("p"), new_collection("p:q")
        await backend.log_append(outer, "q:r", ["outer"])
        await backend.log_append(inner, "r", ["inner"])
        assert await backend.log_range(outer, "r") == []
        assert await backend.log_range(inner, "q:r") == []
        assert await log_keys(backend, outer) == ["q:r"]
        assert await log_keys(backend, inner) == ["r"]
        assert await backend.drop(outer) == 1
        assert [e.value for e in await backend.log_range(inner, "r")] == ["inner"]

    @pytest.mark.asyncio
    async def test_drop_and_collections_cover_logs(
        self, backend: Backend, new_collection: Callable[[str], str]
    ) -> None:
        full, other = new_collection("full"), new_collection("other")
        emptied, deleted = new_collection("emptied"), new_collection("deleted")
        expired = new_collection("expired")
        for key in ("a", "b", "c"):
            await backend.log_append(full, key, [key, key])
        await backend.log_append(full, "gone", [1], expires_at=ago())
        await backend.log_append(other, "a", ["other"])
        await backend.log_append(emptied, "a", [1])
        await backend.log_pop(emptied, "a", 1)
        await backend.log_append(deleted, "a", [1])
        await backend.log_delete(deleted, "a")
        await backend.log_append(expired, "a", [1], expires_at=ago())
        listed = await backend.collections()
        assert listed == sorted(listed), "collections() is sorted"
        names = (full, other, emptied, deleted, expired)
        assert [c for c in listed if c in names] == sorted([full, other])
        assert await backend.drop(full) == 3, "drop counts the live logs"
        assert await log_keys(backend, full) == []
        assert await backend.log_range(full, "a") == []
        assert await backend.log_length(full, "b") == 0
        assert full not in await backend.collections()
        assert await backend.drop(full) == 0
        assert await backend.drop(expired) == 0, "an expired log is not counted"
        assert [e.value for e in await backend.log_range(other, "a")] == ["other"]

    # -- expiry -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_an_expired_log_reads_as_empty(
        self, backend: Backend, collection: str, new_collection: Callable[[str], str]
    ) -> None:
        lone = new_collection("only-expired")
        await backend.log_append(collection, "live", [1])
        await backend.log_append(collection, "gone", [1, 2, 3])
        # an append with a past expiry expires the whole log, earlier entries too
        await backend.log_append(collection, "gone", [4], expires_at=ago())
        await backend.log_append(lone, "gone", [1], expires_at=ago())
        assert await log_keys(backend, collection) == ["live"], "listings first (see expiry.py)"
        assert await log_keys(backend, collection, "g*") == []
        assert lone not in await backend.collections()
        assert await backend.log_range(collection, "gone") == []
        assert await backend.log_range(collection, "gone", reverse=True, limit=1) == []
        assert await backend.log_length(collection, "gone") == 0
        assert await backend.log_pop(collection, "gone", 1) == []
        assert await backend.log_trim(collection, "gone", keep_last=0) == 0
        assert await backend.log_delete(collection, "gone") is False
        assert await backend.log_length(collection, "live") == 1

    @pytest.mark.asyncio
    async def test_appends_set_expiry_and_pops_and_trims_keep_it(
        self, backend: Backend, collection: str
    ) -> None:
        # room for a slow server or a loaded machine: eleven appends, a pop and a trim must all
        # land before the earliest expiry
        soon = utcnow() + timedelta(seconds=2)
        far = later()
        plan: dict[str, tuple[datetime | None, ...]] = {
            "set": (soon,),
            "renewed": (soon, far),
            "cleared": (soon, None),
            "shortened": (far, soon),
            "set later": (None, soon),
            "popped": (soon,),
            "trimmed": (soon,),
        }
        for key, expiries in plan.items():
            for expires_at in expiries:
                await backend.log_append(collection, key, [key, 1, 2], expires_at=expires_at)
        assert len(await backend.log_pop(collection, "popped", 1)) == 1
        assert await backend.log_trim(collection, "trimmed", keep_last=1) == 2
        assert await log_keys(backend, collection) == sorted(plan), "alive before their time"
        await asyncio.sleep(max(0.0, (soon - utcnow()).total_seconds()) + 0.1)
        staying = ["cleared", "renewed"]
        assert await log_keys(backend, collection) == staying
        for key in plan:
            length = await backend.log_length(collection, key)
            entries = await backend.log_range(collection, key)
            if key in staying:
                assert (length, len(entries)) == (6, 6), f"log {key!r} is kept whole"
            else:
                assert (length, entries) == (0, []), f"log {key!r} expired"

    @pytest.mark.asyncio
    async def test_purge_expired_removes_expired_logs(
        self, backend: Backend, collection: str
    ) -> None:
        old = await backend.log_append(collection, "gone", [1], expires_at=ago())
        await backend.log_append(collection, "live", [1])
        await backend.log_append(collection, "later", [1], expires_at=later())
        purged = await backend.purge_expired()
        # other tests' records count too, and a server may have removed ours already
        assert isinstance(purged, int)
        assert purged >= 0
        assert await log_keys(backend, collection) == ["later", "live"]
        assert await backend.log_length(collection, "gone") == 0
        assert [e.value for e in await backend.log_range(collection, "live")] == [1]
        again = await backend.log_append(collection, "gone", [2])
        assert again[0].seq > old[0].seq, "a purged log's numbers are not reused"

    # -- copies -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_entries_are_the_callers_copies(self, backend: Backend, collection: str) -> None:
        doc = {"list": [1, {"x": 2}], "o": {"y": [3]}}
        given: list[Any] = [copy.deepcopy(doc), copy.deepcopy(doc)]
        returned = await backend.log_append(collection, "log", given)

        def mutate(value: Any) -> None:
            value["list"][1]["x"] = "mutated"
            value["o"]["y"].append(4)
            value["new"] = True

        async def unchanged(what: str) -> None:
            got = await backend.log_range(collection, "log")
            assert [e.value for e in got] == [doc, doc], f"mutating {what} changed the log"

        for value in given:
            mutate(value)
        given.append("more")
        await unchanged("the values appended")
        for entry in returned:
            mutate(entry.value)
        await unchanged("the entries append returned")
        for entry in await backend.log_range(collection, "log"):
            mutate(entry.value)
        await unchanged("the entries range returned")
        for entry in await backend.log_range(collection, "log", reverse=True, limit=1):
            mutate(entry.value)
        await unchanged("the entries a reverse range returned")

    # -- concurrency ------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_concurrent_appends_are_all_kept_in_contiguous_batches(
        self, backend: Backend, collection: str
    ) -> None:
        room_for(backend, TASKS * TASK_ENTRIES)
        results = await asyncio.gather(
            *(append_batches(backend, collection, "log", t, TASK_ENTRIES) for t in range(TASKS))
        )
        log = await backend.log_range(collection, "log")
        check_batches(log, [b for batches in results for b in batches], "concurrent appends")
        assert await backend.log_length(collection, "log") == TASKS * TASK_ENTRIES

    @pytest.mark.asyncio
    async def test_concurrent_pops_never_return_one_entry_twice(
        self, backend: Backend, collection: str
    ) -> None:
        room_for(backend, 300)
        appended = await backend.log_append(collection, "log", list(range(300)))
        results = await asyncio.gather(
            *(pop_all(backend, collection, "log", p) for p in range(TASKS))
        )
        _only_once([e for popped in results for e in popped], appended)
        assert await backend.log_length(collection, "log") == 0
        assert await log_keys(backend, collection) == []

    @pytest.mark.asyncio
    async def test_entries_become_visible_in_sequence_order(
        self, backend: Backend, collection: str, make_backend: MakeBackend
    ) -> None:
        """A reader polling ``log_range(after=<last seq seen>)`` while others append sees
        each batch whole, in one poll, and misses no entry: an entry that became visible
        after one with a higher seq would be skipped."""
        room_for(backend, TASKS // 2 * TASK_ENTRIES)
        count = 2 if backend.capabilities.shared_across_processes else 1
        async with open_clients(backend, make_backend, count) as clients:
            reader = clients[-1]
            writing = True
            polls: list[list[LogEntry]] = []

            async def write() -> list[tuple[int, list[LogEntry]]]:
                nonlocal writing
                try:
                    results = await asyncio.gather(
                        *(
                            append_batches(clients[t % count], collection, "log", t, TASK_ENTRIES)
                            for t in range(TASKS // 2)
                        )
                    )
                finally:
                    writing = False
                return [b for batches in results for b in batches]

            async def read() -> None:
                last: int | None = None
                while True:
                    more = writing  # read before the poll: a poll after the last write is final
                    got = await reader.log_range(collection, "log", after=last)
                    polls.append(got)
                    if got:
                        assert last is None or got[0].seq > last, f"seq {got[0].seq} <= {last}"
                        last = got[-1].seq
                    if not more:
                        return
                    await asyncio.sleep(0)

            batches, _ = await asyncio.gather(write(), read())
        poll_of = {e.seq: n for n, got in enumerate(polls) for e in got}
        for writer, entries in batches:
            seen = {poll_of.get(e.seq) for e in entries}
            assert None not in seen, (
                f"the reader never saw entries {seqs(entries)} of writer {writer}: an entry "
                "became visible after one with a higher seq, which the reader had read"
            )
            assert len(seen) == 1, f"the reader saw the batch {seqs(entries)} in parts"
        check_batches([e for got in polls for e in got], batches, "what the reader saw")

    @pytest.mark.asyncio
    async def test_many_clients_appending_to_one_log_keep_every_entry(
        self, backend: Backend, collection: str, make_backend: MakeBackend
    ) -> None:
        if not backend.capabilities.shared_across_processes:
            pytest.skip("the backend is not shared across processes")
        room_for(backend, CLIENTS * CLIENT_ENTRIES)
        async with open_clients(backend, make_backend, CLIENTS) as clients:
            results = await asyncio.gather(
                *(
                    append_batches(client, collection, "log", c, CLIENT_ENTRIES)
                    for c, client in enumerate(clients)
                )
            )
            for client in (clients[0], clients[-1]):
                log = await client.log_range(collection, "log")
                check_batches(log, [b for batches in results for b in batches], "clients")
                assert len(log) == CLIENTS * CLIENT_ENTRIES

    @pytest.mark.asyncio
    async def test_two_clients_popping_one_log_return_each_entry_once(
        self, backend: Backend, collection: str, make_backend: MakeBackend
    ) -> None:
        if not backend.capabilities.shared_across_processes:
            pytest.skip("the backend is not shared across processes")
        room_for(backend, POPPED_LOG)
        async with open_clients(backend, make_backend, 2) as clients:
            appended = await backend.log_append(collection, "log", list(range(POPPED_LOG)))
            results = await asyncio.gather(
                *(pop_all(client, collection, "log", p) for p, client in enumerate(clients))
            )
            _only_once([e for popped in results for e in popped], appended)
            for client in clients:
                assert await client.log_length(collection, "log") == 0

    @pytest.mark.asyncio
    async def test_appends_pops_trims_deletes_and_expiry_racing_never_reuse_a_seq(
        self, backend: Backend, collection: str, make_backend: MakeBackend
    ) -> None:
        """Appenders (some with an expiry a few tens of milliseconds ahead, so the log
        expires and starts again mid-race), poppers, a trimmer and a deleter on one log, over
        two clients where the backend is shared: every acknowledged seq is unique across
        every incarnation, every popped entry was appended and is popped once, and what is
        left is in ascending order and was appended and not popped."""
        shared = backend.capabilities.shared_across_processes
        room_for(backend, 200)
        async with open_clients(backend, make_backend, 2 if shared else 1) as clients:
            appended: list[LogEntry] = []
            popped: list[LogEntry] = []

            async def append(writer: int) -> None:
                client = clients[writer % len(clients)]
                for turn in range(25):
                    expires = later(0.05) if (writer + turn) % 5 == 0 else None
                    size = 1 + (writer + turn) % 3
                    values = [{"w": writer, "i": turn, "n": n} for n in range(size)]
                    got = await client.log_append(collection, "log", values, expires_at=expires)
                    check_appended(got, values, f"writer {writer}")
                    appended.extend(got)
                    await asyncio.sleep(0.002 * (turn % 3))

            async def pop(popper: int) -> None:
                client = clients[popper % len(clients)]
                for turn in range(30):
                    popped.extend(await client.log_pop(collection, "log", 1 + turn % 2))
                    await asyncio.sleep(0.003)

            async def trim() -> None:
                for turn in range(15):
                    await clients[-1].log_trim(collection, "log", keep_last=3 + turn % 4)
                    await asyncio.sleep(0.007)

            async def delete() -> None:
                for _ in range(4):
                    await asyncio.sleep(0.03)
                    await clients[0].log_delete(collection, "log")

            await asyncio.gather(
                *(append(w) for w in range(4)), *(pop(p) for p in range(2)), trim(), delete()
            )
            numbers = seqs(appended)
            assert len(numbers) == len(set(numbers)), (
                "a sequence number was handed out twice: "
                f"{sorted(n for n in set(numbers) if numbers.count(n) > 1)[:10]}"
            )
            by_seq = {e.seq: e for e in appended}
            popped_numbers = seqs(popped)
            assert len(popped_numbers) == len(set(popped_numbers)), "an entry was popped twice"
            for entry in popped:
                assert entry.seq in by_seq, f"pop returned {entry.seq}, which was never appended"
                assert_same_json(entry.value, by_seq[entry.seq].value, f"popped {entry.seq}")
            left = await backend.log_range(collection, "log")
            assert seqs(left) == sorted(seqs(left)), "what is left is not in ascending order"
            gone = set(popped_numbers)
            for entry in left:
                assert entry.seq in by_seq, f"entry {entry.seq} is left but was never appended"
                assert entry.seq not in gone, f"entry {entry.seq} is left but was popped"

    # -- separate operating-system processes (with the process_backend fixture) --------------

    @pytest.mark.asyncio
    async def test_processes_appending_to_one_log_keep_every_entry(
        self,
        backend: Backend,
        collection: str,
        process_backend: tuple[str, dict[str, Any]] | None,
    ) -> None:
        """8 processes, 200 appends each (in batches of 1 to 4) to one log: exactly 1,600
        entries, unique seqs, each batch contiguous, each process's entries in its order."""
        if process_backend is None:
            pytest.skip("no process_backend fixture: the kit cannot start other processes")
        room_for(backend, CLIENTS * CLIENT_ENTRIES)
        tasks = [
            {
                "op": "append",
                "collection": collection,
                "key": "log",
                "worker": w,
                "entries": CLIENT_ENTRIES,
            }
            for w in range(CLIENTS)
        ]
        results = await asyncio.to_thread(run_workers, process_backend, tasks)
        batches = [
            (writer, [entry_from(row) for row in rows])
            for result in results
            for writer, rows in result
        ]
        log = await backend.log_range(collection, "log")
        check_batches(log, batches, "processes")
        assert len(log) == CLIENTS * CLIENT_ENTRIES == 1600

    @pytest.mark.asyncio
    async def test_two_processes_popping_one_log_return_each_entry_once(
        self,
        backend: Backend,
        collection: str,
        process_backend: tuple[str, dict[str, Any]] | None,
    ) -> None:
        """Two processes pop a 1,000-entry log until it is empty: each entry is returned by
        exactly one of them."""
        if process_backend is None:
            pytest.skip("no process_backend fixture: the kit cannot start other processes")
        room_for(backend, POPPED_LOG)
        appended = await backend.log_append(collection, "log", list(range(POPPED_LOG)))
        tasks = [
            {"op": "pop", "collection": collection, "key": "log", "worker": p} for p in range(2)
        ]
        results = await asyncio.to_thread(run_workers, process_backend, tasks)
        popped = [entry_from(row) for result in results for row in result]
        _only_once(popped, appended)
        assert await backend.log_length(collection, "log") == 0
