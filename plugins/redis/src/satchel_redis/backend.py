"""The Redis backend: records as hashes, with index sets and ordering sorted sets beside them
under one hash tag per collection, and every conditional write one Lua script; logs as
streams, spread over a few hash tags per collection (see :mod:`satchel_redis.logs`).

See :mod:`satchel_redis.layout` for the keys and :mod:`satchel_redis.scripts` for the
scripts. ``get`` is one ``HGETALL``; ``get_many`` one script that returns every hash.
Expiry is decided with this process's clock (as every satchel backend does), and Redis also
expires each record's hash by itself a minute later, so memory is given back without a
sweep; index and ordering entries of expired records are cleared by the next writes of their
collection and by :meth:`RedisBackend.purge_expired`.

Versions never repeat for a key: each collection keeps a version floor (``<base>f``), raised
by every removal to the removed record's version, and a new incarnation of a key starts
above it (see :mod:`satchel_redis.scripts`). A write retried after a lost answer returns
its first attempt's outcome, from the collection's outcome log. Each event loop that calls
the backend gets clients of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import itertools
import os
import random
import ssl
import sys
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from redis import exceptions as rex
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff

from satchel.backend import (
    Backend,
    Capabilities,
    JSONValue,
    LogEntry,
    Page,
    Record,
    outcome_retention,
)
from satchel.errors import (
    BackendUnavailable,
    ConfigError,
    CorruptRecord,
    InvalidArgument,
    SatchelError,
)
from satchel.query import (
    Condition,
    Query,
    compile_glob,
    decode_cursor,
    evaluate,
    predicate,
    sort_key,
)
from satchel.settings import load_settings, redact_url, scrub_secrets, secret_parts
from satchel.toolkit import (
    already_exists,
    check_put_condition,
    conflict,
    encode_json,
    encode_value,
    not_found,
)
from satchel_redis.layout import LOG_SLOTS, Layout, server_pattern
from satchel_redis.logs import RedisLogs
from satchel_redis.plugin import RedisSettings
from satchel_redis.scripts import SCRIPTS
from satchel_redis.slots import Slots, acquire_all
from satchel_redis.stored import decode_json
from satchel_redis.stored import moment as _moment
from satchel_redis.stored import now_ms as _now_ms
from satchel_redis.stored import text as _text
from satchel_redis.stored import unix_ms as _ms

__all__ = ["RedisBackend"]

_loads = decode_json
#: The datetimes of stored times (Unix ms, as Redis returns them), recently decoded: a
#: record read again has the same created_at and updated_at. Bounded; cleared when full.
_MOMENTS: dict[bytes, datetime] = {}
_MOMENTS_MAX = 4096

#: The fields of a record's hash the ``exists`` script reads, in the order it returns them.
_EXISTS_FIELDS = (b"n", b"c", b"u", b"e", b"i")


def _index(index_json: bytes | None) -> dict[str, tuple[str, ...]]:
    """A record's index entries from their stored JSON (none when missing or empty);
    ``ValueError`` when it is not an object."""
    if not index_json:
        return {}
    parsed = _loads(index_json)
    if not isinstance(parsed, dict):
        raise ValueError("index is not an object")
    return {name: tuple(values) for name, values in parsed.items()}


def _at(raw: bytes) -> datetime:
    """The UTC datetime of a stored time (Unix ms, as bytes)."""
    at = _MOMENTS.get(raw)
    if at is None:
        at = _moment(int(raw))
        if len(_MOMENTS) >= _MOMENTS_MAX:
            _MOMENTS.clear()
        _MOMENTS[raw] = at
    return at


T = TypeVar("T")

#: Records fetched per round trip when a query walks a collection.
PAGE = 256
#: Records deleted per script call by drop() and purge_expired() (each call blocks the
#: server briefly, so they are kept small).
BATCH = 500

_RETRYABLE: tuple[type[BaseException], ...] = (
    rex.ConnectionError,  # also BusyLoadingError, MasterNotFoundError, SSL failures
    rex.TimeoutError,
    rex.ClusterDownError,
    rex.TryAgainError,
    rex.ReadOnlyError,  # a replica promoted or demoted under us: the next try finds the master
    rex.RedisClusterException,  # no node of a Cluster answers (not a RedisError)
    OSError,
    asyncio.TimeoutError,
)


#: ``asyncio.timeout`` where there is one (3.11+); else ``asyncio.wait_for`` is used
_timeout: Callable[[float], contextlib.AbstractAsyncContextManager[Any]] | None
if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:
    _timeout = None


class RedisBackend(Backend):
    """Records in Redis: standalone, behind Sentinel, or on a Cluster.

    Build it from :class:`~satchel_redis.plugin.RedisSettings` (what ``SATCHEL_BACKEND=redis``
    does) or in code with :meth:`from_url`. Connections open on first use.
    """

    name = "redis"

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self._layout = Layout(settings.key_prefix)
        self._max = settings.max_value_bytes
        self.call_timeout: float = call_bound(settings)
        self._default_ttl = None if settings.ttl is None else timedelta(seconds=float(settings.ttl))
        self.capabilities = Capabilities(
            query_pushdown=False,
            shared_across_processes=True,
            persistent=True,
            transactions=False,
            max_value_bytes=settings.max_value_bytes,
        )
        self._mode, self._where, self._factory = _connect(settings)
        #: The clients of each event loop that used the backend (made on first use there);
        #: the first is made now, so that a bad setting fails here
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._spare: _LoopState | None = self._new_state()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopState] | None = None
        self._tls = settings.ssl or self._where.lower().startswith("rediss://")
        self._token_base = os.urandom(6).hex()
        self._tokens = itertools.count()
        #: How long the server keeps a write's outcome for its retries, in ms (0: no retries)
        self._keep_ms = _outcome_keep_ms(settings)
        #: The bound of one attempt, in seconds
        self._attempt_s = settings.connect_timeout + settings.socket_timeout
        self._closed = False
        self._logs = RedisLogs(self)

    @classmethod
    def from_url(cls, url: str, **settings: Any) -> RedisBackend:
        """A backend for ``url`` (``redis://``, ``rediss://``, ``unix://``); further settings
        by field name (``key_prefix="app:"``, ``retries=0``, ``cluster=True``...). Nothing is
        read from the environment."""
        return cls(load_settings(RedisSettings, environ={}, url=url, **settings))

    # -- plumbing ---------------------------------------------------------------------------

    def _token(self) -> str:
        """A fresh write id; empty when writes are never retried (nothing to recognise)."""
        if not self._keep_ms:
            return ""
        return f"{self._token_base}{next(self._tokens):x}"

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Callable[[], Awaitable[Any]]:
        """A call of the script ``name`` for :meth:`_run`."""
        script = SCRIPTS[name]

        async def call() -> Any:
            return await script(self._client, keys, args)

        return call

    # -- one client per event loop -----------------------------------------------------------

    def _new_state(self) -> _LoopState:
        client, sentinel = self._factory()
        return _LoopState(client, sentinel, self._mode != "cluster", self.settings.max_connections)

    @property
    def _state(self) -> _LoopState:
        """The clients of the running event loop, made on its first call. Outside a loop:
        the clients the next loop will use."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            spare = self._spare
            if spare is None:
                spare = self._spare = self._new_state()
            return spare
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        state = self._states.get(loop)
        if state is None:
            state = self._adopt(loop)
        self._last = (weakref.ref(loop), state)
        return state

    @property
    def _client(self) -> Any:
        return self._state.client

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        """Clients for ``loop``: released when the loop shuts down (``asyncio.run`` and other
        runners finalise a loop's async generators before closing it, and a generator of
        ours closes the clients then); clients of loops closed without that are dropped."""
        if self._closed:
            raise BackendUnavailable(f"the redis backend {self.describe()} is closed")
        for other, state in list(self._states.items()):
            if other.is_closed():
                self._states.pop(other, None)
                _abandon(state)
        state, self._spare = self._spare or self._new_state(), None
        keeper = _keeper(self, state)
        state.keeper = keeper
        step = keeper.asend(None)  # the loop's first-iteration hook registers the generator
        with contextlib.suppress(StopIteration):
            step.send(None)  # runs to its `yield` without suspending
        self._states[loop] = state
        return state

    async def _release(self, state: _LoopState) -> None:
        """Close ``state``'s clients from its own loop."""
        if state.released:
            return
        state.released = True
        with contextlib.suppress(Exception):
            await state.client.aclose()
        if isinstance(state.client, RedisCluster):
            # redis-py's aclose() does nothing while the client waits for a new slot map (as
            # after a node failed to answer): close every node's connections all the same
            manager = state.client.nodes_manager
            for nodes in ("nodes_cache", "startup_nodes"):
                with contextlib.suppress(Exception):
                    await manager.aclose(nodes)
        if state.sentinel is not None:
            for sentinel in state.sentinel.sentinels:
                with contextlib.suppress(Exception):
                    await sentinel.aclose()

    async def _ready(self) -> None:
        """Build a Cluster client's slot map once, under a lock: redis-py's Cluster client
        fails when several tasks make it initialise at the same time."""
        state = self._state
        if state.initialised:
            return
        if state.init_lock is None:
            state.init_lock = asyncio.Lock()
        async with state.init_lock:
            if not state.initialised:
                await state.client.initialize()
                state.initialised = True

    async def _run(
        self,
        what_: str | Callable[[], str],
        call: Callable[[], Awaitable[T]],
        route: str | None = None,
    ) -> T:
        """Run ``call()``; retry connection errors and timeouts with exponential backoff and
        full jitter; translate every driver error into a satchel error.

        The call as a whole, its waits for a free connection included, ends within
        :func:`call_bound` (``call_timeout``), counted from here. Each attempt first takes
        one of the loop's ``max_connections`` slots (of the node that serves ``route`` on a
        Cluster, whose pools are per node; of every primary for a call with no route), so
        that more calls at once than the pool holds queue instead of failing; it holds the
        slot while it runs, not through the backoff that follows. A call that gets no slot
        before the bound raises :class:`BackendUnavailable` saying that every connection was
        busy (nothing of that attempt was sent). An attempt (a Cluster's slot map and the
        command) is bounded by ``connect_timeout + socket_timeout``, and by what is left of
        the call's bound. A write is retried as it was first sent, with the same write id
        and clock: its script finds the outcome of an attempt that already ran and returns
        it (see :mod:`satchel_redis.scripts`). ``route`` is a Redis key the call is sent by:
        on a Cluster, an error names the node of its slot."""
        state = self._state
        clock = asyncio.get_running_loop().time
        deadline = clock() + self.call_timeout
        attempt = 0
        waited = 0.0
        while True:
            try:
                # the attempt's own bound runs while it works, not while it waits for a slot
                budget = self._attempt_s
                if not state.initialised:  # a Cluster's slot map: its nodes' slots need it
                    began = clock()
                    await _within(min(budget, deadline - began), self._ready())
                    budget -= clock() - began
                slots = self._slots(state, route)
                if any(slot.locked() for slot in slots):
                    began = clock()
                    try:
                        await _within(deadline - began, acquire_all(slots))
                    except asyncio.TimeoutError:
                        waited += clock() - began
                        what = what_ if isinstance(what_, str) else what_()
                        raise BackendUnavailable(self._busy(what, route, waited, attempt)) from None
                    waited += clock() - began
                else:  # the hot path: every slot is free, and taking one never suspends
                    for slot in slots:
                        await slot.acquire()
                try:
                    left = min(budget, deadline - clock())
                    return await _within(left, self._attempt(call))
                finally:
                    for slot in slots:
                        slot.release()
            except SatchelError:
                raise
            except Exception as exc:
                # the description is built only now: the hot path pays nothing for it
                what = what_ if isinstance(what_, str) else what_()
                attempt = await self._failed(what, exc, attempt, route, deadline, waited)

    def _slots(self, state: _LoopState, route: str | None) -> list[Slots]:
        """The slots an attempt takes: the loop's, or on a Cluster the slots of the node
        that serves ``route`` (of every primary, in name order, for a call with no route:
        it may use a connection of each)."""
        if self._mode != "cluster":
            return [state.slot("")]
        try:
            if route is not None:
                return [state.slot(state.client.get_node_from_key(route).name)]
            names = sorted({node.name for node in state.client.get_primaries()})
        except Exception:  # no slot map, or the slot is not covered: the attempt will say
            names = []
        return [state.slot(name) for name in names] or [state.slot("")]

    def _busy(self, what: str, route: str | None, waited: float, attempts: int) -> str:
        """The message of a call that got no free connection within its bound."""
        n = self.settings.max_connections
        where = ""
        if self._mode == "cluster":
            name = None if route is None else self._slot_node(route)
            where = f" to cluster node {name}" if name is not None else " to a cluster node"
        sent = (
            f"after {attempts} failed attempt{'s' if attempts != 1 else ''}"
            if attempts
            else "nothing of the call was sent"
        )
        return (
            f"{what}: redis at {self._where} is unavailable: timed out waiting for a "
            f"connection: all {n} connections{where} of this event loop "
            f"(SATCHEL_REDIS_MAX_CONNECTIONS) stayed busy with other calls for {waited:.2f} s, "
            f"until the call's bound of {self.call_timeout:g} s ({sent}); the calls holding "
            "them wait for the server (stopped, overloaded or unreachable), or the pool is "
            "too small for the load"
        )

    async def _attempt(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            if not self._state.initialised:
                await self._ready()
            return await call()
        except (rex.TimeoutError, rex.ConnectionError) as exc:
            if self._tls and self._mode == "standalone" and "connect" in str(exc).lower():
                await self._check_plain(exc)
            raise

    async def _check_plain(self, exc: Exception) -> None:
        """After a TLS connection failed: raise :class:`BackendUnavailable` if the server
        answers a plain-text ``PING`` (it does not speak TLS, which no retry changes)."""
        kwargs = self._client.connection_pool.connection_kwargs
        host, port = kwargs.get("host"), kwargs.get("port")
        if not isinstance(host, str) or not isinstance(port, int):
            return
        line = b""
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.settings.connect_timeout
            )
            writer.write(b"PING\r\n")
            line = await asyncio.wait_for(reader.readline(), self.settings.socket_timeout)
        except (OSError, asyncio.TimeoutError):
            return
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        if line.startswith((b"+PONG", b"-NOAUTH", b"-ERR", b"-WRONGPASS", b"-DENIED")):
            raise BackendUnavailable(
                f"redis at {self._where} does not speak TLS: it answered in plain text, so "
                "the TLS handshake can never complete; connect with redis:// instead of "
                "rediss:// (or SATCHEL_REDIS_SSL=false), or turn TLS on in the server"
            ) from None

    async def _failed(
        self,
        what: str,
        exc: Exception,
        attempt: int,
        route: str | None,
        deadline: float,
        waited: float,
    ) -> int:
        """Raise the satchel error for ``exc``, or wait before the next attempt and return
        its number. ``deadline`` is when the call's bound ends (the loop's clock), and
        ``waited`` how long the call waited for free connections so far."""
        s = self.settings
        if isinstance(exc, rex.AuthenticationError):
            raise ConfigError(
                f"redis at {self._where} refused the credentials: satchel sent "
                f"{self.settings.credentials_sent()}: {_clean(exc)}"
            ) from exc
        if isinstance(exc, rex.NoPermissionError):
            raise ConfigError(
                f"redis at {self._where}: the user may not run what {what} needs "
                f"(satchel sent {self.settings.credentials_sent()}): {_clean(exc)}"
            ) from exc
        if isinstance(exc, UnicodeEncodeError):
            raise InvalidArgument(
                f"{what}: holds a lone surrogate ({exc.object[exc.start : exc.end]!r}), "
                "which is not valid Unicode and cannot be stored"
            ) from None
        if isinstance(exc, _RETRYABLE):
            if self._closed:
                raise BackendUnavailable(f"{what}: the redis backend is closed") from exc
            if isinstance(exc, rex.RedisClusterException) and self._mode == "cluster":
                self._state.initialised = False  # map the cluster again
            spent = attempt >= s.retries
            cap = min(s.retry_backoff_max, s.retry_backoff * 2**attempt)
            pause = 0.0 if spent else random.uniform(0, cap)  # full jitter
            if spent or asyncio.get_running_loop().time() + pause >= deadline:
                message = self._unavailable(what, exc, attempt + 1, route, deadline, waited)
                if not spent:  # the waits for connections took the time of the retries
                    message += (
                        f"; the call's bound of {self.call_timeout:g} s left no time for a retry"
                    )
                raise BackendUnavailable(message) from exc
            await asyncio.sleep(pause)
            return attempt + 1
        if isinstance(exc, rex.ResponseError):
            raise self._response_error(what, exc) from exc
        if isinstance(exc, rex.RedisError):
            raise SatchelError(f"{what}: redis at {self._where}: {_clean(exc)}") from exc
        raise exc  # anything else is a bug, which the handle's wrapper reports

    def _unavailable(
        self,
        what: str,
        exc: BaseException,
        attempts: int,
        route: str | None = None,
        deadline: float | None = None,
        waited: float = 0.0,
    ) -> str:
        s = self.settings
        # the call's bound, not the attempt's, cut it short: time went on waiting for
        # free connections
        at_bound = (
            waited >= 0.01
            and deadline is not None
            and asyncio.get_running_loop().time() >= deadline - 0.01
        )
        text = _clean(exc)
        lowered = text.lower()
        if isinstance(exc, _NoMaster):
            text, hint = self._no_master(exc), ""
        elif isinstance(exc, (ssl.SSLError, rex.ConnectionError)) and (
            "ssl" in lowered or "tls" in lowered or "wrong version number" in lowered
        ):
            hint = (
                "; the TLS handshake failed: does the server speak TLS? "
                "(rediss:// or SATCHEL_REDIS_SSL=true turn TLS on)"
            )
        elif isinstance(exc, rex.TimeoutError) and "connect" in lowered:
            hint = (
                f"; no answer within {s.connect_timeout:g} s while connecting "
                "(SATCHEL_REDIS_CONNECT_TIMEOUT): is the host reachable?"
            )
            if self._tls:
                hint += (
                    "; TLS is on, and a server that does not speak TLS never completes the "
                    "handshake: check the rediss:// scheme or SATCHEL_REDIS_SSL"
                )
        elif isinstance(exc, rex.TimeoutError):
            hint = (
                f"; no answer within {s.socket_timeout:g} s (SATCHEL_REDIS_SOCKET_TIMEOUT): "
                "the server is stopped, overloaded or unreachable"
            )
        elif isinstance(exc, asyncio.TimeoutError) and at_bound:
            text = "timed out"
            hint = (
                f"; no answer within what was left of the call's bound of "
                f"{self.call_timeout:g} s: the server is stopped, overloaded or unreachable"
            )
        elif isinstance(exc, asyncio.TimeoutError):  # the attempt's own bound
            text = "timed out"
            hint = (
                f"; no answer within {self._attempt_s:g} s, the bound of one attempt "
                "(SATCHEL_REDIS_CONNECT_TIMEOUT + SATCHEL_REDIS_SOCKET_TIMEOUT): the server "
                "is stopped, overloaded or unreachable"
            )
        elif isinstance(exc, (rex.ConnectionError, ConnectionRefusedError)) and (
            "refused" in lowered or "connect call failed" in lowered or "111" in lowered
        ):
            hint = "; the connection was refused: is the server running, on this host and port?"
        else:
            hint = ""
        node = getattr(exc, "connection", None)
        if isinstance(node, ClusterNode):
            hint += f" (cluster node {node.name})"
        elif self._mode == "cluster" and route is not None:
            # the attempt's bound cut the call short, wherever it was waiting: name the node
            # that serves its slot, which is where the call was going
            name = self._slot_node(route)
            if name is not None:
                hint += f" (its slot is served by cluster node {name})"
        if waited >= 0.01:
            hint += (
                f"; the call waited {waited:.2f} s in all for one of the "
                f"{s.max_connections} connections (SATCHEL_REDIS_MAX_CONNECTIONS), all busy"
            )
        return (
            f"{what}: redis at {self._where} is unavailable after {attempts} "
            f"attempt{'s' if attempts != 1 else ''}: {text or type(exc).__name__}{hint}"
        )

    def _no_master(self, exc: _NoMaster) -> str:
        """What the sentinels did when none named a master, one cause per sentinel."""
        s = self.settings
        if not exc.failures:
            return (
                f"no sentinel knows a master for the service {exc.service!r} "
                "(SATCHEL_REDIS_SENTINEL_SERVICE), or they hold it down"
            )
        causes = []
        for address, failure in exc.failures:
            lowered = _clean(failure).lower()
            if isinstance(failure, rex.TimeoutError) and "connect" in lowered:
                cause = (
                    f"no answer within {s.connect_timeout:g} s while connecting "
                    "(SATCHEL_REDIS_CONNECT_TIMEOUT)"
                )
            elif isinstance(failure, rex.TimeoutError):
                cause = (
                    f"no answer within {s.socket_timeout:g} s (SATCHEL_REDIS_SOCKET_TIMEOUT): "
                    "stopped, overloaded or unreachable"
                )
            elif "refused" in lowered or "connect call failed" in lowered or "111" in lowered:
                cause = "the connection was refused"
            else:
                cause = _clean(failure) or type(failure).__name__
            causes.append(f"sentinel {address}: {cause}")
        return f"no sentinel named a master for {exc.service!r}: " + "; ".join(causes)

    def _slot_node(self, route: str) -> str | None:
        """The ``host:port`` of the Cluster node that serves ``route``'s slot, as the slot
        map last read says; ``None`` when it is not known."""
        try:
            node = self._client.get_node_from_key(route)
        except Exception:  # no slot map yet, or the slot is not covered
            return None
        return node.name if isinstance(node, ClusterNode) else None

    def _response_error(self, what: str, exc: rex.ResponseError) -> SatchelError:
        text = _clean(exc)
        if "DB index is out of range" in text:
            return ConfigError(
                f"redis at {self._where} has no database {self.settings.database()} "
                f"({self.settings.database_source()}): {text}; a server has databases "
                "0 to `databases` - 1 (16 unless its configuration says otherwise), and a "
                "Cluster only 0"
            )
        if text.startswith("WRONGTYPE"):
            return CorruptRecord(
                f"{what}: a key satchel uses holds another type of Redis value, written by "
                f"another client ({text}); delete or overwrite the record"
            )
        if isinstance(exc, rex.OutOfMemoryError) or text.startswith("OOM") or "-OOM " in text:
            return BackendUnavailable(
                f"{what}: redis at {self._where} is out of memory and refuses writes "
                f"(maxmemory reached; nothing was written): {text}"
            )
        if text.startswith(("MISCONF", "NOREPLICAS", "MASTERDOWN")):
            return BackendUnavailable(f"{what}: redis at {self._where} refuses writes: {text}")
        return SatchelError(f"{what}: redis at {self._where} answered an error: {text}")

    def _corrupt(self, collection: str, key: str, problem: str) -> CorruptRecord:
        rk = f"{self._layout.base(collection)}r:{key}"
        return CorruptRecord(
            f"{key!r} in {collection!r} is not a satchel record (Redis key {rk!r}: {problem}); "
            "another client wrote it. Delete or overwrite the record"
        )

    def _decode(self, collection: str, key: str, raw: Any, now_ms: int) -> Record | None:
        """A record from its ``HGETALL`` (``None`` when expired)."""
        if type(raw) is not dict:
            if not isinstance(raw, (dict, list)):
                raise self._corrupt(collection, key, "not a hash")
            raw = dict(zip(raw[::2], raw[1::2], strict=True))
        if not raw:
            return None
        try:
            expires = raw.get(b"e")
            expires_at = None
            if expires is not None:
                if int(expires) <= now_ms:
                    return None
                expires_at = _at(expires)
            index = _index(raw.get(b"i"))
            return Record(
                collection,
                key,
                _loads(raw[b"v"]),
                int(raw[b"n"]),
                _at(raw[b"c"]),
                _at(raw[b"u"]),
                expires_at,
                index,
            )
        except KeyError as exc:
            missing = exc.args[0].decode() if exc.args else "?"
            raise self._corrupt(collection, key, f"no field {missing!r}") from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise self._corrupt(collection, key, f"{type(exc).__name__}: {exc}") from None

    def _decode_packed(
        self, collection: str, key: str, replies: Sequence[Any], now_ms: int
    ) -> Record | None:
        """A record from the ``get_many`` script's four replies (``None`` when there is
        none, or it expired)."""
        meta, expires, value, index_json = replies
        if meta is None:
            return None
        if meta == b"corrupt":
            raise self._corrupt(collection, key, "not a hash")
        try:
            expires_at = None
            if expires is not None:  # checked first, as get does: an expired record is gone
                if int(expires) <= now_ms:
                    return None
                expires_at = _at(expires)
            if value is None:
                raise KeyError(b"v")
            version, created, updated = meta.split(b" ")  # more parts: a field is garbled
            for name, part in ((b"n", version), (b"c", created), (b"u", updated)):
                if not part:
                    raise KeyError(name)
            index = _index(index_json)
            return Record(
                collection,
                key,
                _loads(value),
                int(version),
                _at(created),
                _at(updated),
                expires_at,
                index,
            )
        except KeyError as exc:
            missing = exc.args[0].decode() if exc.args else "?"
            raise self._corrupt(collection, key, f"no field {missing!r}") from None
        except (ValueError, TypeError, OverflowError, AttributeError) as exc:
            raise self._corrupt(collection, key, f"{type(exc).__name__}: {exc}") from None

    def _prepare(self, record: Record, now: datetime) -> tuple[bytes, str, bytes]:
        """The value's JSON, the expiry (ms or '') and the index JSON (or ''), checked."""
        text = self._value_text(
            record.value, f"value of {record.key!r}", f" in {record.collection!r}"
        )
        expires = self._expiry(record.expires_at, now)
        index = b""
        if record.index:
            entries = {name: list(dict.fromkeys(v)) for name, v in record.index.items()}
            index = encode_json(entries)[0]
        return text, expires, index

    def _value_text(self, value: Any, what: str, where: str) -> bytes:
        """``value`` as stored (UTF-8 JSON), checked: JSON can hold it, and it is within
        ``SATCHEL_REDIS_MAX_VALUE_BYTES``. ``what`` names it, ``where`` says where it goes."""
        return encode_value(
            value, f"{what}{where}", max_bytes=self._max, setting="SATCHEL_REDIS_MAX_VALUE_BYTES"
        ).data

    def _expiry(self, expires_at: datetime | None, now: datetime) -> str:
        """The expiry to store, in Unix ms ('' for none): ``expires_at``, else the one the
        TTL setting gives."""
        if expires_at is None and self._default_ttl is not None:
            expires_at = now + self._default_ttl
        return "" if expires_at is None else str(_ms(expires_at))

    def _stored(
        self,
        record: Record,
        text: bytes,
        expires: str,
        version: int,
        created: int,
        now: datetime,
    ) -> Record:
        return Record(
            record.collection,
            record.key,
            decode_json(text),
            version,
            _moment(created),
            now,
            _moment(int(expires)) if expires else None,
            {name: tuple(dict.fromkeys(values)) for name, values in record.index.items()},
        )

    # -- reads ----------------------------------------------------------------------------

    async def get(self, collection: str, key: str) -> Record | None:
        rk = f"{self._layout.base(collection)}r:{key}"
        raw = await self._run(
            lambda: f"get {key!r} in {collection!r}", lambda: self._client.hgetall(rk), rk
        )
        return self._decode(collection, key, raw, _now_ms())

    async def exists(self, collection: str, key: str) -> bool:
        """What :meth:`get` would say, without reading the value: one script call reads the
        metadata and whether the value field is there, and they are checked as ``get``
        checks them (a damaged record raises :class:`CorruptRecord` from both; only a value
        whose bytes are not JSON goes unseen, as the value is not read)."""
        base = self._layout.base(collection)
        rk = f"{base}r:{key}"
        reply = await self._run(
            lambda: f"exists {key!r} in {collection!r}",
            self._script("exists", [rk], [base, 0]),
            rk,
        )
        if not isinstance(reply, list) or len(reply) != 7:
            raise self._corrupt(collection, key, "not a hash")
        *fields, has_value, is_hash = reply
        if not is_hash:
            return False
        # the hash as HGETALL would give it, "null" standing for the value (not read),
        # decoded by the code that decodes get's: the same checks, the same answer
        raw = {name: f for name, f in zip(_EXISTS_FIELDS, fields, strict=True) if f is not None}
        if has_value:
            raw[b"v"] = b"null"
        elif not raw:
            raw[b"?"] = b""  # a hash of other fields only: not a record, as get finds it
        return self._decode(collection, key, raw, _now_ms()) is not None

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[Record | None]:
        if not keys:
            return []
        base = self._layout.base(collection)
        # one script call for the batch: one round trip, and one command for the client to
        # pack and parse, where a pipeline would cost one command per key
        results = await self._run(
            lambda: f"get_many in {collection!r}",
            self._script("get_many", [f"{base}r:{key}" for key in keys], [base, 0]),
            f"{base}k",
        )
        now_ms = _now_ms()
        if len(results) != 4 * len(keys):
            raise SatchelError(
                f"get_many in {collection!r}: the script answered {len(results)} "
                f"replies for {len(keys)} keys"
            )
        return [
            self._decode_packed(collection, key, results[4 * j : 4 * j + 4], now_ms)
            for j, key in enumerate(keys)
        ]

    async def find(self, collection: str, index_name: str, value: str) -> list[Record]:
        base = self._layout.base(collection)
        ikey = Layout.index_key(base, index_name, value)
        now = _now_ms()
        raw = await self._run(
            f"find {index_name}={value!r} in {collection!r}",
            self._script("find", [ikey], [base, now]),
            ikey,
        )
        records = []
        for i in range(0, len(raw), 2):
            key = _text(raw[i])
            record = self._decode(collection, key, raw[i + 1], now)
            if record is not None:
                records.append(record)
        records.sort(key=lambda r: r.key)
        return records

    async def _walk(
        self, collection: str, low: bytes = b"-", high: bytes = b"+", first: int = PAGE
    ) -> AsyncIterator[list[Record]]:
        """The live records of ``collection`` between two ZRANGEBYLEX bounds, in key order,
        a page at a time (so a walk over a large collection holds one page). The first page
        walks ``first`` keys (fewer than :data:`PAGE` when the caller knows it needs no
        more), the next ones :data:`PAGE`."""
        base = self._layout.base(collection)
        kz = f"{base}k"
        size = first
        while True:
            now = _now_ms()
            walked, last, raw = await self._run(
                f"query {collection!r}",
                self._script("scan_page", [kz], [base, now, low, high, size]),
                kz,
            )
            page = []
            for i in range(0, len(raw), 2):
                record = self._decode(collection, _text(raw[i]), raw[i + 1], now)
                if record is not None:
                    page.append(record)
            if page:
                yield page
            if walked < size:
                return
            low = b"(" + (last if isinstance(last, bytes) else str(last).encode())
            size = PAGE

    async def query(self, collection: str, query: Query) -> Page[Record]:
        position = decode_cursor(query) if query.cursor is not None else None
        wanted = None if query.limit is None else query.offset + query.limit + 1
        tests = [predicate(c) for c in query.where]
        low, high = _key_range(query.where)
        hits: list[Record] = []
        if not query.order_by:
            # key order is the walk's order: stop as soon as the page (and one more) is found
            if position is not None:
                after = position[-1].encode()
                if low == b"-" or after >= low[1:]:
                    low = b"(" + after
            # when the key range answers every condition, the first live keys are the page
            first = PAGE
            if wanted is not None and all(_answered_by_range(c) for c in query.where):
                first = max(1, min(PAGE, wanted))
            async for page in self._walk(collection, low, high, first):
                hits.extend(r for r in page if all(t(r) for t in tests))
                if wanted is not None and len(hits) >= wanted:
                    break
        else:
            # keep only the best `wanted` matches seen so far (all of them without a limit)
            ranked: list[tuple[tuple[Any, ...], Record]] = []
            async for page in self._walk(collection, low, high):
                for record in page:
                    if all(t(record) for t in tests):
                        rank = sort_key(record, query.order_by)
                        if position is None or position < rank:
                            ranked.append((rank, record))
                if wanted is not None and len(ranked) > wanted:
                    ranked = heapq.nsmallest(wanted, ranked, key=lambda pair: pair[0])
            hits = [record for _, record in ranked]
        items, cursor = evaluate(hits, query)
        return Page(items, cursor)

    async def count(self, collection: str, where: Sequence[Condition] = ()) -> int:
        if where:
            tests = [predicate(c) for c in where]
            low, high = _key_range(where)
            total = 0
            async for page in self._walk(collection, low, high):
                total += sum(1 for r in page if all(t(r) for t in tests))
            return total
        base = self._layout.base(collection)
        now = _now_ms()
        found = await self._run(
            f"count {collection!r}",
            self._script("count", [f"{base}k"], [base, now]),
            f"{base}k",
        )
        return max(0, int(found))

    async def iter_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        """``ZSCAN ... MATCH`` over the collection's key sorted set, within the collection's
        own slot: the server filters by a byte-level superset of ``pattern`` (see
        :func:`~satchel_redis.layout.server_pattern`), then the exact pattern is applied
        here. Each key once."""
        regex = compile_glob(pattern) if pattern is not None else None  # InvalidQuery first
        match = "" if pattern is None else server_pattern(pattern)
        base = self._layout.base(collection)
        kz = f"{base}k"
        cursor: Any = b"0"
        seen: set[bytes] = set()  # ZSCAN may repeat a key while Redis rehashes the set
        while True:
            now = _now_ms()
            cursor, keys = await self._run(
                f"keys of {collection!r}",
                self._script("keys_page", [kz], [base, now, cursor, match, 500]),
                kz,
            )
            for raw in keys:
                if raw not in seen:
                    seen.add(raw)
                    key = _text(raw)
                    if regex is None or regex.fullmatch(key):
                        yield key
            if cursor in (b"0", "0", 0):
                return

    async def collections(self) -> list[str]:
        records, logs = await self._collections_stored()
        now = _now_ms()
        live = []
        for name in sorted(records | logs.keys()):
            if name in records:
                base = self._layout.base(name)
                count = await self._run(
                    "collections",
                    self._script("count", [f"{base}k"], [base, now]),
                    f"{base}k",
                )
                if int(count) > 0:
                    live.append(name)
                    continue
            if name in logs and await self._logs.live(name, logs[name]):
                live.append(name)
        return live

    async def _collections_stored(self) -> tuple[set[str], dict[str, set[int]]]:
        """Every collection with a key sorted set of records, and every collection with a
        log index, with the buckets that have one; found by one SCAN on every primary."""
        pattern = self._layout.keys_pattern()

        async def scan() -> tuple[set[str], dict[str, set[int]]]:
            records: set[str] = set()  # SCAN may return a key twice
            logs: dict[str, set[int]] = {}
            # on a Cluster, scan_iter walks every primary in turn
            async for raw in self._client.scan_iter(match=pattern, count=1000, _type="zset"):
                key = _text(raw)
                name = self._layout.collection_of(key)
                if name is not None:
                    records.add(name)
                    continue
                bucket = self._layout.log_bucket_of(key)
                if bucket is not None:
                    logs.setdefault(bucket[0], set()).add(bucket[1])
            return records, logs

        return await self._run("collections", scan)

    # -- writes ---------------------------------------------------------------------------

    async def put(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> Record:
        text, expires, now, version, created = await self._put(record, if_absent, if_version)
        return self._stored(record, text, expires, version, created, now)

    async def put_version(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> int:
        return (await self._put(record, if_absent, if_version))[3]

    async def _put(
        self, record: Record, if_absent: bool, if_version: int | None
    ) -> tuple[bytes, str, datetime, int, int]:
        """Write ``record``: the value's JSON, the expiry, the time of the write, and the
        version and ``created_at`` (ms) the record got."""
        check_put_condition(if_absent, if_version)
        now_ms = _now_ms()
        now = _moment(now_ms)
        text, expires, index = self._prepare(record, now)
        collection, key = record.collection, record.key
        base = self._layout.base(collection)
        mode = "a" if if_absent else ("" if if_version is None else str(if_version))
        args = [base, now_ms, key, text, expires, index, mode, self._token(), self._keep_ms]
        rk = f"{base}r:{key}"
        result = await self._run(
            lambda: f"put {key!r} in {collection!r}",
            lambda: SCRIPTS["put"](self._client, [rk], args),
            rk,
        )
        status = result[0]
        if status == b"ok" or status == "ok":
            return text, expires, now, int(result[1]), int(result[2])
        status = _text(status)
        if status == "exists":
            raise already_exists(collection, key, int(result[1]))
        if status == "missing":
            raise not_found(collection, key)
        if status == "conflict":
            raise conflict(collection, key, if_version, int(result[1]))
        raise self._corrupt(collection, key, "not a satchel record; a conditional write needs one")

    async def put_many(self, records: Sequence[Record]) -> list[Record]:
        if not records:
            return []
        prepared, groups, results, now = await self._put_many(records)
        return self._put_many_result(records, prepared, groups, results, now)

    async def put_many_versions(self, records: Sequence[Record]) -> list[int]:
        if not records:
            return []
        _, groups, results, _ = await self._put_many(records)
        out = [0] * len(records)
        for (_, positions), result in zip(groups.items(), results, strict=True):
            for j, i in enumerate(positions):
                out[i] = int(result[2 * j])
        return out

    async def restore_many(self, records: Sequence[Record]) -> None:
        from satchel_redis.restore import restore_many  # a module of its own: one script

        await restore_many(self, records)

    async def _put_many(
        self, records: Sequence[Record]
    ) -> tuple[list[tuple[bytes, str, bytes]], dict[str, list[int]], Sequence[Any], datetime]:
        """Write ``records``: what :meth:`_put_many_result` makes the stored records of."""
        now_ms = _now_ms()
        now = _moment(now_ms)
        prepared = [self._prepare(r, now) for r in records]  # every check before any write
        # one script call per collection (atomic there), all in one pipeline
        groups: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            groups.setdefault(record.collection, []).append(i)
        calls = []
        for collection, positions in groups.items():
            base = self._layout.base(collection)
            args: list[Any] = [base, now_ms, self._token(), self._keep_ms]
            for i in positions:
                text, expires, index = prepared[i]
                args += [records[i].key, text, expires, index]
            calls.append(([f"{base}k"], args))

        script = SCRIPTS["put_many"]

        def what() -> str:
            return f"put_many of {len(records)} records"

        if len(calls) > 1 and self._mode == "cluster":
            # a Cluster pipeline cannot carry scripts: the collections are written at once,
            # each a call of its own that takes a connection of the node of its slot
            def one(keys: list[str], args: list[Any]) -> Awaitable[Any]:
                return self._run(what, lambda: script(self._client, keys, args), keys[0])

            outcomes = await asyncio.gather(*(one(*c) for c in calls), return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            return prepared, groups, outcomes, now

        async def call() -> list[Any]:
            if len(calls) == 1:
                return [await script(self._client, *calls[0])]
            async with self._client.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                results = list(await pipe.execute(raise_on_error=False))
            for j, result in enumerate(results):
                if isinstance(result, rex.NoScriptError):  # not run: send the source
                    keys, args = calls[j]
                    results[j] = await script(self._client, keys, args)
                elif isinstance(result, Exception):
                    raise result
            return results

        # a batch of one collection goes to one slot
        route = calls[0][0][0] if len(calls) == 1 else None
        results = await self._run(what, call, route)
        return prepared, groups, results, now

    def _put_many_result(
        self,
        records: Sequence[Record],
        prepared: list[tuple[bytes, str, bytes]],
        groups: dict[str, list[int]],
        results: Sequence[Any],
        now: datetime,
    ) -> list[Record]:
        """The stored records of a ``put_many``, from its scripts' answers (one per
        collection, in the order of ``groups``)."""
        out: list[Record | None] = [None] * len(records)
        for (_, positions), result in zip(groups.items(), results, strict=True):
            for j, i in enumerate(positions):
                text, expires, _ = prepared[i]
                version, created = int(result[2 * j]), int(result[2 * j + 1])
                out[i] = self._stored(records[i], text, expires, version, created, now)
        return [r for r in out if r is not None]

    async def delete(self, collection: str, key: str, *, if_version: int | None = None) -> bool:
        base = self._layout.base(collection)
        rk = f"{base}r:{key}"
        mode = "" if if_version is None else str(if_version)
        args = [base, _now_ms(), key, mode, self._token(), self._keep_ms]
        result = await self._run(
            lambda: f"delete {key!r} in {collection!r}",
            lambda: SCRIPTS["delete"](self._client, [rk], args),
            rk,
        )
        status = _text(result[0])
        if status == "ok":
            return bool(int(result[1]))
        if status == "missing":
            raise not_found(collection, key)
        if status == "conflict":
            raise conflict(collection, key, if_version, int(result[1]))
        raise self._corrupt(collection, key, "not a satchel record; a conditional delete needs one")

    async def drop(self, collection: str) -> int:
        """Delete the collection's records, then its logs (in each of its log buckets);
        how many live records and logs it held."""
        base = self._layout.base(collection)
        kz = f"{base}k"
        removed = 0
        while True:
            now = _now_ms()
            live, left = await self._run(
                f"drop {collection!r}",
                self._script("drop_batch", [kz], [base, now, BATCH]),
                kz,
            )
            removed += int(live)
            if int(left) == 0:
                break
        return removed + await self._logs.drop(collection)

    async def purge_expired(self) -> int:
        removed = 0
        records, logs = await self._collections_stored()
        for collection, buckets in sorted(logs.items()):
            removed += await self._logs.purge(collection, buckets)
        for collection in sorted(records):
            base = self._layout.base(collection)
            while True:
                now = _now_ms()
                gone, walked = await self._run(
                    f"purge_expired in {collection!r}",
                    self._script("purge", [f"{base}k"], [base, now, BATCH]),
                    f"{base}k",
                )
                removed += int(gone)
                if int(walked) < BATCH:
                    break
        return removed

    # -- logs: one stream per log (see satchel_redis.logs) ----------------------------------

    async def log_append(
        self,
        collection: str,
        key: str,
        values: Sequence[JSONValue],
        *,
        expires_at: datetime | None = None,
    ) -> list[LogEntry]:
        return await self._logs.append(collection, key, values, expires_at)

    async def log_range(
        self,
        collection: str,
        key: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[LogEntry]:
        return await self._logs.range(collection, key, after, before, limit, reverse)

    async def log_length(self, collection: str, key: str) -> int:
        return await self._logs.length(collection, key)

    async def log_pop(self, collection: str, key: str, count: int) -> list[LogEntry]:
        return await self._logs.pop(collection, key, count)

    async def log_trim(
        self,
        collection: str,
        key: str,
        *,
        keep_last: int | None = None,
        before: int | None = None,
    ) -> int:
        return await self._logs.trim(collection, key, keep_last, before)

    async def log_delete(self, collection: str, key: str) -> bool:
        return await self._logs.delete(collection, key)

    async def log_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        async for key in self._logs.keys(collection, pattern):
            yield key

    # -- life -----------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._run("ping", lambda: self._client.ping())

    async def stats(self) -> dict[str, Any]:
        """The deployment's mode and the server's version, memory and clients."""

        async def call() -> Any:
            if self._mode == "cluster":
                return await self._client.info("server", target_nodes=RedisCluster.PRIMARIES)
            return await self._client.info()

        info = await self._run("stats", call)
        out: dict[str, Any] = {
            "mode": self._mode,
            "key_prefix": self.settings.key_prefix,
            "log_slots_per_collection": LOG_SLOTS,
        }
        if self._mode == "cluster":
            out["primaries"] = len(info) if isinstance(info, dict) else None
            return out
        for name in (
            "redis_version",
            "used_memory",
            "maxmemory_policy",
            "connected_clients",
            "aof_enabled",
            "rdb_last_save_time",
        ):
            if name in info:
                value = info[name]
                out[name] = value if isinstance(value, (int, float, str)) else str(value)
        return out

    async def close(self) -> None:
        """Close the clients of every loop that used the backend: this loop's here, a loop
        running in another thread's there (waiting at most the attempt bound), and those of
        loops that no longer run by dropping their connections."""
        if self._closed:
            return
        self._closed = True
        current = asyncio.get_running_loop()
        spare, self._spare = self._spare, None
        if spare is not None:
            await self._release(spare)
        for loop, state in list(self._states.items()):
            self._states.pop(loop, None)
            if loop is current:
                await self._release(state)
            elif loop.is_running() and not loop.is_closed():
                future = asyncio.run_coroutine_threadsafe(self._release(state), loop)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.wrap_future(future), self._attempt_s)
            else:
                _abandon(state)
        self._last = None

    def describe(self) -> str:
        return f"redis {self._mode} at {self._where} (key prefix {self.settings.key_prefix!r})"


async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
    """``awaitable``, cancelled after ``seconds`` (``asyncio.TimeoutError``; at once when
    no time is left)."""
    if seconds <= 0:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never started: nothing to cancel, and nothing to warn about
        raise asyncio.TimeoutError
    if _timeout is not None:
        async with _timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


class _LoopState:
    """The clients of one event loop."""

    __slots__ = (
        "client",
        "init_lock",
        "initialised",
        "keeper",
        "released",
        "sentinel",
        "size",
        "slots",
    )

    def __init__(
        self, client: Any, sentinel: Sentinel | None, initialised: bool, size: int
    ) -> None:
        self.client = client
        self.sentinel = sentinel
        self.initialised = initialised
        self.init_lock: asyncio.Lock | None = None
        #: One slot per pooled connection, per pool (``""`` for the one pool of a standalone
        #: or Sentinel client; a node's ``host:port`` on a Cluster, whose pools are per
        #: node): an attempt holds one while it runs, so that more calls at once than a pool
        #: holds wait for a connection instead of failing.
        self.slots: dict[str, Slots] = {}
        self.size = size
        self.keeper: AsyncGenerator[None, None] | None = None
        self.released = False

    def slot(self, pool: str) -> Slots:
        """The slots of ``pool``, made on first use."""
        slots = self.slots.get(pool)
        if slots is None:
            slots = self.slots[pool] = Slots(self.size)
        return slots


async def _keeper(backend: RedisBackend, state: _LoopState) -> AsyncGenerator[None, None]:
    """Lives as long as the loop that started it: a loop's runner finalises it (``aclose``)
    before closing the loop, which closes the loop's clients while the loop still runs."""
    try:
        yield
    finally:
        if not state.released:
            with contextlib.suppress(RuntimeError):
                backend._states.pop(asyncio.get_running_loop(), None)
            await backend._release(state)


def _abandon(state: _LoopState) -> None:
    """Drop the connections of a loop that is closed (or will never run again) without
    that loop: close their sockets, so that nothing is left open or warned about."""
    if state.released:
        return
    state.released = True
    if state.keeper is not None:
        with contextlib.suppress(BaseException):
            state.keeper.aclose().send(None)  # ends at once: `released` is set
    clients = [state.client]
    if state.sentinel is not None:
        clients += state.sentinel.sentinels
    for client in clients:
        for connection in _connections_of(client):
            _drop(connection)


def _connections_of(client: Any) -> list[Any]:
    pools = []
    if isinstance(client, RedisCluster):
        manager = client.nodes_manager
        nodes = [*manager.nodes_cache.values(), *manager.startup_nodes.values()]
        for node in nodes:
            pools.append(list(getattr(node, "_connections", ())))
        client._initialize = True  # no longer holds connections: nothing to warn about
    else:
        pool = client.connection_pool
        pools.append(list(getattr(pool, "_available_connections", ())))
        pools.append(list(getattr(pool, "_in_use_connections", ())))
    return [c for conns in pools for c in conns]


def _drop(connection: Any) -> None:
    """Close a connection's socket without its (closed) event loop."""
    writer = getattr(connection, "_writer", None)
    if writer is None:
        return
    transport = writer.transport
    while True:  # a TLS transport wraps the socket's transport
        inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
        with contextlib.suppress(Exception):
            transport.close()  # marks it closing; its loop cannot schedule the rest
        if inner is None:
            break
        transport = inner
    sock = getattr(transport, "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
        with contextlib.suppress(Exception):
            transport._sock = None
    connection._reader = None
    connection._writer = None


def _outcome_keep_ms(settings: RedisSettings) -> int:
    """How long a write's outcome is kept for its retries, in ms; 0 when there are none.

    The last attempt of a call starts at most ``call_bound`` after the first (see
    :func:`call_bound`); the outcome is kept for :func:`satchel.backend.outcome_retention` of
    that (twice it, and a minute more)."""
    if settings.retries == 0:
        return 0
    return int(outcome_retention(call_bound(settings)) * 1000)


def call_bound(settings: RedisSettings) -> float:
    """The longest a call takes before it returns or raises, in seconds:
    ``(retries + 1) * (connect_timeout + socket_timeout) + sum of the backoff caps``."""
    s = settings
    backoff = 0.0
    for n in range(1, s.retries + 1):
        backoff += min(s.retry_backoff_max, s.retry_backoff * 2.0 ** (n - 1))
    return (s.retries + 1) * (s.connect_timeout + s.socket_timeout) + backoff


def _clean(exc: BaseException) -> str:
    return scrub_secrets(str(exc)).strip()


def _answered_by_range(condition: Condition) -> bool:
    """Whether :func:`_key_range` alone selects exactly the keys ``condition`` allows."""
    return (
        condition.field == ("key",)
        and condition.op in ("eq", "startswith")
        and isinstance(condition.value, str)
        and bool(condition.value)
    )


def _key_range(where: Sequence[Condition]) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds that hold every key the conditions on ``key`` allow (the
    conditions are still applied to each record; this only narrows the walk)."""
    low, high = b"-", b"+"
    for condition in where:
        if condition.field != ("key",) or not isinstance(condition.value, str):
            continue
        wanted = condition.value.encode()
        if condition.op == "eq":
            return b"[" + wanted, b"[" + wanted
        if condition.op == "startswith" and wanted:
            # no UTF-8 byte is 0xff, so every key starting with `wanted` sorts below this
            low, high = b"[" + wanted, b"(" + wanted + b"\xff"
    return low, high


# -- connections -------------------------------------------------------------------------------


Make = Callable[[], "tuple[Any, Sentinel | None]"]


def _connect(settings: RedisSettings) -> tuple[str, str, Make]:
    """``(mode, where, make)`` for the settings, where ``make()`` builds a new
    ``(client, sentinel)``: nothing is connected until it is used, and each event loop gets
    its own. A bad setting raises at the first ``make()``."""
    common: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "decode_responses": False,
    }
    no_retry = Retry(NoBackoff(), 0)  # satchel retries, within its bound, and writes safely
    url = settings.url.get_secret_value() if settings.url is not None else None
    password = settings.password.get_secret_value() if settings.password is not None else None
    tls: dict[str, Any] = {}
    uses_tls = settings.ssl or (url is not None and url.lower().startswith("rediss://"))
    if settings.ssl_ca_certs and uses_tls:
        tls["ssl_ca_certs"] = settings.ssl_ca_certs

    if settings.sentinels:
        nodes = [_host_port(n.strip()) for n in settings.sentinels.split(",")]
        sentinel_password = (
            settings.sentinel_password.get_secret_value()
            if settings.sentinel_password is not None
            else None
        )

        def sentinel_client() -> tuple[Any, Sentinel | None]:
            sentinel = _Sentinel(
                nodes,
                sentinel_kwargs={**common, "password": sentinel_password, "retry": no_retry},
                db=settings.db,
                username=settings.username,
                password=password,
                ssl=settings.ssl,
                retry=no_retry,
                max_connections=settings.max_connections,
                **tls,
                **common,
            )
            return sentinel.master_for(settings.sentinel_service), sentinel

        where = (
            f"sentinel service {settings.sentinel_service!r} via {settings.sentinels} "
            f"db {settings.database()}"
        )
        return "sentinel", where, sentinel_client

    if url is not None:
        variable = settings.url_source()
        parts = _split_url(url, variable)
        _check_url_options(
            url, several_nodes=parts is not None, cluster=settings.cluster, variable=variable
        )
        if parts is not None:  # several nodes: a Cluster
            scheme, username, url_password, hosts = parts

            def nodes_client() -> tuple[Any, Sentinel | None]:
                client = RedisCluster(
                    startup_nodes=[ClusterNode(h, p) for h, p in hosts],
                    retry=no_retry,
                    username=username,
                    password=url_password,
                    ssl=scheme == "rediss",
                    max_connections=settings.max_connections,
                    **tls,
                    **common,
                )
                return client, None

            where = f"{scheme}://" + ",".join(f"{h}:{p}" for h, p in hosts)
            return "cluster", where, nodes_client
        where = url if scrub_secrets(url) == url else redact_url(url)
        cluster = settings.cluster

        def url_client() -> tuple[Any, Sentinel | None]:
            kind: Any = RedisCluster if cluster else Redis
            try:
                client = kind.from_url(
                    url, max_connections=settings.max_connections, retry=no_retry, **tls, **common
                )
            except ValueError as exc:
                raise ConfigError(f"{variable}={where!r}: {_clean(exc)}") from None
            return client, None

        return ("cluster" if cluster else "standalone"), where, url_client

    scheme = "rediss" if settings.ssl else "redis"
    where = f"{scheme}://{settings.host}:{settings.port}/{settings.db}"

    def host_client() -> tuple[Any, Sentinel | None]:
        if settings.cluster:
            cluster = RedisCluster(
                host=settings.host,
                port=settings.port,
                retry=no_retry,
                username=settings.username,
                password=password,
                ssl=settings.ssl,
                max_connections=settings.max_connections,
                **tls,
                **common,
            )
            return cluster, None
        client = Redis(
            host=settings.host,
            port=settings.port,
            db=settings.db,
            username=settings.username,
            password=password,
            ssl=settings.ssl,
            max_connections=settings.max_connections,
            retry=no_retry,
            **tls,
            **common,
        )
        return client, None

    return ("cluster" if settings.cluster else "standalone"), where, host_client


class _NoMaster(MasterNotFoundError):
    """No sentinel named a master for ``service``; ``failures`` holds, per sentinel that
    failed, its ``host:port`` and the error it raised."""

    def __init__(self, service: str, failures: list[tuple[str, BaseException]]) -> None:
        super().__init__(f"No master found for {service!r}")
        self.service = service
        self.failures = failures


class _Sentinel(Sentinel):
    """redis-py's Sentinel, whose failure to find a master keeps each sentinel's error
    (redis-py's own message quotes each sentinel client's repr and the error's kind only,
    so refused and timed out read the same)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        failures: list[tuple[str, BaseException]] = []
        for n, sentinel in enumerate(self.sentinels):
            try:
                masters: Any = await sentinel.sentinel_masters()
            except (rex.ConnectionError, rex.TimeoutError) as exc:
                kwargs = sentinel.connection_pool.connection_kwargs
                failures.append((f"{kwargs.get('host')}:{kwargs.get('port')}", exc))
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):
                # the sentinel that answered is asked first next time, as redis-py does
                self.sentinels[0], self.sentinels[n] = sentinel, self.sentinels[0]
                return state["ip"], state["port"]
        raise _NoMaster(service_name, failures)


#: URL options that satchel sets from its own settings: a URL may not change them behind the
#: documented time bound or pool size
_URL_OPTIONS_SET_BY_SATCHEL = {
    "socket_timeout": "SATCHEL_REDIS_SOCKET_TIMEOUT",
    "timeout": "SATCHEL_REDIS_SOCKET_TIMEOUT",
    "socket_connect_timeout": "SATCHEL_REDIS_CONNECT_TIMEOUT",
    "retry_on_timeout": "SATCHEL_REDIS_RETRIES",
    "retry_on_error": "SATCHEL_REDIS_RETRIES",
    "max_connections": "SATCHEL_REDIS_MAX_CONNECTIONS",
}
#: URL options that change how the bytes satchel writes and reads are encoded
_URL_OPTIONS_ON_BYTES = {"decode_responses", "encoding", "encoding_errors"}
#: URL options given as text that redis-py's connections take (beside the typed ones of
#: redis-py's URL parser); other names would reach a connection as a string it cannot use
_URL_TEXT_OPTIONS = {
    "username",
    "password",
    "client_name",
    "lib_name",
    "lib_version",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_ciphers",
    "ssl_cert_reqs",
}


def _init_parameters(*classes: type) -> set[str]:
    """The keyword parameters of the ``__init__`` of ``classes`` and their bases."""
    names: set[str] = set()
    for cls in classes:
        for base in cls.__mro__:
            init = base.__dict__.get("__init__")
            if init is None:
                continue
            try:
                parameters = inspect.signature(init).parameters.values()
            except (TypeError, ValueError):
                continue
            names |= {
                p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            }
    return names


def _check_url_options(
    url: str, *, several_nodes: bool, cluster: bool, variable: str = "SATCHEL_REDIS_URL"
) -> None:
    """Refuse a URL option that satchel would not honour as written: one redis-py does not
    take (it failed at the first command, as a TypeError), one that satchel sets from its
    own settings, one that changes how satchel's bytes are encoded, and any option of a URL
    naming several Cluster nodes (redis-py reads none from it). An option's name is quoted
    unless it follows a password parameter (then it may be part of the password)."""
    from redis.asyncio.connection import (
        URL_QUERY_ARGUMENT_PARSERS,
        Connection,
        ConnectionPool,
        SSLConnection,
        UnixDomainSocketConnection,
    )

    options = parse_qs(urlsplit(url).query)
    names = [n for n in options if n != "db"]
    if several_nodes and options.get("db", ["0"])[-1] != "0":
        raise ConfigError(f"{variable}: a Cluster has only database 0 (in {redact_url(url)!r})")
    if not names:
        return
    secrets = secret_parts(url)
    if several_nodes:
        raise ConfigError(
            f"{variable}: a URL naming several Cluster nodes carries no options ("
            f"redis-py would ignore them); give them as SATCHEL_REDIS_* settings, or name "
            f"one node and set SATCHEL_REDIS_CLUSTER=true (in {redact_url(url)!r})"
        )
    scheme = url.strip().partition("://")[0].lower()
    connection = {"rediss": SSLConnection, "unix": UnixDomainSocketConnection}.get(
        scheme, Connection
    )
    taken = (
        _init_parameters(RedisCluster) if cluster else _init_parameters(connection, ConnectionPool)
    )
    readable = (set(URL_QUERY_ARGUMENT_PARSERS) | _URL_TEXT_OPTIONS) & taken
    for name in names:
        shown = (
            "an option after a password parameter ('&' in a password is written %26)"
            if any(name in secret for secret in secrets)
            else f"the option {name}="
        )
        if name in _URL_OPTIONS_SET_BY_SATCHEL:
            problem = f"satchel sets it from {_URL_OPTIONS_SET_BY_SATCHEL[name]}: use that"
        elif name in _URL_OPTIONS_ON_BYTES:
            problem = "satchel reads and writes the bytes of its records itself"
        elif name not in readable:
            problem = f"redis-py's {scheme}:// connections do not take it" + (
                " (TLS options need rediss://)" if name.startswith("ssl") else ""
            )
        else:
            continue
        raise ConfigError(f"{variable}: {shown}: {problem} (in {redact_url(url)!r})")


def _host_port(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    return host.strip("[]"), int(port)


def _split_url(
    url: str, variable: str = "SATCHEL_REDIS_URL"
) -> tuple[str, str | None, str | None, list[tuple[str, int]]] | None:
    """``(scheme, username, password, [(host, port), ...])`` of a URL naming several nodes
    (``redis://user:pw@h1:7000,h2:7001``); ``None`` for a URL with one node."""
    scheme, _, rest = url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo, _, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return None
    username = password = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    path = rest[len(netloc) :].split("?", 1)[0].strip("/")
    if path not in ("", "0"):
        raise ConfigError(
            f"{variable}: a Cluster has only database 0, not {path!r} (in {redact_url(url)!r})"
        )
    nodes = []
    for node in hosts.split(","):
        try:
            split = urlsplit(f"//{node}")
            host, port = split.hostname, split.port or 6379
        except ValueError:
            host = None
        if not host:
            raise ConfigError(f"{variable}: {node!r} is not host:port (in {redact_url(url)!r})")
        nodes.append((host, port))
    return scheme.lower(), username, password, nodes
