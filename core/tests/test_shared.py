"""``satchel.shared``: one handle per process for adapters built without one."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from satchel.shared import close_shared_store, shared_store


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
