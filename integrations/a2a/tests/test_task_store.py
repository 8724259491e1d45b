"""SatchelTaskStore beyond what the differential tests compare: owners kept apart, copies,
page tokens, bad input, versions and conflicts, expiry, and what a listing page reads."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pytest
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import ListTasksRequest, TaskState
from a2a.utils.errors import InvalidParamsError
from a2a_samples import ctx, make_task, timestamp
from google.protobuf.json_format import MessageToDict

import satchel
from satchel import Conflict, InvalidArgument, Operation, Satchel, hookimpl
from satchel_a2a import InvalidListRequest, SatchelTaskStore
from satchel_a2a.listing import decode_token, encode_token


async def ids(store: SatchelTaskStore, owner: str, **params: Any) -> list[str]:
    page = await store.list(ListTasksRequest(**params), ctx(owner))
    return [t.id for t in page.tasks]


async def test_each_owner_sees_only_its_own_tasks(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    # owner names that a careless key would mix up: a prefix, a slash, its escaped form
    owners = ["ann", "ann/", "ann%2F", "", "ann/x"]
    for owner in owners:
        await tasks.save(make_task("t-1", text=f"of {owner!r}"), ctx(owner))
    await tasks.save(make_task("x"), ctx("ann"))
    for owner in owners:
        found = await tasks.get("t-1", ctx(owner))
        assert found is not None
        assert found.history[0].parts[0].text == f"of {owner!r}"
        page = await tasks.list(ListTasksRequest(), ctx(owner))
        assert page.total_size == (2 if owner == "ann" else 1)
    assert await tasks.get("x", ctx("ann/")) is None
    await tasks.delete("t-1", ctx("ann/"))
    assert await tasks.get("t-1", ctx("ann/")) is None
    assert await tasks.get("t-1", ctx("ann")) is not None
    assert await ids(tasks, "ann") == ["x", "t-1"]


async def test_an_owner_resolver_decides_the_owner(store: Satchel) -> None:
    def by_tenant(context: ServerCallContext) -> str:
        return f"{context.tenant}:{context.user.user_name}"

    tasks = SatchelTaskStore(store=store, owner_resolver=by_tenant)
    await tasks.save(make_task("t"), ServerCallContext(tenant="acme"))
    assert await tasks.get("t", ServerCallContext(tenant="acme")) is not None
    assert await tasks.get("t", ServerCallContext(tenant="other")) is None
    assert (await tasks.kv.get("acme%3A/t"))["owner"] == "acme:"  # type: ignore[index]


async def test_the_stored_value_is_the_task_as_a2a_json(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    task = make_task("t-1", time=(1_700_000_000, 5))
    await tasks.save(task, ctx("ann"))
    stored = await tasks.kv.get("ann/t-1")
    assert isinstance(stored, dict)
    rank = stored.pop("rank")
    assert stored == {
        "owner": "ann",
        "status_time": "2023-11-14T22:13:20.000000005Z",
        "task": MessageToDict(task),
    }
    # the listing's entry: the record names it, and it holds what a listing filters on
    assert await tasks.ranking.kv.get(f"ann/{rank}") == {
        "id": "t-1",
        "context_id": "ctx-1",
        "state": TaskState.TASK_STATE_WORKING,
        "status_time": "2023-11-14T22:13:20.000000005Z",
    }
    await tasks.save(make_task("t-2", time=None), ctx("ann"))
    assert "status_time" not in await tasks.kv.get("ann/t-2")  # type: ignore[operator]


async def test_what_it_returns_and_what_it_was_given_are_copies(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    task = make_task("t-1")
    await tasks.save(task, ctx("ann"))
    task.status.state = TaskState.TASK_STATE_FAILED
    found = await tasks.get("t-1", ctx("ann"))
    assert found is not None
    assert found.status.state == TaskState.TASK_STATE_WORKING
    found.history.clear()
    listed = (await tasks.list(ListTasksRequest(), ctx("ann"))).tasks[0]
    listed.artifacts.clear()
    again = await tasks.get("t-1", ctx("ann"))
    assert again == make_task("t-1")


async def test_a_task_with_an_empty_id_is_kept(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    await tasks.save(make_task(""), ctx("ann"))
    await tasks.save(make_task("b"), ctx("ann"))
    assert await tasks.get("", ctx("ann")) == make_task("")
    first = await tasks.list(ListTasksRequest(page_size=1), ctx("ann"))
    rest = await tasks.list(
        ListTasksRequest(page_size=1, page_token=first.next_page_token), ctx("ann")
    )
    assert [t.id for t in [*first.tasks, *rest.tasks]] == ["b", ""]


async def test_a_page_token_outlives_the_task_it_follows(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    for n in range(6):
        await tasks.save(make_task(f"t-{n}", time=(1_700_000_000 + n, 0)), ctx("ann"))
    first = await tasks.list(ListTasksRequest(page_size=2), ctx("ann"))
    assert [t.id for t in first.tasks] == ["t-5", "t-4"]
    await tasks.delete("t-4", ctx("ann"))  # the task the token follows
    second = await tasks.list(
        ListTasksRequest(page_size=2, page_token=first.next_page_token), ctx("ann")
    )
    assert [t.id for t in second.tasks] == ["t-3", "t-2"]
    assert second.total_size == 6  # counted with the first page, carried in its token
    await tasks.save(make_task("t-2", time=(1_800_000_000, 0)), ctx("ann"))  # moved up
    third = await tasks.list(
        ListTasksRequest(page_size=2, page_token=second.next_page_token), ctx("ann")
    )
    assert [t.id for t in third.tasks] == ["t-1", "t-0"]
    assert third.next_page_token == ""


def token_of(payload: Any) -> str:
    """A page token of this listing form holding ``payload`` (a forged one)."""
    text = json.dumps(payload, separators=(",", ":")).encode()
    return "r1." + base64.urlsafe_b64encode(text).decode().rstrip("=")


async def test_bad_page_tokens_are_invalid_params(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    for n in range(3):
        await tasks.save(make_task(f"t-{n}", context_id="c"), ctx("ann"))
    page = await tasks.list(ListTasksRequest(page_size=1), ctx("ann"))
    total, cursor = decode_token(page.next_page_token)
    # the largest total a response holds (an int32) passes; a token carrying more, or a
    # field of another type, is refused as a bad token (not a failure of the response)
    largest = ListTasksRequest(page_size=1, page_token=encode_token(2**31 - 1, cursor))
    assert (await tasks.list(largest, ctx("ann"))).total_size == 2**31 - 1
    forged = [
        [2**31, cursor],
        [2**40, cursor],
        [-1, cursor],
        [True, cursor],
        [3.0, cursor],
        ["3", cursor],
        [None, cursor],
        [total, ""],
        [total, 7],
        [total, None],
        [total, cursor, "more"],
        {"total": total, "cursor": cursor},
    ]
    bad = [
        *(ListTasksRequest(page_size=1, page_token=token_of(payload)) for payload in forged),
        ListTasksRequest(page_token="not a token"),
        # a token continues only the listing it came from
        ListTasksRequest(page_size=1, context_id="c", page_token=page.next_page_token),
        ListTasksRequest(page_size=-1),
        ListTasksRequest(status_timestamp_after={"seconds": 1, "nanos": -1}),
    ]
    for params in bad:
        with pytest.raises(InvalidListRequest) as caught:
            await tasks.list(params, ctx("ann"))
        assert isinstance(caught.value, InvalidParamsError)
        assert isinstance(caught.value, InvalidArgument)
        assert str(caught.value).split(":")[0] in (
            "page_token",
            "page_size",
            "status_timestamp_after",
        )
        assert caught.value.message == str(caught.value)


async def test_filters_at_the_edges_of_time(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    await tasks.save(make_task("old", time=(-62_135_596_800, 0)), ctx("ann"))  # year 1
    await tasks.save(make_task("late", time=(253_402_300_799, 999_999_999)), ctx("ann"))
    await tasks.save(make_task("none", time=None), ctx("ann"))
    assert await ids(tasks, "ann") == ["late", "old", "none"]
    after = {"status_timestamp_after": timestamp((-62_135_596_800, 0))}
    assert await ids(tasks, "ann", **after) == ["late", "old"]
    after = {"status_timestamp_after": timestamp((-(10**11), 0))}  # before the year 1
    assert await ids(tasks, "ann", **after) == ["late", "old"]
    after = {"status_timestamp_after": timestamp((10**12, 0))}  # after the year 9999
    assert await ids(tasks, "ann", **after) == []


async def test_bad_input_names_the_argument_and_writes_nothing(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    nan_metadata = make_task("nan")
    nan_metadata.metadata.update({"x": math.nan})
    bad_time = make_task("bad-time")
    bad_time.status.timestamp.seconds = 10**12
    cases: list[tuple[Callable[[], Awaitable[Any]], str]] = [
        (lambda: tasks.save(make_task("t"), None), "context"),  # type: ignore[arg-type]
        (lambda: tasks.save({"id": "t"}, ctx("ann")), "task"),  # type: ignore[arg-type]
        (lambda: tasks.save(nan_metadata, ctx("ann")), "task"),
        (lambda: tasks.save(bad_time, ctx("ann")), "task.status.timestamp"),
        (lambda: tasks.save(make_task("t"), ctx("ann"), expected_version=-1), "expected_version"),
        (lambda: tasks.save(make_task("t"), ctx("ann"), expected_version=True), "expected_version"),
        (lambda: tasks.get(7, ctx("ann")), "task_id"),  # type: ignore[arg-type]
        (lambda: tasks.list({"page_size": 1}, ctx("ann")), "params"),  # type: ignore[arg-type]
    ]
    for call, argument in cases:
        with pytest.raises(InvalidArgument) as caught:
            await call()
        assert str(caught.value).startswith(f"{argument}:"), str(caught.value)
    assert await tasks.kv.count() == 0
    odd = SatchelTaskStore(store=store, owner_resolver=lambda context: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidArgument, match=r"^owner_resolver:"):
        await odd.get("t", ctx("ann"))
    for kwargs, argument in [
        ({"store": "redis://"}, "store"),
        ({"namespace": ""}, "namespace"),
        ({"ttl": -1}, "ttl"),
        ({"owner_resolver": "user"}, "owner_resolver"),
    ]:
        with pytest.raises(InvalidArgument, match=rf"^{argument}:"):
            SatchelTaskStore(**kwargs)


async def test_expected_version_saves_only_over_that_version(store: Satchel) -> None:
    tasks = SatchelTaskStore(store=store)
    with pytest.raises(Conflict) as caught:  # a version of a task that is not there
        await tasks.save(make_task("t"), ctx("ann"), expected_version=3)
    assert (caught.value.expected, caught.value.actual) == (3, 0)
    first = await tasks.save_versioned(make_task("t", text="1"), ctx("ann"), expected_version=0)
    with pytest.raises(Conflict) as caught:  # 0: only a new task
        await tasks.save(make_task("t", text="x"), ctx("ann"), expected_version=0)
    assert caught.value.expected == 0
    read = await tasks.get_versioned("t", ctx("ann"))
    assert read is not None
    assert (read.version, read.value) == (first, make_task("t", text="1"))
    await tasks.save(make_task("t", text="2"), ctx("bob"), expected_version=0)  # bob's own
    second = await tasks.save_versioned(
        make_task("t", text="2"), ctx("ann"), expected_version=read.version
    )
    assert second > first
    with pytest.raises(Conflict) as caught:  # a stale version
        await tasks.save(make_task("t", text="stale"), ctx("ann"), expected_version=first)
    assert (caught.value.expected, caught.value.actual) == (first, second)
    assert "'t'" in str(caught.value)
    found = await tasks.get("t", ctx("ann"))
    assert found is not None
    assert found.history[0].parts[0].text == "2"  # nothing written by the refused saves
    await tasks.save(make_task("t", text="3"), ctx("ann"))  # no version: as the SDK saves
    await tasks.delete("t", ctx("ann"))
    with pytest.raises(Conflict) as caught:
        await tasks.save(make_task("t"), ctx("ann"), expected_version=second)
    assert caught.value.actual == 0
    # the refused saves left no listing entry: bob's task's is the only one
    assert [k for k in await tasks.ranking.kv.keys() if "/" in k] == [
        k for k in await tasks.ranking.kv.keys() if k.startswith("bob/")
    ]
    assert len(await tasks.ranking.kv.keys("bob/*")) == 1


async def test_concurrent_writers_of_one_version_one_wins(
    handle_arguments: dict[str, Any], backend: str
) -> None:
    async with (
        satchel.open(**handle_arguments) as one,
        satchel.open(**handle_arguments) as other,
    ):
        two = one if backend == "memory" else other  # a memory handle keeps its own records
        stores = [SatchelTaskStore(store=one), SatchelTaskStore(store=two)]
        base = await stores[0].save_versioned(make_task("t"), ctx("ann"))

        async def write(n: int) -> int | None:
            try:
                return await stores[n % 2].save_versioned(
                    make_task("t", text=f"writer {n}"), ctx("ann"), expected_version=base
                )
            except Conflict:
                return None

        results = await asyncio.gather(*(write(n) for n in range(8)))
        winners = [n for n, version in enumerate(results) if version is not None]
        assert len(winners) == 1
        found = await stores[1].get_versioned("t", ctx("ann"))
        assert found is not None
        assert found.value.history[0].parts[0].text == f"writer {winners[0]}"
        assert found.version == results[winners[0]]


class OperationCounter:
    """Counts the backend operations and the records the queries return."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.returned = 0

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        self.names.append(operation.name)
        if operation.name != "query":
            return inner

        async def counted() -> Any:
            page = await inner
            self.returned += len(page.items)
            return page

        return counted()


async def test_a_page_reads_its_entries_and_tasks_and_a_listing_counts_once(
    handle_arguments: dict[str, Any],
) -> None:
    counter = OperationCounter()
    async with satchel.open(**handle_arguments, plugins=[counter]) as handle:
        tasks = SatchelTaskStore(store=handle)
        for n in range(60):
            task = make_task(f"t-{n:02}", context_id=f"c{n % 3}", time=(1_700_000_000 + n, 0))
            await tasks.save(task, ctx("ann"))
            await tasks.save(task, ctx("bob"))
        await tasks.list(ListTasksRequest(page_size=1), ctx("ann"))  # checks the mark once
        counter.names, counter.returned = [], 0
        page = await tasks.list(ListTasksRequest(context_id="c1", page_size=5), ctx("ann"))
        assert [t.id for t in page.tasks] == ["t-58", "t-55", "t-52", "t-49", "t-46"]
        assert page.total_size == 20
        # the page's entries (one query), their tasks (one get_many), and the count
        assert sorted(counter.names) == ["count", "get_many", "query"]
        assert counter.returned == 5
        counter.names, counter.returned = [], 0
        params = ListTasksRequest(
            context_id="c1",
            page_size=5,
            status=TaskState.TASK_STATE_WORKING,
            status_timestamp_after=timestamp((1_700_000_040, 0)),
        )
        first = await tasks.list(params, ctx("ann"))
        params.page_token = first.next_page_token
        second = await tasks.list(params, ctx("ann"))
        listed = [t.id for t in [*first.tasks, *second.tasks]]
        assert listed == ["t-58", "t-55", "t-52", "t-49", "t-46", "t-43", "t-40"]
        assert (first.total_size, second.total_size, second.next_page_token) == (7, 7, "")
        # the second page counts nothing: the first page's count is in its token
        assert sorted(counter.names) == ["count", "get_many", "get_many", "query", "query"]
        assert counter.returned == 7
        counter.names = []
        whole = await tasks.list(ListTasksRequest(context_id="c2", page_size=50), ctx("bob"))
        assert (len(whole.tasks), whole.total_size, whole.next_page_token) == (20, 20, "")
        assert sorted(counter.names) == ["get_many", "query"]  # the page is the count


async def test_tasks_expire_after_their_ttl(every_store: dict[str, Satchel]) -> None:
    stores = {name: SatchelTaskStore(store=h, ttl=1) for name, h in every_store.items()}
    for tasks in stores.values():
        await tasks.save(make_task("t"), ctx("ann"))
        assert await tasks.get("t", ctx("ann")) is not None
    await asyncio.sleep(1.3)
    for name, tasks in stores.items():
        assert await tasks.get("t", ctx("ann")) is None, name
        page = await tasks.list(ListTasksRequest(), ctx("ann"))
        assert (list(page.tasks), page.total_size) == ([], 0), name


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_without_a_handle_the_environment_decides(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from satchel_a2a import close_shared_store, shared_store

    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    try:
        tasks = SatchelTaskStore()
        await tasks.save(make_task("t"), ctx("ann"))
        assert shared_store().backend.name == environ["SATCHEL_BACKEND"]
        assert await SatchelTaskStore().get("t", ctx("ann")) == make_task("t")
        assert environ["SATCHEL_BACKEND"] in repr(tasks)
    finally:
        await close_shared_store()
