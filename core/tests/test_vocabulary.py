"""One vocabulary across the stores: the deprecated names warn (naming the new one, at the
caller's line) and still work; the returned types are classes ``isinstance`` accepts; a
key-value value takes the standard types and models a task's fields take."""

from __future__ import annotations

import enum
import inspect
import warnings
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

import satchel
import satchel.sync
from satchel import Conflict, InvalidArgument, NotFound
from satchel.stores import InstanceStore, KVStore, LogStore, SessionStore, TaskStore
from satchel.sync.stores import SyncInstanceStore, SyncKVStore, SyncSessionStore
from satchel.validation import check_value


class Chat(BaseModel):
    user: str


class Job(BaseModel):
    task_id: str
    at: datetime | None = None


@pytest.fixture
def sync_store() -> Iterator[satchel.sync.SyncSatchel]:
    with satchel.sync.open(backend="memory") as handle:
        yield handle


def _one_deprecation(caught: list[warnings.WarningMessage], new: str) -> None:
    assert len(caught) == 1, [str(w.message) for w in caught]
    warning = caught[0]
    assert warning.category is DeprecationWarning
    assert new in str(warning.message)
    assert warning.filename == __file__, "the warning points at the caller's line"


# -- the deprecated names -------------------------------------------------------------------


async def test_kv_set_if_version_warns_and_still_works(store: satchel.Satchel) -> None:
    kv = store.kv("old names")
    await kv.set("k", 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await kv.set("k", 2, if_version=1) == 2
    _one_deprecation(caught, "expected_version")
    assert "if_version" in str(caught[0].message)
    with pytest.warns(DeprecationWarning, match="expected_version"), pytest.raises(Conflict):
        await kv.set("k", 3, if_version=1)
    with pytest.warns(DeprecationWarning, match="expected_version"), pytest.raises(NotFound):
        await kv.set("missing", 3, if_version=1)
    assert await kv.get("k") == 2


async def test_kv_delete_if_version_warns_and_still_works(store: satchel.Satchel) -> None:
    kv = store.kv("old names")
    await kv.set("k", 1)
    with pytest.warns(DeprecationWarning, match="expected_version"), pytest.raises(Conflict):
        await kv.delete("k", if_version=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await kv.delete("k", if_version=1) is True
    _one_deprecation(caught, "expected_version")
    assert not await kv.exists("k")


async def test_old_and_new_name_together_are_refused(store: satchel.Satchel) -> None:
    kv = store.kv("old names")
    await kv.set("k", 1)
    with (
        pytest.warns(DeprecationWarning, match="expected_version"),
        pytest.raises(InvalidArgument, match=r"^if_version"),
    ):
        await kv.set("k", 2, expected_version=1, if_version=1)
    with (
        pytest.warns(DeprecationWarning, match="expected_version"),
        pytest.raises(InvalidArgument, match=r"^if_version"),
    ):
        await kv.delete("k", expected_version=1, if_version=1)
    assert await kv.get_entry("k") is not None


async def test_sessions_has_warns_and_still_works(store: satchel.Satchel) -> None:
    sessions = store.sessions(Chat)
    await sessions.save("s1", Chat(user="ana"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await sessions.has("s1") is True
    _one_deprecation(caught, "SessionStore.exists")
    with pytest.warns(DeprecationWarning, match="exists"):
        assert await sessions.has("s2") is False


def test_the_blocking_twins_warn_at_the_callers_line(
    sync_store: satchel.sync.SyncSatchel,
) -> None:
    kv = sync_store.kv("old names")
    kv.set("k", 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert kv.set("k", 2, if_version=1) == 2
    _one_deprecation(caught, "expected_version")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert kv.delete("k", if_version=2) is True
    _one_deprecation(caught, "expected_version")
    with (
        pytest.warns(DeprecationWarning, match="expected_version"),
        pytest.raises(InvalidArgument, match=r"^if_version"),
    ):
        kv.set("k", 2, expected_version=1, if_version=1)
    sessions = sync_store.sessions(Chat)
    sessions.save("s1", Chat(user="ana"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sessions.has("s1") is True
    _one_deprecation(caught, "SessionStore.exists")
    assert sessions.exists("s1")
    with pytest.raises(Conflict):
        sessions.delete("s1", expected_version=2)
    assert sessions.delete("s1", expected_version=1) is True


async def test_the_new_names_do_not_warn(store: satchel.Satchel) -> None:
    # filterwarnings = error: any DeprecationWarning here fails the test
    kv = store.kv("new names")
    assert await kv.set("k", 1, expected_version=None) == 1
    assert await kv.set("k", 2, expected_version=1) == 2
    assert await kv.delete("k", expected_version=2) is True
    sessions = store.sessions(Chat)
    await sessions.save("s", Chat(user="x"))
    assert await sessions.exists("s")


@pytest.mark.parametrize(
    ("cls", "method"),
    [
        (KVStore, "set"),
        (KVStore, "delete"),
        (SessionStore, "save"),
        (SessionStore, "delete"),
        (TaskStore, "update"),
        (TaskStore, "delete"),
        (InstanceStore, "update"),
        (InstanceStore, "delete"),
    ],
)
def test_every_conditional_write_says_expected_version(cls: type, method: str) -> None:
    assert "expected_version" in inspect.signature(getattr(cls, method)).parameters


@pytest.mark.parametrize(
    "cls",
    [
        KVStore,
        SessionStore,
        TaskStore,
        InstanceStore,
        SyncKVStore,
        SyncSessionStore,
        SyncInstanceStore,
    ],
)
def test_every_keyed_store_says_exists(cls: type) -> None:
    assert callable(getattr(cls, "exists", None))


# -- returned types ---------------------------------------------------------------------


async def test_returned_types_work_with_isinstance(store: satchel.Satchel) -> None:
    kv = store.kv("types")
    await kv.set("a", {"n": 1})
    entry = await kv.get_entry("a")
    assert isinstance(entry, satchel.Entry)
    assert isinstance(entry, satchel.Versioned)
    assert (entry.key, entry.value, entry.version) == ("a", {"n": 1}, 1)
    assert repr(entry).startswith("Entry(key='a'")
    assert all(isinstance(e, satchel.Entry) for e in (await kv.query()).items)
    assert all(isinstance(e, satchel.Entry) for e in (await kv.get_entries(["a"])).values())
    with pytest.raises(AttributeError):
        entry.version = 2  # type: ignore[misc]
    sessions = store.sessions(Chat)
    await sessions.save("s", Chat(user="x"))
    found = await sessions.load_versioned("s")
    assert isinstance(found, satchel.Versioned) and not isinstance(found, satchel.Entry)
    tasks = store.tasks(Job)
    await tasks.create(Job(task_id="t"))
    assert isinstance(await tasks.load_versioned("t"), satchel.Versioned)
    log: LogStore[Any] = store.logs("types")
    await log.append("l", 1)
    assert isinstance((await log.last("l", 1))[0], satchel.LogItem)


# -- what a key-value value may be --------------------------------------------------------


class Level(enum.IntEnum):
    LOW = 1


class Shade(str, enum.Enum):
    DARK = "dark"


class When(enum.Enum):
    LAUNCH = date(2026, 1, 2)


def test_json_values_are_stored_as_they_are() -> None:
    value = {"a": [1, 2.5, "x", None, True]}
    assert check_value(value) is value  # nothing copied or converted


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (Level.LOW, 1),
        (Shade.DARK, "dark"),
        (When.LAUNCH, "2026-01-02"),
        ([Level.LOW, {"s": Shade.DARK}], [1, {"s": "dark"}]),
        (Decimal("-0.000"), "-0.000"),
        (datetime(2026, 1, 2, tzinfo=timezone.utc), "2026-01-02T00:00:00Z"),
        (Job(task_id="t", at=datetime(2026, 1, 2)), {"task_id": "t", "at": "2026-01-02T00:00:00"}),
    ],
)
def test_the_stored_form_is_the_one_a_task_field_takes(given: Any, stored: Any) -> None:
    assert check_value(given) == stored
    assert type(check_value(given)) is type(stored)  # an int enum is stored as an int

    class Holder(BaseModel):
        task_id: str = "h"
        data: Any

    assert Holder(data=given).model_dump(mode="json")["data"] == stored


async def test_a_task_field_and_a_kv_value_are_stored_alike(store: satchel.Satchel) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=timezone.utc)
    tasks = store.tasks(Job)
    await tasks.create(Job(task_id="t", at=at))
    kv = store.kv("alike")
    await kv.set("k", {"at": at})
    stored_task = await store.backend.get(tasks.collection, "t")
    assert stored_task is not None
    assert await kv.get("k") == {"at": stored_task.value["at"]}
    # and a query value finds both
    assert await kv.count({"at": at}) == 1
    assert await tasks.count() == 1


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [{1, 2}]}, "value['a'][0]: set"),
        ({"a": {"b": b"\xff"}}, "value['a']['b']: bytes"),
        ({"a": object()}, "value['a']: object"),
        ({"a": Decimal(1), 2: "x"}, "value: object keys must be strings"),
        ([datetime(2026, 1, 1), float("nan")], "value[1]: nan"),
    ],
)
async def test_unsupported_values_are_refused_naming_the_part(
    store: satchel.Satchel, value: Any, where: str
) -> None:
    kv = store.kv("refused")
    with pytest.raises(InvalidArgument) as caught:
        await kv.set("k", value)
    assert str(caught.value).startswith(where)
    with pytest.raises(InvalidArgument, match=r"^items\['k'\]"):
        await kv.set_many({"ok": 1, "k": value})
    assert await kv.count() == 0


async def test_a_value_that_contains_itself_is_refused(store: satchel.Satchel) -> None:
    loop: list[Any] = [Decimal(1)]
    loop.append(loop)
    with pytest.raises(InvalidArgument, match=r"^value: nests deeper"):
        await store.kv("refused").set("k", loop)


async def test_an_error_names_the_argument_as_the_caller_spelt_it(store: satchel.Satchel) -> None:
    kv = store.kv("old names")
    with (
        pytest.warns(DeprecationWarning, match="expected_version"),
        pytest.raises(InvalidArgument, match=r"^if_version: must be a version number"),
    ):
        await kv.set("k", 1, if_version=0)
    with (
        pytest.warns(DeprecationWarning, match="expected_version"),
        pytest.raises(InvalidArgument, match=r"^if_absent and if_version: give one"),
    ):
        await kv.set("k", 1, if_absent=True, if_version=1)
    with (
        pytest.warns(DeprecationWarning, match="expected_version"),
        pytest.raises(InvalidArgument, match=r"^if_version: must be a version number"),
    ):
        await kv.delete("k", if_version=-1)
    with pytest.raises(InvalidArgument, match=r"^expected_version: must be a version number"):
        await kv.set("k", 1, expected_version=0)
    with pytest.raises(InvalidArgument, match=r"^if_absent and expected_version: give one"):
        await kv.set("k", 1, if_absent=True, expected_version=1)
    assert await kv.get_entry("k") is None
