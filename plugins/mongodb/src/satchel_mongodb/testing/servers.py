"""Throwaway MongoDB wire-protocol servers for the tests: SecantusDB (PyPI ``SecantusDB``)
on a free loopback port, over a storage folder that outlives a restart; in this process
(:class:`SecantusServer`) or in a process of its own (:class:`SecantusProcess`)."""

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


class SecantusProcess:
    """A SecantusDB server in a process of its own, which a test can stop (SIGSTOP), resume
    (SIGCONT) and kill; ``with`` starts it and kills it. It also exits when this process
    goes (its standard input closes), so that a test run that was killed leaves no server."""

    def __init__(self, storage: Path, port: int | None = None) -> None:
        self.storage = storage
        self.port = port or free_port()
        self._process: Any = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?{SECANTUS_OPTIONS}"

    def start(self, timeout: float = 30) -> SecantusProcess:
        import subprocess
        import sys
        import time

        code = (
            "import os, sys\n"
            "from secantus import SecantusDBServer\n"
            "server = SecantusDBServer(host='127.0.0.1', port=int(sys.argv[1]), "
            "storage_path=sys.argv[2], ttl_sweep_seconds=1)\n"
            "server.start()\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n"  # until this process closes it, or goes
            "os._exit(0)\n"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-c", code, str(self.port), str(self.storage)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        line = self._process.stdout.readline()
        if line.strip() != b"ready" or time.monotonic() > deadline:
            self.kill()
            raise RuntimeError("the SecantusDB process did not start")
        return self

    def pause(self) -> None:
        """SIGSTOP, returning once the process is stopped (not merely signalled)."""
        from satchel.testing.faults import pause_process

        pause_process(self._process.pid)

    def resume(self) -> None:
        from satchel.testing.faults import resume_process

        resume_process(self._process.pid)

    def kill(self) -> None:
        if self._process is not None:
            self.resume()
            self._process.kill()
            self._process.wait(10)
            self._process.stdin.close()
            self._process.stdout.close()
            self._process = None

    def __enter__(self) -> SecantusProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
