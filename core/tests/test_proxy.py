"""satchel.testing.proxy: the fault proxy forwards, and loses the one reply it is told to
(the next one, or the reply to the request a framing and a predicate pick)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from satchel.testing.proxy import FaultProxy


async def read_line(reader: asyncio.StreamReader) -> bytes:
    """A framing: one line."""
    return await reader.readline()


@pytest.fixture
async def echo() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A line server that answers each line with it in upper case, and records each."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            seen.append(line)
            writer.write(line.upper())
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()


async def ask(port: int, line: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(line)
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


async def test_the_reply_to_the_picked_request_is_lost_after_it_ran(
    echo: tuple[int, list[bytes]],
) -> None:
    port, seen = echo
    ran: list[int] = []

    async def between() -> None:
        ran.append(len(seen))

    async with FaultProxy(port, framing=read_line) as proxy:
        proxy.lose_next_reply(between, to=lambda line: line.startswith(b"b"))
        assert await ask(proxy.port, b"a\n") == b"A\n"  # not picked: answered
        assert await ask(proxy.port, b"b\n") == b""  # picked: ran, the connection cut
        assert await ask(proxy.port, b"b\n") == b"B\n"  # lost once only
        assert proxy.lost == 1 and ran == [2]
    assert seen == [b"a\n", b"b\n", b"b\n"]


async def test_without_a_pick_the_next_reply_is_lost(echo: tuple[int, list[bytes]]) -> None:
    port, seen = echo
    async with FaultProxy(port) as proxy:
        proxy.lose_next_reply()
        assert await ask(proxy.port, b"a\n") == b""
        assert await ask(proxy.port, b"a\n") == b"A\n"
        assert proxy.lost == 1
    assert seen == [b"a\n", b"a\n"]
