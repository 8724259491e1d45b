"""Every call returns or raises within ``call_timeout`` (SERVER_SELECTION_TIMEOUT +
CONNECT_TIMEOUT + SOCKET_TIMEOUT), and the error names the cause and the host, never a
secret or a raw server reply; ``satchel doctor`` stops at the first failing check."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from satchel.backend import Record
from satchel.cli import cli
from satchel.errors import BackendUnavailable, ConfigError
from satchel.query import Query
from satchel_mongodb import MongoBackend
from satchel_mongodb.testing.servers import SecantusProcess, free_port

SECRET = "hunter2-s3cret"
SELECTION, CONNECT, SOCKET = 1.0, 0.5, 1.0
BOUND = SELECTION + CONNECT + SOCKET
#: Scheduling on a loaded machine; a call over BOUND + MARGIN breaks the bound.
MARGIN = 1.5


@pytest.fixture(autouse=True)
def collect_leaked_sockets() -> Iterator[None]:
    """pymongo 4.20 leaks the socket of a monitor check cancelled while it connects (see
    test_mongodb_processes.after_an_outage): collect it while this file's filter holds."""
    yield
    gc.collect()


pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


def _backend(uri: str) -> MongoBackend:
    return MongoBackend.from_uri(
        uri,
        database="satchel_bounds",
        server_selection_timeout=SELECTION,
        connect_timeout=CONNECT,
        socket_timeout=SOCKET,
    )


def _calls(backend: MongoBackend) -> list[tuple[str, Callable[[], Any]]]:
    async def keys() -> list[str]:
        return [k async for k in backend.iter_keys("c")]

    return [
        ("ping", backend.ping),
        ("get", partial(backend.get, "c", "k")),
        ("put", partial(backend.put, Record("c", "k", {"n": 1}))),
        ("put_many", partial(backend.put_many, [Record("c", "a", 1), Record("c", "b", 2)])),
        ("delete", partial(backend.delete, "c", "k")),
        ("count", partial(backend.count, "c")),
        ("query", partial(backend.query, "c", Query())),
        ("iter_keys", keys),
        ("stats", backend.stats),
    ]


async def _each_fails_in_time(
    backend: MongoBackend, host: str, cause: str, only: tuple[str, ...] = ()
) -> list[float]:
    assert backend.call_timeout == BOUND
    took = []
    for name, call in _calls(backend):
        if only and name not in only:
            continue
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as info:
            await call()
        elapsed = time.monotonic() - started
        took.append(elapsed)
        message = str(info.value)
        assert elapsed < BOUND + MARGIN, (name, elapsed, message)
        assert host in message, (name, message)
        assert cause in message, (name, message)
        assert SECRET not in message and "{" not in message, (name, message)
    return took


async def test_a_closed_port_is_refused_within_the_bound() -> None:
    port = free_port()
    backend = _backend(f"mongodb://satchel:{SECRET}@127.0.0.1:{port}/?authSource=admin")
    try:
        took = await _each_fails_in_time(backend, f"127.0.0.1:{port}", "refused")
        # refused is known as soon as the server selection timeout ends
        assert max(took) < SELECTION + MARGIN, took
    finally:
        await backend.close()


async def test_a_stopped_server_times_out_within_the_bound(tmp_path: Path) -> None:
    """A SecantusDB process stopped with SIGSTOP (the kernel still accepts connections):
    every call of a backend that was connected, and of one that never was, raises within
    the bound, saying it timed out."""
    with SecantusProcess(tmp_path / "storage") as server:
        warm, cold = _backend(server.uri), _backend(server.uri)
        try:
            await warm.put(Record("c", "k", {"n": 0}))
            server.pause()
            host = f"127.0.0.1:{server.port}"
            await _each_fails_in_time(warm, host, "timed out")
            await _each_fails_in_time(cold, host, "timed out", only=("ping", "put"))
            server.resume()
            got = await warm.get("c", "k")
            assert got is not None and got.value == {"n": 0}
        finally:
            server.resume()
            await warm.close()
            await cold.close()


async def test_tls_to_a_plain_server_says_tls_within_the_bound(tmp_path: Path) -> None:
    with SecantusProcess(tmp_path / "storage") as server:
        backend = _backend(f"mongodb://127.0.0.1:{server.port}/?tls=true")
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as info:
                await backend.ping()
            assert time.monotonic() - started < BOUND + MARGIN
            assert "TLS" in str(info.value)
            assert f"127.0.0.1:{server.port}" in str(info.value)
        finally:
            await backend.close()


async def test_wrong_credentials_are_named_by_every_call_without_the_server_reply(
    mongodb_uri: str,
) -> None:
    """ping and stats alike: a ConfigError naming the refusal, never pymongo's raw reply."""
    port = urlsplit(mongodb_uri).port
    backend = _backend(f"mongodb://nobody:{SECRET}@127.0.0.1:{port}/?authSource=admin")
    try:
        for call in (backend.ping, backend.stats, partial(backend.get, "c", "k")):
            started = time.monotonic()
            with pytest.raises(ConfigError) as info:
                await call()
            assert time.monotonic() - started < BOUND + MARGIN
            message = str(info.value)
            assert "authentication failed" in message, message
            assert "full error" not in message and "{" not in message, message
            assert SECRET not in message
    finally:
        await backend.close()


# -- satchel doctor -------------------------------------------------------------------------


@pytest.fixture
def doctor_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    for name in list(__import__("os").environ):
        if name.startswith("SATCHEL_"):
            monkeypatch.delenv(name)

    def use(uri: str) -> None:
        monkeypatch.setenv("SATCHEL_BACKEND", "mongodb")
        monkeypatch.setenv("SATCHEL_MONGODB_URI", uri)
        monkeypatch.setenv("SATCHEL_MONGODB_SERVER_SELECTION_TIMEOUT", str(SELECTION))
        monkeypatch.setenv("SATCHEL_MONGODB_CONNECT_TIMEOUT", str(CONNECT))
        monkeypatch.setenv("SATCHEL_MONGODB_SOCKET_TIMEOUT", str(SOCKET))

    return use


def _doctor(*args: str) -> tuple[Any, float]:
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["doctor", *args], prog_name="satchel")
    return result, time.monotonic() - started


def test_doctor_against_a_closed_port_stops_at_ping_naming_the_cause(
    doctor_env: Callable[[str], None],
) -> None:
    port = free_port()
    doctor_env(f"mongodb://satchel:{SECRET}@127.0.0.1:{port}/")
    result, elapsed = _doctor()
    assert result.exit_code == 4, result.output
    assert elapsed < BOUND + MARGIN, elapsed
    assert "FAIL  ping" in result.stdout and "refused" in result.stdout
    assert f"127.0.0.1:{port}" in result.stdout
    assert "SKIP  round trip" in result.stdout
    assert "stats are unavailable" not in result.output
    assert "Traceback" not in result.output and SECRET not in result.output
    assert result.stderr.startswith("satchel: error: mongodb at ")

    result, elapsed = _doctor("--json")
    assert result.exit_code == 4
    assert elapsed < BOUND + MARGIN, elapsed
    report = json.loads(result.stdout)
    assert [c["status"] for c in report["checks"]] == ["ok", "fail", "skip"]
    assert report["error"]["type"] == "BackendUnavailable"
    assert "refused" in report["error"]["message"]
    assert report["backend_stats"] is None


def test_doctor_against_a_stopped_server_says_timed_out_within_the_bound(
    doctor_env: Callable[[str], None], tmp_path: Path
) -> None:
    """doctor's own --timeout (default 10 s, here a tenth of a second) never cuts the
    backend short: the backend's error, naming the cause, is the one reported."""
    with SecantusProcess(tmp_path / "storage") as server:
        doctor_env(server.uri)
        server.pause()
        try:
            result, elapsed = _doctor("--timeout", "0.1")
        finally:
            server.resume()
    assert result.exit_code == 4, result.output
    assert elapsed < BOUND + 1 + MARGIN, elapsed  # doctor's grace of one second over the bound
    assert "FAIL  ping" in result.stdout and "timed out" in result.stdout, result.stdout
    assert f"127.0.0.1:{server.port}" in result.stdout
    assert "--timeout" not in result.stdout


def test_doctor_with_wrong_credentials_names_them_once(
    doctor_env: Callable[[str], None], mongodb_uri: str
) -> None:
    port = urlsplit(mongodb_uri).port
    doctor_env(f"mongodb://nobody:{SECRET}@127.0.0.1:{port}/?authSource=admin")
    result, elapsed = _doctor()
    assert result.exit_code == 3, result.output
    assert elapsed < BOUND + MARGIN
    assert "FAIL  ping" in result.stdout and "authentication failed" in result.stdout
    assert "full error" not in result.output and "{" not in result.stdout
    assert "stats are unavailable" not in result.output
    assert SECRET not in result.output
