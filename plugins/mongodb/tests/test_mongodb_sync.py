"""The blocking API (satchel.sync) over MongoDB (a SecantusDB server), opened from the
environment as a user would: 16 threads share one handle, and closing it closes every
socket; a server that is not there raises the async error within the bound, with no secret
in its chain. (The conformance kit's ``SyncRules`` runs the 16 threads too.)"""

from __future__ import annotations

import gc
import time
import traceback
import uuid
from collections.abc import Iterator

import pytest

import satchel.sync
from satchel.errors import BackendUnavailable
from satchel.sync import SyncSatchel
from satchel.testing import threads_share_one_handle
from satchel.testing.threads import eventually, open_sockets
from satchel_mongodb.testing.servers import free_port

SECRET = "s3cr3t-Pa55"
SELECTION = 1.0


def _open(uri: str) -> SyncSatchel:
    return satchel.sync.open(
        environ={
            "SATCHEL_BACKEND": "mongodb",
            "SATCHEL_MONGODB_URI": uri,
            "SATCHEL_MONGODB_DATABASE": "satchel_sync",
            "SATCHEL_MONGODB_SERVER_SELECTION_TIMEOUT": str(SELECTION),
            "SATCHEL_NAMESPACE": f"sync-{uuid.uuid4().hex[:8]}",
        }
    )


def test_sixteen_threads_share_one_handle_and_close_closes_every_socket(
    mongodb_uri: str,
) -> None:
    before = open_sockets()
    with _open(mongodb_uri) as handle:
        handle.ping()
        threads_share_one_handle(handle, threads=16)
        assert handle.namespaces() == []
    if before is not None:
        assert eventually(lambda: (open_sockets() or set()) <= before), (
            f"{len((open_sockets() or set()) - before)} socket(s) left open after close()"
        )


@pytest.fixture
def collect_leaked_sockets() -> Iterator[None]:
    """pymongo 4.20 leaks the socket of a monitor check cancelled while it connects (see
    test_mongodb_bounds.py): collect it while the test's filter holds."""
    yield
    gc.collect()


@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.usefixtures("collect_leaked_sockets")
def test_a_server_that_is_not_there_raises_within_the_bound_without_the_password() -> None:
    port = free_port()
    uri = f"mongodb://satchel:{SECRET}@127.0.0.1:{port}/?authSource=admin&retryWrites=false"
    with _open(uri) as handle:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            handle.kv("ns").count()
        assert time.monotonic() - started < SELECTION + 10
        assert f"127.0.0.1:{port}" in str(caught.value)
        # the whole chain, __cause__ and __context__, as a traceback prints it
        assert SECRET not in "".join(traceback.format_exception(caught.value))
