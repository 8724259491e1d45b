"""The servers the benchmarks run against, and the clients and handles on them.

A benchmark starts its own throwaway servers unless told to use others: a ``redis-server``
from PATH (:func:`redis_server`, without persistence, in a temporary directory) and a
SecantusDB server in a process of its own (:func:`secantus_server`), each on a free port of
127.0.0.1 and stopped at the end, also on error or SIGTERM. On a server it was given, a
benchmark writes only keys under :data:`REDIS_PREFIX` and collections whose names start with
:data:`MONGO_PREFIX`, and deletes them before and after (:func:`delete_redis_keys`,
:func:`drop_collections`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

HOST = "127.0.0.1"

#: Every key (Redis) and collection (MongoDB) the benchmarks write starts with these.
REDIS_PREFIX = "satchel-bench:"
MONGO_PREFIX = "satchel-bench."


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _pin_server() -> None:
    """Run in a throwaway server's process before it starts: the last CPU is its own."""
    cpus = _cpus()
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[-1]})


def _pin_client() -> None:
    """Keep the benchmark off the CPU its throwaway server runs on, so that neither waits
    for the other to be scheduled: both sides of every comparison run the same way, and
    repeats vary far less."""
    cpus = _cpus()
    if len(cpus) >= 2:
        os.sched_setaffinity(0, set(cpus[:-1]))


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks that stop the server


# --------------------------------------------------------------------------------------
# a throwaway redis-server


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port != 6379:  # never the system's Redis port
            return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """The URL of a ``redis-server`` from PATH on a free port of 127.0.0.1, without
    persistence, in a temporary directory; killed (and the directory removed) on exit, also
    on error."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH: install it, or give --url")
    directory = tempfile.mkdtemp(prefix="satchel-bench-redis-")
    process: subprocess.Popen[bytes] | None = None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        for _ in range(5):  # the free port may be taken before redis binds it: try another
            port = _free_port()
            command = [
                binary,
                "--port", str(port),
                "--bind", HOST,
                "--save", "",
                "--appendonly", "no",
                "--dir", directory,
                "--daemonize", "no",
            ]  # fmt: skip
            with open(os.path.join(directory, "redis.out"), "wb") as out:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_pin_server,
                )
            _pin_client()
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                if _pong(port):
                    yield f"redis://{HOST}:{port}/0"
                    return
                time.sleep(0.02)
            process.kill()
            process.wait()
            process = None
        with open(os.path.join(directory, "redis.out"), errors="replace") as out:
            tail = "\n".join(out.read().splitlines()[-10:])
        raise SystemExit(f"redis-server did not start:\n{tail}")
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------------------
# a throwaway SecantusDB, in a process of its own

#: Added to the URI of the throwaway SecantusDB server: its retryable-write table slows
#: writes down as it grows.
SECANTUS_OPTIONS = "retryWrites=false"

#: Seconds between the throwaway server's TTL sweeps. Nothing expires in the benchmarks, and
#: a sweep stalls SecantusDB for tens of ms (measured up to ~70 ms with four collections of
#: 1000 documents), which the tests' one second would inject into every case at random.
TTL_SWEEP_SECONDS = 60

#: Run by ``python -c`` in the server's process: argv = host, storage directory, seconds
#: between TTL sweeps. Prints the port it listens on and the version, then serves until its
#: stdin closes (the benchmark closes it, or exits).
_SERVER_SCRIPT = """\
import signal, sys
from secantus import SecantusDBServer, __version__

server = SecantusDBServer(
    host=sys.argv[1], port=0, storage_path=sys.argv[2], ttl_sweep_seconds=float(sys.argv[3])
)
server.start()
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
print(server.address[1], __version__, flush=True)
try:
    sys.stdin.read()
finally:
    server.stop()
"""


@contextlib.contextmanager
def secantus_server() -> Iterator[tuple[str, str]]:
    """``(uri, SecantusDB version)`` of a SecantusDB server started in another process (so
    that it does not share the benchmark's interpreter) on a free port of 127.0.0.1, over a
    temporary directory; stopped (and the directory removed) on exit, also on error."""
    if importlib.util.find_spec("secantus") is None:  # fail here, rather than in the child
        raise SystemExit(
            "SecantusDB is not installed (uv sync, or pip install SecantusDB): install it, "
            "or give --uri"
        )
    directory = tempfile.mkdtemp(prefix="satchel-bench-mongodb-")
    process: subprocess.Popen[bytes] | None = None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    log = os.path.join(directory, "server.log")
    storage = os.path.join(directory, "storage")
    try:
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", _SERVER_SCRIPT, HOST, storage, str(TTL_SWEEP_SECONDS)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=out,
                preexec_fn=_pin_server,
            )
        _pin_client()
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline().decode() if ready else ""
        if not line.strip():
            with open(log, errors="replace") as out:
                tail = "\n".join(out.read().splitlines()[-10:])
            raise SystemExit(f"SecantusDB did not start:\n{tail}")
        port, version = line.split()
        yield f"mongodb://{HOST}:{port}/?{SECANTUS_OPTIONS}", version
    finally:
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()  # the server stops and its process exits
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------------------
# the server given, or a throwaway one


@dataclass(frozen=True)
class Server:
    """A server a benchmark runs against: its ``url``; whether it is a ``throwaway`` one;
    and the SecantusDB version of a throwaway MongoDB server."""

    url: str
    throwaway: bool
    secantus: str | None = None

    @property
    def where(self) -> str:
        """The URL as the reports print it: a given one without its password."""
        if self.throwaway:
            process = ", own process" if self.secantus is not None else ""
            return f"{self.url} (throwaway{process})"
        from satchel.settings import redact_url

        return redact_url(self.url)

    @property
    def described(self) -> str:
        """The URL and, for a throwaway server, what it is."""
        if not self.throwaway:
            return self.where
        if self.secantus is None:
            return f"{self.url} (throwaway redis-server)"
        return f"{self.url} (throwaway SecantusDB {self.secantus}, own process)"

    def mongodb(self, reported: str) -> str:
        """What the MongoDB server is, given the version it reports."""
        if self.secantus is None:
            return f"MongoDB {reported}"
        return f"SecantusDB {self.secantus} (reports MongoDB {reported})"


@contextlib.contextmanager
def redis(url: str | None) -> Iterator[Server]:
    """The Redis server at ``url``, or (``None``) a throwaway ``redis-server``."""
    if url is not None:
        yield Server(url, throwaway=False)
        return
    with redis_server() as started:
        yield Server(started, throwaway=True)


@contextlib.contextmanager
def mongodb(uri: str | None) -> Iterator[Server]:
    """The MongoDB server at ``uri``, or (``None``) a throwaway SecantusDB."""
    if uri is not None:
        yield Server(uri, throwaway=False)
        return
    with secantus_server() as (started, version):
        yield Server(started, throwaway=True, secantus=version)


# --------------------------------------------------------------------------------------
# raw clients with the settings satchel gives its own, and the clean-up


def raw_redis(url: str, settings: Any) -> Any:
    """A ``redis.asyncio`` client with the settings satchel gives its own (see
    ``satchel_redis.backend._connect``): ``settings`` are a ``RedisBackend``'s."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return Redis.from_url(
        url,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=Retry(NoBackoff(), 0),
        max_connections=settings.max_connections,
        decode_responses=False,
    )


def raw_mongodb(uri: str, database: str, settings: Any) -> tuple[Any, Any]:
    """``(client, database)`` of a pymongo ``AsyncMongoClient`` with the settings satchel
    gives its own (see ``MongoBackend.__init__``): ``settings`` are a ``MongoBackend``'s."""
    from bson.codec_options import CodecOptions
    from pymongo import AsyncMongoClient, WriteConcern
    from pymongo.read_preferences import ReadPreference

    concern = settings.write_concern
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=int(settings.server_selection_timeout * 1000),
        connectTimeoutMS=int(settings.connect_timeout * 1000),
        socketTimeoutMS=int(settings.socket_timeout * 1000),
        maxPoolSize=settings.max_pool_size,
        appname="satchel-bench",
    )
    db = client.get_database(
        database,
        codec_options=CodecOptions(tz_aware=True, tzinfo=timezone.utc),
        read_preference=ReadPreference.PRIMARY,
        write_concern=WriteConcern(w=int(concern) if concern.isdigit() else concern),
    )
    return client, db


async def delete_redis_keys(client: Any, prefix: str = REDIS_PREFIX) -> None:
    """Delete every key under ``prefix``."""
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.unlink(*keys[start : start + 500])


async def drop_collections(db: Any, prefix: str = MONGO_PREFIX) -> None:
    """Drop every collection of ``db`` whose name starts with ``prefix``."""
    for name in await db.list_collection_names():
        if name.startswith(prefix):
            await db.drop_collection(name)


# --------------------------------------------------------------------------------------
# the servers of a run over several backends, and satchel handles on them


@dataclass
class Servers:
    """The servers of the backends a run uses (``None``: not used), and how to print them."""

    redis_url: str | None
    mongodb_uri: str | None
    database: str
    described: dict[str, str] = field(default_factory=dict)


def start(
    stack: contextlib.ExitStack,
    backends: list[str],
    url: str | None,
    uri: str | None,
    database: str,
) -> Servers:
    """The servers of ``backends`` (``url``/``uri``, or throwaway ones that ``stack`` stops)."""
    servers = Servers(None, None, database)
    if "redis" in backends:
        server = stack.enter_context(redis(url))
        servers.redis_url = server.url
        servers.described["redis"] = server.described
    if "mongodb" in backends:
        server = stack.enter_context(mongodb(uri))
        servers.mongodb_uri = server.url
        servers.described["mongodb"] = server.described
    return servers


def open_handle(backend: str, servers: Servers, side: str) -> Any:
    """A satchel handle on ``backend``, its keys or collections under the side's prefix."""
    import satchel

    if backend == "memory":
        return satchel.open(backend="memory")
    if backend == "redis":
        return satchel.open(
            backend="redis",
            backend_settings={"url": servers.redis_url, "key_prefix": f"{REDIS_PREFIX}{side}:"},
        )
    return satchel.open(
        backend="mongodb",
        backend_settings={
            "uri": servers.mongodb_uri,
            "database": servers.database,
            "collection_prefix": f"{MONGO_PREFIX}{side}.",
        },
    )


@contextlib.asynccontextmanager
async def cleanup(servers: Servers) -> AsyncIterator[None]:
    """Deletes the benchmark's keys and collections before and after."""
    from pymongo import AsyncMongoClient

    async def clean() -> None:
        if servers.redis_url is not None:
            from redis.asyncio import Redis

            client = Redis.from_url(servers.redis_url)
            try:
                await delete_redis_keys(client)
            finally:
                await client.aclose()
        if servers.mongodb_uri is not None:
            mongo: AsyncMongoClient[Any] = AsyncMongoClient(servers.mongodb_uri)
            try:
                await drop_collections(mongo.get_database(servers.database))
            finally:
                await mongo.close()

    await clean()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await clean()


@contextlib.asynccontextmanager
async def scratch(
    servers: Servers, prefix: str
) -> AsyncIterator[tuple[contextlib.AsyncExitStack, str]]:
    """Where a workload writes: the servers (cleaned before and after, see :func:`cleanup`)
    and a temporary directory named ``prefix...`` (removed after); yields an exit stack
    for what the workload opens, closed before the clean-up, and the directory."""
    directory = tempfile.mkdtemp(prefix=prefix)
    try:
        async with cleanup(servers), contextlib.AsyncExitStack() as stack:
            yield stack, directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
