"""TaskStore: the Teal Agents persistence contract, minus its defects."""

from __future__ import annotations

import asyncio
import enum
from datetime import datetime, timedelta, timezone
from typing import Literal

import pytest
from pydantic import BaseModel, Field

import satchel
from satchel import AlreadyExists, Conflict, CorruptRecord, InvalidArgument, NotFound
from satchel.stores import TaskStore


class Status(str, enum.Enum):
    RUNNING = "Running"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"


class MultiModalItem(BaseModel):
    content_type: str = "text"
    content: str


class AgentTaskItem(BaseModel):
    task_id: str
    request_id: str
    role: Literal["user", "assistant"]
    item: MultiModalItem
    updated: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class AgentTask(BaseModel):
    task_id: str
    session_id: str
    user_id: str
    items: list[AgentTaskItem] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    last_updated: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    status: Status = Status.RUNNING


def make_task(task_id: str, *request_ids: str, status: Status = Status.RUNNING) -> AgentTask:
    return AgentTask(
        task_id=task_id,
        session_id="s-1",
        user_id="u-1",
        items=[
            AgentTaskItem(
                task_id=task_id,
                request_id=rid,
                role="user",
                item=MultiModalItem(content=f"hi {rid}"),
            )
            for rid in request_ids
        ],
        status=status,
    )


@pytest.fixture
def tasks(store: satchel.Satchel) -> TaskStore[AgentTask]:
    return store.tasks(AgentTask)


async def test_create_load_update_delete(tasks: TaskStore[AgentTask]) -> None:
    task = make_task("t1", "r1")
    assert await tasks.create(task) == 1
    loaded = await tasks.load("t1")
    assert loaded == task
    assert loaded is not task
    task.status = Status.PAUSED
    assert await tasks.update(task) == 2
    assert (await tasks.load("t1")).status is Status.PAUSED  # type: ignore[union-attr]
    await tasks.delete("t1")
    assert await tasks.load("t1") is None
    assert not await tasks.exists("t1")


async def test_create_on_a_duplicate_id_raises_and_writes_nothing(
    tasks: TaskStore[AgentTask],
) -> None:
    await tasks.create(make_task("t1", "r1"))
    with pytest.raises(AlreadyExists, match="task 't1' already exists"):
        await tasks.create(make_task("t1", "r2"))
    loaded = await tasks.load("t1")
    assert loaded is not None and [i.request_id for i in loaded.items] == ["r1"]
    assert await tasks.load_by_request_id("r2") is None


async def test_update_and_delete_of_a_missing_task_raise_not_found(
    tasks: TaskStore[AgentTask],
) -> None:
    with pytest.raises(NotFound, match="task 'nope' does not exist"):
        await tasks.update(make_task("nope"))
    with pytest.raises(NotFound, match="task 'nope' does not exist"):
        await tasks.delete("nope")
    with pytest.raises(NotFound):
        await tasks.update(make_task("nope"), expected_version=1)
    assert await tasks.load("nope") is None  # update never creates


async def test_a_stale_expected_version_raises_conflict(tasks: TaskStore[AgentTask]) -> None:
    task = make_task("t1", "r1")
    await tasks.create(task)
    versioned = await tasks.load_versioned("t1")
    assert versioned is not None and versioned.version == 1
    task.status = Status.PAUSED
    assert await tasks.update(task, expected_version=1) == 2
    task.status = Status.FAILED
    with pytest.raises(Conflict) as info:
        await tasks.update(task, expected_version=1)
    assert info.value.expected == 1 and info.value.actual == 2
    assert (await tasks.load("t1")).status is Status.PAUSED  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        await tasks.delete("t1", expected_version=1)
    await tasks.delete("t1", expected_version=2)


async def test_concurrent_increments_lose_nothing(tasks: TaskStore[AgentTask]) -> None:
    await tasks.create(make_task("counter"))

    async def worker(n: int) -> None:
        for _ in range(n):
            while True:
                current = await tasks.load_versioned("counter")
                assert current is not None
                task = current.value
                task.items.append(
                    AgentTaskItem(
                        task_id="counter",
                        request_id="x",
                        role="assistant",
                        item=MultiModalItem(content="+1"),
                    )
                )
                try:
                    await tasks.update(task, expected_version=current.version)
                    break
                except Conflict:
                    await asyncio.sleep(0)

    await asyncio.gather(*(worker(25) for _ in range(8)))
    final = await tasks.load_versioned("counter")
    assert final is not None
    assert len(final.value.items) == 200
    assert final.version == 201


async def test_returned_tasks_are_the_callers_copies(tasks: TaskStore[AgentTask]) -> None:
    task = make_task("t1", "r1")
    await tasks.create(task)
    task.items.clear()  # the caller's object is not what is stored
    loaded = await tasks.load("t1")
    assert loaded is not None and len(loaded.items) == 1
    loaded.items.clear()
    again = await tasks.load("t1")
    assert again is not None and len(again.items) == 1


async def test_load_by_request_id_finds_the_task_of_any_item(tasks: TaskStore[AgentTask]) -> None:
    await tasks.create(make_task("t1", "r1", "r2"))
    await tasks.create(make_task("t2", "r3"))
    assert (await tasks.load_by_request_id("r2")).task_id == "t1"  # type: ignore[union-attr]
    assert (await tasks.load_by_request_id("r3")).task_id == "t2"  # type: ignore[union-attr]
    assert await tasks.load_by_request_id("r9") is None


async def test_load_by_request_id_returns_the_most_recently_updated(
    tasks: TaskStore[AgentTask],
) -> None:
    await tasks.create(make_task("t-b", "shared"))
    await asyncio.sleep(0.002)
    await tasks.create(make_task("t-a", "shared"))
    assert (await tasks.load_by_request_id("shared")).task_id == "t-a"  # type: ignore[union-attr]
    await asyncio.sleep(0.002)
    await tasks.update(make_task("t-b", "shared"))
    assert (await tasks.load_by_request_id("shared")).task_id == "t-b"  # type: ignore[union-attr]
    found = await tasks.find("request_id", "shared")
    assert [t.task_id for t in found] == ["t-b", "t-a"]


async def test_load_by_request_id_skips_expired_matches(tasks: TaskStore[AgentTask]) -> None:
    await tasks.create(make_task("old", "shared"))
    await asyncio.sleep(0.002)
    await tasks.create(make_task("new", "shared"), ttl=0.4)  # long enough for a slow machine
    assert (await tasks.load_by_request_id("shared")).task_id == "new"  # type: ignore[union-attr]
    await asyncio.sleep(0.45)
    assert (await tasks.load_by_request_id("shared")).task_id == "old"  # type: ignore[union-attr]


async def test_update_replaces_index_entries(tasks: TaskStore[AgentTask]) -> None:
    await tasks.create(make_task("t1", "r1"))
    await tasks.update(make_task("t1", "r2"))
    assert await tasks.load_by_request_id("r1") is None
    assert (await tasks.load_by_request_id("r2")).task_id == "t1"  # type: ignore[union-attr]


async def test_custom_indexes(store: satchel.Satchel) -> None:
    tasks = store.tasks(AgentTask, indexes={"user": lambda t: [t.user_id]})
    await tasks.create(make_task("t1"))
    assert [t.task_id for t in await tasks.find("user", "u-1")] == ["t1"]
    with pytest.raises(InvalidArgument, match="index: 'session' is not declared"):
        await tasks.find("session", "s-1")
    bad = store.tasks(AgentTask, name="bad", indexes={"user": lambda t: [None]})
    with pytest.raises(InvalidArgument, match=r"indexes\['user'\]"):
        await bad.create(make_task("t1"))
    assert not await bad.exists("t1")


async def test_list_by_status_with_paging(tasks: TaskStore[AgentTask]) -> None:
    for i in range(5):
        await tasks.create(make_task(f"t{i}", status=Status.RUNNING if i % 2 else Status.PAUSED))
        await asyncio.sleep(0.002)
    page = await tasks.list()
    assert [t.task_id for t in page] == ["t4", "t3", "t2", "t1", "t0"]  # most recent first
    assert page.next_cursor is None
    running = await tasks.list(status=Status.RUNNING)
    assert [t.task_id for t in running] == ["t3", "t1"]
    assert [t.task_id for t in await tasks.list(status=["Paused"])] == ["t4", "t2", "t0"]
    first = await tasks.list(limit=2)
    assert [t.task_id for t in first] == ["t4", "t3"]
    second = await tasks.list(limit=2, cursor=first.next_cursor)
    third = await tasks.list(limit=2, cursor=second.next_cursor)
    assert [t.task_id for t in second] == ["t2", "t1"]
    assert [t.task_id for t in third] == ["t0"] and third.next_cursor is None
    assert await tasks.count() == 5
    assert await tasks.count(status="Paused") == 3


async def test_cleanup_removes_old_finished_tasks_only(tasks: TaskStore[AgentTask]) -> None:
    await tasks.create(make_task("done", status=Status.COMPLETED))
    await tasks.create(make_task("failed", status=Status.FAILED))
    await tasks.create(make_task("running", status=Status.RUNNING))
    assert await tasks.cleanup(older_than=timedelta(hours=1)) == 0  # too recent
    await asyncio.sleep(0.01)
    assert await tasks.cleanup(older_than=timedelta(0)) == 2
    assert [t.task_id for t in await tasks.list()] == ["running"]
    with pytest.raises(InvalidArgument, match="older_than"):
        await tasks.cleanup(older_than=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="older_than"):
        await tasks.cleanup(older_than=timedelta(seconds=-1))


async def test_bad_input_names_the_argument(
    store: satchel.Satchel, tasks: TaskStore[AgentTask]
) -> None:
    with pytest.raises(InvalidArgument, match="task: must be a AgentTask"):
        await tasks.create({"task_id": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"task.task_id: must not be empty"):
        await tasks.create(make_task(""))
    with pytest.raises(InvalidArgument, match="task_id: must be a string"):
        await tasks.load(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="ttl: must be a positive number"):
        await tasks.create(make_task("t1"), ttl=-1)
    with pytest.raises(InvalidArgument, match="expected_version"):
        await tasks.update(make_task("t1"), expected_version=0)
    with pytest.raises(InvalidArgument, match="limit"):
        await tasks.list(limit=-1)
    with pytest.raises(InvalidArgument, match="id_field"):
        store.tasks(AgentTask, id_field="id")
    with pytest.raises(InvalidArgument, match="model"):
        store.tasks(dict)  # type: ignore[type-var]
    assert await tasks.count() == 0


async def test_a_stored_value_that_is_not_a_task_is_a_corrupt_record(
    store: satchel.Satchel, tasks: TaskStore[AgentTask]
) -> None:
    await store.backend.put(satchel.Record(tasks.collection, "bad", {"task_id": "bad"}))
    with pytest.raises(CorruptRecord, match="task 'bad'"):
        await tasks.load("bad")


async def test_tasks_expire_with_their_ttl(store: satchel.Satchel) -> None:
    tasks = store.tasks(AgentTask, ttl=0.4)
    await tasks.create(make_task("t1", "r1"))
    assert await tasks.exists("t1")
    await asyncio.sleep(0.45)
    assert await tasks.load("t1") is None
    assert await tasks.load_by_request_id("r1") is None
    await tasks.create(make_task("t1", "r1"))  # gone means gone: create works again


async def test_stores_with_different_names_are_isolated(store: satchel.Satchel) -> None:
    a = store.tasks(AgentTask, name="a")
    b = store.tasks(AgentTask, name="b")
    await a.create(make_task("t1", "r1"))
    assert await b.load("t1") is None
    assert await b.load_by_request_id("r1") is None
    assert "TaskStore 'a'" in repr(a)


async def test_cleanup_with_no_age_takes_tasks_finished_this_millisecond(
    tasks: TaskStore[AgentTask],
) -> None:
    for i in range(20):
        await tasks.create(make_task(f"t{i}", status=Status.COMPLETED))
        assert await tasks.cleanup(older_than=timedelta(0)) == 1


async def test_save_creates_or_replaces_whatever_is_stored(tasks: TaskStore[AgentTask]) -> None:
    assert await tasks.save(make_task("t1", "r1")) == 1  # created
    first = await tasks.load_versioned("t1")
    assert first is not None and first.version == 1
    await asyncio.sleep(0.002)
    replaced = make_task("t1", "r2", status=Status.PAUSED)
    assert await tasks.save(replaced) == 2  # replaced, no version asked for
    second = await tasks.load_versioned("t1")
    assert second is not None and second.value == replaced and second.version == 2
    assert second.created_at == first.created_at  # a replace keeps the creation time
    assert second.updated_at > first.updated_at  # type: ignore[operator]
    # the index entries are the saved task's own
    assert await tasks.load_by_request_id("r1") is None
    assert (await tasks.load_by_request_id("r2")).task_id == "t1"  # type: ignore[union-attr]
    # unconditional: a concurrent change is overwritten, not refused
    await tasks.update(make_task("t1", "r3"), expected_version=2)
    assert await tasks.save(make_task("t1", "r4")) == 4
    assert [i.request_id for i in (await tasks.load("t1")).items] == ["r4"]  # type: ignore[union-attr]
    # after a delete, save creates again (at a version never held before)
    await tasks.delete("t1")
    again = make_task("t1")
    assert await tasks.save(again) > 4
    assert await tasks.load("t1") == again


async def test_save_takes_the_ttl_as_create_and_update_do(store: satchel.Satchel) -> None:
    tasks = store.tasks(AgentTask, ttl=0.4)
    await tasks.save(make_task("default", "r1"))
    await tasks.save(make_task("forever", "r2"), ttl=None)
    await tasks.save(make_task("given", "r3"), ttl=timedelta(seconds=30))
    default, forever, given = [
        await tasks.load_versioned(k) for k in ("default", "forever", "given")
    ]
    assert default is not None and default.expires_at is not None
    assert forever is not None and forever.expires_at is None
    assert given is not None and given.expires_at is not None
    assert given.expires_at - given.updated_at > timedelta(seconds=29)  # type: ignore[operator]
    await asyncio.sleep(0.45)
    assert await tasks.load("default") is None
    assert await tasks.load_by_request_id("r1") is None
    assert await tasks.load_by_request_id("r2") is not None
    # a replace without a ttl takes the store's default again: the task expires
    await tasks.save(make_task("forever", "r2"))
    assert (await tasks.load_versioned("forever")).expires_at is not None  # type: ignore[union-attr]


async def test_save_refuses_bad_input_and_writes_nothing(
    store: satchel.Satchel, tasks: TaskStore[AgentTask]
) -> None:
    await tasks.save(make_task("keep", "r1"))
    with pytest.raises(InvalidArgument, match="task: must be a AgentTask"):
        await tasks.save({"task_id": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"task.task_id: must not be empty"):
        await tasks.save(make_task(""))
    with pytest.raises(InvalidArgument, match="ttl: must be a positive number"):
        await tasks.save(make_task("keep", "r2"), ttl=-1)
    with pytest.raises(TypeError):
        await tasks.save(make_task("keep"), expected_version=1)  # type: ignore[call-arg]
    bad = store.tasks(AgentTask, indexes={"user": lambda t: [None]})
    with pytest.raises(InvalidArgument, match=r"indexes\['user'\]"):
        await bad.save(make_task("keep", "r3"))
    loaded = await tasks.load_versioned("keep")
    assert loaded is not None and loaded.version == 1
    assert [i.request_id for i in loaded.value.items] == ["r1"]


async def test_versioned_listing_and_finding_carry_the_metadata(
    tasks: TaskStore[AgentTask],
) -> None:
    await tasks.create(make_task("t1", "r1"))
    await asyncio.sleep(0.002)
    await tasks.create(make_task("t2", "r1"))
    await tasks.update(make_task("t2", "r1", status=Status.PAUSED))
    page = await tasks.list_versioned()
    assert [(v.key, v.version) for v in page] == [("t2", 2), ("t1", 1)]
    assert all(isinstance(v.value, AgentTask) and v.updated_at is not None for v in page)
    assert [v.key for v in await tasks.list_versioned(status="Paused")] == ["t2"]
    found = await tasks.find_versioned("request_id", "r1")
    assert [(v.key, v.version) for v in found] == [("t2", 2), ("t1", 1)]
    # the order load_by_request_id chooses by
    assert (await tasks.find_versioned("request_id", "r1", limit=1))[0].key == (
        await tasks.load_by_request_id("r1")
    ).task_id  # type: ignore[union-attr]


async def test_stale_lists_what_cleanup_deletes(tasks: TaskStore[AgentTask]) -> None:
    await tasks.create(make_task("done", status=Status.COMPLETED))
    await asyncio.sleep(0.002)
    await tasks.create(make_task("failed", status=Status.FAILED))
    await tasks.create(make_task("running", status=Status.RUNNING))
    assert await tasks.stale(timedelta(hours=1)) == []
    await asyncio.sleep(0.01)
    stale = await tasks.stale(timedelta(0))
    assert [(v.key, v.version) for v in stale] == [("done", 1), ("failed", 1)]  # oldest first
    assert [v.key for v in await tasks.stale(timedelta(0), statuses=["Running"])] == ["running"]
    assert len(await tasks.stale(timedelta(0), statuses=None)) == 3  # any status
    assert await tasks.count() == 3  # stale removes nothing
    assert await tasks.cleanup(timedelta(0), statuses=None) == 3
    with pytest.raises(InvalidArgument, match="older_than"):
        await tasks.stale(timedelta(seconds=-1))


async def test_any_task_reads_every_task_as_its_json(
    store: satchel.Satchel, tasks: TaskStore[AgentTask]
) -> None:
    from satchel.stores.tasks import AnyTask

    task = make_task("t1", "r1", status=Status.COMPLETED)
    await tasks.create(task)
    plain = store.tasks(AnyTask)
    assert plain.collection == tasks.collection and plain.status_field == "status"
    found = await plain.load_versioned("t1")
    assert found is not None and found.version == 1
    # every field, in the order it was stored
    assert found.value.model_dump(mode="json") == task.model_dump(mode="json")
    assert list(found.value.model_dump()) == list(AgentTask.model_fields)
    assert [t.key for t in await plain.list_versioned(status="Completed")] == ["t1"]
    assert (await plain.find_versioned("request_id", "r1"))[0].key == "t1"
    other = store.tasks(AnyTask, id_field="id", status_field="state")
    assert other.status_field == "state"
    with pytest.raises(InvalidArgument, match=r"task\.id"):
        await other.create(AnyTask())
