"""satchel-mongodb across processes and servers: eight processes racing on one task, a server
stopped and restarted under a stream of writes, and connection settings that cannot work."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import queue
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import pytest
from mongo_contention_worker import Counter, increment, race_batches

import satchel
from satchel.backend import Record
from satchel.errors import BackendUnavailable, ConfigError
from satchel_mongodb import MongoBackend
from satchel_mongodb.testing.servers import SecantusServer, free_port

SECRET = "hunter2-s3cret"
T = TypeVar("T", bound=Callable[..., Any])


def after_an_outage(test: T) -> T:
    """For a test that closes a backend after its server was down: pymongo 4.20 leaks the
    socket of a monitor check that ``close()`` cancels while it connects
    (``pool_shared._async_create_connection`` closes it on OSError only). Ignore that
    warning, and collect the socket before the next test starts."""
    for mark in (
        pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
        pytest.mark.usefixtures("collect_leaked_sockets"),
    ):
        test = mark(test)
    return test


@pytest.fixture
def collect_leaked_sockets() -> Iterator[None]:
    """Collect garbage after the test, while its warning filters still apply."""
    yield
    gc.collect()


# -- contention across processes ---------------------------------------------------------------

WORKERS = 8
INCREMENTS = 200


async def reports(report: Any, workers: list[Any], limit: float = 120) -> list[Any]:
    """What the workers put on ``report``, until each has or none is left alive."""
    outcomes: list[Any] = []
    deadline = time.monotonic() + limit
    while len(outcomes) < len(workers) and time.monotonic() < deadline:
        try:
            outcomes.append(await asyncio.to_thread(report.get, True, 0.5))
        except queue.Empty:
            if not any(w.is_alive() for w in workers) and report.empty():
                break
    return outcomes


async def test_eight_processes_lose_no_increment(mongodb_uri: str) -> None:
    """8 spawned processes x 200 optimistic increments: 1600, version 1601, conflicts seen."""
    database, prefix, namespace = "satchel_contention", f"c{uuid.uuid4().hex[:10]}.", "race"
    environ = {
        "SATCHEL_BACKEND": "mongodb",
        "SATCHEL_MONGODB_URI": mongodb_uri,
        "SATCHEL_MONGODB_DATABASE": database,
        "SATCHEL_MONGODB_COLLECTION_PREFIX": prefix,
        "SATCHEL_NAMESPACE": namespace,
    }
    async with satchel.open(environ=environ) as handle:
        tasks = handle.tasks(Counter)
        assert await tasks.create(Counter(task_id="counter")) == 1
        context = multiprocessing.get_context("spawn")
        report = context.Queue()
        start = context.Barrier(WORKERS)
        args = (mongodb_uri, database, prefix, namespace, INCREMENTS, start, report)
        workers = [context.Process(target=increment, args=args) for _ in range(WORKERS)]
        for worker in workers:
            worker.start()
        try:
            outcomes = await reports(report, workers)
        finally:
            for worker in workers:
                await asyncio.to_thread(worker.join, 10)
                if worker.is_alive():
                    worker.kill()
                    await asyncio.to_thread(worker.join, 10)
            report.close()
        errors = [detail for status, detail in outcomes if status != "ok"]
        assert not errors, errors[0]
        assert [w.exitcode for w in workers] == [0] * WORKERS
        assert len(outcomes) == WORKERS
        retried = [int(detail) for _, detail in outcomes]
        final = await tasks.load_versioned("counter")
        assert final is not None
        assert final.value.n == WORKERS * INCREMENTS, f"lost updates ({sum(retried)} retries)"
        assert final.version == WORKERS * INCREMENTS + 1
        assert sum(retried) > 0, "the processes never raced; the test proved nothing"
        for name in await handle.backend.collections():
            await handle.backend.drop(name)


async def test_batches_racing_conditional_updates_write_each_record_once(
    mongodb_uri: str,
) -> None:
    """3 spawned processes x 8 tasks for 3 s on 6 keys, mixing ``put_many`` and
    ``put(if_version=)``: the versions acknowledged for a key are exactly 1 to its final
    version, each once (a version no acknowledged write returned was a record written twice),
    and the stored value is the one acknowledged at the final version."""
    database, prefix = "satchel_contention", f"b{uuid.uuid4().hex[:10]}."
    keys, processes = 6, 3
    backend = MongoBackend.from_uri(mongodb_uri, database=database, collection_prefix=prefix)
    try:
        await backend.put_many([Record("race", f"k{i}", "start") for i in range(keys)])
        context = multiprocessing.get_context("spawn")
        report = context.Queue()
        start = context.Barrier(processes)
        args = (mongodb_uri, database, prefix, keys, 3.0, start, report)
        workers = [context.Process(target=race_batches, args=args) for _ in range(processes)]
        for worker in workers:
            worker.start()
        try:
            outcomes = await reports(report, workers, limit=90)
        finally:
            for worker in workers:
                await asyncio.to_thread(worker.join, 10)
                if worker.is_alive():
                    worker.kill()
                    await asyncio.to_thread(worker.join, 10)
            report.close()
        errors = [detail for status, detail in outcomes if status != "ok"]
        assert not errors, errors[0]
        assert len(outcomes) == processes
        acknowledged: dict[str, list[tuple[int, str]]] = {
            f"k{i}": [(1, "start")] for i in range(keys)
        }
        for _, writes in outcomes:
            for key, version, value in writes:
                acknowledged[key].append((version, value))
        assert sum(len(w) for w in acknowledged.values()) > 50, "too few writes to race"
        for key, writes in acknowledged.items():
            final = await backend.get("race", key)
            assert final is not None
            versions = sorted(version for version, _ in writes)
            missing = sorted(set(range(1, final.version + 1)) - set(versions))
            doubled = sorted({v for v in versions if versions.count(v) > 1})
            assert not missing, (
                f"{key}: versions stored that no acknowledged write returned: {missing[:10]}"
            )
            assert not doubled, f"{key}: versions acknowledged twice: {doubled[:10]}"
            assert (final.version, final.value) in writes
    finally:
        for name in await backend.collections():
            await backend.drop(name)
        await backend.close()


# -- faults ------------------------------------------------------------------------------------

SELECTION, SOCKET, CONNECT = 1.0, 2.0, 1.0
#: A call that starts while the server is down: one server selection, plus slack.
DOWN_BOUND = SELECTION + 2
#: A call in flight while the server stops: its answer's wait, then one server selection.
STOPPING_BOUND = SOCKET + SELECTION + 2


@after_an_outage
async def test_a_stopped_server_is_unavailable_and_acknowledged_writes_survive_a_restart(
    secantus_server: SecantusServer,
) -> None:
    """Writes stream while the server stops: every failure is BackendUnavailable naming the
    server, in time; after a restart every acknowledged write is there, no refused one is."""
    server = secantus_server
    address = f"127.0.0.1:{server.port}"
    backend = MongoBackend.from_uri(
        server.uri,
        database="satchel_faults",
        server_selection_timeout=SELECTION,
        socket_timeout=SOCKET,
        connect_timeout=CONNECT,
    )
    acknowledged: dict[str, int] = {}
    unsure: dict[str, int] = {}  # failed while the server stopped: written or not
    refused: dict[str, int] = {}  # failed after it had stopped: never written
    failures: list[tuple[str, bool, float, str]] = []
    stopping: asyncio.Task[None] | None = None
    try:
        for i in range(40):
            await backend.put(Record("faults", f"k{i}", {"i": i}))
            acknowledged[f"k{i}"] = i
        stopping = asyncio.create_task(asyncio.to_thread(server.stop))
        i = 40
        while len(refused) < 2:
            assert i < 5000, "the server never stopped"
            key, down = f"k{i}", stopping.done()
            started = time.monotonic()
            try:
                await backend.put(Record("faults", key, {"i": i}))
            except BackendUnavailable as exc:
                failures.append((key, down, time.monotonic() - started, str(exc)))
                (refused if down else unsure)[key] = i
            else:
                assert not down, f"{key} was acknowledged by a stopped server"
                acknowledged[key] = i
            i += 1
        await stopping
        for key, down, elapsed, message in failures:
            assert address in message, message
            assert elapsed < (DOWN_BOUND if down else STOPPING_BOUND), (key, elapsed)
        for call in (
            partial(backend.get, "faults", "k0"),
            partial(backend.get_many, "faults", ["k0", "k1"]),
            partial(backend.ping),
        ):
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as info:
                await call()
            assert time.monotonic() - started < DOWN_BOUND
            assert address in str(info.value)

        await asyncio.to_thread(server.start)
        stored = await backend.put(Record("faults", "after", {"i": -1}))
        assert stored.version == 1
        for key, i in acknowledged.items():
            record = await backend.get("faults", key)
            assert record is not None, f"acknowledged write {key} was lost"
            assert record.value == {"i": i} and record.version == 1
        for key in refused:
            assert await backend.get("faults", key) is None, f"refused write {key} was applied"
        applied = 0
        for key, i in unsure.items():
            record = await backend.get("faults", key)
            assert record is None or record.value == {"i": i}
            applied += record is not None
        assert await backend.count("faults") == len(acknowledged) + applied + 1
        assert len(acknowledged) >= 40
    finally:
        if stopping is not None:
            await stopping
        await backend.close()


# -- bad connection settings ---------------------------------------------------------------------


@after_an_outage
async def test_an_unreachable_server_is_unavailable_quickly_naming_it() -> None:
    """Nothing listens on the port: ping, get and put raise BackendUnavailable within the
    server selection timeout, naming host:port and not the password."""
    port = free_port()
    backend = MongoBackend.from_uri(
        f"mongodb://satchel:{SECRET}@127.0.0.1:{port}/?authSource=admin",
        server_selection_timeout=0.5,
        connect_timeout=0.5,
    )
    try:
        for call in (
            partial(backend.ping),
            partial(backend.get, "c", "k"),
            partial(backend.put, Record("c", "k", 1)),
        ):
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as info:
                await call()
            assert time.monotonic() - started < 0.5 + 1.5
            message = str(info.value)
            assert f"127.0.0.1:{port}" in message
            assert SECRET not in message
    finally:
        await backend.close()


async def test_wrong_credentials_are_a_config_error_without_the_password(
    mongodb_uri: str,
) -> None:
    """The server refuses the user: ConfigError at once, naming the server, not retried."""
    port = urlsplit(mongodb_uri).port
    uri = f"mongodb://nobody:{SECRET}@127.0.0.1:{port}/?authSource=admin"
    backend = MongoBackend.from_uri(uri, server_selection_timeout=5)
    try:
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            await backend.get("c", "k")
        assert time.monotonic() - started < 2
        message = str(info.value)
        assert f"127.0.0.1:{port}" in message
        assert "SATCHEL_MONGODB_URI" in message
        assert SECRET not in message
    finally:
        await backend.close()


MALFORMED = [
    f"mongodb://admin:{SECRET}@host:notaport",
    "mongodb://",
    f"mongodb://admin:{SECRET}@",
    f"mongodb+srv://admin:{SECRET}@host:27017",  # srv takes no port
    f"mongodb+srv://admin:{SECRET}@a.example.net,b.example.net",  # nor several hosts
    f"mongodb://admin:{SECRET}@host:99999",
    f"mongodb://admin:{SECRET}@[::1",
    f"mongodb://admin:{SECRET}%ZZ@host",  # a bad escape
    f"mongodb://admin:{SECRET}@@host",  # an unescaped "@"
    f"mongodb://admin:{SECRET}:x@host",  # an unescaped ":"
]


@pytest.mark.parametrize(
    "uri",
    MALFORMED,
    ids=[
        "port-not-a-number",
        "no-host",
        "empty-host",
        "srv-with-port",
        "srv-with-hosts",
        "port-out-of-range",
        "open-ipv6",
        "bad-escape",
        "unescaped-at",
        "unescaped-colon",
    ],
)
async def test_a_malformed_uri_is_a_config_error_without_the_password(uri: str) -> None:
    """Refused when built, in code and from the environment, naming the variable only."""
    with pytest.raises(ConfigError) as info:
        MongoBackend.from_uri(uri)
    message = str(info.value)
    assert "SATCHEL_MONGODB_URI" in message
    assert SECRET not in message
    environ = {"SATCHEL_BACKEND": "mongodb", "SATCHEL_MONGODB_URI": uri}
    with pytest.raises(ConfigError) as info:
        satchel.open(environ=environ)
    assert "SATCHEL_MONGODB_URI" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "uri",
    [
        f"mongodb://admin:{SECRET}@127.0.0.1:1/?authSource=admin",
        f"mongodb://admin:{quote(SECRET + '/?#@:', safe='')}@127.0.0.1:1/",
        f"mongodb://admin:{SECRET}@db1:27017,db2:27017/?replicaSet=rs0",
        f"mongodb+srv://admin:{SECRET}@cluster.example.net/?authSource=admin",
        f"mongodb://127.0.0.1:1/?tls=true&tlsCertificateKeyFilePassword={SECRET}",
        "mongodb://127.0.0.1:1/?authMechanism=MONGODB-AWS"
        f"&authMechanismProperties=AWS_SESSION_TOKEN:{SECRET}",
    ],
    ids=["password", "escaped", "replica-set", "srv", "key-file", "aws-token"],
)
async def test_repr_and_describe_never_show_a_secret(uri: str) -> None:
    """A password (or token) in the URI shows in neither repr() nor describe()."""
    backend = MongoBackend.from_uri(uri)
    try:
        for text in (repr(backend), backend.describe(), repr(backend.settings)):
            assert SECRET not in text
            assert quote(SECRET) not in text
        assert "mongodb" in backend.describe()
    finally:
        await backend.close()


def test_an_unescaped_hash_in_a_password_is_refused_showing_nothing() -> None:
    """pymongo would take "#" in a password, but a "#" (or "/", "?") before the last "@"
    makes the URI mean different things to different readers: it is a ConfigError that
    quotes nothing of the URI."""
    with pytest.raises(ConfigError) as info:
        MongoBackend.from_uri(f"mongodb://admin:{SECRET}#1@127.0.0.1:1/")
    assert "percent-encoded" in str(info.value)
    assert SECRET not in str(info.value)
    assert "127.0.0.1" not in str(info.value)


@after_an_outage
async def test_a_secret_set_apart_from_the_uri_never_shows() -> None:
    """SATCHEL_MONGODB_USERNAME/PASSWORD: the password shows in neither repr, describe nor
    an error."""
    backend = MongoBackend.from_uri(
        "mongodb://127.0.0.1:1/", username="admin", password=SECRET, server_selection_timeout=0.5
    )
    try:
        for text in (repr(backend), backend.describe(), repr(backend.settings)):
            assert SECRET not in text
        with pytest.raises(BackendUnavailable) as info:
            await backend.ping()
        assert SECRET not in str(info.value)
    finally:
        await backend.close()


@pytest.mark.parametrize(
    "secret",
    [
        SECRET.replace("-", "/"),
        SECRET.replace("-", "?"),
    ],
    ids=["slash", "question-mark"],
)
def test_an_unescaped_password_is_not_shown_in_the_error(secret: str) -> None:
    """A password with an unescaped '/' or '?' is refused without being shown."""
    with pytest.raises(ConfigError) as info:
        MongoBackend.from_uri(f"mongodb://admin:{secret}@127.0.0.1:1/")
    assert "SATCHEL_MONGODB_URI" in str(info.value)
    assert secret not in str(info.value)


async def ping_once(uri: str) -> None:
    backend = MongoBackend.from_uri(uri)
    try:
        await backend.ping()
    finally:
        await backend.close()


async def test_a_bad_option_value_is_a_config_error(mongodb_uri: str) -> None:
    """``tls=maybe`` is refused, not dropped with a warning (leaving the link plaintext)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # what pymongo emits instead
        with pytest.raises(ConfigError) as info:
            await ping_once(f"{mongodb_uri}&tls=maybe")  # answered: the link is plaintext
    assert "SATCHEL_MONGODB_URI" in str(info.value)
