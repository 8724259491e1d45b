"""SatchelVersionedTaskStore: the SDK's VersionedTaskStore rules on every backend, and two
server replicas sharing tasks, where a cancel through one replica must survive the other
replica's next save."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest
from a2a.server.cluster import ConcurrentTaskModificationError, TaskVersion
from a2a.types.a2a_pb2 import CancelTaskRequest, GetTaskRequest, TaskState
from a2a_samples import ctx, make_task
from a2a_server import ScriptedExecutor, send, serve

import satchel
from satchel import Conflict, InvalidArgument, Satchel
from satchel_a2a import SatchelTaskStore, SatchelVersionedTaskStore, TaskModified

CANCELED = TaskState.TASK_STATE_CANCELED


async def test_saves_follow_the_versioned_interface(store: Satchel) -> None:
    tasks = SatchelVersionedTaskStore(store=store)
    first = await tasks.save(make_task("t"), prev_version=TaskVersion.MISSING, context=ctx("ann"))
    assert not first.is_missing
    with pytest.raises(ConcurrentTaskModificationError) as caught:  # not new any more
        await tasks.save(make_task("t"), prev_version=TaskVersion.MISSING, context=ctx("ann"))
    assert isinstance(caught.value, TaskModified)
    assert isinstance(caught.value, Conflict)
    assert caught.value.task_id == "t"
    second = await tasks.save(make_task("t", text="2"), prev_version=first, context=ctx("ann"))
    assert second.is_after(first)
    with pytest.raises(ConcurrentTaskModificationError):  # a stale version
        await tasks.save(make_task("t", text="3"), prev_version=first, context=ctx("ann"))
    stored = await tasks.get("t", ctx("ann"))
    assert stored is not None
    assert (stored.version, stored.task) == (second, make_task("t", text="2"))
    assert await tasks.get("t", ctx("bob")) is None

    # a cancel overwrites a task that is not finished, whatever the version...
    canceled = make_task("t", state=CANCELED)
    third = await tasks.save(canceled, prev_version=first, context=ctx("ann"))
    assert third.is_after(second)
    # ...and is refused for a finished or a missing one
    for task_id in ("t", "missing"):
        with pytest.raises(ConcurrentTaskModificationError):
            await tasks.save(
                make_task(task_id, state=CANCELED), prev_version=third, context=ctx("ann")
            )
    page = await tasks.list(__import__("a2a").types.a2a_pb2.ListTasksRequest(), ctx("ann"))
    assert [t.id for t in page.tasks] == ["t"]
    assert await tasks.as_task_store.get("t", ctx("ann")) == canceled
    await tasks.delete("t", ctx("ann"))
    assert await tasks.get("t", ctx("ann")) is None
    with pytest.raises(InvalidArgument, match=r"^prev_version:"):
        await tasks.save(make_task("t"), prev_version=TaskVersion("x"), context=ctx("ann"))
    error = pickle.loads(pickle.dumps(caught.value))
    assert (type(error), error.task_id, str(error)) == (
        TaskModified,
        caught.value.task_id,
        str(caught.value),
    )


async def test_concurrent_cancels_and_saves_leave_it_canceled(store: Satchel) -> None:
    tasks = SatchelVersionedTaskStore(store=store)
    version = await tasks.save(make_task("t"), prev_version=TaskVersion.MISSING, context=ctx("ann"))

    async def work(n: int) -> bool:
        try:
            await tasks.save(make_task("t", text=str(n)), prev_version=version, context=ctx("ann"))
        except ConcurrentTaskModificationError:
            return False
        return True

    async def cancel() -> bool:
        try:
            await tasks.save(
                make_task("t", state=CANCELED), prev_version=version, context=ctx("ann")
            )
        except ConcurrentTaskModificationError:
            return False
        return True

    results = await asyncio.gather(work(1), cancel(), work(2), work(3))
    assert results[1] is True  # the cancel always lands on a task that is not finished
    assert sum(results) <= 2  # and at most one of the workers' saves of that version
    stored = await tasks.get("t", ctx("ann"))
    assert stored is not None
    # whichever order, the task ends canceled unless a worker saved after the cancel,
    # which its stale version forbids
    assert stored.task.status.state == CANCELED


REPLICA_BACKENDS = ["redis", "redis-cluster", "mongodb"]


class RefusalsSeen(SatchelVersionedTaskStore):
    """Counts the saves refused for a stale version."""

    refused = 0

    async def save(self, task: Any, **kwargs: Any) -> TaskVersion:
        try:
            return await super().save(task, **kwargs)
        except ConcurrentTaskModificationError:
            self.refused += 1
            raise


async def until(check: Any, what: str) -> Any:
    for _ in range(250):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"waited 5 s for {what}")


@pytest.mark.parametrize("backend", REPLICA_BACKENDS, indirect=True)
@pytest.mark.filterwarnings("ignore:A VersionedTaskStore was configured without an event_stream")
@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "plain"])
async def test_a_cancel_through_another_replica_survives(
    handle_arguments: dict[str, Any], versioned: bool
) -> None:
    """Replica A runs a slow task; replica B cancels it; then A's agent finishes. With the
    versioned store A's next save is refused and the task stays canceled; with a store that
    saves without a version check (the plain SatchelTaskStore, as the SDK's own stores do)
    A's save overwrites the cancel."""
    gate = asyncio.Event()
    async with (
        satchel.open(**handle_arguments) as handle_a,
        satchel.open(**handle_arguments) as handle_b,
    ):
        store_a = RefusalsSeen(store=handle_a) if versioned else SatchelTaskStore(store=handle_a)
        store_b: Any = (SatchelVersionedTaskStore if versioned else SatchelTaskStore)(
            store=handle_b
        )
        async with (
            serve(store_b) as replica_b,
            serve(store_a, executor=ScriptedExecutor(gate)) as replica_a,
        ):
            ann_b = replica_b("ann")

            async def state() -> int:
                return (await ann_b.get_task(GetTaskRequest(id=task.id))).status.state

            task = await send(replica_a("ann", polling=True), "slow")
            await until(lambda: _is(state(), TaskState.TASK_STATE_WORKING), "replica A to store it")
            canceled = await ann_b.cancel_task(CancelTaskRequest(id=task.id))
            assert canceled.status.state == CANCELED
            gate.set()  # replica A's agent goes on: an artifact, then completed
            if versioned:
                assert isinstance(store_a, RefusalsSeen)
                await until(lambda: _true(store_a.refused), "replica A's save to be refused")
                await asyncio.sleep(0.2)
                assert await state() == CANCELED
                final = await ann_b.get_task(GetTaskRequest(id=task.id))
                assert len(final.artifacts) == 0
            else:  # the cancel is lost
                await until(lambda: _is(state(), TaskState.TASK_STATE_COMPLETED), "the overwrite")


async def _is(value: Any, wanted: Any) -> bool:
    return bool(await value == wanted)


async def _true(value: Any) -> bool:
    return bool(value)


@pytest.mark.filterwarnings("ignore:A VersionedTaskStore was configured without an event_stream")
@pytest.mark.parametrize(
    "versioned", [True, False], ids=["VersionedDatabaseTaskStore", "DatabaseTaskStore"]
)
async def test_the_sdks_own_database_stores_lose_that_cancel(
    tmp_path: Any, versioned: bool
) -> None:
    """The same two replicas over the SDK's own database stores (SQLite, one file): the
    running replica's completion overwrites the other replica's cancel, with either store
    (what docs/a2a.md says of them)."""
    from a2a.server.cluster import VersionedDatabaseTaskStore
    from a2a.server.tasks import DatabaseTaskStore
    from sqlalchemy.ext.asyncio import create_async_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}"
    engines = [create_async_engine(url), create_async_engine(url)]
    kind: Any = VersionedDatabaseTaskStore if versioned else DatabaseTaskStore
    store_a, store_b = kind(engines[0]), kind(engines[1])
    await store_a.initialize()
    await store_b.initialize()
    gate = asyncio.Event()
    try:
        async with (
            serve(store_b) as replica_b,
            serve(store_a, executor=ScriptedExecutor(gate)) as replica_a,
        ):
            ann_b = replica_b("ann")

            async def state() -> int:
                return (await ann_b.get_task(GetTaskRequest(id=task.id))).status.state

            task = await send(replica_a("ann", polling=True), "slow")
            await until(lambda: _is(state(), TaskState.TASK_STATE_WORKING), "replica A")
            assert (await ann_b.cancel_task(CancelTaskRequest(id=task.id))).status.state == (
                CANCELED
            )
            gate.set()
            await until(lambda: _is(state(), TaskState.TASK_STATE_COMPLETED), "the overwrite")
    finally:
        for engine in engines:
            await engine.dispose()
