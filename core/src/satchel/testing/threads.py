"""Rules of the blocking API (:mod:`satchel.sync`) over a backend: one handle serves many
threads at once and loses nothing; closing it, or forgetting it, leaves no thread and no
socket behind.

:func:`threads_share_one_handle` is the many-thread scenario itself, for a test that opens
its handle otherwise (from the environment, say).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

import satchel.sync
from satchel.backend import Backend
from satchel.errors import Conflict
from satchel.settings import SatchelSettings
from satchel.sync import SyncSatchel
from satchel.testing.fixtures import CollectionNames, ConformanceFixtures, MakeBackend, open_backend

__all__ = ["SyncRules", "ThreadTask", "open_sockets", "threads_share_one_handle"]

#: Threads of the scenario, and rounds each of them runs.
THREADS = 16
ROUNDS = 4
#: Seconds a thread waits for the others at a barrier, or for the scenario to end, before
#: the scenario fails instead of hanging.
WAIT = 120.0
#: Entries each thread appends to the shared log per round, and pops from it.
APPENDS, POPS = 3, 2

SHARED = "shared"


class ThreadTask(BaseModel):
    """The task model of the scenario."""

    task_id: str
    status: str = "Running"
    counter: int = 0


class ThreadSession(BaseModel):
    """The session model of the scenario."""

    round: int


@dataclass
class _Tally:
    """What the threads report (each appends under the lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counter_versions: list[int] = field(default_factory=list)
    task_wins: list[tuple[int, int]] = field(default_factory=list)  # (round, version)
    task_conflicts: int = 0
    appended: dict[int, Any] = field(default_factory=dict)  # seq -> value
    popped: list[tuple[int, Any]] = field(default_factory=list)


def _run_thread(
    handle: SyncSatchel, i: int, rounds: int, barrier: threading.Barrier, tally: _Tally
) -> None:
    kv = handle.kv("values")  # a store view of the thread's own, over the shared handle
    tasks = handle.tasks(ThreadTask)
    logs = handle.logs("events")
    sessions = handle.sessions(ThreadSession)
    for r in range(rounds):
        # key-value: own keys, a query over them, and a compare-and-set counter
        key = f"w{i:02}-{r}"
        version = kv.set(key, {"thread": i, "round": r})
        entry = kv.get_entry(key)
        assert entry is not None, f"thread {i} round {r}: {key!r} is not there"
        assert (entry.value, entry.version) == ({"thread": i, "round": r}, version), entry
        page = kv.query({"thread": i}, order_by="round")
        assert [e.key for e in page.items] == [f"w{i:02}-{n}" for n in range(r + 1)], (
            f"thread {i} round {r}: query returned {[e.key for e in page.items]}"
        )
        while True:
            current = kv.get_entry("counter")
            assert current is not None
            assert isinstance(current.value, int)
            try:
                won = kv.set("counter", current.value + 1, expected_version=current.version)
            except Conflict:
                continue
            break
        with tally.lock:
            tally.counter_versions.append(won)

        # tasks: every thread reads the same version of one task, then all update it with
        # that expected version: exactly one wins, the others get Conflict
        barrier.wait(WAIT)
        read = tasks.load_versioned(SHARED)
        assert read is not None
        barrier.wait(WAIT)
        bumped = read.value.model_copy(update={"counter": read.value.counter + 1})
        try:
            new_version = tasks.update(bumped, expected_version=read.version)
        except Conflict:
            with tally.lock:
                tally.task_conflicts += 1
        else:
            with tally.lock:
                tally.task_wins.append((r, new_version))
        # and the thread's own task, last writer wins
        own = tasks.load(f"t{i:02}")
        assert own is not None
        assert own.counter == r
        tasks.update(own.model_copy(update={"counter": r + 1}))

        # logs: an atomic batch onto the shared log, then pops racing the other threads
        # small numbers: a backend may keep a whole log in one size-limited record
        values = [(i * 1000 + r) * 10 + n for n in range(APPENDS)]
        seqs = logs.append(SHARED, *values)
        assert seqs == list(range(seqs[0], seqs[0] + APPENDS)), f"batch not contiguous: {seqs}"
        popped = logs.pop(SHARED, POPS)
        assert len(popped) == POPS, f"thread {i} popped {len(popped)} of {POPS}"
        logs.append(f"own-{i:02}", r)
        with tally.lock:
            tally.appended.update(zip(seqs, values, strict=True))
            tally.popped.extend((item.seq, item.value) for item in popped)

        # sessions: a snapshot saved over the version read
        snapshot = sessions.load_versioned(f"s{i:02}")
        sessions.save(
            f"s{i:02}",
            ThreadSession(round=r),
            expected_version=None if snapshot is None else snapshot.version,
        )


def threads_share_one_handle(
    handle: SyncSatchel, *, threads: int = THREADS, rounds: int = ROUNDS
) -> None:
    """``threads`` threads share ``handle`` for ``rounds`` rounds of mixed operations: KV
    writes, reads, queries and a compare-and-set counter; every thread updating one task with
    the same ``expected_version`` (exactly one wins each round, the others get ``Conflict``)
    and its own task without; appends to one shared log and pops racing them; session saves.
    Then the final state is checked exactly, read back through the blocking iterators too.

    ``handle`` must be fresh: no record in its ``values`` KV namespace, ``events`` log
    store, default task store or default session store. What the scenario wrote is deleted
    at the end.
    """
    kv = handle.kv("values")
    tasks = handle.tasks(ThreadTask)
    logs = handle.logs("events")
    sessions = handle.sessions(ThreadSession)
    try:
        counter_start = kv.set("counter", 0, if_absent=True)
        task_start = tasks.create(ThreadTask(task_id=SHARED))
        own_start = [tasks.create(ThreadTask(task_id=f"t{i:02}")) for i in range(threads)]
        barrier = threading.Barrier(threads)
        tally = _Tally()

        def run(i: int) -> None:
            try:
                _run_thread(handle, i, rounds, barrier, tally)
            except BaseException:
                barrier.abort()  # the others fail at their next barrier instead of hanging
                raise

        _run_all([functools.partial(run, i) for i in range(threads)], barrier)

        _check_state(handle, threads, rounds, tally, counter_start, task_start, own_start)
    finally:
        with contextlib.suppress(Exception):
            kv.clear()
            logs.clear()
            for task_id in [SHARED, *(f"t{i:02}" for i in range(threads))]:
                with contextlib.suppress(Exception):
                    tasks.delete(task_id)
            for i in range(threads):
                sessions.delete(f"s{i:02}")


def _run_all(jobs: list[Callable[[], None]], barrier: threading.Barrier) -> None:
    """Run each job in a daemon thread of its own; raise the first error (one other than a
    broken barrier, which only says that another thread failed), or fail after
    :data:`WAIT` seconds rather than hang."""
    errors: list[BaseException | None] = [None] * len(jobs)

    def target(n: int) -> None:
        try:
            jobs[n]()
        except BaseException as exc:  # raised below, in the caller's thread
            errors[n] = exc

    workers = [
        threading.Thread(target=target, args=(n,), name=f"satchel-kit-{n}", daemon=True)
        for n in range(len(jobs))
    ]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + WAIT
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    hung = [w.name for w in workers if w.is_alive()]
    if hung:
        barrier.abort()
        raise AssertionError(f"threads still running after {WAIT:g} s (a hung call?): {hung}")
    found = [e for e in errors if e is not None]
    real = [e for e in found if not isinstance(e, threading.BrokenBarrierError)]
    if real or found:
        raise (real or found)[0]


def _check_state(
    handle: SyncSatchel,
    threads: int,
    rounds: int,
    tally: _Tally,
    counter_start: int,
    task_start: int,
    own_start: list[int],
) -> None:
    kv = handle.kv("values")
    tasks = handle.tasks(ThreadTask)
    logs = handle.logs("events")
    sessions = handle.sessions(ThreadSession)
    writes = threads * rounds

    # key-value
    expected: dict[str, Any] = {
        f"w{i:02}-{r}": {"thread": i, "round": r} for i in range(threads) for r in range(rounds)
    }
    expected["counter"] = writes
    assert dict(kv.entries(batch_size=7)) == expected, "the KV namespace holds other values"
    assert kv.count() == writes + 1
    assert kv.count({"round": rounds - 1}) == threads
    assert sorted(tally.counter_versions) == list(
        range(counter_start + 1, counter_start + writes + 1)
    ), "two increments of the counter report the same version, or one is missing"

    # tasks
    assert tally.task_conflicts == rounds * (threads - 1), (
        f"{tally.task_conflicts} updates with a stale expected_version got Conflict, "
        f"expected {rounds * (threads - 1)}; {len(tally.task_wins)} won"
    )
    assert sorted(tally.task_wins) == [(r, task_start + r + 1) for r in range(rounds)], (
        f"the winning updates per round: {sorted(tally.task_wins)}"
    )
    shared = tasks.load_versioned(SHARED)
    assert shared is not None
    assert (shared.value.counter, shared.version) == (rounds, task_start + rounds)
    for i in range(threads):
        own = tasks.load_versioned(f"t{i:02}")
        assert own is not None
        assert (own.value.counter, own.version) == (rounds, own_start[i] + rounds), own
    assert tasks.count() == threads + 1

    # logs: every popped entry unique, and popped + left == appended, exactly
    popped_seqs = [seq for seq, _ in tally.popped]
    assert len(popped_seqs) == len(set(popped_seqs)), "two pops returned the same entry"
    assert len(tally.appended) == writes * APPENDS, "two appends got the same sequence number"
    for seq, value in tally.popped:
        assert tally.appended.get(seq) == value, f"popped entry {seq} was never appended so"
    left = list(logs.items(SHARED, batch_size=5))
    left_seqs = [item.seq for item in left]
    assert left_seqs == sorted(left_seqs)
    assert len(set(left_seqs)) == len(left_seqs)
    assert set(left_seqs).isdisjoint(popped_seqs), "an entry was popped and is still there"
    assert set(left_seqs) | set(popped_seqs) == set(tally.appended), "entries were lost"
    assert all(tally.appended[item.seq] == item.value for item in left)
    assert logs.length(SHARED) == writes * (APPENDS - POPS)
    for i in range(threads):
        assert [item.value for item in logs.items(f"own-{i:02}", batch_size=3)] == list(
            range(rounds)
        )

    # sessions
    for i in range(threads):
        snapshot = sessions.load_versioned(f"s{i:02}")
        assert snapshot is not None
        assert snapshot.value.round == rounds - 1


# --------------------------------------------------------------------------------------
# leaks


def open_sockets() -> set[str] | None:
    """The sockets this process holds open (``socket:[inode]``), or ``None`` where
    ``/proc/self/fd`` does not list them."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    found = set()
    for name in names:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{name}")
            if target.startswith("socket:"):
                found.add(target)
    return found


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Whether ``check()`` becomes true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _loop_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("satchel-sync-")}


@contextlib.contextmanager
def _no_leak(what: str) -> Iterator[None]:
    """Around a block that opens blocking handles and gets rid of them: afterwards, no
    handle thread and no socket more than before is left."""
    threads, sockets = _loop_threads(), open_sockets()
    yield
    gc.collect()
    assert eventually(lambda: _loop_threads() <= threads), (
        f"{what}: a handle's thread is still running: {_loop_threads() - threads}"
    )
    if sockets is not None:
        assert eventually(lambda: (open_sockets() or set()) <= sockets), (
            f"{what}: {len((open_sockets() or set()) - sockets)} socket(s) left open"
        )


class SyncRules(ConformanceFixtures):
    """The blocking API over the backend: one :mod:`satchel.sync` handle serves 16 threads
    doing mixed operations at once, and the final state is exact (no lost write, exactly one
    winner of each version race, no entry popped twice); closing the handle, or dropping it
    unclosed, ends its thread and closes every socket it opened."""

    def _open(self, make_backend: MakeBackend, names: CollectionNames) -> SyncSatchel:
        settings = SatchelSettings.model_construct(namespace=names.tenant())
        made = asyncio.run(open_backend(make_backend))
        return satchel.sync.open(settings, backend=made)

    def test_one_blocking_handle_serves_sixteen_threads(
        self, make_backend: MakeBackend, backend: Backend, kit_collections: CollectionNames
    ) -> None:
        # ``backend`` (another client of the same store) drops the test's collections after it
        with _no_leak("after close()"), self._open(make_backend, kit_collections) as handle:
            threads_share_one_handle(handle)
            assert not handle.closed

    def test_a_forgotten_blocking_handle_releases_its_thread_and_sockets(
        self, make_backend: MakeBackend, backend: Backend, kit_collections: CollectionNames
    ) -> None:
        with _no_leak("after the unclosed handle was collected"):
            handle = self._open(make_backend, kit_collections)
            kv = handle.kv("forgotten")
            kv.set("k", 1)
            assert [k for k, _ in kv.entries()] == ["k"]
            assert kv.clear() == 1
            del handle  # the store keeps the handle's thread alive
            assert kv.get("k", "gone") == "gone"
            del kv
