"""A loopback TCP proxy for fault tests: forwards bytes between a client and a real server,
and can be told to lose a reply of the server's, or to hold a request of the client's back
and deliver it late.

It runs in the test's own event loop (``async with FaultProxy(port) as proxy``) on a free port
of 127.0.0.1 (or the ``port`` given, so that a server can announce it); connect the client
to ``proxy.port``. By default it forwards whatever it reads
(a protocol where the next bytes back answer the last request, as Redis's); give it a
``framing`` that reads one whole message, and :meth:`FaultProxy.lose_next_reply` can pick
the request whose reply it loses (``to=``), among the other requests a driver sends on its
other connections (MongoDB's monitors).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType

__all__ = ["FaultProxy", "Framing", "read_chunk"]

HOST = "127.0.0.1"

Hook = Callable[[], Awaitable[None]]
#: Reads the next unit a peer sends (``b""`` at the end of the stream).
Framing = Callable[[asyncio.StreamReader], Awaitable[bytes]]


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """The bytes the peer sent next, whatever they hold (the default framing)."""
    return await reader.read(65536)


class FaultProxy:
    """Forwards every connection to ``upstream_host:upstream_port``.

    - :meth:`lose_next_reply`: the server's next reply is dropped; then ``between`` runs
      (another writer can write in the meantime, while the client still waits for its
      answer), and then the client's connection is cut. The request itself reached the
      server and ran.
    - :meth:`delay_next_request`: the next bytes a client sends are held back and the client's
      connection is cut at once (so it retries); the held request is sent to the server only
      when :meth:`release` is called, as a server that was stopped would run it when it
      resumes. :attr:`late_reply` is set once the server answered it.
    """

    def __init__(
        self,
        upstream_port: int,
        upstream_host: str = HOST,
        *,
        framing: Framing = read_chunk,
        port: int = 0,
    ) -> None:
        self.upstream_port = upstream_port
        self.upstream_host = upstream_host
        self.framing = framing
        self.port = port
        self._server: asyncio.Server | None = None
        self._lose: Hook | None = None
        self._lose_to: Callable[[bytes], bool] | None = None
        self._armed_lose = False
        self._armed_delay = False
        self._release = asyncio.Event()
        self.late_reply = asyncio.Event()
        self.lost = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        await self._server.wait_closed()

    def lose_next_reply(
        self, between: Hook | None = None, *, to: Callable[[bytes], bool] | None = None
    ) -> None:
        """Lose the next reply the server sends on any connection; with ``to``, the reply to
        the next request (one unit of the framing) for which ``to`` is true."""
        self._lose = between
        self._lose_to = to
        self._armed_lose = True

    def delay_next_request(self) -> None:
        self._armed_delay = True
        self._release = asyncio.Event()
        self.late_reply = asyncio.Event()

    def release(self) -> None:
        self._release.set()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        try:
            server_r, server_w = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            client_w.close()
            return
        self._writers.add(server_w)
        state = {"late": False, "lose": False}
        self._spawn(self._to_server(client_r, client_w, server_w, state))
        self._spawn(self._to_client(server_r, client_w, server_w, state))

    async def _to_server(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_w: asyncio.StreamWriter,
        state: dict[str, bool],
    ) -> None:
        try:
            while data := await self.framing(client_r):
                if self._armed_delay:
                    self._armed_delay = False
                    state["late"] = True
                    client_w.close()  # the client sees its connection cut and retries
                    await self._release.wait()
                    server_w.write(data)
                    await server_w.drain()
                    return  # the server's reply is read by _to_client, then dropped
                if self._armed_lose and self._lose_to is not None and self._lose_to(data):
                    self._armed_lose = False
                    state["lose"] = True  # the reply to this request, on this connection
                server_w.write(data)
                await server_w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not state["late"]:
                server_w.close()

    async def _to_client(
        self,
        server_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_w: asyncio.StreamWriter,
        state: dict[str, bool],
    ) -> None:
        try:
            while data := await self.framing(server_r):
                if state["late"]:
                    self.late_reply.set()  # the held request ran; its answer goes nowhere
                    break
                if state["lose"] or (self._armed_lose and self._lose_to is None):
                    self._armed_lose = False
                    self.lost += 1
                    if self._lose is not None:
                        await self._lose()
                    break
                client_w.write(data)
                await client_w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            client_w.close()
            server_w.close()
