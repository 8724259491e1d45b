"""Logs on MongoDB (satchel_mongodb.logs): the documents they are stored in, logs past
MongoDB's 16 MiB per document, the index every read goes through, expiry by the TTL
monitor, and appends that stay atomic when their writer is killed or stopped halfway."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from mongo_log_worker import append_batches
from mongo_wire import command_of, read_message
from pymongo import AsyncMongoClient, MongoClient, monitoring

from satchel.backend import LogEntry, utcnow
from satchel.errors import BackendUnavailable, CorruptRecord, ValueTooLarge
from satchel.testing.proxy import FaultProxy
from satchel_mongodb import MongoBackend
from satchel_mongodb.codec import MAX_DOCUMENT_BYTES
from satchel_mongodb.logappend import CHUNK_ENTRIES, ENTRY_SLACK_SECONDS
from satchel_mongodb.loghead import LOG_CLAIM_SECONDS

DATABASE = "satchel_logs"


class Replies(monitoring.CommandListener):
    """The commands sent, and how many documents each ``find`` returned, while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.sent: list[tuple[str, Any]] = []
        self.returned: list[int] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on and event.command_name not in ("hello", "isMaster", "ping", "endSessions"):
            self.sent.append((event.command_name, event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if self.on and event.command_name == "find":
            self.returned.append(len(event.reply["cursor"]["firstBatch"]))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def start(self) -> None:
        self.on, self.sent, self.returned = True, [], []


REPLIES = Replies()
monitoring.register(REPLIES)


class Between(monitoring.CommandListener):
    """Runs ``action`` (blocking) once, as soon as a read of the head of ``key`` has been
    answered: what another client does between a reader's read of the head and its read
    of the entries."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.action: Callable[[], None] | None = None
        self._heads: set[int] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if (
            self.action is not None
            and event.command_name == "find"
            and event.command.get("filter") == {"_id": self.key}
        ):
            self._heads.add(event.request_id)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self._heads and self.action is not None:
            action, self.action = self.action, None
            action()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


BETWEEN = Between()
monitoring.register(BETWEEN)


@pytest.fixture
def prefix() -> str:
    return f"l{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def raw(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def make(mongodb_uri: str, prefix: str) -> AsyncIterator[Callable[..., MongoBackend]]:
    """Makes backends over one collection prefix of the test's own (closed, and their
    collections dropped, after the test)."""
    made: list[MongoBackend] = []

    def build(uri: str = mongodb_uri, margin: int | None = None) -> MongoBackend:
        backend = MongoBackend.from_uri(
            uri, database=DATABASE, collection_prefix=prefix, server_selection_timeout=5
        )
        if margin is not None:
            backend.ttl_margin = margin
        made.append(backend)
        return backend

    yield build
    REPLIES.on = False
    if made:
        for name in await made[0].collections():
            await made[0].drop(name)
    for backend in made:
        await backend.close()


def documents(raw: Any, backend: MongoBackend, collection: str = "logs") -> Any:
    return raw[DATABASE][backend._collection(collection).name]


def seqs(entries: list[LogEntry]) -> list[int]:
    return [e.seq for e in entries]


# -- what is stored ------------------------------------------------------------------------------


async def test_a_log_is_a_head_and_one_document_per_entry(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    backend = make()
    first = await backend.log_append("logs", "chat", [{"role": "user", "a.b": 1, "$x": 2}, "hi"])
    second = await backend.log_append("logs", "chat", [[1, 2], None, 7])
    assert seqs(first) == [1, 2] and seqs(second) == [3, 4, 5]
    coll = documents(raw, backend)
    head = await coll.find_one({"_id": "chat"})
    assert head is not None
    fields = ("log", "seq", "version", "bottom", "top", "length", "expires")
    assert {k: head[k] for k in fields} == {
        "log": "chat",
        "seq": 0,
        "version": 5,
        "bottom": 1,
        "top": 5,
        "length": 5,
        "expires": None,
    }
    assert "claim" not in head  # no append holds it
    entries = await coll.find({"seq": {"$gte": 1}}).sort("seq", 1).to_list(None)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert all(e["log"] == "chat" and e["version"] == e["seq"] for e in entries)
    # the value in the records' stored form, its keys escaped
    assert entries[0]["value"] == {"role": "user", "%a%2Eb": 1, "%%24x": 2}
    assert entries[2]["value"] == [1, 2]
    assert entries[0]["appended"] == first[0].appended_at == first[1].appended_at
    assert await coll.count_documents({}) == 6
    indexes = {i["name"]: i async for i in await coll.list_indexes()}
    assert dict(indexes["satchel_log"]["key"]) == {"log": 1, "seq": 1}
    assert indexes["satchel_log"]["unique"] and indexes["satchel_log"]["sparse"]
    assert dict(indexes["satchel_ttl"]["key"]) == {"expires": 1}
    assert "satchel_index_entries" not in indexes  # records only
    stats = await backend.stats()
    assert "head document per log" in stats["log_layout"]


async def test_a_log_grows_past_16_mib_one_document_per_entry(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    """24 entries of 1 MiB (24 MiB, in three appends; the largest holds 16 of them): every
    document stays small, and the log reads back whole and by its last entries."""
    backend = make()
    mib = 1024 * 1024
    big = [f"{i:02d}" + "x" * (mib - 2) for i in range(24)]
    assert seqs(await backend.log_append("logs", "big", big[:16])) == list(range(1, 17))
    await backend.log_append("logs", "big", big[16:20])
    await backend.log_append("logs", "big", big[20:])
    assert await backend.log_length("logs", "big") == 24
    whole = await backend.log_range("logs", "big")
    assert [e.value for e in whole] == big
    last = await backend.log_range("logs", "big", reverse=True, limit=2)
    assert [e.value[:2] for e in last] == ["23", "22"]
    coll = documents(raw, backend)
    sizes = [
        d["size"]
        async for d in await coll.aggregate([{"$project": {"size": {"$bsonSize": "$$ROOT"}}}])
    ]
    assert len(sizes) == 25 and max(sizes) < mib + 1024
    assert sum(sizes) > MAX_DOCUMENT_BYTES + 8 * mib


async def test_an_entry_too_large_for_a_document_writes_nothing(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    backend = make()
    await backend.log_append("logs", "k", ["small"])
    with pytest.raises(ValueTooLarge) as info:
        await backend.log_append("logs", "k", ["ok", "x" * MAX_DOCUMENT_BYTES])
    assert "value 1 of log 'k'" in str(info.value)
    assert await backend.log_length("logs", "k") == 1
    assert await documents(raw, backend).count_documents({}) == 2
    head = await documents(raw, backend).find_one({"_id": "k"})
    assert head is not None and head["version"] == 1 and "claim" not in head


async def test_a_foreign_document_under_a_log_key_is_corrupt_until_deleted(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    backend = make()
    await backend.log_append("logs", "k", [1])
    await documents(raw, backend).replace_one({"_id": "k"}, {"not": "a head"})
    for call in (
        backend.log_length("logs", "k"),
        backend.log_range("logs", "k"),
        backend.log_append("logs", "k", [2]),
    ):
        with pytest.raises(CorruptRecord, match="'k'"):
            await call
    assert await backend.log_delete("logs", "k") is False
    # the other client took the log's numbers with its head (as a record's versions go
    # with a document another client removes); the entry it left is replaced, not shown
    await backend.log_append("logs", "k", [3])
    assert [e.value for e in await backend.log_range("logs", "k")] == [3]
    assert await documents(raw, backend).count_documents({}) == 2


# -- reads go through the index --------------------------------------------------------------


async def test_reads_are_index_ranges_and_length_reads_only_the_head(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    backend = make()
    for start in range(0, 3000, 1000):
        await backend.log_append("logs", "long", list(range(start, start + 1000)))
    await backend.log_append("logs", "other", ["x"])
    REPLIES.start()
    assert await backend.log_length("logs", "long") == 3000
    assert [c for c, _ in REPLIES.sent] == ["find"]
    assert REPLIES.sent[0][1]["filter"] == {"_id": "long"}

    REPLIES.start()
    last = await backend.log_range("logs", "long", reverse=True, limit=20)
    assert seqs(last) == list(range(3000, 2980, -1))
    finds = [command for name, command in REPLIES.sent if name == "find"]
    entries_find = finds[1]
    assert entries_find["filter"] == {"log": "long", "seq": {"$gte": 2981, "$lte": 3000}}
    assert dict(entries_find["sort"]) == {"seq": -1}
    assert sum(REPLIES.returned) <= 1 + 20 + 1  # head, the 20 entries, head again

    REPLIES.start()
    middle = await backend.log_range("logs", "long", after=1500, before=1511)
    assert [e.value for e in middle] == list(range(1500, 1510))
    assert sum(REPLIES.returned) <= 12
    REPLIES.on = False

    plan = await documents(raw, backend).find(entries_find["filter"]).sort("seq", -1).explain()
    assert "satchel_log" in str(plan["queryPlanner"]["winningPlan"])


async def test_a_limited_read_skips_the_gaps_pops_leave(
    make: Callable[..., MongoBackend],
) -> None:
    backend = make()
    await backend.log_append("logs", "k", list(range(100)))  # 1..100
    await backend.log_pop("logs", "k", 60)  # 1..40 left
    await backend.log_append("logs", "k", ["a", "b"])  # 101, 102
    last = await backend.log_range("logs", "k", reverse=True, limit=5)
    assert seqs(last) == [102, 101, 40, 39, 38]
    first = await backend.log_range("logs", "k", after=38, limit=3)
    assert seqs(first) == [39, 40, 101]
    assert await backend.log_length("logs", "k") == 42


# -- sequence numbers and documents after removals -------------------------------------------


async def test_numbers_are_never_reused_and_nothing_is_left_behind(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    """Delete, pop and trim to nothing, drop, expiry with purge_expired: every removal leaves
    no entry of the log (a delete, pop or trim only its tombstone), and the next log of the
    key (created by another process, which remembers nothing) starts above every number the
    key had."""
    backend, other = make(), make()
    coll = documents(raw, backend)
    top = 0

    async def only_tombstone() -> None:
        docs = await coll.find({"log": "k"}).to_list(None)
        assert [(d["seq"], d["length"]) for d in docs] == [(0, 0)]

    async def fresh(values: list[Any]) -> list[int]:
        nonlocal top
        got = seqs(await other.log_append("logs", "k", values))
        assert got[0] > top, f"numbers start again at {got[0]} after {top}"
        assert got == list(range(got[0], got[0] + len(values)))
        top = got[-1]
        return got

    await fresh([1, 2, 3])
    assert await backend.log_delete("logs", "k") is True
    await only_tombstone()
    assert await backend.log_delete("logs", "k") is False

    await fresh([1, 2])
    assert len(await backend.log_pop("logs", "k", 5)) == 2
    await only_tombstone()

    await fresh([1, 2, 3])
    assert await backend.log_trim("logs", "k", keep_last=0) == 3
    await only_tombstone()

    await fresh([1])
    assert await backend.drop("logs") == 1
    assert await coll.count_documents({}) == 0

    await fresh([1, 2])
    await backend.log_append("logs", "k", [3], expires_at=utcnow() + timedelta(seconds=0.3))
    top += 1
    await asyncio.sleep(0.4)
    assert await backend.purge_expired() == 1
    assert await coll.count_documents({"log": "k"}) == 0

    await fresh([1])
    await backend.log_pop("logs", "k", 1)
    await fresh([2])


async def test_an_emptied_log_is_a_tombstone_that_reads_as_no_log_and_goes(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    """A pop, trim or delete that empties a log leaves its head as a tombstone (no entries,
    its write id in cw, an expiry tombstone_seconds away): no read, listing or count sees
    it, an append goes on above its numbers, and purge_expired, the TTL monitor and drop
    remove it."""
    backend, other = make(margin=0), make(margin=0)
    coll = documents(raw, backend)
    await backend.log_append("logs", "k", [1, 2])
    await backend.log_append("other", "live", [1])
    before = utcnow()
    assert len(await backend.log_pop("logs", "k", 2)) == 2
    head = await coll.find_one({"_id": "k"})
    assert head is not None and head["length"] == 0 and head["write_id"] in head["cut_write_ids"]
    assert head["bottom"] == head["top"] + 1 == head["version"] + 1 == 3
    kept = timedelta(seconds=backend.tombstone_seconds)
    assert backend.tombstone_seconds >= 2 * backend.call_timeout
    assert before + kept <= head["expires"] <= utcnow() + kept
    assert await coll.count_documents({"log": "k"}) == 1

    assert await backend.log_length("logs", "k") == 0
    assert await backend.log_range("logs", "k") == []
    assert await backend.log_pop("logs", "k", 1) == []
    assert await backend.log_trim("logs", "k", keep_last=0) == 0
    assert await backend.log_delete("logs", "k") is False
    assert [k async for k in backend.log_keys("logs")] == []
    assert await backend.collections() == ["other"]
    assert await backend.purge_expired() == 0  # not expired yet: kept
    assert await coll.count_documents({"log": "k"}) == 1

    # an append goes on from the tombstone, above its numbers
    assert seqs(await other.log_append("logs", "k", ["a", "b"])) == [3, 4]
    assert [e.value for e in await backend.log_range("logs", "k")] == ["a", "b"]

    # expired, purge_expired removes it (and counts no log)
    backend.tombstone_seconds = 0.2
    assert await backend.log_trim("logs", "k", keep_last=0) == 2
    await asyncio.sleep(0.3)
    assert await backend.purge_expired() == 0
    assert await coll.count_documents({"log": "k"}) == 0
    assert seqs(await other.log_append("logs", "k", ["c"])) == [5]

    # the TTL monitor removes it (this test's server runs it every second, with no margin)
    assert await backend.log_delete("logs", "k") is True
    deadline = time.monotonic() + 15
    while await coll.count_documents({"log": "k"}):
        assert time.monotonic() < deadline, "the TTL monitor left the tombstone"
        await asyncio.sleep(0.3)
    assert seqs(await other.log_append("logs", "k", ["d"])) == [6]

    # drop removes it with everything else
    backend.tombstone_seconds = 3600
    assert len(await backend.log_pop("logs", "k", 1)) == 1
    assert await coll.count_documents({}) == 1
    assert await backend.drop("logs") == 0
    assert await coll.count_documents({}) == 0
    assert await backend.collections() == ["other"]
    assert seqs(await other.log_append("logs", "k", ["e"])) == [7]


async def test_pop_and_trim_delete_the_entries_they_remove(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    backend = make()
    coll = documents(raw, backend)
    await backend.log_append("logs", "k", list(range(10)))
    assert [e.value for e in await backend.log_pop("logs", "k", 3)] == [7, 8, 9]
    assert await backend.log_trim("logs", "k", before=4) == 3
    assert await backend.log_trim("logs", "k", keep_last=2) == 2
    assert [e.value for e in await backend.log_range("logs", "k")] == [5, 6]
    assert sorted(d["seq"] for d in await coll.find({"log": "k"}).to_list(None)) == [0, 6, 7]
    head = await coll.find_one({"_id": "k"})
    assert head is not None and (head["bottom"], head["top"], head["length"], head["cuts"]) == (
        6,
        7,
        2,
        3,
    )


# -- expiry ---------------------------------------------------------------------------------------


async def test_an_expired_log_is_gone_from_every_read_at_once(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    backend = make()
    expires = utcnow() + timedelta(seconds=1.5)  # live through the next reads, even when slow
    await backend.log_append("logs", "k", [1, 2], expires_at=expires)
    await backend.log_append("other", "live", [1])
    assert await backend.collections() == ["logs", "other"]
    await asyncio.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.1)
    assert await backend.log_length("logs", "k") == 0
    assert await backend.log_range("logs", "k") == []
    assert await backend.log_pop("logs", "k", 1) == []
    assert await backend.log_trim("logs", "k", keep_last=0) == 0
    assert [k async for k in backend.log_keys("logs")] == []
    assert await backend.collections() == ["other"]
    assert await documents(raw, backend).count_documents({}) == 3  # not purged yet
    assert await backend.log_delete("logs", "k") is False
    assert await documents(raw, backend).count_documents({}) == 0
    later = await backend.log_append("logs", "k", ["new"])
    assert later[0].seq == 3


async def test_appends_renew_the_expiry_and_entries_outlive_their_log(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    """Each append sets the head's expiry; the entries' expiry is never before it (so the
    TTL monitor never takes an entry of a live log), is moved only when an append needs it
    to be later (to the log's expiry plus its time to live), and goes with expires_at=None;
    pop and trim keep the expiry."""
    backend = make()
    coll = documents(raw, backend)

    async def state() -> tuple[datetime | None, list[datetime | None]]:
        head = await coll.find_one({"_id": "k"})
        assert head is not None
        entries = [
            d["expires"] for d in await coll.find({"log": "k", "seq": {"$gte": 1}}).to_list(None)
        ]
        return head["expires"], entries

    now = utcnow()
    hour = now + timedelta(hours=1)
    await backend.log_append("logs", "k", [1, 2], expires_at=hour)
    head_exp, entries = await state()
    assert head_exp == hour
    first = entries[0]
    assert first is not None and first >= hour + timedelta(minutes=59)
    assert entries == [first, first]

    sooner = now + timedelta(minutes=30)
    await backend.log_append("logs", "k", [3], expires_at=sooner)
    head_exp, entries = await state()
    assert head_exp == sooner and entries == [first] * 3  # no entry rewritten

    later = now + timedelta(hours=5)
    await backend.log_append("logs", "k", [4], expires_at=later)
    head_exp, entries = await state()
    assert head_exp == later
    assert all(
        e is not None and e >= later + timedelta(seconds=ENTRY_SLACK_SECONDS - 60) for e in entries
    )
    assert len(set(entries)) == 1

    await backend.log_pop("logs", "k", 1)
    await backend.log_trim("logs", "k", keep_last=2)
    assert (await state())[0] == later

    await backend.log_append("logs", "k", [5], expires_at=None)
    head_exp, entries = await state()
    assert head_exp is None and entries == [None, None, None]


async def test_the_ttl_monitor_removes_an_expired_log_and_every_entry(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    """With no margin the test server's monitor (every second) removes the head and the
    entries; a process that never saw the log starts the key above its numbers."""
    backend, other = make(margin=0), make(margin=0)
    coll = documents(raw, backend)
    soon = utcnow() + timedelta(seconds=0.3)
    await backend.log_append("logs", "k", list(range(5)))
    await backend.log_append("logs", "k", list(range(5)), expires_at=soon)
    deadline = time.monotonic() + 15
    while await coll.count_documents({}):
        assert time.monotonic() < deadline, "the TTL monitor left documents of the log"
        await asyncio.sleep(0.3)
    again = await other.log_append("logs", "k", ["again"])
    assert again[0].seq > 10


# -- concurrency ------------------------------------------------------------------------------


async def test_readers_see_whole_appends_in_order_and_miss_none(
    make: Callable[..., MongoBackend],
) -> None:
    """Four writers (each its own client) append batches of 1 to 40 entries while three
    readers tail the log with ``after=last_seen``: every read is whole batches in sequence
    order, and each reader ends up with every entry exactly once."""
    writers = [make() for _ in range(4)]
    readers = [make() for _ in range(3)]
    await writers[0].log_append("logs", "k", [{"w": -1, "b": 0, "i": 0, "of": 1}])
    done = asyncio.Event()
    acknowledged: list[list[int]] = []

    async def write(number: int, backend: MongoBackend) -> None:
        for batch in range(12):
            size = (number * 7 + batch * 11) % 40 + 1
            values = [{"w": number, "b": batch, "i": i, "of": size} for i in range(size)]
            entries = await backend.log_append("logs", "k", values)
            assert [e.value for e in entries] == values
            acknowledged.append(seqs(entries))

    async def tail(backend: MongoBackend) -> list[LogEntry]:
        seen: list[LogEntry] = []
        last = 0
        while True:
            finished = done.is_set()
            page = await backend.log_range("logs", "k", after=last, limit=25)
            for entry in page:
                assert entry.seq > last, "an entry below one already seen appeared"
                last = entry.seq
            seen.extend(page)
            if finished and not page:
                return seen
            await asyncio.sleep(0)

    tails = [asyncio.create_task(tail(r)) for r in readers]
    await asyncio.gather(*(write(n, w) for n, w in enumerate(writers)))
    done.set()
    every = await writers[0].log_range("logs", "k")
    for seen in await asyncio.gather(*tails):
        assert seqs(seen) == seqs(every)
        # batches whole and in order, though a page may end inside one
        position = 0
        while position < len(seen):
            value = seen[position].value
            size = value["of"]
            batch = seen[position : position + size]
            assert [e.value["i"] for e in batch] == list(range(size))
            assert {(e.value["w"], e.value["b"]) for e in batch} == {(value["w"], value["b"])}
            assert seqs(batch) == list(range(batch[0].seq, batch[0].seq + size))
            position += size
    assert sorted(s for batch in acknowledged for s in batch) == seqs(every)[1:]
    assert await writers[0].log_length("logs", "k") == len(every)


async def test_reads_during_pops_and_trims_never_see_half_a_cut(
    make: Callable[..., MongoBackend],
) -> None:
    """A log of contiguous numbers is cut from both ends while readers read it whole and by
    its last entries: every read is one contiguous run (a half-deleted pop or trim would
    leave a hole or a stray entry)."""
    writer, cutter = make(), make()
    readers = [make() for _ in range(3)]
    await writer.log_append("logs", "k", list(range(600)))
    done = asyncio.Event()

    async def cut() -> None:
        for round_ in range(40):
            await cutter.log_pop("logs", "k", 3 + round_ % 5)
            head = await cutter.log_range("logs", "k", limit=1)
            await cutter.log_trim("logs", "k", before=head[0].seq + 4)
        done.set()

    async def read(backend: MongoBackend, reverse: bool) -> int:
        reads = 0
        while not done.is_set():
            entries = await backend.log_range(
                "logs", "k", reverse=reverse, limit=None if reverse else 50
            )
            numbers = sorted(seqs(entries))
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers
            reads += 1
        return reads

    counts = await asyncio.gather(
        cut(), read(readers[0], False), read(readers[1], True), read(readers[2], True)
    )
    assert all(c > 3 for c in counts[1:])


@pytest.mark.parametrize("cut", ["pop", "trim"])
async def test_a_read_that_meets_a_cut_half_done_reads_again(
    make: Callable[..., MongoBackend], mongodb_uri: str, cut: str
) -> None:
    """Between a reader's read of the head and its read of the entries, another client cuts
    the log (pops 8..10, or trims 1..4) and has deleted one of the entries it cut when the
    reader reads them: the reader sees the cut head on its second read and reads again,
    instead of returning a log with a hole (or a stray entry) that never existed."""
    writer, reader = make(), make()
    await writer.log_append("logs", "k", list(range(1, 11)))
    await reader.log_length("logs", "other")  # connected, so the action below is all it does
    name = writer._collection("logs").name
    sync: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)

    def cut_halfway() -> None:
        coll = sync[DATABASE][name]
        head = coll.find_one({"_id": "k"})
        assert head is not None
        if cut == "pop":
            changes, deleted = {"top": 7, "length": 7}, 9
        else:
            changes, deleted = {"bottom": 5, "length": 6}, 2
        changes.update(cuts=head["cuts"] + 1, write_id="another-client")
        coll.update_one({"_id": "k", "write_id": head["write_id"]}, {"$set": changes})
        coll.delete_one({"log": "k", "seq": deleted})

    try:
        BETWEEN.key, BETWEEN.action = "k", cut_halfway
        if cut == "pop":
            entries = await reader.log_range("logs", "k", reverse=True, limit=4)
            assert [e.value for e in entries] == [7, 6, 5, 4]
        else:
            entries = await reader.log_range("logs", "k", limit=3)
            assert [e.value for e in entries] == [5, 6, 7]
        assert BETWEEN.action is None, "the other client never got in between"
    finally:
        BETWEEN.action = None
        sync.close()


async def test_concurrent_pops_from_many_clients_return_each_entry_once(
    make: Callable[..., MongoBackend],
) -> None:
    backends = [make() for _ in range(5)]
    await backends[0].log_append("logs", "k", list(range(300)))

    async def pop(backend: MongoBackend) -> list[Any]:
        got: list[Any] = []
        while popped := await backend.log_pop("logs", "k", 7):
            assert seqs(popped) == sorted(seqs(popped))
            got.extend(e.value for e in popped)
        return got

    results = await asyncio.gather(*(pop(b) for b in backends))
    every = [v for r in results for v in r]
    assert sorted(every) == list(range(300))
    assert await backends[0].log_length("logs", "k") == 0


# -- a command whose reply is lost ---------------------------------------------------------------


async def _fail_after_applying(raw: Any, command: str, skip: int) -> None:
    """The next ``command`` after ``skip`` of them is applied, and answered with a retryable
    write concern error (what a driver sees when the reply to a write that happened is lost
    in a failover): a driver with retryable writes sends it again."""
    await raw.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": {"skip": skip, "times": 1},
            "data": {
                "failCommands": [command],
                "writeConcernError": {"code": 89, "errmsg": "reply lost"},
                "errorLabels": ["RetryableWriteError"],
            },
        }
    )


async def _off(raw: Any) -> None:
    await raw.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


async def test_a_retried_commit_or_pop_is_applied_once(
    make: Callable[..., MongoBackend], raw: Any, mongodb_uri: str
) -> None:
    """With retryable writes on: the head's commit of an append, and the head's write of a
    pop, each answered with a retryable error after being applied: the append is there
    once, the pop removed its entries once."""
    backend = make(mongodb_uri.replace("retryWrites=false", "retryWrites=true"))
    await backend.log_append("logs", "k", [1, 2])
    try:
        await _fail_after_applying(raw, "update", skip=1)  # the claim, then the commit
        REPLIES.start()
        assert seqs(await backend.log_append("logs", "k", [3, 4])) == [3, 4]
        await _fail_after_applying(raw, "update", skip=0)  # the pop's write of the head
        assert [e.value for e in await backend.log_pop("logs", "k", 1)] == [4]
        updates = [c["updates"][0]["q"] for name, c in REPLIES.sent if name == "update"]
        REPLIES.on = False
        # the claim, the commit sent twice, the pop's write sent twice
        assert len(updates) == 5 and updates[1] == updates[2] and updates[3] == updates[4]
    finally:
        REPLIES.on = False
        await _off(raw)
    assert [e.value for e in await backend.log_range("logs", "k")] == [1, 2, 3]
    assert seqs(await backend.log_append("logs", "k", [5])) == [5]


async def test_a_commit_whose_reply_is_an_error_is_not_made_twice(
    make: Callable[..., MongoBackend], raw: Any
) -> None:
    """Without retryable writes the error reaches the caller, as for a put: the append
    happened once (or, for a lost reply, not at all), never twice, and the log goes on."""
    backend = make()
    await backend.log_append("logs", "k", [1])
    try:
        await _fail_after_applying(raw, "update", skip=1)
        with pytest.raises(BackendUnavailable, match="reply lost"):
            await backend.log_append("logs", "k", [2])
    finally:
        await _off(raw)
    assert [e.value for e in await backend.log_range("logs", "k")] == [1, 2]
    assert seqs(await backend.log_append("logs", "k", [3])) == [3]


@pytest.fixture(params=["retryWrites=false", "retryWrites=true"])
async def lossy(
    request: pytest.FixtureRequest, mongodb_uri: str, make: Callable[..., MongoBackend]
) -> AsyncIterator[tuple[FaultProxy, MongoBackend, MongoBackend]]:
    """A proxy in front of the test server that can lose a reply, a backend that talks
    through it (without retryable writes, as on a standalone mongod, which has none: the
    backend sends again by itself; and with them: pymongo sends again), and one that talks
    to the server directly."""
    direct = make()  # the first made: it drops the test's collections, after the proxy
    parts = urlsplit(mongodb_uri)
    assert parts.hostname is not None and parts.port is not None
    async with FaultProxy(parts.port, parts.hostname, framing=read_message) as proxy:
        where = f"127.0.0.1:{proxy.port}"
        uri = mongodb_uri.replace(f"{parts.hostname}:{parts.port}", where)
        uri = uri.replace("retryWrites=false", request.param) + "&directConnection=true"
        yield proxy, make(uri), direct


def _writes_head(key: str) -> Callable[[bytes], bool]:
    """Whether a message is a write (or a delete) of the head of the log ``key``."""

    def match(message: bytes) -> bool:
        command = command_of(message)
        writes = command.get("updates") or command.get("deletes") or [{}]
        return writes[0].get("q", {}).get("_id") == key

    return match


@pytest.mark.parametrize("removal", ["pop", "pop part", "trim", "delete"])
async def test_a_pop_trim_or_delete_whose_reply_is_lost_is_done_once(
    lossy: tuple[FaultProxy, MongoBackend, MongoBackend], removal: str
) -> None:
    """The reply to the write of the head is lost (the write ran) and, before the client sees
    its connection cut, another writer appends to the log: the write sent again finds it
    done and returns what it removed, once; the other writer's entry stays."""
    proxy, backend, other = lossy
    await backend.log_append("logs", "k", [1, 2, 3])

    async def between() -> None:
        await other.log_append("logs", "k", ["other"])

    proxy.lose_next_reply(between, to=_writes_head("k"))
    if removal == "pop":
        assert [e.value for e in await backend.log_pop("logs", "k", 5)] == [1, 2, 3]
    elif removal == "pop part":
        assert [e.value for e in await backend.log_pop("logs", "k", 2)] == [2, 3]
    elif removal == "trim":
        assert await backend.log_trim("logs", "k", keep_last=0) == 3
    else:
        assert await backend.log_delete("logs", "k") is True
    assert proxy.lost == 1
    kept = [1] if removal == "pop part" else []
    entries = await backend.log_range("logs", "k")
    assert [e.value for e in entries] == [*kept, "other"]
    assert entries[-1].seq == 4
    assert seqs(await backend.log_append("logs", "k", ["next"])) == [5]


# -- a writer killed or stopped in the middle of an append ------------------------------------


def _spawn(uri: str, prefix: str, writer: str, batches: int, size: int) -> tuple[Any, Any]:
    context = multiprocessing.get_context("spawn")
    report = context.Queue()
    process = context.Process(
        target=append_batches,
        args=(uri, DATABASE, prefix, "k", writer, batches, size, report),
    )
    process.start()
    return process, report


async def _mid_append(raw: Any, backend: MongoBackend, inserted: int, limit: float = 60) -> None:
    """Wait until a writer holds the log and has inserted ``inserted`` entries above its
    top (but not committed them)."""
    coll = documents(raw, backend)
    deadline = time.monotonic() + limit
    while True:
        head = await coll.find_one({"_id": "k"})
        if head is not None and head.get("claim") is not None:
            above = await coll.count_documents(
                {"log": "k", "seq": {"$gt": head["top"], "$lte": head["version"]}}
            )
            if above >= inserted:
                return
        assert time.monotonic() < deadline, "the writer never got halfway through an append"
        await asyncio.sleep(0.02)


def _entries_are_batches(entries: list[LogEntry]) -> dict[tuple[str, int], list[int]]:
    """The log's entries grouped by (writer, batch), each batch checked whole and
    contiguous."""
    batches: dict[tuple[str, int], list[LogEntry]] = {}
    for entry in entries:
        batches.setdefault((entry.value["w"], entry.value["b"]), []).append(entry)
    out = {}
    for name, batch in batches.items():
        assert [e.value["i"] for e in batch] == list(range(len(batch))), name
        assert seqs(batch) == list(range(batch[0].seq, batch[0].seq + len(batch))), name
        out[name] = seqs(batch)
    return out


async def test_a_writer_killed_mid_append_leaves_no_trace(
    make: Callable[..., MongoBackend], raw: Any, mongodb_uri: str, prefix: str
) -> None:
    """A process is killed while its append of 3000 entries is half inserted: readers never
    see any of them, and the next writer takes the log over once the claim is old, writes
    above the dead writer's numbers and clears what it left."""
    backend = make()
    coll = documents(raw, backend)
    await backend.log_append("logs", "k", [{"w": "first", "b": 0, "i": 0}])
    process, report = _spawn(mongodb_uri, prefix, "killed", batches=1, size=3000)
    try:
        await _mid_append(raw, backend, inserted=CHUNK_ENTRIES)
        process.kill()
        await asyncio.to_thread(process.join, 10)
    finally:
        if process.is_alive():
            process.kill()
    assert report.empty()  # never acknowledged
    head = await coll.find_one({"_id": "k"})
    assert head is not None and head["version"] == 3001 and head["top"] == 1
    assert await backend.log_length("logs", "k") == 1
    assert seqs(await backend.log_range("logs", "k")) == [1]
    assert seqs(await backend.log_range("logs", "k", reverse=True, limit=5)) == [1]

    started = time.monotonic()
    after = await backend.log_append("logs", "k", [{"w": "next", "b": 0, "i": 0}])
    waited = time.monotonic() - started
    assert after[0].seq == 3002
    assert waited > LOG_CLAIM_SECONDS / 2, "the claim of a writer just killed was taken at once"
    entries = await backend.log_range("logs", "k")
    assert seqs(entries) == [1, 3002]
    _entries_are_batches(entries)
    assert await coll.count_documents({"log": "k"}) == 3  # the head and two entries
    head = await coll.find_one({"_id": "k"})
    assert head is not None and head["dead"] == [[2, 3001]]


async def test_a_writer_stopped_mid_append_retries_after_losing_its_claim(
    make: Callable[..., MongoBackend], raw: Any, mongodb_uri: str, prefix: str
) -> None:
    """A process is stopped (SIGSTOP) halfway through an append; another writer takes the
    log over and appends; the stopped one, resumed, finds its claim gone, clears what it
    inserted and appends again: both appends are whole, once each, and nothing is left."""
    backend = make()
    coll = documents(raw, backend)
    await backend.log_append("logs", "k", [{"w": "first", "b": 0, "i": 0}])
    process, report = _spawn(mongodb_uri, prefix, "stopped", batches=1, size=3000)
    try:
        await _mid_append(raw, backend, inserted=CHUNK_ENTRIES)
        os.kill(process.pid, signal.SIGSTOP)
        mine = await backend.log_append(
            "logs", "k", [{"w": "taker", "b": 0, "i": i} for i in range(5)]
        )
        assert mine[0].seq == 3002
        os.kill(process.pid, signal.SIGCONT)
        status, *detail = await asyncio.to_thread(report.get, True, 120)
        assert status == "ok", detail[0]
        await asyncio.to_thread(process.join, 30)
    finally:
        if process.is_alive():
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
    _, theirs = detail
    assert theirs == list(range(3007, 6007))
    entries = await backend.log_range("logs", "k")
    batches = _entries_are_batches(entries)
    assert batches == {
        ("first", 0): [1],
        ("taker", 0): [3002, 3003, 3004, 3005, 3006],
        ("stopped", 0): theirs,
    }
    assert await backend.log_length("logs", "k") == 3006
    assert await coll.count_documents({"log": "k"}) == 3007
