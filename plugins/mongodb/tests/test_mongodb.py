"""The mongodb backend's own tests: settings and secrets, the document layout, operator
injection, queries agreeing with the memory reference where MongoDB's own semantics differ,
size limits, one round trip per batch, indexes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from satchel.backend import Record, utcnow
from satchel.errors import ConfigError, CorruptRecord, InvalidArgument, ValueTooLarge
from satchel.query import Condition, Query, evaluate
from satchel.settings import load_settings
from satchel_mongodb import MongoBackend, MongoSettings

# -- settings ------------------------------------------------------------------------------


def test_loading_the_plugin_does_not_import_pymongo() -> None:
    code = (
        "import sys, satchel_mongodb.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymongo', 'bson')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_settings_are_read_from_the_environment() -> None:
    settings = load_settings(
        MongoSettings,
        environ={
            "SATCHEL_MONGODB_URI": "mongodb://db1:27017,db2:27017/?replicaSet=rs0",
            "SATCHEL_MONGODB_DATABASE": "agents",
            "SATCHEL_MONGODB_COLLECTION_PREFIX": "app.",
            "SATCHEL_MONGODB_WRITE_CONCERN": "2",
            "SATCHEL_MONGODB_SERVER_SELECTION_TIMEOUT": "3",
        },
    )
    assert settings.database == "agents"
    assert settings.collection_prefix == "app."
    assert settings.write_concern == "2"
    assert settings.server_selection_timeout == 3


@pytest.mark.parametrize(
    ("environ", "variable", "problem"),
    [
        ({"SATCHEL_MONGODB_URI": "redis://h"}, "SATCHEL_MONGODB_URI", "mongodb://"),
        ({"SATCHEL_MONGODB_WRITE_CONCERN": "0"}, "SATCHEL_MONGODB_WRITE_CONCERN", "majority"),
        ({"SATCHEL_MONGODB_DATABASE": "a.b"}, "SATCHEL_MONGODB_DATABASE", "'.'"),
        ({"SATCHEL_MONGODB_COLLECTION_PREFIX": "a$"}, "SATCHEL_MONGODB_COLLECTION_PREFIX", "$"),
        ({"SATCHEL_MONGODB_PASSWORD": "hunter2"}, "SATCHEL_MONGODB_USERNAME", "hunter2"),
        (
            {"SATCHEL_MONGODB_URI": "mongodb://u:hunter2@h", "SATCHEL_MONGODB_USERNAME": "v"},
            "SATCHEL_MONGODB_USERNAME",
            "one place",
        ),
    ],
)
def test_bad_settings_name_the_variable(
    environ: dict[str, str], variable: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(MongoSettings, environ=environ)
    message = str(info.value)
    assert variable in message
    if problem == "hunter2":
        assert "hunter2" not in message
    else:
        assert problem in message


async def test_secrets_never_show() -> None:
    backend = MongoBackend.from_uri("mongodb://admin:hunter2@127.0.0.1:1/?authSource=admin")
    try:
        for text in (repr(backend), backend.describe(), repr(backend.settings)):
            assert "hunter2" not in text
            assert "127.0.0.1" in text or "MongoSettings" in text
    finally:
        await backend.close()


def test_a_malformed_uri_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        MongoBackend.from_uri("mongodb://admin:hunter2@host:notaport/")
    assert "SATCHEL_MONGODB_URI" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("values", "from_code", "from_env"),
    [
        (
            {"password": "hunter2"},
            "backend_settings['password'] is set without backend_settings['username']",
            "SATCHEL_MONGODB_PASSWORD is set without SATCHEL_MONGODB_USERNAME",
        ),
        (
            {"uri": "mongodb://ann:hunter2@h/", "username": "bob"},
            "backend_settings['uri'] carries credentials, and backend_settings['username']",
            "SATCHEL_MONGODB_URI carries credentials, and SATCHEL_MONGODB_USERNAME",
        ),
    ],
)
def test_the_credential_checks_name_what_set_them(
    values: dict[str, str], from_code: str, from_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings given in code are named as arguments, variables as variables."""
    import satchel

    with pytest.raises(ConfigError) as info:
        satchel.open(backend="mongodb", backend_settings=values)
    assert from_code in str(info.value) and "hunter2" not in str(info.value)
    environ = {f"SATCHEL_MONGODB_{k.upper()}": v for k, v in values.items()}
    with pytest.raises(ConfigError) as info:
        satchel.open(environ={"SATCHEL_BACKEND": "mongodb", **environ})
    assert from_env in str(info.value) and "hunter2" not in str(info.value)


# -- a backend per test --------------------------------------------------------------------


@pytest.fixture
async def raw(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        yield client
    finally:
        await client.close()


async def raw_document(
    raw: AsyncMongoClient[dict[str, Any]], backend: MongoBackend, collection: str, key: str
) -> dict[str, Any] | None:
    coll = raw[backend.settings.database][backend._collection(collection).name]
    return await coll.find_one({"_id": key})


# -- layout and injection -------------------------------------------------------------------

HOSTILE = {
    "$where": "sleep(1000)",
    "$gt": "",
    "a.b": {"$ne": None, "c.d": [1, {"$in": [1]}]},
    "": "empty key",
    "%": "percent",
    "%24": "looks escaped",
    "n": 1,
    "o": [],
    "l": {},
}


async def test_keys_with_dollar_and_dot_are_stored_escaped_and_returned_unchanged(
    backend: MongoBackend, raw: AsyncMongoClient[dict[str, Any]]
) -> None:
    await backend.put(Record("layout", "k", HOSTILE))
    got = await backend.get("layout", "k")
    assert got is not None
    assert got.value == HOSTILE
    assert list(got.value) == list(HOSTILE), "key order is kept"
    doc = await raw_document(raw, backend, "layout", "k")
    assert doc is not None
    # the value as a plain sub-document: only the keys MongoDB cannot store or address as
    # they are (and those that start with the escape mark %) are escaped, in their order
    assert list(doc["value"]) == [
        "%%24where",
        "%%24gt",
        "%a%2Eb",
        "%",
        "%%25",
        "%%2524",
        "n",
        "o",
        "l",
    ]
    assert doc["value"]["%a%2Eb"] == {"%%24ne": None, "%c%2Ed": [1, {"%%24in": [1]}]}
    assert doc["value"]["n"] == 1 and doc["value"]["o"] == [] and doc["value"]["l"] == {}


async def test_hostile_query_values_are_matched_literally(backend: MongoBackend) -> None:
    values = {
        "where": {"q": {"$where": "true"}},
        "gt": {"q": {"$gt": ""}},
        "text": {"q": "$gt"},
        "other": {"q": "plain"},
        "dollar-key": {"$gt": ""},
    }
    for key, value in values.items():
        await backend.put(Record("hostile", key, value))

    async def keys(*where: tuple[Any, str, Any]) -> list[str]:
        page = await backend.query("hostile", Query.build(where=list(where)))
        return [r.key for r in page]

    assert await keys(("q", "eq", {"$where": "true"})) == ["where"]
    assert await keys(("q", "eq", {"$gt": ""})) == ["gt"]
    assert await keys(("q", "eq", "$gt")) == ["text"]
    assert await keys(("q", "in", [{"$gt": ""}, "plain"])) == ["gt", "other"]
    assert await keys(("q", "neq", {"$gt": ""})) == ["dollar-key", "other", "text", "where"]
    assert await keys((("$gt",), "eq", "")) == ["dollar-key"]
    assert await keys((("q", "$gt"), "exists", True)) == ["gt"]
    assert await keys(("q", "startswith", "$")) == ["text"]
    assert await keys(("q", "contains", ".*")) == []
    assert await keys(("key", "startswith", "dollar")) == ["dollar-key"]
    assert await backend.count("hostile", Query.build(where={"q": {"$gt": ""}}).where) == 1


# -- queries agree with the reference where MongoDB differs ---------------------------------

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

CORPUS: dict[str, Any] = {
    "num1": {"x": 1, "tags": ["a", "b"]},
    "num1f": {"x": 1.0, "tags": ["b"]},
    "num2": {"x": 2.5, "tags": []},
    "str1": {"x": "1", "tags": "a"},
    "strb": {"x": "b", "tags": ["a", ["a"]]},
    "null": {"x": None, "tags": [None]},
    "false": {"x": False, "tags": [False]},
    "false2": {"x": False},
    "true": {"x": True, "tags": [True, 1]},
    "list1": {"x": [1], "tags": [{"k": 1, "j": 2}]},
    "list31": {"x": [3, 1], "tags": [{"j": 2, "k": 1}, {"k": 1}]},
    "listdeep": {"x": [[1], 2]},
    "obj": {"x": {"a": 1, "b": [2]}, "tags": {"0": "zero"}},
    "obj2": {"x": {"b": [2], "a": 1}},
    "objzero": {"x": {"0": 1}},
    "missing": {"y": 1},
    "big": {"x": 10**20},
    "bigger": {"x": -(10**25)},
    "date": {"x": "2024-01-01T00:00:00Z", "tags": ["2024-01-01T01:00:00+01:00"]},
    "date2": {"x": "2024-01-01T00:00:00.000001+00:00"},
    "date3": {"x": "2024-06-01"},
    "nl": {"x": "ab\n"},
    "scalar": 7,
    "list": [1, "two"],
    "dollar": {"x": {"$gt": 0}},
}

DT = datetime(2024, 1, 1, tzinfo=timezone.utc)
CONDITIONS: list[tuple[Any, str, Any]] = [
    ("x", "eq", 1),
    ("x", "eq", "1"),
    ("x", "eq", None),
    ("x", "eq", True),
    ("x", "eq", [1]),
    ("x", "eq", [1, 3]),
    ("x", "eq", {"a": 1, "b": [2]}),
    ("x", "eq", {"a": 1}),
    ("x", "eq", DT),
    ("x", "eq", 10**20),
    ("x", "neq", 1),
    ("x", "neq", None),
    ("x", "neq", [1]),
    ("x", "neq", DT),
    ("x", "gt", 0),
    ("x", "gte", 1),
    ("x", "lt", 3),
    ("x", "lte", "b"),
    ("x", "gt", ""),
    ("x", "gt", False),
    ("x", "gt", None),
    ("x", "lt", [5]),
    ("x", "gt", DT),
    ("x", "gte", DT),
    ("x", "lt", DT + timedelta(microseconds=2)),
    ("x", "gt", 10**30),
    ("x", "in", [1, "b", None]),
    ("x", "in", [[1], {"b": [2], "a": 1}]),
    ("x", "in", []),
    ("x", "in", [DT, 2.5]),
    ("x", "contains", 1),
    ("x", "contains", "b"),
    ("x", "contains", ""),
    ("x", "contains", [1]),
    ("x", "contains", DT),
    ("x", "startswith", "a"),
    ("x", "endswith", "b"),
    ("x", "endswith", "\n"),
    ("x", "exists", True),
    ("x", "exists", False),
    ("tags", "contains", "a"),
    ("tags", "contains", None),
    ("tags", "contains", ["a"]),
    ("tags", "contains", {"j": 2, "k": 1}),
    ("tags", "contains", 1),
    ("tags", "contains", True),
    ("tags", "contains", DT),
    ("tags", "eq", "a"),
    ("tags", "eq", []),
    ("tags.0", "eq", "a"),
    ("tags.0", "eq", "zero"),
    ("tags.00", "eq", "a"),
    ("tags.1", "exists", True),
    ("tags.0.k", "eq", 1),
    ("x.0", "eq", 1),
    ("x.0.0", "eq", 1),
    ("x.a", "eq", 1),
    ("x.$gt", "exists", True),
    ("value", "eq", 7),
    ("value", "eq", [1, "two"]),
    ("0", "eq", 1),
    ("1", "eq", "two"),
    ("value", "gt", 5),
    ("key", "startswith", "num"),
    ("key", "gt", "o"),
    ("key", "contains", "1"),
    ("key", "eq", DT),
    ("version", "eq", 1),
    ("version", "gt", 1.5),
    ("created_at", "lte", NOW),
    ("expires_at", "eq", None),
    ("expires_at", "neq", None),
]
ORDERS = ["x", "-x", "tags", "tags.0", "-value", "x.0", "expires_at", "-key", "version"]


@pytest.fixture
async def corpus(backend: MongoBackend) -> list[Record]:
    records = []
    for number, (key, value) in enumerate(CORPUS.items()):
        expires = utcnow() + timedelta(days=1) if number % 3 == 0 else None
        records.append(await backend.put(Record("corpus", key, value, expires_at=expires)))
    return records


async def test_every_condition_agrees_with_the_reference(
    backend: MongoBackend, corpus: list[Record]
) -> None:
    for field_, op, value in CONDITIONS:
        query = Query.build(where=[(field_, op, value)])
        expected = [r.key for r in evaluate(corpus, query)[0]]
        got = [r.key for r in await backend.query("corpus", query)]
        assert got == expected, (field_, op, value)
        assert await backend.count("corpus", query.where) == len(expected), (field_, op, value)


async def test_every_ordering_agrees_with_the_reference_page_by_page(
    backend: MongoBackend, corpus: list[Record]
) -> None:
    wheres: list[Any] = [None, [("x", "neq", 1)]]
    for order, where, limit in itertools.product(ORDERS, wheres, (None, 4)):
        query = Query.build(where=where, order_by=order, limit=limit)
        expected = [r.key for r in evaluate(corpus, query)[0]]
        page = await backend.query("corpus", query)
        assert [r.key for r in page] == expected, (order, where, limit)
        if limit is None:
            continue
        walked = [r.key for r in page]
        while page.next_cursor is not None:
            query = Query.build(where=where, order_by=order, limit=limit, cursor=page.next_cursor)
            page = await backend.query("corpus", query)
            walked += [r.key for r in page]
        everything = Query.build(where=where, order_by=order)
        assert walked == [r.key for r in evaluate(corpus, everything)[0]], (order, where)


async def test_select_agrees_with_the_reference(
    backend: MongoBackend, corpus: list[Record]
) -> None:
    for select in (["x"], ["x.a", "tags"], ["x", "x.a"], ["value"], ["missing.deep"]):
        query = Query.build(select=select, order_by="key")
        expected = [(r.key, r.value) for r in evaluate(corpus, query)[0]]
        got = [(r.key, r.value) for r in await backend.query("corpus", query)]
        assert got == expected, select


async def test_contains_with_a_nested_datetime_agrees_with_the_reference(
    backend: MongoBackend, corpus: list[Record]
) -> None:
    stored = await backend.put(Record("corpus", "nested-dt", {"tags": [[DT.isoformat()], "x"]}))
    query = Query.build(where=[("tags", "contains", [DT])])
    expected = [r.key for r in evaluate([*corpus, stored], query)[0]]
    assert expected == ["nested-dt"]
    assert [r.key for r in await backend.query("corpus", query)] == expected


# -- numbers, sizes, corrupt documents ------------------------------------------------------


async def test_integers_beyond_64_bits(backend: MongoBackend) -> None:
    stored = await backend.put(Record("numbers", "big", {"n": 10**30, "m": -(2**63) - 1}))
    got = await backend.get("numbers", "big")
    assert got is not None
    assert got.value == {"n": 10**30, "m": -(2**63) - 1} == stored.value
    with pytest.raises(InvalidArgument, match="34"):
        await backend.put(Record("numbers", "huge", {"n": 10**40}))
    assert await backend.get("numbers", "huge") is None


async def test_a_document_over_16_mib_is_refused_before_it_is_sent(
    backend: MongoBackend,
) -> None:
    commands = Commands()
    monitoring.register(commands)
    await backend.put(Record("size", "a", "small"))
    many_small = [0] * 1_500_000  # 1.5 M list items: small in JSON, over 16 MiB in BSON
    commands.names.clear()
    with pytest.raises(ValueTooLarge, match="'b'"):
        await backend.put(Record("size", "b", many_small))
    with pytest.raises(ValueTooLarge):
        await backend.put_many([Record("size", "a", "changed"), Record("size", "b", many_small)])
    assert commands.names == [], "nothing was sent"
    got = await backend.get("size", "a")
    assert got is not None and (got.value, got.version) == ("small", 1)
    assert await backend.get("size", "b") is None


async def test_a_foreign_document_is_a_corrupt_record_naming_its_key(
    backend: MongoBackend, raw: AsyncMongoClient[dict[str, Any]]
) -> None:
    await backend.put(Record("foreign", "fine", {"ok": True}))
    coll = raw[backend.settings.database][backend._collection("foreign").name]
    await coll.insert_one(
        {"_id": "planted", "val": {"weird": 1}, "version": 1, "created": NOW, "updated": NOW}
    )
    with pytest.raises(CorruptRecord, match="planted"):
        await backend.get("foreign", "planted")
    with pytest.raises(CorruptRecord, match="planted"):
        await backend.query("foreign", Query.build())
    await backend.put(Record("foreign", "planted", "repaired"))
    got = await backend.get("foreign", "planted")
    assert got is not None and got.value == "repaired"


# -- round trips and indexes ----------------------------------------------------------------


class Commands(monitoring.CommandListener):
    """The names of the commands sent by clients built after :func:`monitoring.register`."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in ("endSessions", "hello", "isMaster", "ismaster"):
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def commands() -> Commands:
    """A listener of the clients built from now on (pymongo has no way to unregister one;
    it costs the later clients little)."""
    listener = Commands()
    monitoring.register(listener)
    return listener


async def test_put_many_is_one_bulk_write_and_get_many_one_find(
    commands: Commands, mongodb_uri: str
) -> None:
    backend = MongoBackend.from_uri(
        mongodb_uri, database="satchel_own", collection_prefix=f"t{uuid.uuid4().hex[:10]}."
    )
    try:
        await backend.put(Record("batch", "k0", 0))  # indexes created, k0 exists
        commands.names.clear()
        stored = await backend.put_many([Record("batch", f"k{i}", i) for i in range(100)])
        assert [r.version for r in stored] == [2] + [1] * 99
        # one find of the keys not seen before, one bulk_write (k0's upsert and the new keys'
        # claims), one find of the floor, one bulk_write of the new records
        assert sorted(commands.names) == ["find", "find", "insert", "update", "update"]
        commands.names.clear()
        stored = await backend.put_many([Record("batch", f"k{i}", -i) for i in range(100)])
        assert [r.version for r in stored] == [3] + [2] * 99
        assert commands.names == ["update"]  # every version known: one bulk_write
        commands.names.clear()
        got = await backend.get_many("batch", [f"k{i}" for i in range(100)] + ["absent"])
        assert commands.names == ["find"]
        assert [r.value if r else None for r in got] == [*(-i for i in range(100)), None]
    finally:
        for name in await backend.collections():
            await backend.drop(name)
        await backend.close()


async def test_indexes_are_created_once_and_idempotently(
    backend: MongoBackend, raw: AsyncMongoClient[dict[str, Any]], mongodb_uri: str
) -> None:
    await backend.put(Record("indexed", "a", 1, index={"tag": ("x", "y")}))
    other = MongoBackend.from_uri(
        mongodb_uri, database="satchel_own", collection_prefix=backend.settings.collection_prefix
    )
    try:
        await other.put(Record("indexed", "b", 2, index={"tag": ("x",)}))
    finally:
        await other.close()
    coll = raw[backend.settings.database][backend._collection("indexed").name]
    indexes = {i["name"]: i async for i in await coll.list_indexes()}
    assert dict(indexes["satchel_index_entries"]["key"]) == {"index_entries": 1, "_id": 1}
    assert indexes["satchel_ttl"]["expireAfterSeconds"] == 60
    assert [r.key for r in await backend.find("indexed", "tag", "x")] == ["a", "b"]
    doc = await raw_document(raw, backend, "indexed", "a")
    assert doc is not None and doc["index_entries"] == ["3:tagx", "3:tagy"]


async def test_a_stale_remembered_version_costs_a_retry_not_a_lost_write(
    backend: MongoBackend, mongodb_uri: str
) -> None:
    other = MongoBackend.from_uri(
        mongodb_uri, database="satchel_own", collection_prefix=backend.settings.collection_prefix
    )
    try:
        await backend.put(Record("stale", "k", "one"))
        await other.put(Record("stale", "k", "two"))  # backend still remembers version 1
        stored = await backend.put(Record("stale", "k", "three"))
        assert stored.version == 3
        got = await other.get("stale", "k")
        assert got is not None and (got.value, got.version) == ("three", 3)
    finally:
        await other.close()


async def test_collection_names_round_trip(backend: MongoBackend) -> None:
    names = ["plain", "a$b", "100%", "dots.in.it", "ends.", ".starts", "système 🎒"]
    for name in names:
        await backend.put(Record(name, "k", json.dumps(name)))
    assert await backend.collections() == sorted(names)
    for name in names:
        got = await backend.get(name, "k")
        assert got is not None and got.value == json.dumps(name)


async def test_conditions_built_by_hand_are_translated_too(backend: MongoBackend) -> None:
    await backend.put(Record("hand", "a", {"n": 1}))
    condition = Condition.of("n", "gte", 1)
    assert await backend.count("hand", [condition]) == 1


async def test_put_many_writes_again_a_key_another_writer_changed(
    backend: MongoBackend, mongodb_uri: str
) -> None:
    other = MongoBackend.from_uri(
        mongodb_uri, database="satchel_own", collection_prefix=backend.settings.collection_prefix
    )
    try:
        await backend.put(Record("raced", "k", "one"))  # remembered at version 1
        await other.put(Record("raced", "k", "two"))  # now at version 2
        stored = await backend.put_many(
            [Record("raced", "k", "three"), Record("raced", "new", 1), Record("raced", "k", "4")]
        )
        assert [(r.key, r.version) for r in stored] == [("k", 3), ("new", 1), ("k", 4)]
        got = await other.get("raced", "k")
        assert got is not None and (got.value, got.version) == ("4", 4)
    finally:
        await other.close()


async def test_a_cursor_of_a_selection_ordered_by_the_key_then_the_value_pages_on(
    backend: MongoBackend,
) -> None:
    """With ``select`` the aggregation keeps only some fields; the value's sort field of a
    term after the key (which the sort itself skips) must still come back, or the cursor
    places the page's last record at ``null`` and the next page repeats it."""
    await backend.put(Record("sel", "a*", {}))
    await backend.put(Record("sel", "a", False))
    query = Query.build(order_by=["key", "value"], select=[], limit=1)
    first = await backend.query("sel", query)
    assert [r.key for r in first] == ["a"] and first.next_cursor is not None
    query = Query.build(order_by=["key", "value"], select=[], limit=1, cursor=first.next_cursor)
    second = await backend.query("sel", query)
    assert [r.key for r in second] == ["a*"] and second.next_cursor is None


def test_no_part_of_a_password_against_a_live_server(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a live server that refuses the credentials (the tests elsewhere use a port
    where nothing listens): nothing of the password shows up in the error chain, the CLI's
    output (plain and --json) or a DEBUG log record, pymongo's included."""
    import asyncio
    import logging
    import re
    import traceback

    from click.testing import CliRunner

    import satchel
    from satchel.cli import cli

    password = "Pq@Sv:Wk/Rd#?Xz"
    escaped = "".join(f"%{ord(c):02X}" if c in "@:/#?" else c for c in password)
    host = mongodb_uri.split("//", 1)[1].split("/", 1)[0]
    monkeypatch.setenv("SATCHEL_BACKEND", "mongodb")
    monkeypatch.setenv("SATCHEL_MONGODB_URI", f"mongodb://ann:{escaped}@{host}/?retryWrites=false")
    monkeypatch.setenv("SATCHEL_MONGODB_SERVER_SELECTION_TIMEOUT", "3")
    lines: list[str] = []

    class Records(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())
            if record.exc_info:
                lines.append("".join(traceback.format_exception(*record.exc_info)))

    handler = Records(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    shown: list[str] = []
    try:

        async def use() -> BaseException | None:
            try:
                async with satchel.open() as store:
                    await store.kv("ns").set("k", 1)
            except satchel.SatchelError as exc:
                return exc
            return None

        error = asyncio.run(use())
        assert isinstance(error, ConfigError), error
        link: BaseException | None = error
        while link is not None:
            shown += [str(link), repr(link)]
            link = link.__cause__ or link.__context__
        shown.append("".join(traceback.format_exception(error)))
        for args in (["doctor"], ["doctor", "--json"], ["kv", "get", "ns", "k", "--json"]):
            result = CliRunner().invoke(cli, args, prog_name="satchel")
            assert result.exit_code == 3, result.output
            shown.append(result.output)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert lines, "pymongo logged nothing at DEBUG: the test would see nothing"
    for text in shown + lines:
        for secret in (password, escaped):
            for part in filter(None, re.split(r"[@:/#?%]", secret)):
                if len(part) >= 2 and not part.isdigit():
                    assert part not in text, f"{part!r} of the password in {text!r}"
