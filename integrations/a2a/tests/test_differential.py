"""The same random operations on a :class:`SatchelTaskStore` (memory, Redis standalone and
Cluster, MongoDB) and on the SDK's ``InMemoryTaskStore``, result by result; and the same for
the push notification config stores.

The release ships no tests of its own stores to run against satchel's, so the SDK's
in-memory stores are the reference. Listings compare tasks, order, ``total_size``,
``page_size`` and whether a next page exists; each store pages with its own tokens.
Configs compare as sets: the SDK's in-memory store returns them in the order they were
set, satchel's by config id (the interface names no order).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from a2a.server.tasks import InMemoryPushNotificationConfigStore, InMemoryTaskStore, TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, TaskPushNotificationConfig
from a2a_samples import OWNERS, TASK_IDS, ctx, make_config, random_listing, random_task

from satchel import Satchel
from satchel_a2a import SatchelPushNotificationConfigStore, SatchelTaskStore


def same_page(ours: ListTasksResponse, theirs: ListTasksResponse, step: str) -> None:
    assert list(ours.tasks) == list(theirs.tasks), step
    assert [t.id for t in ours.tasks] == [t.id for t in theirs.tasks], step
    assert (ours.total_size, ours.page_size) == (theirs.total_size, theirs.page_size), step
    assert bool(ours.next_page_token) == bool(theirs.next_page_token), step


async def every_page(
    ours: SatchelTaskStore, theirs: TaskStore, params: ListTasksRequest, owner: str
) -> None:
    """Page through a listing on both stores, each with its own tokens."""
    ours_params, theirs_params = ListTasksRequest(), ListTasksRequest()
    ours_params.CopyFrom(params)
    theirs_params.CopyFrom(params)
    for page in range(100):
        mine = await ours.list(ours_params, ctx(owner))
        reference = await theirs.list(theirs_params, ctx(owner))
        same_page(mine, reference, f"{params} page {page} of owner {owner!r}")
        if not reference.next_page_token:
            return
        ours_params.page_token = mine.next_page_token
        theirs_params.page_token = reference.next_page_token
    raise AssertionError("listing did not end")


@pytest.mark.parametrize("seed", [1, 2])
async def test_task_store_agrees_with_the_sdks_in_memory_store(store: Satchel, seed: int) -> None:
    rng = random.Random(seed)
    ours, theirs = SatchelTaskStore(store=store), InMemoryTaskStore()
    for step in range(120):
        owner = rng.choice(OWNERS)
        roll = rng.random()
        if roll < 0.45:
            task = random_task(rng)
            await ours.save(task, ctx(owner))
            await theirs.save(task, ctx(owner))
        elif roll < 0.6:
            task_id = rng.choice(TASK_IDS)
            mine = await ours.get(task_id, ctx(owner))
            assert mine == await theirs.get(task_id, ctx(owner)), f"step {step}"
        elif roll < 0.7:
            task_id = rng.choice(TASK_IDS)
            await ours.delete(task_id, ctx(owner))
            await theirs.delete(task_id, ctx(owner))
        elif roll < 0.9:
            params = random_listing(rng)
            same_page(
                await ours.list(params, ctx(owner)),
                await theirs.list(params, ctx(owner)),
                f"step {step}: {params}",
            )
        else:
            await every_page(ours, theirs, random_listing(rng), owner)
    for owner in OWNERS:  # at the end, every owner's whole listing, one task per page
        await every_page(ours, theirs, ListTasksRequest(page_size=1), owner)


#: Status timestamps a database column holds exactly (to the microsecond), with ties.
MICRO_TIMES: list[tuple[int, int] | None] = [
    None,
    (1_700_000_000, 0),
    (1_700_000_000, 5_000),
    (1_700_000_001, 0),
    (0, 0),
    (-86_400, 10_000),
    (253_402_300_799, 999_999_000),
]


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_task_store_agrees_with_the_sdks_database_store(
    store: Satchel, tmp_path: Any
) -> None:
    """The same against the SDK's ``DatabaseTaskStore`` on SQLite, with status timestamps
    that its column holds exactly (it keeps microseconds), and task ids of each owner's own
    (its table keys tasks by id alone: another owner's save of an id takes the task over)."""
    from a2a.server.tasks import DatabaseTaskStore
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")
    theirs = DatabaseTaskStore(engine)
    await theirs.initialize()
    ours = SatchelTaskStore(store=store)
    rng = random.Random(3)
    try:
        for _step in range(90):
            owner = rng.choice(OWNERS)
            roll = rng.random()
            if roll < 0.55:
                task = random_task(rng)
                task.id = f"{owner}|{task.id}"
                time = rng.choice(MICRO_TIMES)
                task.status.ClearField("timestamp")
                if time is not None:
                    task.status.timestamp.FromNanoseconds(time[0] * 10**9 + time[1])
                await ours.save(task, ctx(owner))
                await theirs.save(task, ctx(owner))
            elif roll < 0.65:
                task_id = f"{owner}|{rng.choice(TASK_IDS)}"
                await ours.delete(task_id, ctx(owner))
                await theirs.delete(task_id, ctx(owner))
            else:
                params = random_listing(rng)
                if params.HasField("status_timestamp_after"):
                    after = rng.choice([t for t in MICRO_TIMES if t is not None])
                    params.status_timestamp_after.FromNanoseconds(after[0] * 10**9 + after[1])
                await every_page(ours, theirs, params, owner)
        for owner in OWNERS:
            await every_page(ours, theirs, ListTasksRequest(page_size=2), owner)
    finally:
        await engine.dispose()


def as_set(configs: list[TaskPushNotificationConfig]) -> list[bytes]:
    return sorted(c.SerializeToString(deterministic=True) for c in configs)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_push_config_store_agrees_with_the_sdks_in_memory_store(
    store: Satchel, encrypted: bool
) -> None:
    from cryptography.fernet import Fernet

    rng = random.Random(7)
    key = Fernet.generate_key() if encrypted else None
    ours = SatchelPushNotificationConfigStore(store=store, encryption_key=key)
    theirs = InMemoryPushNotificationConfigStore()
    task_ids = ["task-1", "task-2", "a/b", ""]
    config_ids = ["", "c-1", "c-2", "c/3", "task-1"]
    for step in range(100):
        owner = rng.choice(OWNERS)
        task_id = rng.choice(task_ids)
        roll = rng.random()
        if roll < 0.4:
            config = make_config(rng.choice(config_ids), url=f"https://h.example/{step}")
            mine = await ours.set_info(task_id, config, ctx(owner))
            assert mine == await theirs.set_info(task_id, config, ctx(owner)), f"step {step}"
        elif roll < 0.6:
            mine_list = await ours.get_info(task_id, ctx(owner))
            assert as_set(mine_list) == as_set(await theirs.get_info(task_id, ctx(owner)))
        elif roll < 0.75:
            mine_list = await ours.get_info_for_dispatch(task_id)
            assert as_set(mine_list) == as_set(await theirs.get_info_for_dispatch(task_id))
        else:
            config_id = rng.choice([None, *config_ids])
            await ours.delete_info(task_id, ctx(owner), config_id)
            await theirs.delete_info(task_id, ctx(owner), config_id)
