"""SatchelTaskStore listings through the ranking kept beside the tasks: saves while paging,
entries that are not current (skipped), failed and concurrent writes (no entry left over),
deletes, tasks stored before rankings, and page tokens of the earlier form."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Awaitable, Generator
from typing import Any

import pytest
from a2a.types.a2a_pb2 import ListTasksRequest, Task, TaskState
from a2a_samples import ctx, make_task
from google.protobuf.json_format import MessageToDict
from test_task_store import OperationCounter

import satchel
from satchel import BackendUnavailable, Operation, Satchel, hookimpl
from satchel_a2a import InvalidListRequest, SatchelTaskStore
from satchel_a2a.listing import base_rank, group_of


async def listing(tasks: SatchelTaskStore, owner: str, page_size: int) -> list[list[Task]]:
    """Every page of the owner's whole listing."""
    pages: list[list[Task]] = []
    params = ListTasksRequest(page_size=page_size)
    while True:
        page = await tasks.list(params, ctx(owner))
        pages.append(list(page.tasks))
        if not page.next_page_token:
            return pages
        params.page_token = page.next_page_token
        await asyncio.sleep(0)  # let other tasks run (the memory backend never waits)


async def entry_keys(tasks: SatchelTaskStore) -> list[str]:
    return [key for key in await tasks.ranking.kv.keys() if "/" in key]


async def test_saves_while_paging_leave_the_untouched_tasks_listed_once_in_order(
    store: Satchel,
) -> None:
    tasks = SatchelTaskStore(store=store)
    for n in range(30):
        await tasks.save(make_task(f"keep-{n:02}", time=(1_700_000_000 + 2 * n, 0)), ctx("ann"))
    busy = [f"busy-{n}" for n in range(4)]
    for task_id in busy:
        await tasks.save(make_task(task_id), ctx("ann"))
    saved: dict[str, set[tuple[int, int]]] = {t: {(1_700_000_000, 0)} for t in busy}
    rng = random.Random(5)
    stop, under_way = asyncio.Event(), asyncio.Event()
    writes = 0

    async def writer(task_id: str) -> None:
        while not stop.is_set():
            second = 1_700_000_000 + rng.randrange(70)  # anywhere among the kept tasks
            saved[task_id].add((second, 1))
            await tasks.save(make_task(task_id, time=(second, 1)), ctx("ann"))
            nonlocal writes
            writes += 1
            if writes >= len(busy):
                under_way.set()
            await asyncio.sleep(0)

    writers = [asyncio.create_task(writer(task_id)) for task_id in busy]
    try:
        await under_way.wait()
        start = writes
        for _ in range(3):
            pages = await listing(tasks, "ann", 4)
            listed = [t for page in pages for t in page]
            kept = [t.id for t in listed if t.id.startswith("keep-")]
            assert kept == [f"keep-{n:02}" for n in reversed(range(30))]
            for page in pages:
                assert len({t.id for t in page}) == len(page)  # no entry shown twice
            for task in listed:  # each busy task as one of its saves wrote it
                if task.id in saved:
                    time = task.status.timestamp
                    assert (time.seconds, time.nanos) in saved[task.id]
        assert writes > start  # the listings ran beside saves
    finally:
        stop.set()
        await asyncio.gather(*writers)
    # at rest: one entry per task, and the listing is the SDK's order
    assert len(await entry_keys(tasks)) == 34
    whole = [t for page in await listing(tasks, "ann", 50) for t in page]
    assert len(whole) == 34
    order = [(t.status.timestamp.ToNanoseconds(), t.id) for t in whole]
    assert order == sorted(order, reverse=True)


async def test_concurrent_saves_of_one_task_leave_its_one_entry(
    handle_arguments: dict[str, Any], backend: str
) -> None:
    async with (
        satchel.open(**handle_arguments) as one,
        satchel.open(**handle_arguments) as other,
    ):
        two = one if backend == "memory" else other  # a memory handle keeps its own records
        stores = [SatchelTaskStore(store=one), SatchelTaskStore(store=two)]
        await asyncio.gather(
            *(
                stores[n % 2].save(make_task("t", time=(1_700_000_000 + n, 0)), ctx("ann"))
                for n in range(8)
            )
        )
        stored = await stores[0].get("t", ctx("ann"))
        assert stored is not None
        assert len(await entry_keys(stores[0])) == 1
        page = await stores[1].list(ListTasksRequest(), ctx("ann"))
        assert list(page.tasks) == [stored]


async def test_entries_that_are_not_current_are_skipped_and_pages_stay_full(
    store: Satchel,
) -> None:
    tasks = SatchelTaskStore(store=store)
    for n in range(8):
        await tasks.save(make_task(f"t-{n}", time=(1_700_000_000 + n, 0)), ctx("ann"))
    await tasks.list(ListTasksRequest(), ctx("ann"))
    group = group_of("ann")
    # a writer that stopped after placing its entry (at the top of the listing), a removed
    # task's entry left by a writer that stopped before removing it, and an entry that
    # claims another context for a task: none is the rank its record names
    await tasks.ranking.place(
        group,
        base_rank("t-3", "2030-01-01T00:00:00.000000000Z"),
        {"id": "t-3", "context_id": "ctx-1", "state": 3},
    )
    await tasks.ranking.place(
        group,
        base_rank("gone", "2029-01-01T00:00:00.000000000Z"),
        {"id": "gone", "context_id": "ctx-1", "state": 3},
    )
    await tasks.ranking.place(
        group, base_rank("t-5", None) + "0" * 16, {"id": "t-5", "context_id": "other", "state": 3}
    )
    pages = await listing(tasks, "ann", 3)
    assert [[t.id for t in page] for page in pages] == [
        ["t-7", "t-6", "t-5"],
        ["t-4", "t-3", "t-2"],
        ["t-1", "t-0"],
    ]
    other = await tasks.list(ListTasksRequest(context_id="other"), ctx("ann"))
    assert (list(other.tasks), other.total_size) == ([], 0)


class FailingTaskWrites:
    """Makes the next task write fail (as a server that went away would)."""

    def __init__(self) -> None:
        self.armed = False

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        if self.armed and operation.name == "put" and "ranks" not in str(operation.collection):
            self.armed = False
            raise BackendUnavailable("the server went away")
        return (yield)


async def test_a_failed_write_withdraws_its_entry(handle_arguments: dict[str, Any]) -> None:
    failing = FailingTaskWrites()
    async with satchel.open(**handle_arguments, plugins=[failing]) as handle:
        tasks = SatchelTaskStore(store=handle)
        await tasks.save(make_task("t", time=(1_700_000_000, 0)), ctx("ann"))
        before = await entry_keys(tasks)
        failing.armed = True
        with pytest.raises(BackendUnavailable):
            await tasks.save(make_task("t", time=(1_800_000_000, 0)), ctx("ann"))
        failing.armed = True
        with pytest.raises(BackendUnavailable):
            await tasks.save(make_task("new"), ctx("ann"))
        assert await entry_keys(tasks) == before
        page = await tasks.list(ListTasksRequest(), ctx("ann"))
        assert [(t.id, t.status.timestamp.seconds) for t in page.tasks] == [("t", 1_700_000_000)]


async def test_deleted_tasks_are_not_listed_and_leave_no_entry(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    for n in range(5):
        await tasks.save(make_task(f"t-{n}", time=(1_700_000_000 + n, 0)), ctx("ann"))
        await tasks.save(make_task(f"t-{n}", time=(1_700_000_000 + n, 0)), ctx("bob"))
    await tasks.delete("t-2", ctx("ann"))
    await tasks.delete("t-4", ctx("ann"))
    await tasks.delete("missing", ctx("ann"))
    assert [t.id for p in await listing(tasks, "ann", 2) for t in p] == ["t-3", "t-1", "t-0"]
    assert [t.id for p in await listing(tasks, "bob", 2) for t in p][:2] == ["t-4", "t-3"]
    assert len(await entry_keys(tasks)) == 8


def old_form(owner: str, task: Task) -> dict[str, Any]:
    """A task record as the store wrote it before rankings."""
    value: dict[str, Any] = {"owner": owner}
    if task.status.HasField("timestamp"):
        seconds = task.status.timestamp.seconds
        value["status_time"] = f"2023-11-14T22:13:{seconds - 1_699_999_980:02d}.000000000Z"
    value["task"] = MessageToDict(task)
    return value


async def test_tasks_stored_before_rankings_are_listed(store: Satchel) -> None:
    earlier = SatchelTaskStore(store=store)
    for n in range(6):
        task = make_task(f"old-{n}", context_id=f"c{n % 2}", time=(1_700_000_000 + n, 0))
        await earlier.kv.set(f"ann/old-{n}", old_form("ann", task))
    await earlier.kv.set("bob/none", old_form("bob", make_task("none", time=None)))
    tasks = SatchelTaskStore(store=store)  # a store of this version, on those records
    await tasks.save(make_task("new", time=(1_700_000_003, 5)), ctx("ann"))
    assert [t.id for p in await listing(tasks, "ann", 4) for t in p] == [
        "old-5",
        "old-4",
        "new",
        "old-3",
        "old-2",
        "old-1",
        "old-0",
    ]
    filtered = await tasks.list(ListTasksRequest(context_id="c1"), ctx("ann"))
    assert [t.id for t in filtered.tasks] == ["old-5", "old-3", "old-1"]
    assert [t.id for t in (await tasks.list(ListTasksRequest(), ctx("bob"))).tasks] == ["none"]
    # a save of an old task replaces the entry it was ranked by
    await tasks.save(make_task("old-0", time=(1_700_000_009, 0)), ctx("ann"))
    assert len(await entry_keys(tasks)) == 8
    assert (await tasks.list(ListTasksRequest(page_size=1), ctx("ann"))).tasks[0].id == "old-0"
    # once ranked, a store does not walk the records again; rank_stored_tasks does
    await earlier.kv.set("ann/late", old_form("ann", make_task("late", time=(1_700_000_001, 0))))
    assert "late" not in [t.id for p in await listing(tasks, "ann", 50) for t in p]
    # (it places the entry of each record still in the earlier form: 6 and the late one)
    assert await SatchelTaskStore(store=store).rank_stored_tasks() == 7
    assert "late" in [t.id for p in await listing(tasks, "ann", 50) for t in p]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_a_page_token_of_the_earlier_form_is_refused_clearly(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    for n in range(3):
        await tasks.save(make_task(f"t-{n}"), ctx("ann"))
    earlier = (
        base64.urlsafe_b64encode(
            json.dumps(
                ["0123abcd", [[2, "2023-11-14T22:13:20.000000000Z"], [2, "ann/t-2"]], "ann/t-2"]
            ).encode()
        )
        .decode()
        .rstrip("=")
    )
    with pytest.raises(InvalidListRequest, match=r"^page_token: .*earlier form"):
        await tasks.list(ListTasksRequest(page_token=earlier), ctx("ann"))
    page = await tasks.list(ListTasksRequest(page_size=1), ctx("ann"))
    with pytest.raises(InvalidListRequest, match=r"^page_token: "):  # another owner's
        await tasks.list(ListTasksRequest(page_size=1, page_token=page.next_page_token), ctx("bob"))


async def test_a_save_that_keeps_the_entry_is_one_stage_and_a_stale_one_leaves_nothing(
    handle_arguments: dict[str, Any], backend: str
) -> None:
    counter = OperationCounter()
    async with (
        satchel.open(**handle_arguments, plugins=[counter]) as one,
        satchel.open(**handle_arguments) as other,
    ):
        mine = SatchelTaskStore(store=one)
        theirs = SatchelTaskStore(store=one if backend == "memory" else other)  # a replica
        task = make_task("t", time=(1_700_000_000, 0))
        await mine.save(task, ctx("ann"))
        # more history, same status: the task is written over the version this store saved,
        # beside its entry (renewed): two writes at once, nothing read, nothing removed
        task.history.append(task.history[0])
        counter.names = []
        await mine.save(task, ctx("ann"))
        assert counter.names == ["put", "put"]
        # another replica moves the task; this store's next save finds another version,
        # leaves no entry of its own behind, and saves over the replica's
        await theirs.save(make_task("t", state=TaskState.TASK_STATE_INPUT_REQUIRED), ctx("ann"))
        task.history.append(task.history[0])
        await mine.save(task, ctx("ann"))
        assert len(await entry_keys(mine)) == 1
        page = await theirs.list(ListTasksRequest(), ctx("ann"))
        assert list(page.tasks) == [task]
        assert (await theirs.list(ListTasksRequest(status=task.status.state), ctx("ann"))).tasks
        # a replica's save over the same version with the same entry: both keep it
        await theirs.get("t", ctx("ann"))
        await asyncio.gather(mine.save(task, ctx("ann")), theirs.save(task, ctx("ann")))
        assert len(await entry_keys(mine)) == 1
        assert list((await mine.list(ListTasksRequest(), ctx("ann"))).tasks) == [task]


class FailingRankWrites:
    """Makes the next ``count`` operations ``name`` on the ranking namespace fail, with a
    message that must not reach the logs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        if self.count and operation.name == self.name and "ranks" in str(operation.collection):
            self.count -= 1
            raise BackendUnavailable("redis://:hunter2@db went away")
        return (yield)


async def test_a_step_after_the_write_does_not_fail_the_save(
    handle_arguments: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    failing = FailingRankWrites("delete")
    async with satchel.open(**handle_arguments, plugins=[failing]) as handle:
        tasks = SatchelTaskStore(store=handle)
        await tasks.save(make_task("t", time=(1_700_000_000, 0)), ctx("ann"))
        await tasks.save(make_task("gone", time=(1_600_000_000, 0)), ctx("ann"))
        # the save lands, then removing the previous entry fails: the save succeeded, and
        # the entry left over is skipped
        failing.count = 1
        moved = make_task("t", time=(1_800_000_000, 0))
        await tasks.save(moved, ctx("ann"))
        assert await tasks.get("t", ctx("ann")) == moved
        failing.count = 1
        await tasks.delete("gone", ctx("ann"))  # likewise for a delete
        assert await tasks.get("gone", ctx("ann")) is None
        assert len(await entry_keys(tasks)) == 3
        assert [t.id for p in await listing(tasks, "ann", 1) for t in p] == ["t"]
    assert "hunter2" not in caplog.text and "went away" not in caplog.text
    assert caplog.text.count("BackendUnavailable") == 2


async def test_a_failed_renewal_beside_a_write_that_landed(
    handle_arguments: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    failing = FailingRankWrites("put")
    async with satchel.open(**handle_arguments, plugins=[failing]) as handle:
        # entries that never expire: the renewal fails beside the write (one stage) and
        # again after it, but the entry is there, the task stays listed, the save succeeds
        forever = SatchelTaskStore(store=handle, ttl=None, namespace="forever")
        task = make_task("t")
        await forever.save(task, ctx("ann"))
        task.history.append(task.history[0])
        failing.count = 2
        await forever.save(task, ctx("ann"))
        assert list((await forever.list(ListTasksRequest(), ctx("ann"))).tasks) == [task]
        assert "hunter2" not in caplog.text and "BackendUnavailable" in caplog.text
        # entries that expire: the renewal is tried again after the write, so that the
        # entry outlives the task...
        brief = SatchelTaskStore(store=handle, ttl=60, namespace="brief")
        await brief.save(task, ctx("ann"))
        task.history.append(task.history[0])
        failing.count = 1
        await brief.save(task, ctx("ann"))
        assert list((await brief.list(ListTasksRequest(), ctx("ann"))).tasks) == [task]
        await assert_entries_outlive_tasks(brief)
        # ...and when that fails too, the save says so, although the task was written
        task.history.append(task.history[0])
        failing.count = 2
        with pytest.raises(BackendUnavailable):
            await brief.save(task, ctx("ann"))
        assert await brief.get("t", ctx("ann")) == task


async def assert_entries_outlive_tasks(tasks: SatchelTaskStore) -> None:
    """Each task's entry expires after the task, by the margin (up to a minute more)."""
    for key in await entry_keys(tasks):
        entry = await tasks.ranking.kv.get_entry(key)
        assert entry is not None and isinstance(entry.value, dict)
        record = await tasks.kv.get_entry(f"{key.split('/')[0]}/{entry.value['id']}")
        assert record is not None
        if record.expires_at is None:
            assert entry.expires_at is None
            continue
        assert entry.expires_at is not None
        assert 290 < (entry.expires_at - record.expires_at).total_seconds() <= 360


async def test_entries_outlive_their_tasks(store: Satchel) -> None:
    assert SatchelTaskStore(store=store, ttl=None).ranking.kv.default_ttl is None
    tasks = SatchelTaskStore(store=store, ttl=60)
    assert tasks.ranking.kv.default_ttl == 60 + 300
    task = make_task("t")
    await tasks.save(task, ctx("ann"))  # the entry placed before the write
    await assert_entries_outlive_tasks(tasks)
    task.history.append(task.history[0])
    await tasks.save(task, ctx("ann"))  # the entry renewed beside the write
    await assert_entries_outlive_tasks(tasks)
    await tasks.save(make_task("t", time=(1_800_000_000, 0)), ctx("ann"))  # a new entry
    await assert_entries_outlive_tasks(tasks)


async def test_stored_tasks_are_ranked_with_their_own_expiry(store: Satchel) -> None:
    earlier = SatchelTaskStore(store=store)
    # written by an earlier version with other TTLs than this store's
    await earlier.kv.set("ann/long", old_form("ann", make_task("long")), ttl=10_000)
    await earlier.kv.set("ann/short", old_form("ann", make_task("short")), ttl=30)
    await earlier.kv.set("ann/ever", old_form("ann", make_task("ever")), ttl=None)
    tasks = SatchelTaskStore(store=store, ttl=60)
    listed = [t.id for p in await listing(tasks, "ann", 50) for t in p]
    assert sorted(listed) == ["ever", "long", "short"]
    await assert_entries_outlive_tasks(tasks)


class CountingScans:
    """Counts the queries of the task records (not of the ranking), each held a little
    (so that the other listings reach the records meanwhile, on every backend)."""

    def __init__(self) -> None:
        self.scans = 0

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        if operation.name != "query" or "ranks" in str(operation.collection):
            return inner
        self.scans += 1

        async def held() -> Any:
            await asyncio.sleep(0.05)
            return await inner

        return held()


async def test_first_listings_at_once_rank_the_stored_tasks_once(
    handle_arguments: dict[str, Any],
) -> None:
    counter = CountingScans()
    async with satchel.open(**handle_arguments, plugins=[counter]) as handle:
        earlier = SatchelTaskStore(store=handle)
        for n in range(3):
            await earlier.kv.set(f"ann/old-{n}", old_form("ann", make_task(f"old-{n}")))
        stores = [SatchelTaskStore(store=handle) for _ in range(4)]
        pages = await asyncio.gather(
            *(s.list(ListTasksRequest(), ctx("ann")) for s in [*stores, stores[0]])
        )
        assert [len(p.tasks) for p in pages] == [3] * 5
        assert counter.scans == 1
