"""SatchelPushNotificationConfigStore: encryption (the stored form, wrong and missing keys,
rotation, a sealed config moved to another owner), owners, dispatch (which leaves out what
it cannot read), key-range reads, and bad input."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Generator
from typing import Any

import pytest
from a2a_samples import ctx, make_config
from cryptography.fernet import Fernet

import satchel
from satchel import CorruptRecord, InvalidArgument, Operation, Satchel, hookimpl
from satchel_a2a import PushConfigUnreadable, SatchelPushNotificationConfigStore

SECRETS = ("https://hooks.example/notify", "secret-token", "secret-credentials")


async def test_encrypted_configs_are_stored_as_ciphertext(store: Satchel) -> None:
    key = Fernet.generate_key()
    configs = SatchelPushNotificationConfigStore(store=store, encryption_key=key)
    saved = await configs.set_info("task-1", make_config("c-1"), ctx("ann"))
    assert (saved.task_id, saved.id, saved.token) == ("task-1", "c-1", "secret-token")
    assert await configs.get_info("task-1", ctx("ann")) == [saved]
    assert await configs.get_info_for_dispatch("task-1") == [saved]

    stored = await configs.kv.get("ann/task-1/c-1")
    assert isinstance(stored, dict)
    assert set(stored) == {"owner", "task_id", "config_id", "encrypted"}
    text = json.dumps(stored)
    assert not any(secret in text for secret in SECRETS)
    opened = json.loads(Fernet(key).decrypt(stored["encrypted"].encode()))
    assert opened["owner"] == "ann"
    assert opened["config"]["token"] == "secret-token"


async def test_a_wrong_or_missing_key_is_a_clear_error_without_secrets(store: Satchel) -> None:
    key, other = Fernet.generate_key(), Fernet.generate_key()
    writer = SatchelPushNotificationConfigStore(store=store, encryption_key=key)
    await writer.set_info("task-1", make_config("c-1"), ctx("ann"))
    wrong = SatchelPushNotificationConfigStore(store=store, encryption_key=other.decode())
    keyless = SatchelPushNotificationConfigStore(store=store)
    for reader, says in ((wrong, "cannot decrypt"), (keyless, "no encryption_key")):
        # dispatch leaves it out (test_dispatch_leaves_out_a_config_it_cannot_read_...)
        assert await reader.get_info_for_dispatch("task-1") == []
        for read in (reader.get_info("task-1", ctx("ann")),):
            with pytest.raises(PushConfigUnreadable) as caught:
                await read
            error = caught.value
            assert isinstance(error, CorruptRecord)
            assert says in str(error)
            assert "'c-1'" in str(error)
            assert "'task-1'" in str(error)
            for text in (str(error), repr(error), repr(reader)):
                for secret in (*SECRETS, key.decode(), other.decode()):
                    assert secret not in text


async def test_keys_rotate_and_plain_configs_stay_readable(store: Satchel) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    plain = SatchelPushNotificationConfigStore(store=store)
    await plain.set_info("task-1", make_config("plain"), ctx("ann"))
    first = SatchelPushNotificationConfigStore(store=store, encryption_key=old)
    await first.set_info("task-1", make_config("old"), ctx("ann"))
    # the first key encrypts, each decrypts; a config written before any key reads as is
    rotated = SatchelPushNotificationConfigStore(store=store, encryption_key=[new, old])
    await rotated.set_info("task-1", make_config("new"), ctx("ann"))
    found = await rotated.get_info("task-1", ctx("ann"))
    assert [c.id for c in found] == ["new", "old", "plain"]
    assert {c.token for c in found} == {"secret-token"}
    stored = await rotated.kv.get("ann/task-1/new")
    assert isinstance(stored, dict)
    Fernet(new).decrypt(stored["encrypted"].encode())  # written with the first key
    with pytest.raises(PushConfigUnreadable):
        await SatchelPushNotificationConfigStore(store=store, encryption_key=new).get_info(
            "task-1", ctx("ann")
        )


async def test_a_sealed_config_moved_to_another_owner_is_refused(store: Satchel) -> None:
    key = Fernet.generate_key()
    configs = SatchelPushNotificationConfigStore(store=store, encryption_key=key)
    await configs.set_info("task-1", make_config("c-1"), ctx("ann"))
    stored = await configs.kv.get("ann/task-1/c-1")
    assert isinstance(stored, dict)
    # someone with write access to the database copies ann's sealed config to mallory
    await configs.kv.set("mallory/task-1/c-1", {**stored, "owner": "mallory"})
    with pytest.raises(PushConfigUnreadable, match="another owner"):
        await configs.get_info("task-1", ctx("mallory"))
    await configs.kv.delete("mallory/task-1/c-1")
    await configs.kv.set("ann/task-2/c-1", {**stored, "task_id": "task-2"})
    with pytest.raises(PushConfigUnreadable, match="another task"):
        await configs.get_info("task-2", ctx("ann"))


async def test_owners_and_dispatch(store: Satchel) -> None:
    configs = SatchelPushNotificationConfigStore(store=store)
    await configs.set_info("task-1", make_config("a"), ctx("ann"))
    await configs.set_info("task-1", make_config("b"), ctx("ann"))
    await configs.set_info("task-1", make_config("a", url="https://bob.example"), ctx("bob"))
    await configs.set_info("task-10", make_config("z"), ctx("ann"))  # a task id's prefix
    await configs.set_info("task-1/x", make_config("y"), ctx("ann"))
    assert [c.id for c in await configs.get_info("task-1", ctx("ann"))] == ["a", "b"]
    assert [c.url for c in await configs.get_info("task-1", ctx("bob"))] == ["https://bob.example"]
    assert await configs.get_info("task-1", ctx("carl")) == []
    dispatch = await configs.get_info_for_dispatch("task-1")
    assert sorted((c.id, c.url) for c in dispatch) == [
        ("a", "https://bob.example"),
        ("a", SECRETS[0]),
        ("b", SECRETS[0]),
    ]
    await configs.delete_info("task-1", ctx("ann"))  # all of ann's, none of bob's
    assert await configs.get_info("task-1", ctx("ann")) == []
    assert len(await configs.get_info("task-1", ctx("bob"))) == 1
    assert len(await configs.get_info("task-10", ctx("ann"))) == 1
    assert len(await configs.get_info("task-1/x", ctx("ann"))) == 1
    await configs.delete_info("task-1", ctx("bob"), "a")
    assert await configs.get_info_for_dispatch("task-1") == []


async def test_bad_arguments_name_themselves_and_never_the_key(store: Satchel) -> None:
    key = Fernet.generate_key().decode()
    for bad, argument in [
        (key[:-4], "encryption_key"),
        ("x" * 44, "encryption_key"),
        (42, "encryption_key"),
        ([], "encryption_key"),
        ([Fernet.generate_key(), key[:-4]], "encryption_key[1]"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            SatchelPushNotificationConfigStore(store=store, encryption_key=bad)  # type: ignore[arg-type]
        assert str(caught.value).startswith(f"{argument}:")
        assert key[:-4] not in str(caught.value)
        assert "x" * 10 not in str(caught.value)
    configs = SatchelPushNotificationConfigStore(store=store)
    calls: list[tuple[Any, str]] = [
        (lambda: configs.set_info("t", {"url": "x"}, ctx("ann")), "notification_config"),
        (lambda: configs.set_info(3, make_config(), ctx("ann")), "task_id"),
        (lambda: configs.get_info("t", object()), "context"),
        (lambda: configs.delete_info("t", ctx("ann"), 5), "config_id"),
        (lambda: configs.get_info_for_dispatch(None), "task_id"),
    ]
    for call, argument in calls:
        with pytest.raises(InvalidArgument) as raised:
            await call()
        assert str(raised.value).startswith(f"{argument}:"), str(raised.value)
    assert await configs.kv.count() == 0


async def test_the_sdks_database_store_drops_configs_it_cannot_decrypt(tmp_path: Any) -> None:
    """What docs/a2a.md says of the SDK's own store: with another key, a config it cannot
    decrypt is logged and left out, so its notifications stop without an error."""
    from a2a.server.tasks import DatabasePushNotificationConfigStore
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'configs.db'}")
    try:
        writer = DatabasePushNotificationConfigStore(engine, encryption_key=Fernet.generate_key())
        await writer.set_info("task-1", make_config("c-1"), ctx("ann"))
        reader = DatabasePushNotificationConfigStore(engine, encryption_key=Fernet.generate_key())
        assert await reader.get_info("task-1", ctx("ann")) == []
        assert await reader.get_info_for_dispatch("task-1") == []
    finally:
        await engine.dispose()


async def test_dispatch_leaves_out_a_config_it_cannot_read_and_warns_without_secrets(
    store: Satchel, caplog: pytest.LogCaptureFixture
) -> None:
    key, rotated = Fernet.generate_key(), Fernet.generate_key()
    configs = SatchelPushNotificationConfigStore(store=store, encryption_key=key)
    old = SatchelPushNotificationConfigStore(store=store, encryption_key=rotated)
    good = await configs.set_info("task-1", make_config("good"), ctx("ann"))
    await old.set_info("task-1", make_config("rotated-away"), ctx("bob"))  # key no longer held
    await configs.set_info("task-1", make_config("broken"), ctx("carl"))
    stored = await configs.kv.get("carl/task-1/broken")
    assert isinstance(stored, dict)
    await configs.kv.set("carl/task-1/broken", {**stored, "encrypted": "garbage"})
    await configs.kv.set("dan/task-1/odd", {"owner": "dan", "task_id": "task-1", "config": 7})
    with caplog.at_level(logging.WARNING, logger="satchel_a2a.push"):
        assert await configs.get_info_for_dispatch("task-1") == [good]
    warned = [r.getMessage() for r in caplog.records if r.name == "satchel_a2a.push"]
    assert len(warned) == 3
    for config_id, message in zip(["rotated-away", "broken", "odd"], warned, strict=True):
        assert f"{config_id!r}" in message
        assert "'task-1'" in message
        for secret in (*SECRETS, key.decode(), rotated.decode()):
            assert secret not in message
    # the owner's own read still says what is wrong, rather than leave it out
    with pytest.raises(PushConfigUnreadable, match="rotated-away"):
        await configs.get_info("task-1", ctx("bob"))


class OperationLog:
    """The backend operations of a handle, with how many records each query returned."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int | None]] = []

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield

        async def logged() -> Any:
            result = await inner
            size = len(result.items) if operation.name == "query" else None
            self.seen.append((operation.name, size))
            return result

        return logged()


async def test_config_operations_read_only_the_tasks_own_configs(
    handle_arguments: dict[str, Any],
) -> None:
    log = OperationLog()
    async with satchel.open(**handle_arguments, plugins=[log]) as handle:
        configs = SatchelPushNotificationConfigStore(store=handle)
        for task_id in ["task-1", "task-10", "task-1/x", "", "other"]:
            for owner in ["ann", "bob"]:
                await configs.set_info(task_id, make_config("a"), ctx(owner))
                await configs.set_info(task_id, make_config("b"), ctx(owner))
        log.seen = []
        assert [c.id for c in await configs.get_info("task-1", ctx("ann"))] == ["a", "b"]
        assert log.seen == [("query", 2)]  # a key range: no other task's config is read
        log.seen = []
        await configs.delete_info("task-1", ctx("ann"))
        assert log.seen == [("query", 2), ("delete", None), ("delete", None)]
        log.seen = []
        dispatch = await configs.get_info_for_dispatch("")  # the empty task id too
        assert sorted((c.task_id, c.id) for c in dispatch) == [("", "a")] * 2 + [("", "b")] * 2
        assert log.seen == [("find", None)]
        assert len(await configs.get_info("task-10", ctx("ann"))) == 2
        assert len(await configs.get_info("task-1", ctx("bob"))) == 2
