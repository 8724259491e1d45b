"""Rules at the store level: the stores users call work on the backend, and bad input is
refused with a typed error naming the argument before anything is written."""

from __future__ import annotations

import asyncio
import enum
import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

import satchel
from satchel.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    InvalidQuery,
    NotFound,
    SatchelError,
)
from satchel.query import Query, escape_glob, make_cursor
from satchel.testing.fixtures import ConformanceFixtures
from satchel.validation import MAX_DEPTH

__all__ = ["KitTask", "StoreRules"]


def _forged(value: Any, field_: str = "created_at", key: str = "k") -> str:
    """A cursor for ``order_by=field_`` made with satchel's own encoding, whose position
    holds ``value`` (as a datetime's timestamp for a metadata timestamp, else as a string)
    and ``key``: what a client could forge."""
    rank = 6 if field_ in ("created_at", "updated_at", "expires_at") else 2
    return make_cursor(Query.build(order_by=field_), [(rank, value)], key)


def _deep(levels: int) -> Any:
    """A list nested ``levels`` deep."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


class KitTask(BaseModel):
    """A task model like an agent framework's: an id, a status and items carrying request
    ids (which the task store indexes)."""

    task_id: str
    status: str = "Running"
    items: list[dict[str, Any]] = Field(default_factory=list)


class KitSession(BaseModel):
    """A session snapshot."""

    turns: list[str] = Field(default_factory=list)


class _Holder(BaseModel):
    """A model holding anything, for the rules on what a model's JSON form may be."""

    task_id: str = "held"
    status: str = "Running"
    data: Any = None


def _nested(levels: int) -> Any:
    """A value of exactly ``levels`` nested objects and lists, in turn, whose every level
    also holds a string that reads as a datetime (stored forms may index those too)."""
    value: Any = ["2024-01-01T00:00:00Z"]
    for level in range(levels - 1):
        value = ["2024-01-01T00:00:00Z", value] if level % 2 else {"t": "2024-01-01", "k": value}
    return value


class _Kind(enum.Enum):
    """An enum whose members are stored as their values."""

    PLAIN = "plain"
    RUSH = "rush"


class _Stamp(BaseModel):
    """A model with fields of the standard types stored in a JSON form."""

    at: datetime
    amount: Decimal


class StoreRules(ConformanceFixtures):
    """Through ``satchel.open(backend=...)``: the key-value store sets, gets, queries and
    lists keys; the task store creates, updates with ``expected_version`` and finds tasks
    by request id; the session store saves and loads; and bad input (an empty or
    non-string key, NUL in a namespace, a negative TTL or limit, an unknown operator, a
    value JSON cannot hold) raises :class:`~satchel.errors.InvalidArgument` or
    :class:`~satchel.errors.InvalidQuery` naming the argument, with nothing written."""

    @pytest.mark.asyncio
    async def test_key_value_store(self, satchel_handle: satchel.Satchel) -> None:
        kv = satchel_handle.kv("agent state: ä*")
        assert await kv.set("a*", {"step": 1, "tags": ["x"]}) == 1
        assert await kv.set("a*", {"step": 2, "tags": ["x", "y"]}) == 2
        assert await kv.set("ab", {"step": 3}) == 1
        assert await kv.set("b", "scalar") == 1
        assert await kv.get("a*") == {"step": 2, "tags": ["x", "y"]}
        assert await kv.get("missing", "default") == "default"
        assert await kv.keys() == ["a*", "ab", "b"]
        assert await kv.keys(escape_glob("a*")) == ["a*"]
        assert await kv.keys("a*") == ["a*", "ab"]
        page = await kv.query({"step": {"gte": 2}}, order_by="-step")
        assert [(e.key, e.value["step"], e.version) for e in page] == [("ab", 3, 1), ("a*", 2, 2)]
        assert await kv.count([("tags", "contains", "y")]) == 1
        assert await kv.get_many(["b", "zz", "a*"]) == {"b": "scalar", "a*": await kv.get("a*")}
        with pytest.raises(AlreadyExists):
            await kv.set("b", "again", if_absent=True)
        with pytest.raises(Conflict):
            await kv.set("b", "again", expected_version=5)
        assert await kv.get("b") == "scalar"
        assert "agent state: ä*" in await satchel_handle.namespaces()
        assert await kv.delete("b") is True
        assert await kv.clear() == 2
        assert "agent state: ä*" not in await satchel_handle.namespaces()

    @pytest.mark.asyncio
    async def test_key_value_indexes(self, satchel_handle: satchel.Satchel) -> None:
        """``kv(indexes=...)``: ``set`` and ``set_many`` write each value's index entries
        with it, ``find`` returns the live entries holding a value in key order, an
        overwrite replaces the entries, a delete or an expiry removes them, and a bad
        extractor result or an undeclared index is refused naming it, with nothing
        written."""

        def threads(value: Any) -> list[str]:
            return list(value.get("threads", []))

        kv = satchel_handle.kv("indexed", indexes={"thread": threads})
        assert await kv.set("c", {"threads": ["t1"], "n": 3}) == 1
        assert await kv.set_many(
            {"b": {"threads": ["t1", "t2", "t1"], "n": 2}, "a": {"threads": ["t2"], "n": 1}}
        ) == [1, 1]
        found = await kv.find("thread", "t1")
        assert [(e.key, e.value["n"], e.version) for e in found] == [("b", 2, 1), ("c", 3, 1)]
        assert [e.key for e in await kv.find("thread", "t2")] == ["a", "b"]
        assert [e.key for e in await kv.find("thread", "t2", limit=1)] == ["a"]
        assert await kv.find("thread", "t3") == []
        assert await kv.set("b", {"threads": ["t3"], "n": 4}) == 2
        assert [e.key for e in await kv.find("thread", "t1")] == ["c"]
        assert [(e.key, e.version) for e in await kv.find("thread", "t3")] == [("b", 2)]
        assert await kv.delete("c") is True
        assert await kv.find("thread", "t1") == []
        # live until its expiry: checked only while the record is surely live, so a
        # slow machine cannot fail the rule; the expiry itself is checked below
        clock = asyncio.get_running_loop().time
        written = clock()
        await kv.set("gone", {"threads": ["t2"]}, ttl=0.5)
        found_live = [e.key for e in await kv.find("thread", "t2")]
        if clock() - written < 0.4:
            assert found_live == ["a", "gone"]
        await asyncio.sleep(max(0.0, written + 0.7 - clock()))
        assert [e.key for e in await kv.find("thread", "t2")] == ["a"]
        # the same namespace without the declaration: nothing to look up by
        with pytest.raises(InvalidArgument, match="index: 'thread' is not declared"):
            await satchel_handle.kv("indexed").find("thread", "t2")
        with pytest.raises(InvalidArgument, match=r"indexes\['thread'\]"):
            await kv.set("d", {"threads": [""]})
        with pytest.raises(InvalidArgument, match=r"indexes\['thread'\]"):
            await kv.set_many({"e": {"threads": ["ok"]}, "f": {"threads": [7]}})
        assert await kv.get_many(["d", "e", "f"]) == {}
        with pytest.raises(InvalidArgument, match="indexes"):
            satchel_handle.kv("indexed", indexes={"thread": "not callable"})  # type: ignore[dict-item]
        with pytest.raises(InvalidArgument, match="value"):
            await kv.find("thread", "")

    @pytest.mark.asyncio
    async def test_task_store(self, satchel_handle: satchel.Satchel) -> None:
        tasks = satchel_handle.tasks(KitTask)
        task = KitTask(task_id="t:1", items=[{"request_id": "req-1"}])
        assert await tasks.create(task) == 1
        with pytest.raises(AlreadyExists):
            await tasks.create(task)
        task.status = "Completed"
        task.items.append({"request_id": "req-2"})
        assert await tasks.update(task, expected_version=1) == 2
        with pytest.raises(Conflict):
            await tasks.update(task, expected_version=1)
        loaded = await tasks.load("t:1")
        assert loaded is not None
        assert loaded.status == "Completed"
        by_request = await tasks.load_by_request_id("req-2")
        assert by_request is not None
        assert by_request.task_id == "t:1"
        assert await tasks.load_by_request_id("req-3") is None
        with pytest.raises(NotFound):
            await tasks.update(KitTask(task_id="t:2"))
        assert await tasks.count(status="Completed") == 1
        await tasks.delete("t:1", expected_version=2)
        assert await tasks.load("t:1") is None
        assert await tasks.load_by_request_id("req-1") is None
        # save: create or replace, unconditionally, with the task's own index entries
        created = await tasks.save(KitTask(task_id="t:3", items=[{"request_id": "req-4"}]))
        replaced = await tasks.save(KitTask(task_id="t:3", items=[{"request_id": "req-5"}]))
        assert replaced == created + 1
        assert await tasks.load_by_request_id("req-4") is None
        saved = await tasks.load_versioned("t:3")
        assert saved is not None
        assert saved.version == replaced
        assert saved.created_at is not None
        assert saved.updated_at is not None
        assert saved.created_at <= saved.updated_at
        by_request = await tasks.load_by_request_id("req-5")
        assert by_request is not None
        assert by_request.task_id == "t:3"

    @pytest.mark.asyncio
    async def test_session_store(self, satchel_handle: satchel.Satchel) -> None:
        sessions = satchel_handle.sessions(KitSession)
        assert await sessions.save("s1", KitSession(turns=["hi"])) == 1
        assert await sessions.save("s1", KitSession(turns=["hi", "bye"]), ttl=60) == 2
        loaded = await sessions.load("s1")
        assert loaded is not None
        assert loaded.turns == ["hi", "bye"]
        assert (await sessions.list()).items == ["s1"]
        assert await sessions.exists("s1")
        with pytest.raises(Conflict):
            await sessions.delete("s1", expected_version=1)
        assert await sessions.delete("s1", expected_version=2) is True
        assert not await sessions.exists("s1")
        assert await sessions.load("s1") is None

    @pytest.mark.asyncio
    async def test_standard_types_are_stored_in_their_json_form(
        self, satchel_handle: satchel.Satchel
    ) -> None:
        """A key-value value may hold models, datetimes, dates, times, durations, decimals,
        UUIDs and enums: each is stored (and read back) as the JSON form pydantic gives it,
        a datetime is found by a datetime range query whatever its offset, and the other
        types are found by a query with the same value."""
        kv = satchel_handle.kv("typed values")
        noon = datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc)
        ident = UUID(int=5)
        values = {
            "utc": {"at": noon, "kind": _Kind.RUSH, "id": ident},
            # one hour later than noon UTC, written at +02:00
            "east": {"at": datetime(2026, 1, 2, 15, 0, tzinfo=timezone(timedelta(hours=2)))},
            "naive": {"at": datetime(2026, 1, 2, 14, 0)},  # read as UTC
            "other": {
                "day": date(2026, 1, 2),
                "clock": time(3, 4, 5),
                "took": timedelta(hours=1, minutes=30),
                "amount": Decimal("1.10"),
                "stamp": _Stamp(at=noon, amount=Decimal("2.5")),
                "kinds": (_Kind.PLAIN, _Kind.RUSH),
            },
        }
        await kv.set("utc", values["utc"])
        await kv.set_many({k: v for k, v in values.items() if k != "utc"})
        assert await kv.get("utc") == {
            "at": "2026-01-02T12:00:00Z",
            "kind": "rush",
            "id": "00000000-0000-0000-0000-000000000005",
        }
        assert await kv.get("east") == {"at": "2026-01-02T15:00:00+02:00"}
        assert await kv.get("naive") == {"at": "2026-01-02T14:00:00"}
        assert await kv.get("other") == {
            "day": "2026-01-02",
            "clock": "03:04:05",
            "took": "PT1H30M",
            "amount": "1.10",
            "stamp": {"at": "2026-01-02T12:00:00Z", "amount": "2.5"},
            "kinds": ["plain", "rush"],
        }
        entry = await kv.get_entry("other")
        assert isinstance(entry, satchel.Entry)
        assert isinstance(entry, satchel.Versioned)
        assert _Stamp.model_validate(entry.value["stamp"]) == _Stamp(at=noon, amount=Decimal("2.5"))

        async def keys(where: Any, order_by: Any = None) -> list[str]:
            page = await kv.query(where, order_by=order_by)
            assert all(isinstance(e, satchel.Entry) for e in page.items)
            return [e.key for e in page.items]

        # datetimes compare as instants: noon UTC, 13:00 UTC (+02:00), 14:00 UTC (naive)
        after = noon + timedelta(minutes=30)
        assert await keys({"at": {"gt": after}}) == ["east", "naive"]
        assert await keys({"at": {"gte": noon, "lt": after}}) == ["utc"]
        assert await keys({"at": noon.astimezone(timezone(timedelta(hours=-5)))}) == ["utc"]
        assert await keys({"at": {"gte": noon, "lte": noon + timedelta(hours=2)}}) == [
            "east",
            "naive",
            "utc",
        ]
        assert await kv.count({"at": {"lt": noon}}) == 0
        # the other types find their stored form
        assert await keys({"kind": _Kind.RUSH, "id": ident}) == ["utc"]
        assert await keys({"kinds": {"contains": _Kind.PLAIN}}) == ["other"]
        assert await keys({"day": date(2026, 1, 2), "amount": Decimal("1.10")}) == ["other"]
        assert await keys({"took": timedelta(minutes=90), "clock": time(3, 4, 5)}) == ["other"]
        assert await keys({"stamp": _Stamp(at=noon, amount=Decimal("2.5"))}) == ["other"]
        assert await keys({"stamp.at": {"lte": noon}}) == ["other"]

        logs = satchel_handle.logs("typed entries")
        await logs.append("l", {"at": noon, "id": ident}, _Kind.PLAIN)
        assert [i.value for i in await logs.last("l", 2)] == [
            {"at": "2026-01-02T12:00:00Z", "id": "00000000-0000-0000-0000-000000000005"},
            "plain",
        ]

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("call", "error", "argument"),
        [
            (lambda kv: kv.set("", 1), InvalidArgument, "key"),
            (lambda kv: kv.set(5, 1), InvalidArgument, "key"),
            (lambda kv: kv.set("k", 1, ttl=-1), InvalidArgument, "ttl"),
            (lambda kv: kv.set("k", 1, ttl=0), InvalidArgument, "ttl"),
            (lambda kv: kv.set("k", {1, 2}), InvalidArgument, "value"),
            (lambda kv: kv.set("k", {"at": [b"x"]}), InvalidArgument, "value['at'][0]"),
            (lambda kv: kv.set("k", {"m": [object()]}), InvalidArgument, "value['m'][0]"),
            (lambda kv: kv.set("k", {1: datetime.now()}), InvalidArgument, "value"),
            (
                lambda kv: kv.set_many({"ok": 1, "bad": {"d": {Decimal(1)}}}),
                InvalidArgument,
                "items['bad']['d']",
            ),
            (lambda kv: kv.set("k", {"a": [math.nan]}), InvalidArgument, "value"),
            (lambda kv: kv.set("k", {1: "a"}), InvalidArgument, "value"),
            (lambda kv: kv.set("k", b"bytes"), InvalidArgument, "value"),
            (lambda kv: kv.set_many({"a": 1, "k": {2}}), InvalidArgument, "items"),
            (lambda kv: kv.set_many({"a": 1, "": 2}), InvalidArgument, "items key"),
            (lambda kv: kv.query(limit=-1), InvalidArgument, "limit"),
            (lambda kv: kv.query([("a", "like", "x")]), InvalidQuery, "where"),
            (lambda kv: kv.query([("", "eq", 1)]), InvalidQuery, "where"),
            (lambda kv: kv.query(order_by=[("a", "up")]), InvalidQuery, "order_by"),
            (lambda kv: kv.query(cursor="nonsense"), InvalidQuery, "cursor"),
            (lambda kv: kv.keys("a[b"), InvalidQuery, "pattern"),
            (lambda kv: kv.get(""), InvalidArgument, "key"),
            (lambda kv: kv.delete(None), InvalidArgument, "key"),
            (lambda kv: kv.query(order_by=123), InvalidQuery, "order_by"),
            (lambda kv: kv.query(order_by=1.5), InvalidQuery, "order_by"),
            (lambda kv: kv.query(select=123), InvalidQuery, "select"),
            (lambda kv: kv.query([("a\ud800", "eq", 1)]), InvalidQuery, "where"),
            (lambda kv: kv.query([("key", "eq", "a\udfff")]), InvalidQuery, "where"),
            (lambda kv: kv.count({"a": {"in": ["\ud800"]}}), InvalidQuery, "where"),
            (lambda kv: kv.query(order_by="-a\ud800"), InvalidQuery, "order_by"),
            (lambda kv: kv.query(select=[("a", "\udc00")]), InvalidQuery, "select"),
            (
                lambda kv: kv.query(order_by="created_at", cursor=_forged(1e300)),
                InvalidQuery,
                "cursor",
            ),
            (
                lambda kv: kv.query(order_by="created_at", cursor=_forged(-1e300)),
                InvalidQuery,
                "cursor",
            ),
            (
                lambda kv: kv.query(order_by="a", cursor=_forged("x", "a", "\ud800")),
                InvalidQuery,
                "cursor",
            ),
            (lambda kv: kv.query(limit=2**70), InvalidQuery, "limit"),
            (lambda kv: kv.query(offset=2**64), InvalidQuery, "offset"),
            (
                lambda kv: kv.set("k", 1, expected_version=2**70),
                InvalidArgument,
                "expected_version",
            ),
            (
                lambda kv: kv.delete("k", expected_version=2**63),
                InvalidArgument,
                "expected_version",
            ),
            (lambda kv: kv.keys("a\ud800*"), InvalidQuery, "pattern"),
            (lambda kv: kv.query([("a", "eq", {1, 2})]), InvalidQuery, "where"),
            (lambda kv: kv.query([("a", "eq", _deep(65))]), InvalidQuery, "where"),
        ],
        ids=[
            "empty-key",
            "non-string-key",
            "negative-ttl",
            "zero-ttl",
            "set-value",
            "bytes-in-a-list",
            "object-in-a-list",
            "int-key-over-a-datetime",
            "set_many-set-of-decimals",
            "nan-value",
            "int-object-key",
            "bytes-value",
            "set_many-bad-value",
            "set_many-empty-key",
            "negative-limit",
            "unknown-operator",
            "empty-field",
            "bad-direction",
            "garbage-cursor",
            "unclosed-bracket",
            "get-empty-key",
            "delete-none-key",
            "order_by-int",
            "order_by-float",
            "select-int",
            "surrogate-in-where-field",
            "surrogate-in-key-condition",
            "surrogate-in-an-in-list",
            "surrogate-in-order_by",
            "surrogate-in-select",
            "cursor-date-1e300",
            "cursor-date-minus-1e300",
            "cursor-surrogate-key",
            "limit-beyond-64-bits",
            "offset-beyond-64-bits",
            "expected_version-beyond-64-bits",
            "delete-expected_version-beyond-64-bits",
            "surrogate-in-pattern",
            "set-in-query-value",
            "query-value-too-deep",
        ],
    )
    async def test_bad_input_is_refused_naming_the_argument(
        self, satchel_handle: satchel.Satchel, call: Any, error: type[SatchelError], argument: str
    ) -> None:
        """The message starts with the argument's name, as in ``key: must not be empty``."""
        kv = satchel_handle.kv("bad input")
        with pytest.raises(error) as info:
            await call(kv)
        assert isinstance(info.value, SatchelError)
        message = str(info.value)
        assert message.startswith(argument), f"{message!r} does not start with {argument!r}"
        assert await kv.keys() == [], "nothing written"
        assert await kv.count() == 0

    @pytest.mark.asyncio
    async def test_one_nesting_limit_on_every_store(self, satchel_handle: satchel.Satchel) -> None:
        """A value nested :data:`~satchel.validation.MAX_DEPTH` levels deep is stored and
        reads back equal, one level more is refused naming the argument, with nothing
        written: a key-value value, a task's and a session's JSON form (the model's object
        is a level), a log entry, plain or a model. So every value satchel accepts is one
        every backend stores (MongoDB refuses documents nested past 100 levels)."""
        handle = satchel_handle
        kv = handle.kv("depth")
        tasks = handle.tasks(_Holder, name="depth")
        sessions = handle.sessions(_Holder, name="depth")
        plain, typed = handle.logs("depth"), handle.logs("depth-typed", _Holder)
        ok, deep = _nested(MAX_DEPTH), _nested(MAX_DEPTH + 1)
        held_ok = _Holder(task_id="ok", data=_nested(MAX_DEPTH - 1))
        held_deep = _Holder(task_id="deep", data=_nested(MAX_DEPTH))

        assert await kv.set("ok", ok) == 1
        assert await kv.set_many({"many": ok}) == [1]
        assert await kv.get("ok") == ok
        assert await kv.get("many") == ok
        assert await tasks.create(held_ok) == 1
        assert await tasks.update(held_ok, expected_version=1) == 2
        assert await tasks.load("ok") == held_ok
        assert await sessions.save("ok", held_ok) == 1
        assert await sessions.load("ok") == held_ok
        await plain.append("ok", ok)
        await typed.append("ok", held_ok)
        assert [i.value for i in await plain.last("ok", 1)] == [ok]
        assert [i.value for i in await typed.last("ok", 1)] == [held_ok]

        refused: list[tuple[str, Any]] = [
            ("value", lambda: kv.set("deep", deep)),
            ("items", lambda: kv.set_many({"deep": deep})),
            ("value", lambda: kv.set("ok", deep, expected_version=1)),
            ("task", lambda: tasks.create(held_deep)),
            ("task", lambda: tasks.update(_Holder(task_id="ok", data=deep), expected_version=2)),
            ("session", lambda: sessions.save("deep", held_deep)),
            ("session", lambda: sessions.save("ok", held_deep)),
            ("items[0]", lambda: plain.append("deep", deep)),
            ("items[0]", lambda: typed.append("deep", held_deep)),
        ]
        for argument, call in refused:
            with pytest.raises(InvalidArgument) as info:
                await call()
            message = str(info.value)
            assert message.startswith(argument), f"{message!r} does not name {argument!r}"
            assert f"deeper than {MAX_DEPTH} levels" in message, message
        assert sorted(await kv.keys()) == ["many", "ok"]
        assert await kv.get("ok") == ok
        assert await tasks.load("deep") is None
        assert await tasks.load("ok") == held_ok
        assert await sessions.load("deep") is None
        assert await sessions.load("ok") == held_ok
        assert await plain.length("deep") == 0
        assert await typed.length("deep") == 0

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        "data",
        ["a\ud800", {"\udc00": 1}, [b"\xff"], {"k": ["\udfff"]}],
        ids=["surrogate", "surrogate-object-key", "bytes-not-utf8", "nested-surrogate"],
    )
    async def test_a_model_whose_json_form_is_not_storable_is_refused(
        self, satchel_handle: satchel.Satchel, data: Any
    ) -> None:
        """A task, session or log entry whose JSON form holds what no backend stores (a lone
        surrogate, bytes that are not UTF-8) is an InvalidArgument naming the argument on
        every backend, with nothing written; not a driver's error, nor stored by one
        backend and refused by another."""
        tasks = satchel_handle.tasks(_Holder, name="bad model")
        sessions = satchel_handle.sessions(_Holder, name="bad model")
        typed = satchel_handle.logs("bad model", _Holder)
        held = _Holder(task_id="t", data=data)
        for argument, call in (
            ("task", lambda: tasks.create(held)),
            ("session", lambda: sessions.save("s", held)),
            ("items[0]", lambda: typed.append("l", held)),
        ):
            with pytest.raises(InvalidArgument) as info:
                await call()
            message = str(info.value)
            assert message.startswith(argument), f"{message!r} does not name {argument!r}"
        assert await tasks.load("t") is None
        assert await sessions.load("s") is None
        assert await typed.length("l") == 0

    @pytest.mark.asyncio
    async def test_bad_store_names_are_refused(self, satchel_handle: satchel.Satchel) -> None:
        with pytest.raises(InvalidArgument) as info:
            satchel_handle.kv("a\x00b")
        assert "namespace" in str(info.value)
        with pytest.raises(InvalidArgument) as info:
            satchel_handle.kv("")
        assert "namespace" in str(info.value)
        with pytest.raises(InvalidArgument) as info:
            satchel_handle.tasks(KitTask, name="t\x00")
        assert "name" in str(info.value)
        assert await satchel_handle.namespaces() == []
