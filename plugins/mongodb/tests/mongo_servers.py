"""Throwaway MongoDB wire-protocol servers for the tests: SecantusDB (PyPI ``SecantusDB``),
started in this process on a free loopback port, over a storage folder that outlives a
restart."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

#: Options every test URI of SecantusDB carries: its retryable-write table slows every
#: write down as it grows, and the tests want a quick answer when a server is gone.
SECANTUS_OPTIONS = "retryWrites=false"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SecantusServer:
    """A SecantusDB server; ``stop()`` and ``start()`` again keep its storage and port."""

    def __init__(self, storage: Path | None = None, port: int | None = None) -> None:
        self._owned = storage is None
        self.storage = storage or Path(tempfile.mkdtemp(prefix="satchel-mongo-"))
        self.port = port or free_port()
        self._server: Any = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?{SECANTUS_OPTIONS}"

    def start(self) -> SecantusServer:
        from secantus import SecantusDBServer

        server = SecantusDBServer(
            host="127.0.0.1",
            port=self.port,
            storage_path=str(self.storage),
            ttl_sweep_seconds=1,
        )
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> SecantusServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        if self._owned:
            shutil.rmtree(self.storage, ignore_errors=True)
