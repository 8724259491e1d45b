"""pytest fixtures: throwaway SecantusDB servers (a MongoDB wire-protocol server, PyPI
``SecantusDB``) on free loopback ports, and a real mongod when ``SATCHEL_TEST_MONGODB_URI``
names one. Without SecantusDB the tests are skipped, or fail when ``CI=true``.

The server the session shares runs in a process of its own, as a database server does: it
does not compete with the tests for this interpreter's lock, and a coverage or profiling
tracer in the tests does not slow it down. The servers of one test's own run in this
process, where the test can stop and restart them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from satchel_mongodb.testing.servers import SecantusProcess, SecantusServer

__all__ = ["mongodb_uri", "real_mongodb_uri", "secantus_server", "server_factory"]


def _unavailable(reason: str) -> NoReturn:
    """Fail on CI (``CI=true``), skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _require_secantus() -> None:
    try:
        import secantus  # noqa: F401
    except ImportError:
        _unavailable("SecantusDB is not installed (pip install SecantusDB)")


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """The URI of a SecantusDB server shared by the session, in a process of its own. Tests
    share it: each writes under names of its own (a random prefix or collection)."""
    _require_secantus()
    storage = Path(tempfile.mkdtemp(prefix="satchel-mongo-"))
    try:
        server = SecantusProcess(storage).start()
    except Exception as exc:
        shutil.rmtree(storage, ignore_errors=True)
        _unavailable(f"SecantusDB did not start: {exc!r}")
    try:
        yield server.uri
    finally:
        server.kill()
        shutil.rmtree(storage, ignore_errors=True)


@pytest.fixture(scope="session")
def real_mongodb_uri() -> str:
    """``SATCHEL_TEST_MONGODB_URI``: a real mongod (the tests that need it skip without)."""
    uri = os.environ.get("SATCHEL_TEST_MONGODB_URI")
    if not uri:
        pytest.skip("SATCHEL_TEST_MONGODB_URI is not set (a real mongod to test against)")
    return uri


@pytest.fixture
def secantus_server(tmp_path: Path) -> Iterator[SecantusServer]:
    """A SecantusDB server of one test's own, which the test may stop and restart."""
    _require_secantus()
    server = SecantusServer(storage=tmp_path / "storage")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[[], SecantusServer]]:
    """Makes SecantusDB servers of one test's own, stopped after it."""
    _require_secantus()
    made: list[SecantusServer] = []

    def make() -> SecantusServer:
        server = SecantusServer(storage=tmp_path / f"storage-{len(made)}")
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.stop()
