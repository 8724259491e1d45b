"""One MongoBackend from several event loops: a pymongo client is bound to the loop it first
ran in, so the backend keeps a client per loop, made on first use there, closed when that
loop shuts down or when the backend is closed, without a ResourceWarning."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from typing import Any

import pytest

from satchel.backend import Record
from satchel_mongodb import MongoBackend


def _backend(uri: str) -> MongoBackend:
    return MongoBackend.from_uri(uri, database="satchel_loops", server_selection_timeout=5)


def _no_resource_warning(outage: bool = False) -> None:
    """No ResourceWarning at a garbage collection. After an outage, a socket of pymongo's
    own is allowed (see test_mongodb_processes.after_an_outage: pymongo 4.20 leaks the
    socket of a monitor check cancelled while it connects), never a client."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    leaks = [
        w
        for w in caught
        if issubclass(w.category, ResourceWarning)
        and not (outage and str(w.message).startswith("unclosed <socket.socket"))
    ]
    assert not leaks, [str(w.message)[:200] for w in leaks]


def test_each_loop_gets_a_client_closed_when_the_loop_ends(mongodb_uri: str) -> None:
    backend = _backend(mongodb_uri)
    clients: list[Any] = []

    async def turn(n: int) -> None:
        stored = await backend.put(Record("loops", f"k{n}", {"n": n}))
        got = await backend.get("loops", f"k{n}")
        assert got is not None and got.version == stored.version
        clients.append(backend._client)

    for n in range(3):
        asyncio.run(turn(n))
        # asyncio.run cancels the loop's tasks on the way out: the loop's client is closed
        assert clients[-1]._closed, f"the client of loop {n} is still open"
    assert len({id(c) for c in clients}) == 3, "each loop has a client of its own"

    async def finish() -> None:
        try:
            assert await backend.drop("loops") == 3
        finally:
            await backend.close()

    asyncio.run(finish())
    _no_resource_warning()


def test_close_from_one_loop_closes_the_client_of_a_loop_running_in_a_thread(
    mongodb_uri: str,
) -> None:
    backend = _backend(mongodb_uri)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:

        async def use() -> Any:
            await backend.put(Record("thread-loop", "k", 1))
            return backend._client

        in_thread = asyncio.run_coroutine_threadsafe(use(), loop).result(30)

        async def here() -> Any:
            assert (await backend.get("thread-loop", "k")) is not None
            client = backend._client
            await backend.drop("thread-loop")
            await backend.close()
            return client

        mine = asyncio.run(here())
        assert mine is not in_thread
        assert mine._closed and in_thread._closed, "close() leaves no client open"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    _no_resource_warning()


def test_threads_with_loops_of_their_own_share_one_backend(mongodb_uri: str) -> None:
    """Several threads, each running its own loop, write one key through one backend: every
    write lands at a version of its own (the shared version cache and write ids hold)."""
    backend = _backend(mongodb_uri)
    versions: list[int] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        async def run() -> None:
            for i in range(10):
                stored = await backend.put(Record("threads", "k", {"n": n, "i": i}))
                versions.append(stored.version)

        try:
            asyncio.run(run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(versions) == list(range(1, 41))

    async def finish() -> None:
        try:
            got = await backend.get("threads", "k")
            assert got is not None and got.version == 40
            await backend.drop("threads")
        finally:
            await backend.close()

    asyncio.run(finish())
    _no_resource_warning()


def test_a_backend_that_failed_and_was_never_closed_leaves_no_client_open() -> None:
    """A failed first call (nothing listens on the port) and no close(): the loop's client
    is closed when the loop ends, so nothing is left for the garbage collector to warn of."""
    from satchel.errors import BackendUnavailable
    from satchel_mongodb.testing.servers import free_port

    async def fail() -> Any:
        backend = MongoBackend.from_uri(
            f"mongodb://127.0.0.1:{free_port()}/",
            server_selection_timeout=0.3,
            connect_timeout=0.3,
        )
        with pytest.raises(BackendUnavailable):
            await backend.ping()
        return backend._client

    client = asyncio.run(fail())
    assert client._closed
    del client
    _no_resource_warning(outage=True)
