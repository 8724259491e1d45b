"""SatchelStore: configuration, layout, filters, namespace listings, TTL, bad input,
concurrent writers, push-down, and a graph that uses it."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Generator
from datetime import timedelta
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

import satchel
import satchel_langgraph
from satchel import (
    BlockingCallInEventLoop,
    CorruptRecord,
    InvalidArgument,
    Satchel,
    ValueTooLarge,
    hookimpl,
)
from satchel.instrument import Operation
from satchel.shared import close_shared_store, shared_store
from satchel_langgraph import SatchelStore
from satchel_langgraph.items import item_key

SERVERS = ["redis", "redis-cluster", "mongodb"]


# -- configuration ------------------------------------------------------------------------------


async def test_without_a_store_the_environment_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    await close_shared_store()  # the process's handle is opened again, from the variable
    memory = SatchelStore()
    try:
        assert memory.store.settings.backend == "memory"
        assert memory.supports_ttl is True
        await memory.aput(("a",), "k", {"v": 1})
        assert (await memory.aget(("a",), "k")).value == {"v": 1}  # type: ignore[union-attr]
    finally:
        await memory.aclose()
    assert memory.store is shared_store()  # the process's handle, left open for others
    assert (await memory.aget(("a",), "k")).value == {"v": 1}  # type: ignore[union-attr]
    await close_shared_store()


async def test_open_gives_a_handle_of_its_own(handle_arguments: dict[str, Any]) -> None:
    memory = SatchelStore.open(**handle_arguments, ttl={"default_ttl": 5})
    assert memory.store.settings.namespace == handle_arguments["namespace"]
    await memory.aput(("a",), "k", {"v": 1})
    assert (await memory.items.get_entry("a\x00\x00k")).expires_at is not None  # type: ignore[union-attr]
    handle = memory.store
    await memory.aclose()
    assert handle._closed
    with pytest.raises(InvalidArgument, match="index"):
        SatchelStore.open(**handle_arguments, index={"dims": 3})


async def test_a_handle_passed_in_stays_open(store: Satchel) -> None:
    memory = SatchelStore(store=store)
    await memory.aput(("a",), "k", {"v": 1})
    await memory.aclose()
    assert await store.kv("langgraph.store").count() == 1
    assert "SatchelStore" in satchel_langgraph.__all__


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"store": "redis://localhost"}, "store"),
        ({"index": {"dims": 3, "embed": "fake"}}, "index"),
        ({"namespace": ""}, "namespace"),
        ({"ttl": {"default_tt": 5}}, "ttl"),
        ({"ttl": {"default_ttl": -1}}, "default_ttl"),
        ({"ttl": {"refresh_on_read": "yes"}}, "refresh_on_read"),
        ({"ttl": 5}, "ttl"),
    ],
)
def test_bad_configuration_is_refused(arguments: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidArgument, match=named):
        SatchelStore(**arguments)


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_the_blocking_methods_run_on_a_loop_thread(store: Satchel) -> None:
    memory = SatchelStore(store=store)

    def blocking() -> list[Any]:
        memory.put(("docs", "a"), "k", {"v": 1})
        memory.put(("docs", "b"), "k", {"v": 2})
        got = memory.get(("docs", "a"), "k")
        found = memory.search(("docs",), filter={"v": {"$gt": 1}})
        listed = memory.list_namespaces(prefix=("docs",))
        memory.delete(("docs", "a"), "k")
        return [got and got.value, [i.value for i in found], listed, memory.get(("docs", "a"), "k")]

    try:
        assert await asyncio.to_thread(blocking) == [
            {"v": 1},
            [{"v": 2}],
            [("docs", "a"), ("docs", "b")],
            None,
        ]
        with pytest.raises(BlockingCallInEventLoop):  # inside a running loop: use aget
            memory.get(("docs", "a"), "k")
    finally:
        await memory.aclose()  # stops the loop thread; the handle passed in stays open
    assert memory._loop is None and await store.kv("langgraph.store").count() == 1


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_the_record_layout(store: Satchel) -> None:
    memory = SatchelStore(store=store, namespace="lg")
    await memory.aput(("users", "123"), "prefs", {"theme": "dark"}, ttl=5)
    await memory.aput(("users", "123"), "plain", {"theme": "light"})
    kv = store.kv("lg.store")
    assert memory.items.namespace == "lg.store"
    assert item_key(("users", "123"), "prefs") == "users\x00123\x00\x00prefs"
    entry = await kv.get_entry("users\x00123\x00\x00prefs")
    assert entry is not None and entry.expires_at is not None
    assert entry.value == {
        "namespace": ["users", "123"],
        "key": "prefs",
        "value": {"theme": "dark"},
        "ttl": 5,
    }
    assert (await kv.get("users\x00123\x00\x00plain")) == {
        "namespace": ["users", "123"],
        "key": "plain",
        "value": {"theme": "light"},
    }
    await kv.set("junk", [1, 2])
    with pytest.raises(CorruptRecord, match="junk"):
        await memory.asearch(())
    with pytest.raises(CorruptRecord, match="junk"):
        await memory.alist_namespaces()


async def test_created_at_stays_and_updated_at_moves_with_each_put(store: Satchel) -> None:
    memory = SatchelStore(store=store)
    await memory.aput(("a",), "k", {"v": 1})
    first = await memory.aget(("a",), "k")
    await asyncio.sleep(0.01)
    assert await memory.aget(("a",), "k") == first  # a read changes nothing
    await memory.aput(("a",), "k", {"v": 2})
    second = await memory.aget(("a",), "k")
    assert first is not None and second is not None
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert first.created_at.tzinfo is not None
    await memory.adelete(("a",), "k")
    await asyncio.sleep(0.01)
    await memory.aput(("a",), "k", {"v": 3})
    third = await memory.aget(("a",), "k")
    assert third is not None and third.created_at > first.created_at  # a new item


# -- filters ------------------------------------------------------------------------------------


async def test_filters_mean_what_they_mean_in_langgraph(store: Satchel) -> None:
    memory, reference = SatchelStore(store=store), InMemoryStore()
    items = {
        "int": {"n": 5, "tags": ["x", "y"], "meta": {"lang": "en", "level": 2}},
        "float": {"n": 5.0, "a.b": "dotted"},
        "true": {"n": True, "meta": {"lang": "fr", "level": 1}},
        "text": {"n": "7", "meta": "en"},
        "null": {"n": None},
        "none": {},
    }
    for key, value in items.items():
        await memory.aput(("docs",), key, value)
        reference.put(("docs",), key, value)

    async def keys(filter: dict[str, Any]) -> list[str]:
        found = [i.key for i in await memory.asearch(("docs",), filter=filter)]
        expected = [i.key for i in reference.search(("docs",), filter=filter)]
        assert sorted(found) == sorted(expected)
        return sorted(found)

    assert await keys({"n": 5}) == ["float", "int"]  # 5 == 5.0
    assert await keys({"n": 1}) == ["true"]  # True == 1, as in Python
    assert await keys({"n": None}) == ["none", "null"]  # None also matches a missing field
    assert await keys({"a.b": "dotted"}) == ["float"]  # a field name, not a path
    assert await keys({"meta": {"lang": "en"}}) == ["int"]  # nested: a subset of the dict
    assert await keys({"meta": {"level": {"$gte": 2}}}) == ["int"]
    assert await keys({"tags": ["x", "y"]}) == ["int"]
    assert await keys({"tags": ["y", "x"]}) == []
    assert await keys({"n": {"$ne": 5}}) == ["none", "null", "text", "true"]
    assert await keys({"n": {"$ne": None}}) == ["float", "int", "text", "true"]
    assert await keys({"n": {"$eq": "7"}}) == ["text"]

    # float() of the stored value: "7" and True compare as numbers. Where float() fails
    # (a missing field, null), InMemoryStore raises; SatchelStore counts the item out.
    with pytest.raises(TypeError):
        reference.search(("docs",), filter={"n": {"$gt": 0.5}})
    found = await memory.asearch(("docs",), filter={"n": {"$gt": 0.5}})
    assert sorted(i.key for i in found) == ["float", "int", "text", "true"]
    found = await memory.asearch(("docs",), filter={"n": {"$gt": 4, "$lte": "6"}})
    assert sorted(i.key for i in found) == ["float", "int"]


@pytest.mark.parametrize(
    ("filter", "named"),
    [
        ({"n": {"$in": [1, 2]}}, "unsupported operator '\\$in'"),
        ({"n": {"$gt": 1, "x": 2}}, "unsupported operator 'x'"),
        ({"n": {"$gt": "abc"}}, "\\$gt compares numbers"),
        ({"n": {"$lt": None}}, "\\$lt compares numbers"),
        ({"n": {"k": {1: 2}}}, "field names are strings"),
        ([("n", 1)], "filter: must be a mapping"),
    ],
)
@pytest.mark.parametrize("backend", ["memory"], indirect=True)  # refused before any call
async def test_a_bad_filter_is_refused_before_reading(
    store: Satchel, filter: Any, named: str
) -> None:
    memory = SatchelStore(store=store)
    with pytest.raises(InvalidArgument, match=named) as raised:
        await memory.asearch(("docs",), filter=filter)
    assert isinstance(raised.value, ValueError)  # what InMemoryStore raises for these


async def test_searches_page_in_namespace_and_key_order(store: Satchel) -> None:
    memory = SatchelStore(store=store)
    for namespace, key in [(("b",), "1"), (("a", "x"), "2"), (("a",), "3"), (("a",), "1")]:
        await memory.aput(namespace, key, {"k": key})
    everything = [(i.namespace, i.key) for i in await memory.asearch(())]
    assert everything == [(("a",), "1"), (("a",), "3"), (("a", "x"), "2"), (("b",), "1")]
    paged = [(i.namespace, i.key) for i in await memory.asearch((), limit=2, offset=1)]
    assert paged == everything[1:3]
    assert [i.key for i in await memory.asearch(("a",), filter={"k": {"$gt": 1}})] == ["3", "2"]
    assert await memory.asearch(("a",), query="ignored without an index", limit=0) == []


# -- push-down ----------------------------------------------------------------------------------


class QueryCounter:
    """Counts the queries that reach the backend and the records they return."""

    def __init__(self) -> None:
        self.queries = 0
        self.records: list[str] = []

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        if operation.name != "query":
            return inner

        async def counted() -> Any:
            page = await inner
            self.queries += 1
            self.records += [record.key for record in page.items]
            return page

        return counted()


async def test_filters_and_namespaces_run_as_backend_queries(
    handle_arguments: dict[str, Any],
) -> None:
    counter = QueryCounter()
    async with satchel.open(**handle_arguments, plugins=[counter]) as handle:
        memory = SatchelStore(store=handle)
        await memory.abatch(
            [PutOp(("docs",), f"d{n:03}", {"kind": "ab"[n % 2], "score": n}) for n in range(200)]
            + [PutOp(("other",), f"o{n:03}", {"kind": "a", "score": n}) for n in range(100)]
        )
        # an equality: one query, with offset and limit, returns just the page
        counter.queries, counter.records = 0, []
        found = await memory.asearch(("docs",), filter={"kind": "a"}, limit=5, offset=2)
        assert [i.key for i in found] == ["d004", "d006", "d008", "d010", "d012"]
        assert (counter.queries, len(counter.records)) == (1, 5)
        # a comparison: the namespace prefix always narrows the read
        counter.queries, counter.records = 0, []
        found = await memory.asearch(("docs",), filter={"score": {"$gte": 190}}, limit=3)
        assert [i.key for i in found] == ["d190", "d191", "d192"]
        assert all(key.startswith("docs\x00") for key in counter.records)
        if handle.backend.capabilities.query_pushdown:  # the server compares the numbers
            assert len(counter.records) <= 10
        # a listing reads keys only, under the prefix
        counter.records = []
        assert await memory.alist_namespaces(prefix=("other",)) == [("other",)]
        assert len(counter.records) == 100


async def test_plain_redis_has_no_search_module(request: pytest.FixtureRequest) -> None:
    """The Redis tests run on a server without RediSearch (the store needs no module)."""
    import redis.asyncio as redis

    client = redis.from_url(request.getfixturevalue("redis_url"))
    try:
        assert await client.execute_command("MODULE", "LIST") == []
        with pytest.raises(redis.ResponseError, match="unknown command"):
            await client.execute_command("FT._LIST")
    finally:
        await client.aclose()


# -- namespaces ---------------------------------------------------------------------------------


async def test_list_namespaces_with_prefix_suffix_wildcards_and_depth(store: Satchel) -> None:
    memory = SatchelStore(store=store)
    namespaces = [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("x",),
    ]
    for namespace in namespaces:
        await memory.aput(namespace, "k", {})
    listed = memory.alist_namespaces
    assert await listed(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert await listed(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert await listed(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert await listed(prefix=("*", "b"), suffix=("d", "*")) == [
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
    ]
    assert await listed(max_depth=1) == [("a",), ("x",)]
    assert await listed(limit=2, offset=1) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    # a namespace is listed while it holds an item (InMemoryStore keeps emptied ones)
    await memory.adelete(("x",), "k")
    assert await listed(max_depth=1) == [("a",)]


# -- TTL ----------------------------------------------------------------------------------------


async def test_expired_items_are_never_returned(store: Satchel) -> None:
    memory = SatchelStore(store=store)
    await memory.aput(("tmp",), "short", {"v": 1}, ttl=0.025)  # minutes: 1.5 s, for a slow machine
    await memory.aput(("keep",), "long", {"v": 2}, ttl=10)
    assert await memory.aget(("tmp",), "short", refresh_ttl=False) is not None
    await asyncio.sleep(1.6)
    assert await memory.aget(("tmp",), "short") is None
    assert [i.key for i in await memory.asearch(())] == ["long"]
    assert await memory.alist_namespaces() == [("keep",)]


async def test_reads_renew_the_ttl_unless_told_not_to(store: Satchel) -> None:
    memory = SatchelStore(store=store)
    kv = memory.items
    await memory.aput(("a",), "k", {"v": 1}, ttl=1)
    first = await kv.get_entry(item_key(("a",), "k"))
    before = await memory.aget(("a",), "k", refresh_ttl=False)
    assert first is not None and first.expires_at is not None and before is not None
    lifetime = first.expires_at - first.updated_at  # type: ignore[operator]
    assert abs(lifetime - timedelta(minutes=1)) < timedelta(seconds=1)

    async def expiry() -> Any:
        entry = await kv.get_entry(item_key(("a",), "k"))
        return entry and entry.expires_at

    await asyncio.sleep(0.02)
    await memory.asearch(("a",), refresh_ttl=False)
    assert await expiry() == first.expires_at
    await memory.aget(("a",), "k")  # renews
    renewed = await expiry()
    assert renewed > first.expires_at
    await asyncio.sleep(0.02)
    await memory.asearch(("a",))  # renews too
    assert await expiry() > renewed
    after = await memory.aget(("a",), "k", refresh_ttl=False)
    assert after is not None
    assert (after.created_at, after.updated_at, after.value) == (
        before.created_at,
        before.updated_at,
        before.value,
    )  # a renewal is not an update

    # TTLConfig: the default for puts without a ttl, and reads that do not renew
    configured = SatchelStore(store=store, ttl={"default_ttl": 2, "refresh_on_read": False})
    await configured.aput(("b",), "k", {"v": 1})
    entry = await kv.get_entry(item_key(("b",), "k"))
    assert entry is not None and entry.expires_at is not None
    lifetime = entry.expires_at - entry.updated_at  # type: ignore[operator]
    assert abs(lifetime - timedelta(minutes=2)) < timedelta(seconds=1)
    await asyncio.sleep(0.02)
    await configured.aget(("b",), "k")
    await configured.asearch(("b",))
    assert (await kv.get_entry(item_key(("b",), "k"))).expires_at == entry.expires_at  # type: ignore[union-attr]
    await configured.aget(("b",), "k", refresh_ttl=True)
    assert (await kv.get_entry(item_key(("b",), "k"))).expires_at > entry.expires_at  # type: ignore[union-attr, operator]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_without_a_ttl_satchel_default_ttl_applies(handle_arguments: dict[str, Any]) -> None:
    async with satchel.open(**handle_arguments, default_ttl=60) as handle:
        memory = SatchelStore(store=handle)
        await memory.aput(("a",), "k", {"v": 1})
        entry = await memory.items.get_entry(item_key(("a",), "k"))
        assert entry is not None and entry.expires_at is not None
        assert "ttl" not in entry.value  # type: ignore[operator]
        await asyncio.sleep(0.02)
        await memory.aget(("a",), "k")  # no LangGraph ttl: nothing to renew
        assert (await memory.items.get_entry(item_key(("a",), "k"))) == entry


@pytest.mark.parametrize("backend", ["redis"], indirect=True)  # Redis expires keys itself
async def test_a_read_keeps_an_item_alive(store: Satchel) -> None:
    memory = SatchelStore(store=store)
    await memory.aput(("a",), "read", {}, ttl=0.04)  # 2.4 s, wide margins for a slow machine
    await memory.aput(("a",), "unread", {}, ttl=0.04)
    await asyncio.sleep(1.0)
    assert await memory.aget(("a",), "read") is not None  # renews: 2.4 s from now
    await asyncio.sleep(1.7)
    assert await memory.aget(("a",), "unread", refresh_ttl=False) is None
    assert await memory.aget(("a",), "read", refresh_ttl=False) is not None
    await asyncio.sleep(1.2)
    assert await memory.aget(("a",), "read") is None


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "error", "named"),
    [
        (PutOp(("a.b",), "k", {}), InvalidNamespaceError, "periods"),
        (PutOp(("langgraph",), "k", {}), InvalidNamespaceError, "langgraph"),
        (PutOp((), "k", {}), InvalidNamespaceError, "empty"),
        (PutOp(("a", ""), "k", {}), InvalidNamespaceError, "non-empty"),
        (PutOp(("a", 1), "k", {}), InvalidNamespaceError, "strings"),  # type: ignore[arg-type]
        (PutOp("users", "k", {}), InvalidArgument, "namespace: must be a tuple"),  # type: ignore[arg-type]
        (PutOp(("a",), 7, {}), InvalidArgument, "key"),  # type: ignore[arg-type]
        (PutOp(("a",), "k", [1, 2]), InvalidArgument, "value: must be a mapping"),  # type: ignore[arg-type]
        (PutOp(("a",), "k", {"s": {1, 2}}), InvalidArgument, "value"),
        (PutOp(("a",), "k", {"x": float("nan")}), InvalidArgument, "value"),
        (PutOp(("a",), "k", {}, ttl=0), InvalidArgument, "ttl"),
        (PutOp(("a",), "k", {}, ttl="5"), InvalidArgument, "ttl"),  # type: ignore[arg-type]
        (PutOp(("a",), "k", {}, ttl=True), InvalidArgument, "ttl"),
        (GetOp(("a",), "k", refresh_ttl="no"), InvalidArgument, "refresh_ttl"),  # type: ignore[arg-type]
        (SearchOp(("a",), limit=-1), InvalidArgument, "limit"),
        (SearchOp(("a",), offset="2"), InvalidArgument, "offset"),  # type: ignore[arg-type]
        (SearchOp(("a.b",)), InvalidNamespaceError, "periods"),
        (ListNamespacesOp(max_depth=0), InvalidArgument, "max_depth"),
        (ListNamespacesOp(limit=-5), InvalidArgument, "limit"),
        ("get", InvalidArgument, "ops"),
    ],
)
@pytest.mark.parametrize("backend", ["memory"], indirect=True)  # refused before any call
async def test_bad_operations_are_refused_and_nothing_is_written(
    store: Satchel, op: Any, error: type[Exception], named: str
) -> None:
    memory = SatchelStore(store=store)
    with pytest.raises(error, match=named):
        await memory.abatch([PutOp(("good",), "k", {"v": 1}), op])
    assert await store.kv("langgraph.store").count() == 0  # not even the good put


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_langgraph_methods_raise_langgraph_errors(store: Satchel) -> None:
    memory = SatchelStore(store=store)
    for target in (memory, InMemoryStore()):
        assert isinstance(target, BaseStore)
        with pytest.raises(InvalidNamespaceError):
            await target.aput(("a.b",), "k", {})
        with pytest.raises(InvalidNamespaceError):
            await target.asearch(("",))


# -- concurrency --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
async def test_two_handles_writing_lose_no_item(handle_arguments: dict[str, Any]) -> None:
    arguments = handle_arguments
    async with satchel.open(**arguments) as one, satchel.open(**arguments) as two:
        first, second = SatchelStore(store=one), SatchelStore(store=two)

        async def writer(memory: SatchelStore, name: str) -> None:
            for n in range(15):
                await memory.aput(("shared",), f"{name}-{n}", {"n": n})
                await memory.aput(("shared",), "same", {"by": name, "n": n}, ttl=5)

        async def reader(memory: SatchelStore) -> None:  # renews the TTL of "same" meanwhile
            for _ in range(30):
                await memory.aget(("shared",), "same")
                await memory.asearch(("shared",), filter={"by": {"$ne": None}})

        await asyncio.gather(writer(first, "one"), writer(second, "two"), reader(first))
        found = await second.asearch(("shared",), limit=1000)
        assert sorted(i.key for i in found) == sorted(
            [f"{name}-{n}" for name in ("one", "two") for n in range(15)] + ["same"]
        )
        same = await second.aget(("shared",), "same")
        assert same is not None and same.value["n"] == 14  # a renewal never wrote back old data


# -- a graph --------------------------------------------------------------------------------------


class State(TypedDict):
    user: str
    notes: Annotated[list[str], operator.add]


def remember(state: State, *, store: BaseStore) -> dict[str, Any]:
    namespace = ("memories", state["user"])
    seen = [item.value["note"] for item in store.search(namespace)]
    store.put(namespace, f"n{len(seen)}", {"note": f"visit {len(seen) + 1}"})
    return {"notes": seen}


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_a_graph_remembers_across_runs(store: Satchel) -> None:
    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    memory = SatchelStore(store=store)
    graph = builder.compile(store=memory)
    try:
        assert (await graph.ainvoke({"user": "ann", "notes": []}))["notes"] == []
        result = await graph.ainvoke({"user": "ann", "notes": []})
        assert result["notes"] == ["visit 1"]
        result = await asyncio.to_thread(graph.invoke, {"user": "ann", "notes": []})
        assert result["notes"] == ["visit 1", "visit 2"]
    finally:
        await memory.aclose()


async def test_a_batch_with_a_value_too_large_writes_nothing(store: Satchel) -> None:
    # the puts of a batch (whatever their TTLs) are one write, checked by the backend
    # before anything is written, and its deletes go only once it succeeded: a value too
    # large left the batch's other puts written and its deletes done (memory, Redis), or
    # its deletes done (MongoDB)
    memory = SatchelStore(store=store)
    await memory.aput(("n",), "kept", {"v": 0})
    huge = {"x": "y" * (17 * 1024 * 1024)}
    with pytest.raises(ValueTooLarge):
        await memory.abatch(
            [
                PutOp(("n",), "a", {"v": 1}),
                PutOp(("n",), "kept", None),
                PutOp(("n",), "b", {"v": 2}, ttl=5),
                PutOp(("n",), "c", huge, ttl=10),
            ]
        )
    assert [i.key for i in await memory.asearch(("n",))] == ["kept"]
    # the batch goes through once the value fits, each item with its own TTL
    await memory.abatch(
        [
            PutOp(("n",), "a", {"v": 1}),
            PutOp(("n",), "kept", None),
            PutOp(("n",), "b", {"v": 2}, ttl=5),
            PutOp(("n",), "c", {"v": 3}, ttl=10),
        ]
    )
    assert [i.key for i in await memory.asearch(("n",))] == ["a", "b", "c"]
    expiries = {
        key: (await memory.items.get_entry(item_key(("n",), key))).expires_at  # type: ignore[union-attr]
        for key in "abc"
    }
    assert expiries["a"] is None
    assert expiries["b"] is not None and expiries["c"] is not None
    assert timedelta(minutes=4) < expiries["c"] - expiries["b"] < timedelta(minutes=6)
