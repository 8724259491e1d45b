"""A record write whose reply is lost, while another writer writes the same key: with
retryable writes pymongo sends it again and the server applies it once, so the call returns
what its first attempt did; without them (a standalone mongod has none) the call raises
``BackendUnavailable`` naming the lost connection, never ``Conflict``, ``AlreadyExists`` or
``NotFound``, which would say that nothing was written. Either way the other writer's write
stays on top.

The writes go through a loopback proxy (:mod:`satchel.testing.proxy`) in front of the test
server, which loses the reply to the write of the key and runs the other writer before the
client sees its connection cut.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest
from mongo_wire import command_of, read_message

from satchel.backend import Record
from satchel.errors import BackendUnavailable
from satchel.testing.proxy import FaultProxy
from satchel_mongodb import MongoBackend

WRITES = [
    "put",
    "put(if_version=1)",
    "put(if_absent=True)",
    "put_many",
    "delete",
    "delete(if_version=1)",
]


def writes_key(key: str, kind: str) -> Callable[[bytes], bool]:
    """Whether a message is an ``update`` (``kind="updates"``) or a ``delete``
    (``"deletes"``) whose first statement names the document ``key``."""

    def match(message: bytes) -> bool:
        statements = command_of(message).get(kind) or [{}]
        return statements[0].get("q", {}).get("_id") == key

    return match


@pytest.fixture(params=["retryWrites=false", "retryWrites=true"])
async def lossy(
    request: pytest.FixtureRequest, mongodb_uri: str
) -> AsyncIterator[tuple[bool, FaultProxy, MongoBackend, MongoBackend]]:
    """``(retryable, proxy, mine, other)``: ``mine`` talks through the proxy, ``other`` to the
    server directly."""
    prefix = f"r{uuid.uuid4().hex[:10]}."

    def make(uri: str) -> MongoBackend:
        return MongoBackend.from_uri(
            uri, database="satchel_retries", collection_prefix=prefix, server_selection_timeout=5
        )

    other = make(mongodb_uri)
    parts = urlsplit(mongodb_uri)
    assert parts.hostname is not None and parts.port is not None
    try:
        async with FaultProxy(parts.port, parts.hostname, framing=read_message) as proxy:
            uri = mongodb_uri.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
            uri = uri.replace("retryWrites=false", request.param) + "&directConnection=true"
            mine = make(uri)
            try:
                yield request.param == "retryWrites=true", proxy, mine, other
            finally:
                await mine.close()
    finally:
        for name in await other.collections():
            await other.drop(name)
        await other.close()


@pytest.mark.parametrize("write", WRITES)
async def test_a_write_whose_reply_is_lost_is_applied_once_or_unknown_never_refused(
    lossy: tuple[bool, FaultProxy, MongoBackend, MongoBackend], write: str
) -> None:
    retryable, proxy, mine, other = lossy
    creates = write == "put(if_absent=True)"
    deletes = write.startswith("delete")
    if not creates:
        await mine.put(Record("c", "k", "first"))  # version 1
    acknowledged: list[Record] = []

    async def between() -> None:  # the other writer: over our write, or after our delete
        if deletes:
            acknowledged.append(await other.put(Record("c", "k", "other"), if_absent=True))
        else:
            acknowledged.append(await other.put(Record("c", "k", "other")))

    proxy.lose_next_reply(between, to=writes_key("k", "deletes" if deletes else "updates"))
    mine_record = Record("c", "k", "mine")
    call = {
        "put": lambda: mine.put(mine_record),
        "put(if_version=1)": lambda: mine.put(mine_record, if_version=1),
        "put(if_absent=True)": lambda: mine.put(mine_record, if_absent=True),
        "put_many": lambda: mine.put_many([mine_record]),
        "delete": lambda: mine.delete("c", "k"),
        "delete(if_version=1)": lambda: mine.delete("c", "k", if_version=1),
    }[write]
    if retryable:
        got = await call()
        if deletes:
            assert got is True
        else:
            stored = got[0] if isinstance(got, list) else got
            assert isinstance(stored, Record)
            assert (stored.version, stored.value) == (1 if creates else 2, "mine")
    else:
        with pytest.raises(BackendUnavailable) as info:
            await call()
        message = str(info.value)
        assert f"127.0.0.1:{proxy.port}" in message, message
        assert "the connection was closed before the answer came" in message, message
    assert proxy.lost == 1
    # our write ran once, before the other writer's, which stays on top
    [theirs] = acknowledged
    assert theirs.version == (2 if creates or deletes else 3)
    final = await other.get("c", "k")
    assert final is not None and (final.version, final.value) == (theirs.version, "other")
