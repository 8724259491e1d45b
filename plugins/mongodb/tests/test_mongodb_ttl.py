"""Expired records on MongoDB: the ``satchel_ttl`` index lets the server's TTL monitor remove
them (a minute after they expire), and versions still never repeat: every write of a record
with an expiry raises the collection's floor for that minute of expiry first, so the floor
covers a record before the monitor can remove it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from satchel.backend import Record, utcnow
from satchel.errors import Conflict, NotFound
from satchel_mongodb import MongoBackend
from satchel_mongodb.backend import TTL_MARGIN


class Sent(monitoring.CommandListener):
    """(command, collection) of every write or read command sent by clients built after
    :func:`monitoring.register`, while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.log: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on and event.command_name in ("insert", "update", "delete", "find"):
            self.log.append((event.command_name, str(event.command[event.command_name])))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


SENT = Sent()
monitoring.register(SENT)


def make(uri: str, prefix: str, margin: int | None = None) -> MongoBackend:
    backend = MongoBackend.from_uri(
        uri, database="satchel_ttl", collection_prefix=prefix, server_selection_timeout=5
    )
    if margin is not None:
        backend.ttl_margin = margin  # the server removes at expiry: a test need not wait
    return backend


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def raw(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        yield client
    finally:
        await client.close()


async def _gone(raw: Any, backend: MongoBackend, collection: str, keys: list[str]) -> None:
    """Wait until the server's TTL monitor has removed the documents of ``keys``."""
    coll = raw["satchel_ttl"][backend._collection(collection).name]
    deadline = time.monotonic() + 10
    while await coll.count_documents({"_id": {"$in": keys}}):
        assert time.monotonic() < deadline, "the TTL monitor did not remove expired records"
        await asyncio.sleep(0.2)


async def test_the_ttl_index_removes_records_a_minute_after_they_expire(
    mongodb_uri: str, prefix: str, raw: Any
) -> None:
    backend = make(mongodb_uri, prefix)
    try:
        await backend.put(Record("c", "k", 1, expires_at=utcnow() + timedelta(hours=1)))
        coll = raw["satchel_ttl"][backend._collection("c").name]
        indexes = {i["name"]: i async for i in await coll.list_indexes()}
        assert dict(indexes["satchel_ttl"]["key"]) == {"expires": 1}
        assert indexes["satchel_ttl"]["expireAfterSeconds"] == TTL_MARGIN == 60
    finally:
        await backend.drop("c")
        await backend.close()


async def test_a_key_the_ttl_monitor_removed_never_reuses_a_version(
    mongodb_uri: str, prefix: str, raw: Any
) -> None:
    """Records with an expiry, written by put (new, cached, over a read) and put_many, are
    removed by the server; a client that never saw them writes the keys again above every
    version they had, and the old versions are refused."""
    backend, other = make(mongodb_uri, prefix, margin=0), make(mongodb_uri, prefix, margin=0)
    try:
        soon = utcnow() + timedelta(seconds=0.3)
        for n in range(3):
            await backend.put(Record("c", "k", n, expires_at=soon))  # versions 1 to 3
        batch = [Record("c", "j", n, expires_at=soon) for n in range(2)]
        await backend.put_many(batch)  # j at version 2
        await backend.put_many([Record("c", "j", 9, expires_at=soon)])  # and 3
        await _gone(raw, backend, "c", ["k", "j"])
        again = await other.put(Record("c", "k", "again"), if_absent=True)
        assert again.version > 3, f"k starts again at {again.version}"
        [batch_again] = await other.put_many([Record("c", "j", "again")])
        assert batch_again.version > 3, f"j starts again at {batch_again.version}"
        for key in ("k", "j"):
            for stale in (1, 2, 3):
                with pytest.raises(Conflict):
                    await backend.put(Record("c", key, "stale"), if_version=stale)
        with pytest.raises(NotFound):
            await other.put(Record("c", "never", 1), if_version=1)
    finally:
        await backend.drop("c")
        await backend.close()
        await other.close()


async def test_the_floor_is_raised_before_a_record_with_an_expiry_is_written(
    mongodb_uri: str, prefix: str
) -> None:
    """Floor first, then the record (a crash between the two leaves a floor that covers a
    version not written, never a record the floor does not cover); a write whose version
    this process already covered for that minute sends nothing more; a record without an
    expiry never touches the floor."""
    backend = make(mongodb_uri, prefix)
    floors = f"{prefix}%floors"
    name = f"{prefix}c"
    try:
        await backend.put(Record("c", "warm", 0))  # the indexes, out of the way
        expires = utcnow() + timedelta(hours=1)
        SENT.on, SENT.log = True, []
        await backend.put(Record("c", "a", 1, expires_at=expires))  # new: claim, floor, write
        writes = [entry for entry in SENT.log if entry[0] != "find"]
        assert writes[-2:] == [("update", floors), ("update", name)], SENT.log
        SENT.log = []
        await backend.put(Record("c", "b", 1, expires_at=expires))  # version 1 is covered
        await backend.put(Record("c", "plain", 1))
        assert ("update", floors) not in SENT.log, SENT.log
        SENT.log = []
        await backend.put_many([Record("c", "a", 2, expires_at=expires)])  # version 2
        assert [e for e in SENT.log if e[0] == "update"] == [("update", floors), ("update", name)]
    finally:
        SENT.on = False
        await backend.drop("c")
        await backend.close()


async def test_a_record_written_long_expired_is_covered_before_the_monitor_takes_it(
    mongodb_uri: str, prefix: str, raw: Any
) -> None:
    """With the real margin of a minute: a record whose expiry is long past is removable as
    soon as it is written (the test server's monitor runs every second), so the floor must
    count it at once."""
    backend, other = make(mongodb_uri, prefix), make(mongodb_uri, prefix)
    try:
        for n in range(3):
            await backend.put(Record("c", "k", n))
        long_ago = datetime(2000, 1, 1, tzinfo=timezone.utc)
        old = await backend.put(Record("c", "k", "expired", expires_at=long_ago))
        assert old.version == 4
        await _gone(raw, backend, "c", ["k"])
        again = await other.put(Record("c", "k", "again"))
        assert again.version > 4, f"k starts again at {again.version}"
    finally:
        await backend.drop("c")
        await backend.close()
        await other.close()


async def test_a_restored_record_the_ttl_monitor_removed_never_reuses_its_version(
    mongodb_uri: str, prefix: str, raw: Any
) -> None:
    """restore_many raises the floor's expiry entry before it writes a record with an
    expiry, as put does: once the server's monitor has removed it, a client that never saw
    it writes the key above the restored version."""
    backend, other = make(mongodb_uri, prefix, margin=0), make(mongodb_uri, prefix, margin=0)
    try:
        created = utcnow() - timedelta(days=1)
        soon = utcnow() + timedelta(seconds=1.5)  # live through the read below, even when slow
        await backend.restore_many(
            [Record("c", "k", "restored", 40, created, created, soon, {"tag": ("x",)})]
        )
        got = await backend.get("c", "k")
        assert got is not None
        assert got.version == 40
        await _gone(raw, backend, "c", ["k"])
        again = await other.put(Record("c", "k", "again"), if_absent=True)
        assert again.version > 40, f"k starts again at {again.version}"
        with pytest.raises(Conflict):
            await other.put(Record("c", "k", "stale"), if_version=40)
    finally:
        await backend.drop("c")
        await backend.close()
        await other.close()
