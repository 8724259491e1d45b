"""The blocking API (satchel.sync) over Redis, opened from the environment as a user would:
16 threads share one handle; closing it, or forgetting it, disconnects every client from the
server; errors are the async ones, with no secret in their chain. (The conformance kit's
``SyncRules`` runs the 16 threads over standalone Redis and Cluster too.)"""

from __future__ import annotations

import gc
import threading
import traceback
import uuid

import pytest
import redis

import satchel.sync
from satchel.errors import BackendUnavailable, ConfigError, SatchelError
from satchel.sync import SyncSatchel
from satchel.testing import threads_share_one_handle
from satchel.testing.threads import eventually
from satchel_redis.testing.servers import RedisServerFactory, free_port

SECRET = "s3cr3t-Pa55"


def _open(url: str, **more: str) -> SyncSatchel:
    return satchel.sync.open(
        environ={
            "SATCHEL_BACKEND": "redis",
            "SATCHEL_REDIS_URL": url,
            "SATCHEL_REDIS_KEY_PREFIX": "satchel-sync:",
            "SATCHEL_NAMESPACE": f"sync-{uuid.uuid4().hex[:8]}",
            **more,
        }
    )


def _clients(url: str) -> int:
    """How many clients the server has, besides the one asking."""
    with redis.Redis.from_url(url) as probe:
        return len(probe.client_list()) - 1


def _shown(error: BaseException) -> str:
    """The whole chain, ``__cause__`` and ``__context__``, as a traceback prints it."""
    return "".join(traceback.format_exception(error)) + repr(error)


def _use_from_threads(handle: SyncSatchel, threads: int = 6) -> None:
    """Calls from several threads at once, so that the pool opens several connections."""
    barrier = threading.Barrier(threads)

    def work(i: int) -> None:
        barrier.wait(30)
        kv = handle.kv("clients")
        for n in range(20):
            kv.set(f"k{i}-{n}", n)
        assert kv.count() >= 20

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not any(w.is_alive() for w in workers)


def test_sixteen_threads_share_one_handle(redis_url: str) -> None:
    with _open(redis_url) as handle:
        handle.ping()
        threads_share_one_handle(handle, threads=16)


def test_close_disconnects_every_client(redis_url: str) -> None:
    before = _clients(redis_url)
    handle = _open(redis_url)
    _use_from_threads(handle)
    assert _clients(redis_url) > before
    assert handle.kv("clients").clear() == 120
    handle.close()
    assert eventually(lambda: _clients(redis_url) == before), (
        f"{_clients(redis_url) - before} client(s) still connected after close()"
    )


def test_a_forgotten_handle_disconnects_when_collected(redis_url: str) -> None:
    before = _clients(redis_url)
    handle = _open(redis_url)
    _use_from_threads(handle)
    handle.kv("clients").clear()
    assert _clients(redis_url) > before
    del handle
    gc.collect()
    assert eventually(lambda: _clients(redis_url) == before), (
        f"{_clients(redis_url) - before} client(s) still connected after the handle was collected"
    )


def test_a_refused_connection_raises_backend_unavailable_without_the_password() -> None:
    port = free_port()
    with _open(f"redis://satchel:{SECRET}@127.0.0.1:{port}/0") as handle:
        with pytest.raises(BackendUnavailable) as caught:
            handle.kv("ns").get("k")
        assert f"127.0.0.1:{port}" in str(caught.value)
        assert SECRET not in _shown(caught.value)


def test_a_wrong_password_is_a_config_error_without_the_password(
    redis_server_factory: RedisServerFactory,
) -> None:
    server = redis_server_factory(password="the-right-one")
    with _open(f"redis://:{SECRET}@127.0.0.1:{server.port}/0") as handle:
        with pytest.raises(SatchelError) as caught:
            handle.ping()
        assert isinstance(caught.value, ConfigError), repr(caught.value)
        assert SECRET not in _shown(caught.value)
