"""The time bound: every call returns or raises within :attr:`Backend.call_timeout`, counted
from the call, whatever it waits for on the way (a free connection of its pool included),
and a call cut short by it leaves no write half-applied.

These rules need a server that can be made silent (it keeps accepting connections and
answers nothing, as a process stopped with SIGSTOP does): a backend author provides one
through the optional :meth:`BoundRules.silent_server` fixture, and without it they skip (a
backend without a server, such as memory, has no pool to wait for).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from satchel.backend import Record
from satchel.errors import BackendUnavailable
from satchel.testing.fixtures import ConformanceFixtures, MakeBackend, open_backend, rec

__all__ = ["BoundRules", "SilentServer"]

#: The longest ``call_timeout`` the rules accept for the backend of a silent server, in
#: seconds (so that the rules stay quick).
MAX_TEST_BOUND = 10.0
#: Scheduling slack on a loaded machine, added to the bound; not part of the guarantee.
SLACK = 1.5
#: Calls at once per pooled connection.
CALLS_PER_CONNECTION = 4


@dataclass
class SilentServer:
    """What :meth:`BoundRules.silent_server` returns.

    ``make_backend`` builds a backend of a server of the test's own, with a ``call_timeout``
    of a few seconds (at most :data:`MAX_TEST_BOUND`) and a pool of ``connections``
    connections per event loop; ``silence()`` makes that server accept connections and
    answer nothing until ``resume()`` (SIGSTOP and SIGCONT, see
    :mod:`satchel.testing.faults`)."""

    make_backend: MakeBackend
    connections: int
    silence: Callable[[], None]
    resume: Callable[[], None]


class BoundRules(ConformanceFixtures):
    """With more calls at once than the pool holds and the server silent, every call ends
    within ``call_timeout`` with :class:`~satchel.errors.BackendUnavailable` (the calls that
    wait for a connection as much as those that hold one), and each write is applied whole
    or not at all once the server answers again."""

    @pytest.fixture
    def silent_server(self) -> SilentServer | None:
        """Optional: a :class:`SilentServer`. By default (``None``) these rules skip."""
        return None

    @pytest.mark.asyncio
    async def test_a_saturated_pool_on_a_silent_server_ends_every_call_within_the_bound(
        self, silent_server: SilentServer | None, collection: str
    ) -> None:
        if silent_server is None:
            pytest.skip("no silent_server fixture: the backend has no server to silence")
        backend = await open_backend(silent_server.make_backend)
        resumed = False
        try:
            bound = backend.call_timeout
            assert bound is not None, "the silent_server backend states no call_timeout"
            assert bound <= MAX_TEST_BOUND, (
                f"the silent_server backend's call_timeout is {bound}; give it one of at "
                f"most {MAX_TEST_BOUND:g} s"
            )
            first = await backend.put(rec(collection, "k", "first", index={"v": ["first"]}))

            async def call(i: int) -> tuple[float, BaseException | None]:
                started = time.monotonic()
                try:
                    if i % 2:
                        await backend.get(collection, "k")
                    else:
                        record = rec(collection, "k", f"w{i}", index={"v": [f"w{i}"]})
                        await backend.put(record, if_version=first.version)
                except Exception as exc:
                    return time.monotonic() - started, exc
                return time.monotonic() - started, None

            silent_server.silence()
            try:
                outcomes = await asyncio.gather(
                    *(call(i) for i in range(CALLS_PER_CONNECTION * silent_server.connections))
                )
            finally:
                silent_server.resume()
                resumed = True
            for i, (elapsed, error) in enumerate(outcomes):
                assert elapsed <= bound + SLACK, (
                    f"call {i} took {elapsed:.2f} s against a silent server; the bound is "
                    f"{bound:g} s (call_timeout), its wait for a connection included"
                )
                assert isinstance(error, BackendUnavailable), (
                    f"call {i} against a silent server: expected BackendUnavailable, got {error!r}"
                )
            # a write sent before the silence may still land after it (its outcome was
            # unknown to the caller): the record and its index entries are compared in a
            # read that no write crossed
            for _ in range(50):
                stored = await backend.get(collection, "k")
                assert stored is not None
                found = await backend.find(collection, "v", str(stored.value))
                stale = await backend.find(collection, "v", "first")
                again = await backend.get(collection, "k")
                if again is not None and again.version == stored.version:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the record kept changing after the server came back")
            whole(stored, first)
            assert [r.key for r in found] == ["k"], f"the index entry of {stored.value!r}"
            if stored.value != "first":
                assert stale == [], "a stale index entry"
            await backend.drop(collection)
        finally:
            if not resumed:
                silent_server.resume()
            await backend.close()


def whole(stored: Record, first: Record) -> None:
    """``stored`` is ``first``, or one write made over it, whole (value and index)."""
    if stored.version == first.version:
        assert (stored.value, dict(stored.index)) == (first.value, dict(first.index)), stored
        return
    assert stored.version > first.version, stored
    assert isinstance(stored.value, str), stored
    assert stored.value.startswith("w"), stored
    assert dict(stored.index) == {"v": (stored.value,)}, f"half a write: {stored}"
