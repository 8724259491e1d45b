"""``satchel.shared``: one handle per process for adapters built without one."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

import satchel
from satchel import InvalidArgument, Satchel
from satchel.shared import HandleOwner, close_shared_store, shared_store


async def test_one_handle_until_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    await close_shared_store()
    first = shared_store()
    assert shared_store() is first
    await first.kv("ns").set("k", 1)
    assert await shared_store().kv("ns").get("k") == 1
    await close_shared_store()
    second = shared_store()
    assert second is not first
    assert await second.kv("ns").get("k") is None, "a new handle, a new memory backend"
    await close_shared_store()
    await close_shared_store()  # closing twice is harmless


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs fork")
def test_a_forked_child_opens_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    asyncio.run(close_shared_store())
    parent = shared_store()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's handle object is forgotten
        os.close(read)
        os.write(write, b"new" if shared_store() is not parent else b"same")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 10)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"new"
    assert shared_store() is parent
    asyncio.run(close_shared_store())


class Adapter(HandleOwner):
    def __init__(self, store: Satchel | None = None) -> None:
        self._init_handle(store)


async def test_an_adapter_uses_the_handle_it_is_given_and_leaves_it_open() -> None:
    async with satchel.open(backend="memory") as given:
        async with Adapter(given) as adapter:
            assert adapter.store is given
        assert not given._closed
        await given.kv("ns").set("k", 1)  # still open


async def test_an_adapter_without_a_handle_shares_the_process_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    await close_shared_store()
    one, two = Adapter(), Adapter()
    assert one.store is two.store is shared_store()
    await one.close()
    assert not shared_store()._closed  # still open: other adapters use it
    await close_shared_store()


async def test_an_adapter_closes_the_handle_opened_for_it_alone() -> None:
    adapter = Adapter()
    opened = satchel.open(backend="memory")
    adapter._adopt(opened)
    assert adapter.store is opened
    async with adapter:
        await opened.kv("ns").set("k", 1)
    assert opened._closed
    await adapter.close()  # twice is harmless


def test_an_adapter_refuses_what_is_not_a_handle() -> None:
    with pytest.raises(
        InvalidArgument, match=r"store: must be a handle from satchel.open\(\), not str"
    ):
        Adapter("redis://localhost")  # type: ignore[arg-type]
