"""The MongoDB backend: one MongoDB collection per satchel collection, one document per
record, the key as ``_id``.

A document holds::

    _id       the key
    value     the value, as the plain BSON its JSON maps to (satchel_mongodb.codec: only
              keys MongoDB cannot store or address are escaped)
    instants  instants (microseconds since 1970) of the value's strings that read as
              datetimes, only when there are some
    version   the version
    created   created_at; updated: updated_at; expires: expires_at (null: never), BSON
              dates (UTC, milliseconds); the TTL index satchel_ttl is on expires
    index_entries  index entries, "<len(name)>:<name><value>", under the multikey index
                   satchel_index_entries
    empty_indexes  names of indexes given with no value (only when there are some)
    key_instant    the key's instant, when the key reads as a datetime
    write_id       the id of the write that stored this version

Each conditional write is one server operation whose filter carries the condition: an
insert for create-if-absent (a duplicate key means the record exists), and a replace or a
delete filtered on ``_id`` and the write or version it expects for everything else; when the
filter matches nothing, a read tells a conflict from a missing record. A replace names
the write it replaces by its write id (``write_id``). An unconditional ``put`` needs the current
version: the backend remembers the versions (and write ids) it has read and written, tries
the conditional replace at once, and reads first only when it has none (or another writer
got there first).

Logs (the ``log_*`` methods) live in :mod:`satchel_mongodb.logs`: a head document per log
and a document per entry, in the same MongoDB collection; ``drop``, ``collections``,
``purge_expired`` and ``stats`` here cover them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import os
import random
import re
import sys
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, unquote

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, InsertOne, ReplaceOne, UpdateOne, WriteConcern
from pymongo import errors as perr
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_preferences import ReadPreference

from satchel.backend import (
    Backend,
    Capabilities,
    JSONValue,
    LogEntry,
    Page,
    Record,
    outcome_retention,
    truncate_ms,
    utcnow,
)
from satchel.errors import (
    BackendUnavailable,
    ConfigError,
    CorruptRecord,
    InvalidArgument,
    SatchelError,
    ValueTooLarge,
)
from satchel.query import MAX_COUNT, Query, compile_glob, evaluate, make_cursor, matches, project
from satchel.settings import load_settings, mask_foreign
from satchel.toolkit import EPOCH, already_exists, check_put_condition, conflict, not_found
from satchel_mongodb import translate
from satchel_mongodb.codec import (
    MAX_DOCUMENT_BYTES,
    copy_value,
    decode,
    document_bytes,
    encode_copy,
    string_instant,
)
from satchel_mongodb.logs import LOG_LAYOUT, MongoLogs
from satchel_mongodb.migrate import FLOOR_NAMES, LEGACY, LegacyForm, is_legacy
from satchel_mongodb.plugin import MongoSettings

__all__ = ["MongoBackend", "MAX_DOCUMENT_BYTES"]

T = TypeVar("T")

#: Versions remembered for unconditional puts.
VERSION_CACHE_SIZE: Final = 10_000
#: Attempts of an unconditional write that keeps meeting other writers.
ATTEMPTS: Final = 100
#: The largest ``limit`` of a query that is first sent with the cheaper filter.
LIGHT_LIMIT: Final = 1000
_META: Final = {"version": 1, "created": 1, "expires": 1, "write_id": 1}
#: The multikey index on the index entries (and the key) of a collection's records.
INDEX_ENTRIES: Final = "satchel_index_entries"
#: The collection (after the prefix) that holds each collection's version floor.
FLOORS: Final = "%floors"
#: The fields of a floor document: the floor, raised before every removal, and the expiry
#: floors, ``{<entry>: <version>}`` (see :meth:`MongoBackend._floor`). The earlier names of
#: both (``f``, ``e``: satchel_mongodb.migrate.FLOOR_NAMES) are read too, never written.
FLOOR: Final = "floor"
EXPIRY_FLOORS: Final = "expiry_floors"
#: The names a floor document's floor is read under, and its expiry floors.
_FLOOR_FIELDS: Final = (FLOOR, *[old for old, new in FLOOR_NAMES.items() if new == FLOOR])
_EXPIRY_FIELDS: Final = (
    EXPIRY_FLOORS,
    *[old for old, new in FLOOR_NAMES.items() if new == EXPIRY_FLOORS],
)
#: What follows the prefix in the MongoDB name of a collection whose name is too long for
#: MongoDB (then a digest of the name; an escaped name never holds "%~").
LONG_NAME: Final = "%~"
#: The start of the ``_id`` of a catalog document in the floors collection (which maps a
#: digest name back to the collection's name).
CATALOG: Final = "%name:"
#: MongoDB's limit on "<database>.<collection>", in bytes.
_MAX_NAMESPACE: Final = 255
_EPOCH: Final = EPOCH
#: Seconds past a record's expiry before MongoDB's TTL monitor may remove it (the TTL
#: index's expireAfterSeconds): room for clocks that differ by less than a minute.
TTL_MARGIN: Final = 60
#: Seconds per entry of a floor document's ``expiry_floors`` (the versions of records with an
#: expiry).
_BUCKET: Final = 10
#: The most this process's clock may lag the server's for the floor to count a record
#: before the TTL monitor can remove it.
CLOCK_SKEW: Final = 20
#: How long a claim on a key holds off other writers before they may take it over.
CLAIM_SECONDS: Final = 0.5
_CODEC: Final[CodecOptions[Any]] = CodecOptions(tz_aware=True, tzinfo=timezone.utc)
_AUTH_CODES: Final = frozenset({13, 18, 8000})
_NAME_ESCAPE: Final = re.compile(r"[%$\x00]")
_NAME_UNESCAPE: Final = re.compile(r"%([0-9A-F]{2})")
_DOTS: Final = re.compile(r"^\.|(?<=\.)\.|\.$")
#: ``_stored``'s mark of a value not copied yet.
_UNCOPIED: Final[Any] = object()
#: A record (no ``seq``), or the head of a log that holds entries (the records' and the
#: logs' documents that make a collection non-empty; ``n`` is the length in a head of the
#: earlier form, see satchel_mongodb.migrate).
_RECORD_OR_LOG: Final = [
    {"seq": {"$exists": False}},
    {"seq": 0, "length": {"$gt": 0}},
    {"seq": 0, "n": {"$gt": 0}},
]


def _collection_name(prefix: str, name: str) -> str:
    encoded = _NAME_ESCAPE.sub(lambda m: f"%{ord(m.group()):02X}", name)
    full = prefix + encoded
    if full.startswith("system."):
        full = "%73" + full[1:]
    # MongoDB refuses a name that starts or ends with "." or holds ".."
    return _DOTS.sub("%2E", full)


def _satchel_name(prefix: str, mongo_name: str) -> str | None:
    if not mongo_name.startswith(prefix) or mongo_name == prefix:
        return None
    return _NAME_UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), mongo_name)[len(prefix) :]


_SECRET_OPTIONS: Final = frozenset(
    {
        "password",
        "tlscertificatekeyfilepassword",
        "authmechanismproperties",
        "sslclientcertificatekeypassword",
    }
)


def _credentials_end(rest: str) -> int:
    """Where the credentials of a URI (after its scheme) end: the last ``@`` before the
    options; -1 when there are none."""
    options = rest.find("?", rest.rfind("@") + 1 if "@" in rest else 0)
    head = rest if options == -1 else rest[:options]
    return head.rfind("@")


def _display(uri: str) -> str:
    """The URI as shown in messages: scheme and hosts only (no credentials, no options)."""
    scheme, _, rest = uri.partition("://")
    rest = rest[_credentials_end(rest) + 1 :]
    hosts = re.split(r"[/?]", rest, maxsplit=1)[0]
    return f"{scheme}://{hosts or '?'}"


def _secrets(uri: str, settings: MongoSettings) -> list[str]:
    """Every spelling of a secret the URI or the settings hold, longest first."""
    found: set[str] = set()
    _, _, rest = uri.partition("://")
    end = _credentials_end(rest)
    if end >= 0:
        userinfo = rest[:end]
        found.add(userinfo)
        password = userinfo.partition(":")[2]
        found.update({password, unquote(password)})
    query = rest[end + 1 :].partition("?")[2]
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.lower() in _SECRET_OPTIONS:
            found.update({value, unquote(value)})
    if settings.password is not None:
        found.add(settings.password.get_secret_value())
    return sorted((s for s in found if s), key=len, reverse=True)


def _exactly(key: str, current: Any) -> dict[str, Any]:
    """The filter of the document ``current`` (metadata as read) exactly as it was."""
    condition: dict[str, Any] = {"_id": key}
    for name in ("version", "created", "expires", "write_id"):
        condition[name] = current.get(name, {"$exists": False})
    return condition


def _index_entries(index: Any) -> tuple[list[str], list[str]]:
    entries: list[str] = []
    empty: list[str] = []
    for name, values in index.items():
        if not values:
            empty.append(name)
        prefix = f"{len(name)}:{name}"
        entries.extend(prefix + value for value in values)
    return entries, empty


def _index(entries: Any, empty: Any) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for entry in entries or ():
        length, _, rest = entry.partition(":")
        size = int(length)
        out.setdefault(rest[:size], []).append(rest[size:])
    index = {name: tuple(values) for name, values in out.items()}
    for name in empty or ():
        index[name] = ()
    return index


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _alive(current: Any, now: datetime) -> bool:
    """Whether the metadata ``current`` (``version``, ``created``, ``expires``) of a stored
    document are a satchel record's, not expired at ``now``."""
    if current is None:
        return False
    expires = current.get("expires")
    return (
        _is_version(current.get("version"))
        and isinstance(current.get("created"), datetime)
        and (expires is None or (isinstance(expires, datetime) and expires > now))
    )


def _expired(doc: Any, now: datetime) -> bool:
    """Whether a stored document read without a condition on ``expires`` has expired at
    ``now`` (what the filter ``translate.live(now)`` leaves out)."""
    expires = doc.get("expires")
    return isinstance(expires, datetime) and expires <= now


def _is_record(current: Any) -> bool:
    """Whether the metadata ``current`` are a satchel record's (live or expired)."""
    return (
        current is not None
        and _is_version(current.get("version"))
        and isinstance(current.get("created"), datetime)
    )


def _claim_document(key: str, claim: str, now: datetime) -> dict[str, Any]:
    """A claim on ``key``: not a record (version 0, expired since 1970), the place a new
    record takes once its writer has read the floor."""
    return {
        "_id": key,
        "version": 0,
        "created": now,
        "updated": now,
        "expires": _EPOCH,
        "write_id": claim,
    }


def _is_young_claim(current: Any) -> bool:
    """Whether ``current`` is another writer's claim, made less than CLAIM_SECONDS ago.

    The age is read with this process's clock against the claimer's: a claim dated more than
    CLAIM_SECONDS ahead (a claimer whose clock runs fast) counts as old, so it can hold a key
    for at most CLAIM_SECONDS of anyone's time. Taking over a claim is always safe: the
    claimer's own write is filtered on its claim and then fails, and it tries again."""
    if (
        current is None
        or current.get("version") != 0
        or not isinstance(current.get("write_id"), str)
    ):
        return False
    made = current.get("created")
    if not isinstance(made, datetime):
        return False
    return -CLAIM_SECONDS < (utcnow() - made).total_seconds() < CLAIM_SECONDS


def _write_or_claim(
    condition: dict[str, Any], doc: Any, key: str, claim: str, now: datetime
) -> UpdateOne:
    """An upsert that replaces the document ``condition`` names with ``doc``; when there is
    no document under the key it leaves a claim instead (so a record is never created
    without the floor being read), and when another document is there it fails with a
    duplicate key at its own index."""
    inserted = {"$eq": [{"$type": "$updated"}, "missing"]}  # the seed of an upsert has no "updated"
    replacement = {
        "$cond": [inserted, {"$literal": _claim_document(key, claim, now)}, {"$literal": doc}]
    }
    return UpdateOne(condition, [{"$replaceWith": replacement}], upsert=True)


def _last_created(
    records: list[Record], chain: list[int], created: datetime, now: datetime
) -> datetime:
    """The creation time of the last record of a chain of writes to one key, the first
    created at ``created``: a record after one that has already expired starts anew."""
    for index in chain[:-1]:
        expires = records[index].expires_at
        if expires is not None and truncate_ms(expires) <= now:
            created = now
    return created


def _check_version(collection: str, key: str, if_version: int, current: Any, now: datetime) -> None:
    """Raise what a write conditional on ``if_version`` meets in ``current``: NotFound when
    there is no live record, Conflict when its version differs."""
    if not _alive(current, now):
        raise not_found(collection, key)
    version = current["version"]
    if version != if_version:
        raise conflict(collection, key, if_version, int(version))


_Method = TypeVar("_Method", bound=Callable[..., Awaitable[Any]])


async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
    """``awaitable``, cancelled after ``seconds`` (``TimeoutError``)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)  # pragma: no cover - Python 3.10


def _bounded(method: _Method) -> _Method:
    """Bound a backend method by ``call_timeout``: pymongo bounds each operation (server
    selection, connecting, the reply), and this bounds the call as a whole."""
    doing = method.__name__.replace("_", " ")

    @functools.wraps(method)
    async def call(self: MongoBackend, *args: Any, **kwargs: Any) -> Any:
        try:
            return await _within(self.call_timeout, method(self, *args, **kwargs))
        except (asyncio.TimeoutError, TimeoutError):
            raise self._late(doing) from None

    return call  # type: ignore[return-value]


_REFUSED: Final = re.compile(r"refused|connect call failed|errno 111|errno 61\b", re.I)
_UNRESOLVED: Final = re.compile(
    r"name or service not known|nodename nor servname|getaddrinfo|no address associated|"
    r"temporary failure in name resolution|dns",
    re.I,
)
_TLS: Final = re.compile(r"ssl|tls|certificate|handshake", re.I)
_TIMED_OUT: Final = re.compile(r"timed out|timeout", re.I)
_CLOSED: Final = re.compile(
    r"connection closed|connection reset|broken pipe|connection aborted|eof occurred", re.I
)
#: pymongo's note of the configured timeouts, added to every network error's text (its
#: "timeouts" says nothing about what happened)
_CONFIGURED: Final = re.compile(r"\s*\(configured timeouts:[^)]*\)")
_ADDRESS: Final = re.compile(r"^\[?[\w.:-]*\]?:\d+: ")


def _reason(text: str) -> str:
    """What went wrong, in the words satchel uses for it, from a driver error's text."""
    text = _CONFIGURED.sub("", text)
    if _TLS.search(text):
        detail = text.split(": ", 1)[-1][:160]
        return (
            "the TLS handshake failed (does the server use TLS as the URI's tls= option "
            f"says?): {detail}"
        )
    if _REFUSED.search(text):
        return "the connection was refused (is the server running, on that port?)"
    if _UNRESOLVED.search(text):
        return "the host name could not be resolved"
    if _TIMED_OUT.search(text):
        return "timed out (the server accepted no connection, or did not answer)"
    if _CLOSED.search(text):
        return "the connection was closed before the answer came (by the server, or on the way)"
    return _ADDRESS.sub("", text)[:200]


def _server_errors(client: Any) -> list[tuple[str, Exception]]:
    """The errors pymongo's monitors recorded for the servers of ``client`` (by address)."""
    try:
        descriptions = client.topology_description.server_descriptions().items()
    except Exception:  # no client, or one not opened yet
        return []
    return [
        (f"{host}:{port}", sd.error) for (host, port), sd in descriptions if sd.error is not None
    ]


def _failure_text(exc: Exception) -> str:
    """A server's refusal as text: its message and code name, never its whole reply."""
    if isinstance(exc, perr.OperationFailure):
        details = exc.details if isinstance(exc.details, dict) else {}
        message = details.get("errmsg") or str(exc).split(", full error:")[0]
        name = details.get("codeName")
        return f"{message} ({name})" if name else str(message)
    return str(exc)


async def _probe(host: str, port: int, tls: bool, timeout: float) -> str | None:
    """Why a server that pymongo's monitor has not described yet cannot be used: a TCP
    connection (and TLS handshake, when the URI asks for TLS) of at most ``timeout``."""
    import ssl

    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context), timeout
        )
    except asyncio.TimeoutError:
        if tls:
            return (
                "the TLS handshake did not complete (timed out): does the server use TLS "
                "as the URI's tls= option says?"
            )
        return "timed out (the server accepted no connection)"
    except ssl.SSLError as exc:
        return (
            "the TLS handshake failed (does the server use TLS as the URI's tls= option "
            f"says?): {exc.reason or exc}"
        )
    except OSError as exc:
        return _reason(str(exc))
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return None


class MongoBackend(Backend):
    """Records in MongoDB (standalone, replica set or sharded behind mongos).

    Build it from :class:`~satchel_mongodb.plugin.MongoSettings` (what
    ``SATCHEL_BACKEND=mongodb`` does) or in code with :meth:`from_uri`. Connections open on
    first use.
    """

    name = "mongodb"
    #: Seconds past expiry before the TTL monitor removes a record (the ``satchel_ttl``
    #: index's expireAfterSeconds, set when the index is first made).
    ttl_margin: int = TTL_MARGIN

    def __init__(self, settings: MongoSettings) -> None:
        self.settings = settings
        uri = settings.uri.get_secret_value()
        self._where = _display(uri)
        self._secrets = _secrets(uri, settings)
        self._prefix = settings.collection_prefix
        self.capabilities = Capabilities(
            query_pushdown=True,
            shared_across_processes=True,
            persistent=True,
            transactions=False,
            max_value_bytes=MAX_DOCUMENT_BYTES,
        )
        options: dict[str, Any] = {
            "serverSelectionTimeoutMS": int(settings.server_selection_timeout * 1000),
            "connectTimeoutMS": int(settings.connect_timeout * 1000),
            "socketTimeoutMS": int(settings.socket_timeout * 1000),
            "maxPoolSize": settings.max_pool_size,
            "appname": "satchel",
        }
        if settings.username is not None:
            options["username"] = settings.username
            if settings.password is not None:
                options["password"] = settings.password.get_secret_value()
        if settings.auth_source is not None:
            options["authSource"] = settings.auth_source
        self._options = options
        #: The most a call takes before it returns or raises, in seconds: finding a server,
        #: connecting to it and waiting for its answer, each with its own timeout.
        self.call_timeout: float = (
            settings.server_selection_timeout + settings.connect_timeout + settings.socket_timeout
        )
        #: Seconds the tombstone of a log emptied by a pop, trim or delete is kept, so that a
        #: retry of that write finds its id (see :mod:`satchel_mongodb.logs`).
        self.tombstone_seconds: float = outcome_retention(self.call_timeout)
        # the first client checks the URI and the options; it serves the first event loop
        # that uses the backend, and every other loop gets a client of its own
        self._spare: AsyncMongoClient[Any] | None = self._new_client()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._closed = False
        self._floors_name = self._prefix + FLOORS
        self._indexed: set[str] = set()
        #: satchel collection name -> its MongoDB name
        self._names: dict[str, str] = {}
        #: collections found free of documents in the earlier (shadow) form
        self._natural: set[str] = set()
        #: (floor key, minute of expiry) -> the version this process raised it to
        self._covered: dict[tuple[str, int], int] = {}
        #: (collection, key) -> (version, created_at, expires_at, write id) last seen
        self._versions: OrderedDict[
            tuple[str, str], tuple[int, datetime, datetime | None, str | None]
        ] = OrderedDict()
        self._write_ids = f"{os.urandom(6).hex()}-"
        self._writes = itertools.count(1)  # next() is atomic: threads share the backend
        self._logs = MongoLogs(self)

    @classmethod
    def from_uri(cls, uri: str, **settings: Any) -> MongoBackend:
        """A backend for ``uri`` (``mongodb://`` or ``mongodb+srv://``); further settings by
        field name (``database="app"``, ``collection_prefix="app."``,
        ``server_selection_timeout=2``...). Nothing is read from the environment."""
        return cls(load_settings(MongoSettings, environ={}, uri=uri, **settings))

    # -- plumbing -----------------------------------------------------------------------------

    def _new_client(self) -> AsyncMongoClient[Any]:
        uri = self.settings.uri.get_secret_value()
        try:
            with warnings.catch_warnings():
                # pymongo only warns about an option it ignores (tls=maybe, a misspelt name):
                # a connection without the option asked for is a configuration error here
                warnings.simplefilter("error", UserWarning)
                return AsyncMongoClient(uri, connect=False, **self._options)
        except (
            perr.ConfigurationError,
            perr.InvalidURI,
            ValueError,
            TypeError,
            UserWarning,
        ) as exc:
            raise ConfigError(
                f"SATCHEL_MONGODB_URI: {self._where} is not a usable MongoDB URI: "
                f"{self._scrub(str(exc))}"
            ) from None

    def _connection(self) -> _Connection:
        """The connection of the running event loop: a client made on its first use in that
        loop (a pymongo client is bound to the loop it first ran in), closed when the loop
        shuts down (``asyncio.run`` cancels its tasks) or when the backend is closed."""
        loop = asyncio.get_running_loop()
        conn = self._loops.get(loop)
        if conn is not None:
            return conn
        with self._lock:
            conn = self._loops.get(loop)
            if conn is not None:
                return conn
            if self._closed:
                raise BackendUnavailable(f"mongodb at {self._where}: the backend is closed")
            client, self._spare = self._spare, None
            if client is None:
                client = self._new_client()
            concern = self.settings.write_concern
            w: int | str = int(concern) if concern.isdigit() else concern
            db = client.get_database(
                self.settings.database,
                codec_options=_CODEC,
                read_preference=ReadPreference.PRIMARY,
                write_concern=WriteConcern(w=w),
            )
            conn = _Connection(loop, client, db)
            self._loops[loop] = conn
        conn.keeper = loop.create_task(self._keep(conn))
        return conn

    async def _keep(self, conn: _Connection) -> None:
        """Hold ``conn`` while its loop runs; close it when the loop shuts down."""
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            with self._lock:
                if self._loops.get(conn.loop) is conn:
                    del self._loops[conn.loop]
            await conn.close()
            raise

    @property
    def _db(self) -> AsyncDatabase[Any]:
        return self._connection().db

    @property
    def _client(self) -> AsyncMongoClient[Any]:
        return self._connection().client

    @property
    def _floors(self) -> AsyncCollection[Any]:
        return self._connection().collection(self._floors_name)

    @property
    def floors_name(self) -> str:
        """The MongoDB collection of the version floors (and the catalog of long names)."""
        return self._floors_name

    def describe(self) -> str:
        return (
            f"mongodb {self._where} database={self.settings.database} "
            f"prefix={self.settings.collection_prefix!r}"
        )

    def _collection(self, name: str) -> AsyncCollection[Any]:
        return self._connection().collection(self._mongo_name(name))

    def _mongo_name(self, name: str) -> str:
        mongo_name = self._names.get(name)
        if mongo_name is None:
            mongo_name = self._names[name] = self._name_of(name)
            if len(self._names) > VERSION_CACHE_SIZE:
                self._names.clear()
        return mongo_name

    def _name_of(self, name: str) -> str:
        mongo_name = _collection_name(self._prefix, name)
        if len(f"{self.settings.database}.{mongo_name}".encode()) > _MAX_NAMESPACE:
            # too long for MongoDB: a digest of the name, which the catalog maps back
            digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:40]
            mongo_name = self._prefix + LONG_NAME + digest
            if len(f"{self.settings.database}.{mongo_name}".encode()) > _MAX_NAMESPACE:
                raise ConfigError(
                    "SATCHEL_MONGODB_COLLECTION_PREFIX: the database and the prefix leave no "
                    "room for a collection name (MongoDB allows 255 bytes for them together)"
                )
        return mongo_name

    async def _check_form(self, name: str, coll: AsyncCollection[Any]) -> None:
        """Refuse a collection that still holds documents in the earlier (shadow) form
        (:class:`~satchel_mongodb.migrate.LegacyForm`): a server filter would pass them by
        without a word. Checked once per collection and process."""
        if name in self._natural:
            return
        found = await self._call(coll.find_one(LEGACY, {"_id": 1}), "read from", name)
        if found is not None:
            raise LegacyForm(name)
        self._natural.add(name)

    def forget_form(self, name: str) -> None:
        """Check the form of collection ``name`` again on its next use."""
        self._natural.discard(name)

    def mongo_name(self, name: str) -> str:
        """The MongoDB collection that holds satchel collection ``name``."""
        return self._mongo_name(name)

    def raw_collection(self, mongo_name: str) -> AsyncCollection[Any]:
        """The driver's collection ``mongo_name``, in the running event loop."""
        return self._connection().collection(mongo_name)

    async def mongo_collections(self) -> list[tuple[str, str]]:
        """``(satchel name, MongoDB name)`` of every collection under the prefix (a long
        name read from the catalog, see :meth:`_catalog`)."""
        names = await self._call(
            self._db.list_collection_names(), "list the collections of", self.settings.database
        )
        found: list[tuple[Any, str]] = [
            (name, mongo)
            for mongo in names
            if (name := _satchel_name(self._prefix, mongo)) is not None
            and mongo != self._floors_name
        ]
        mark = self._prefix + LONG_NAME
        long = [mongo for _, mongo in found if mongo.startswith(mark)]
        if long:
            cursor = self._floors.find({"_id": {"$in": [CATALOG + m for m in long]}})
            docs = await self._call(cursor.to_list(None), "list", self.settings.database)
            named = {doc["_id"][len(CATALOG) :]: doc.get("name") for doc in docs}
            found = [
                (named.get(mongo) if mongo.startswith(mark) else name, mongo)
                for name, mongo in found
            ]
        return sorted((name, mongo) for name, mongo in found if isinstance(name, str))

    async def _catalog(self, name: str, mongo_name: str) -> None:
        """Record the name of a collection whose MongoDB name is a digest (a name too long
        for MongoDB), in the floors collection, before anything is written to it."""
        if not mongo_name.startswith(self._prefix + LONG_NAME):
            return
        await self._call(
            self._floors.update_one(
                {"_id": CATALOG + mongo_name}, {"$set": {"name": name}}, upsert=True
            ),
            "record the name of",
            name,
        )

    async def _uncatalog(self, name: str, coll: AsyncCollection[Any]) -> None:
        """Remove the catalog document of a collection whose MongoDB name is a digest, once
        that collection has been dropped; put it back when a writer made the collection
        again meanwhile."""
        if not coll.name.startswith(self._prefix + LONG_NAME):
            return
        entry = {"_id": CATALOG + coll.name}
        await self._call(self._floors.delete_one(entry), "drop", name)
        if await self._call(coll.find_one({}, {"_id": 1}), "drop", name) is not None:
            await self._call(
                self._floors.update_one(entry, {"$set": {"name": name}}, upsert=True),
                "record the name of",
                name,
            )

    async def _recatalog(self, name: str, mongo_name: str) -> None:
        """Name again a collection whose catalog document is missing although this process
        is writing to it: another process dropped it (and its catalog document) since this
        one named it. Its indexes (gone with it) are made again on this process's next use
        of it."""
        self._indexed.discard(name)
        self._logs.forget(name)
        await self._catalog(name, mongo_name)

    async def _prepare(self, name: str, coll: AsyncCollection[Any]) -> None:
        """Create the collection's indexes, once per process (creating an index that exists
        is a no-op on the server): ``satchel_index_entries`` for index entries, and ``satchel_ttl``,
        whose TTL monitor removes a record a minute (TTL_MARGIN) after it expires. The floor
        already covers such a record: every write of a record with an expiry raises it
        first (see :meth:`_cover`)."""
        if name in self._indexed:
            return
        await self._check_form(name, coll)
        from pymongo import IndexModel

        index = IndexModel([("index_entries", 1), ("_id", 1)], name=INDEX_ENTRIES)
        await self._create_indexes(name, coll, [index])
        self._indexed.add(name)

    async def _create_indexes(
        self, name: str, coll: AsyncCollection[Any], indexes: list[Any]
    ) -> None:
        """Create ``indexes`` and ``satchel_ttl`` (records and logs share it)."""
        from pymongo import IndexModel

        await self._catalog(name, coll.name)
        indexes = [
            *indexes,
            # records and log documents only: a claim (version 0) stays until its writer
            # replaces it
            IndexModel(
                [("expires", 1)],
                name="satchel_ttl",
                expireAfterSeconds=self.ttl_margin,
                partialFilterExpression={"version": {"$gte": 1}},
            ),
        ]
        try:
            await self._call(coll.create_indexes(indexes), "create the indexes of", name)
        except SatchelError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, perr.OperationFailure) and cause.code in (85, 86)):
                raise
            # a satchel_ttl of another shape (an earlier release's): made again
            await self._call(coll.drop_index("satchel_ttl"), "create the indexes of", name)
            await self._call(coll.create_indexes(indexes), "create the indexes of", name)

    async def _call(self, awaitable: Awaitable[T], what: str, collection: str) -> T:
        """Await a driver call, translating every driver error into a satchel error that
        names its cause."""
        try:
            return await awaitable
        except SatchelError:
            raise
        except Exception as exc:
            cause = None
            if isinstance(exc, perr.ServerSelectionTimeoutError):
                cause = await self._diagnose()
            raise self._error(exc, what, collection, cause) from exc

    def _client_here(self) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        conn = self._loops.get(loop)
        return None if conn is None else conn.client

    async def _diagnose(self) -> str | None:
        """Why no server could be selected, when pymongo's monitors recorded no error yet
        (a server that accepts connections and never answers, or a TLS mismatch): a
        connection of at most CONNECT_TIMEOUT to each server."""
        client = self._client_here()
        if client is None or _server_errors(client):
            return None
        try:
            addresses = list(client.topology_description.server_descriptions())
            tls = getattr(client.options.pool_options, "_ssl_context", None) is not None
        except Exception:
            return None
        if not addresses:
            return None
        found = await asyncio.gather(
            *(_probe(host, port, tls, self.settings.connect_timeout) for host, port in addresses)
        )
        causes = [
            f"{host}:{port}: {why}"
            for (host, port), why in zip(addresses, found, strict=True)
            if why
        ]
        if not causes:
            return "timed out (the server accepts connections but did not answer)"
        return "; ".join(causes)

    def _error(
        self, exc: Exception, what: str, collection: str, cause: str | None = None
    ) -> SatchelError:
        where = f"mongodb at {self._where}"
        recorded: list[tuple[str, Exception]] = []
        if isinstance(exc, (perr.ServerSelectionTimeoutError, perr.ConnectionFailure)):
            recorded = _server_errors(self._client_here())
        refusal = next(
            (
                e
                for e in [exc, *(e for _, e in recorded)]
                if isinstance(e, perr.OperationFailure) and e.code in _AUTH_CODES
            ),
            None,
        )
        if refusal is not None:
            return ConfigError(
                f"{where} refused the credentials or the rights needed to {what} "
                f"{collection!r} (SATCHEL_MONGODB_URI, SATCHEL_MONGODB_USERNAME/PASSWORD): "
                f"{self._scrub(_failure_text(refusal))[:200]}"
            )
        message = self._scrub(_failure_text(exc)).split(", Timeout:")[0][:300]
        if isinstance(exc, perr.DocumentTooLarge):
            return ValueTooLarge(f"{collection!r}: {message}")
        if isinstance(exc, (bson.errors.InvalidDocument, OverflowError)):
            return InvalidArgument(f"{collection!r}: the value cannot be stored: {message}")
        if isinstance(exc, perr.ConfigurationError):
            return ConfigError(f"{where} (SATCHEL_MONGODB_URI): {message}")
        if isinstance(exc, perr.OperationFailure) and not exc.timeout:
            return BackendUnavailable(f"{where}: could not {what} {collection!r}: {message}")
        if isinstance(exc, (perr.PyMongoError, OSError, asyncio.TimeoutError)):
            if cause is None and recorded:
                cause = "; ".join(
                    f"{address}: {_reason(self._scrub(str(e)))}" for address, e in recorded
                )
            if cause is None:
                cause = _reason(message)
            return BackendUnavailable(
                f"{where}: could not {what} {collection!r}: {self._scrub(cause)} "
                f"(a call gives up after at most {self.call_timeout:g} s: "
                "SERVER_SELECTION_TIMEOUT + CONNECT_TIMEOUT + SOCKET_TIMEOUT)"
            )
        return BackendUnavailable(f"{where}: could not {what} {collection!r}: {exc!r:.300}")

    def _late(self, doing: str) -> BackendUnavailable:
        """The error of a call that reached ``call_timeout``, naming what pymongo's monitors
        recorded about the servers."""
        recorded = _server_errors(self._client_here())
        cause = "; ".join(f"{address}: {_reason(self._scrub(str(e)))}" for address, e in recorded)
        return BackendUnavailable(
            f"mongodb at {self._where}: {doing} did not complete within {self.call_timeout:g} s "
            "(SERVER_SELECTION_TIMEOUT + CONNECT_TIMEOUT + SOCKET_TIMEOUT): "
            f"{cause or 'timed out (the server did not answer)'}"
        )

    def _scrub(self, text: str) -> str:
        """``text`` without any of the URI's secrets (however the URI spells them)."""
        return mask_foreign(text, self._secrets)

    def _remember(
        self,
        collection: str,
        key: str,
        version: int,
        created: datetime,
        expires: datetime | None,
        write: str | None,
    ) -> None:
        versions = self._versions
        versions[(collection, key)] = (version, created, expires, write)
        if len(versions) > VERSION_CACHE_SIZE:
            versions.popitem(last=False)

    def _record(
        self,
        collection: str,
        doc: Any,
        select: Any = None,
    ) -> Record:
        """The record of a stored document; :class:`CorruptRecord` if it is not one."""
        key = doc.get("_id")
        if is_legacy(doc):
            raise LegacyForm(collection)
        try:
            version = doc["version"]
            created = doc["created"]
            updated = doc["updated"]
            expires = doc.get("expires")
            if (
                not isinstance(key, str)
                or not _is_version(version)
                or not isinstance(created, datetime)
                or not isinstance(updated, datetime)
                or not (expires is None or isinstance(expires, datetime))
            ):
                raise ValueError("metadata of the wrong types")
            if select is None:
                value = decode(doc["value"])
            else:
                value = project(decode(doc["value"]) if "value" in doc else None, select)
            index = _index(doc.get("index_entries"), doc.get("empty_indexes"))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise CorruptRecord(
                f"{collection!r}: the document of key {key!r} is not a satchel record ({exc}); "
                "another client wrote it. Overwrite it with put or remove it with delete"
            ) from None
        version = int(version)
        self._remember(collection, key, version, created, expires, doc.get("write_id"))
        return Record(collection, key, value, version, created, updated, expires, index)

    def _document(
        self,
        record: Record,
        version: int,
        created: datetime,
        now: datetime,
        write: str | None = None,
    ) -> RawBSONDocument:
        """The document of ``record`` at ``version``, encoded once (and checked for size)."""
        return self._encoded(record, version, created, now, write)[0]

    def _encoded(
        self,
        record: Record,
        version: int,
        created: datetime,
        now: datetime,
        write: str | None = None,
    ) -> tuple[RawBSONDocument, Any]:
        """``(document, copy)``: :meth:`_document`, and a deep copy of the value (the one
        the stored record returned holds; made in the same walk)."""
        stored, instants, copy = encode_copy(record.value)
        doc: dict[str, Any] = {
            "_id": record.key,
            "value": stored,
            "version": version,
            "created": created,
            "updated": now,
            "expires": None if record.expires_at is None else truncate_ms(record.expires_at),
        }
        if instants is not None:
            doc[translate.INSTANTS] = instants
        if record.index:
            entries, empty = _index_entries(record.index)
            if entries:
                doc["index_entries"] = entries
            if empty:
                doc["empty_indexes"] = empty
        key = record.key
        key_instant = string_instant(key)
        if key_instant is not None:
            doc["key_instant"] = key_instant
        if write is not None:
            doc["write_id"] = write
        data = document_bytes(doc, record.value, f"value of {key!r}")
        return RawBSONDocument(data), copy

    # -- reads --------------------------------------------------------------------------------

    @_bounded
    async def get(self, collection: str, key: str) -> Record | None:
        coll = self._collection(collection)
        doc = await self._call(coll.find_one({"_id": key}), "read from", collection)
        if doc is None:
            return None
        if _expired(doc, utcnow()):
            return None
        return self._record(collection, doc)

    @_bounded
    async def get_many(self, collection: str, keys: Sequence[str]) -> list[Record | None]:
        if not keys:
            return []
        coll = self._collection(collection)
        wanted = list(dict.fromkeys(keys))
        # the keys alone select the documents (a point lookup each); the expired ones are
        # dropped here, as get does
        cursor = coll.find({"_id": {"$in": wanted}})
        docs = await self._call(cursor.to_list(None), "read from", collection)
        now = utcnow()
        found = {}
        for doc in docs:
            if _expired(doc, now):
                continue
            record = self._record(collection, doc)
            found[record.key] = record
        return [found.get(key) for key in keys]

    @_bounded
    async def find(self, collection: str, index_name: str, value: str) -> list[Record]:
        coll = self._collection(collection)
        await self._check_form(collection, coll)  # the earlier form names its entries "ix"
        entry = f"{len(index_name)}:{index_name}{value}"
        # every document that holds the entry, the expired ones dropped here (as get does):
        # the index alone selects them, where a condition on expires beside it costs the
        # server a test of each one (and only records hold entries)
        cursor = coll.find({"index_entries": entry}).sort("_id", 1)
        docs = await self._call(cursor.to_list(None), "look up an index of", collection)
        now = utcnow()
        return [self._record(collection, doc) for doc in docs if not _expired(doc, now)]

    @_bounded
    async def count(self, collection: str, where: Sequence[Any] = ()) -> int:
        coll = self._collection(collection)
        condition = translate.where_filter(where)
        if condition is translate.FALSE:
            return 0
        await self._check_form(collection, coll)
        query = translate.all_of([translate.live(utcnow()), translate.RECORDS, condition])
        if all(translate.exact_on_server(c) for c in where):
            return await self._call(coll.count_documents(query), "count in", collection)
        # the server's filter selects a superset: each candidate is tested here, fetched
        # with only what the conditions read
        cursor = coll.find(query, translate.candidate_fields(where))
        docs = await self._call(cursor.to_list(None), "count in", collection)
        count = 0
        for doc in docs:
            doc.setdefault("value", None)  # a value that is not an object lost its fields
            count += matches(self._record(collection, doc), where)
        return count

    @_bounded
    async def query(self, collection: str, query: Query) -> Page[Record]:
        if query.limit == 0:
            return Page([], None)
        coll = self._collection(collection)
        condition = translate.where_filter(query.where)
        if condition is translate.FALSE:
            return Page([], None)
        await self._check_form(collection, coll)
        clauses = [condition, translate.live(utcnow()), translate.RECORDS]
        exact = all(translate.exact_on_server(c) for c in query.where)
        by_value = any(o.field[0] == "value" for o in query.order_by)
        if exact and by_value and translate.server_sortable(query.order_by):
            # the server sorts by the value paths when no candidate holds there what it
            # orders otherwise than satchel (see translate.unsortable): the check and the
            # page are asked for at once. The check asks with the exact filter: what the
            # cheaper one finds beside the candidates (a non-match, an expired record, a
            # log's document) would send the query to the client, which reads every
            # candidate (and raises about another client's document off the page)
            odd = translate.all_of([*clauses, translate.unsortable(query.order_by)])
            found, page = await asyncio.gather(
                self._call(coll.find_one(odd, {"_id": 1}), "query", collection),
                self._light_query(coll, collection, query, clauses),
            )
            if found is None and isinstance(page, Page):
                return page
        elif exact and not by_value:
            page = await self._light_query(coll, collection, query, clauses)
            assert page is not None
            return page
        # the server's filter selects a superset of the matches, or the order is one the
        # server cannot give: the candidates are refined, ordered and paged here
        cursor = coll.find(translate.all_of(clauses))
        docs = await self._call(cursor.to_list(None), "query", collection)
        candidates = [self._record(collection, doc) for doc in docs]
        records, next_token = evaluate(candidates, query)
        return Page(records, next_token)

    async def _light_query(
        self, coll: AsyncCollection[Any], collection: str, query: Query, clauses: list[Any]
    ) -> Page[Record] | None:
        """:meth:`_server_query` with the cheaper filter of :func:`translate.light_filter`
        first, when its page can be checked on the client (a limit of at most
        :data:`LIGHT_LIMIT`, no offset, whole records): its page stands when every document
        on it (one more than the limit) is a live record that matches; else the query is
        asked again with the exact ``clauses``. (A server that evaluates filters document by
        document, as SecantusDB does, spends a good part of a query on the guards, the
        liveness and the test for log documents. A larger page is more likely to meet a
        document that sends the query again, and costs more to fetch twice.)"""
        if (
            query.limit is not None
            and query.limit <= LIGHT_LIMIT
            and not query.offset
            and query.select is None
        ):
            now = utcnow()
            light = translate.light_filter(query.where)

            def sure(doc: Any) -> Record | None:
                if "seq" in doc or _expired(doc, now) or not _is_record(doc):
                    return None
                try:
                    record = self._record(collection, doc)
                except CorruptRecord:
                    return None  # not the exact filter's to raise about unless it finds it
                return record if matches(record, query.where) else None

            with contextlib.suppress(_Unsure):
                return await self._server_query(coll, collection, query, [light], sure)
        return await self._server_query(coll, collection, query, clauses)

    async def _server_query(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        query: Query,
        clauses: list[Any],
        sure: Callable[[Any], Record | None] | None = None,
    ) -> Page[Record] | None:
        """The query run wholly on the server: filter, sort, skip, limit, cursor; ``None``
        when a fetched document holds, at a value path it is ordered by, what the server
        orders otherwise than satchel (written since the check: the caller refines).
        ``sure``: the record of a fetched document, or ``None`` when the filter (a superset)
        may have let it through: then (or when a fetched document is one the server orders
        otherwise) :class:`_Unsure` is raised."""
        clauses = list(clauses)
        after = None if query.cursor is None else translate.page_after(query)
        # one more than the limit tells whether there is a next page; the server takes a
        # 64-bit limit, and MAX_COUNT records are more than any collection holds
        take = None if query.limit is None else min(query.limit + 1, MAX_COUNT)
        by_value = any(o.field[0] == "value" for o in query.order_by)
        fields = None if by_value else translate.projection(query.select)
        sort = translate.sort_fields(query.order_by)
        if after is not None:
            clauses.append(after)
        cursor = coll.find(translate.all_of(clauses), fields).sort(sort)
        if query.offset:
            cursor = cursor.skip(query.offset)
        if take is not None:
            cursor = cursor.limit(take)
        docs = await self._call(cursor.to_list(None), "query", collection)
        if by_value and not all(translate.sortable_document(d, query.order_by) for d in docs):
            if sure is not None:
                raise _Unsure  # the exact filter's page may not hold that document
            return None
        if sure is not None:
            checked = [sure(doc) for doc in docs]
            if any(record is None for record in checked):
                raise _Unsure
        more = query.limit is not None and len(docs) > query.limit
        if more:
            docs = docs[: query.limit]
        if sure is not None:
            records = [r for r in checked[: len(docs)] if r is not None]
        else:
            records = [self._record(collection, doc, query.select) for doc in docs]
        next_cursor = None
        if more and records:
            next_cursor = make_cursor(
                query, translate.atoms(docs[-1], query.order_by), records[-1].key
            )
        return Page(records, next_cursor)

    async def iter_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        regex = compile_glob(pattern) if pattern is not None else None
        coll = self._collection(collection)
        condition: dict[str, Any] = translate.live(utcnow())
        prefix = _literal_prefix(pattern) if pattern is not None else ""
        last: str | None = None
        while True:
            after: dict[str, Any] = {"$gte": prefix} if last is None else {"$gt": last}
            cursor = coll.find({"_id": after, **condition}, {"_id": 1}).sort("_id", 1).limit(1000)
            docs = await self._keys_page(cursor, collection)
            for doc in docs:
                key = doc["_id"]
                if not isinstance(key, str):
                    continue
                if not key.startswith(prefix):
                    return
                if regex is None or regex.fullmatch(key):
                    yield key
            if len(docs) < 1000:
                return
            last = docs[-1]["_id"]

    @_bounded
    async def _keys_page(self, cursor: Any, collection: str) -> list[Any]:
        """One page of ``iter_keys`` (each page bounded as a call)."""
        return await self._call(cursor.to_list(None), "list the keys of", collection)

    @_bounded
    async def collections(self) -> list[str]:
        candidates = await self.mongo_collections()
        now = utcnow()

        # a live record, or the head of a live log that holds entries
        alive = {**translate.live(now), "$or": _RECORD_OR_LOG}

        async def has_live(mongo: str) -> bool:
            doc = await self._db.get_collection(mongo).find_one(alive, {"_id": 1})
            return doc is not None

        checks = await self._call(
            asyncio.gather(*(has_live(mongo) for _, mongo in candidates)),
            "list",
            self.settings.database,
        )
        return [name for (name, _), alive in zip(candidates, checks, strict=True) if alive]

    # -- writes -------------------------------------------------------------------------------

    async def _current(self, coll: AsyncCollection[Any], collection: str, key: str) -> Any:
        return await self._call(coll.find_one({"_id": key}, _META), "read from", collection)

    @_bounded
    async def put(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> Record:
        check_put_condition(if_absent, if_version)
        collection, key = record.collection, record.key
        coll = self._collection(collection)
        if collection not in self._indexed:
            await self._prepare(collection, coll)
        now = utcnow()
        # the version this process last saw saves the read; the filter of the replace still
        # names that version, so the server decides
        cached = None if if_absent else self._versions.get((collection, key))
        if (
            cached is not None
            and if_version in (None, cached[0])
            and (cached[2] is None or cached[2] > now)
            and (stored := await self._replace(coll, record, cached, now)) is not None
        ):
            return stored
        for attempt in range(ATTEMPTS):
            if attempt >= 3:
                await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 20)))
            current = await self._current(coll, collection, key)
            version: Any = current.get("version") if current is not None else None
            alive = _alive(current, now)
            if if_version is not None:
                _check_version(collection, key, if_version, current, now)
            elif if_absent and alive:
                raise already_exists(collection, key, int(version))
            if alive:
                created = current["created"]
                seen = (int(version), created, current.get("expires"), current.get("write_id"))
                stored = await self._replace(coll, record, seen, now)
                if stored is not None:
                    return stored
                continue
            if _is_record(current):
                # an expired record: the next version of its key, created now
                write = self._write_id()
                doc = self._document(record, int(version) + 1, now, now, write)
                await self._cover_record(record, int(version) + 1, now)
                result = await self._call(
                    coll.replace_one(_exactly(key, current), doc), "write to", collection
                )
                if result.matched_count == 1:
                    return self._stored(record, int(version) + 1, now, now, write)
                continue
            if _is_young_claim(current):
                continue  # another writer is creating the key: let it finish
            # no record: claim the key, then read the floor, then write above it
            claim = self._write_id()
            if not await self._claim(coll, collection, key, current, claim, now):
                continue
            floor = await self._floor(collection)
            write = self._write_id()
            doc = self._document(record, floor + 1, now, now, write)
            await self._cover_record(record, floor + 1, now)
            result = await self._call(
                coll.replace_one({"_id": key, "write_id": claim}, doc), "write to", collection
            )
            if result.matched_count == 1:
                return self._stored(record, floor + 1, now, now, write)
        raise BackendUnavailable(
            f"{collection!r}: could not write {key!r}: other writers changed it "
            f"{ATTEMPTS} times in a row"
        )

    def _write_id(self) -> str:
        return f"{self._write_ids}{next(self._writes):x}"

    @staticmethod
    def _written_by(key: str, seen: tuple[Any, ...] | Any) -> dict[str, Any]:
        """The filter of exactly the write ``seen`` (``(version, created, expires, write
        id)``): its version and write id (or creation time, when it has no write id).

        Each field but ``_id`` is matched with ``$all`` of one value, which MongoDB defines
        as that very equality: a server then finds the document by ``_id`` alone and tests
        the rest on it, where a plain equality on ``version`` or ``write_id`` sends a query
        planner through every index for a way in first (on SecantusDB, each look reads
        the index catalog: about a third of a replace's cost)."""
        version, created, _, write = seen
        if isinstance(write, str):
            return {"_id": key, "version": {"$all": [version]}, "write_id": {"$all": [write]}}
        return {"_id": key, "version": {"$all": [version]}, "created": {"$all": [created]}}

    async def _replace(
        self,
        coll: AsyncCollection[Any],
        record: Record,
        seen: tuple[Any, ...],
        now: datetime,
    ) -> Record | None:
        """Replace the live write ``seen`` (``(version, created, expires, write id)``) with
        the next version of ``record``; the record stored, or ``None`` when ``seen`` is no
        longer there. (The expiry need not be in the filter: the caller checked it, and
        the write ``seen`` has that expiry.)"""
        write = self._write_id()
        version = seen[0] + 1
        doc, copy = self._encoded(record, version, seen[1], now, write)
        condition = self._written_by(record.key, seen)
        await self._cover_record(record, version, now)
        result = await self._call(coll.replace_one(condition, doc), "write to", record.collection)
        if result.matched_count != 1:
            return None
        return self._stored(record, version, seen[1], now, write, copy)

    async def _claim(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        key: str,
        current: Any,
        claim: str,
        now: datetime,
    ) -> bool:
        """Put the claim ``claim`` where there is no record (``current``: nothing, a claim
        or a foreign document); whether it is there."""
        doc = _claim_document(key, claim, now)
        if current is None:
            try:
                await self._call(coll.insert_one(doc), "write to", collection)
            except SatchelError as exc:
                if isinstance(exc.__cause__, perr.DuplicateKeyError):
                    return False
                raise
            return True
        result = await self._call(
            coll.replace_one(_exactly(key, current), doc), "write to", collection
        )
        return result.matched_count == 1

    def _floor_key(self, collection: str) -> str:
        return self._mongo_name(collection)

    async def _floor(self, collection: str) -> int:
        """The collection's version floor: no record it has held and removed (or that the
        TTL monitor may have removed) had a greater version.

        The floor document holds ``floor``, raised before every removal satchel makes, and
        ``expiry_floors``: per entry of expiry (``_BUCKET`` seconds since 1970), the highest
        version of a record written with an expiry in that entry. Such a record can be
        removed by the TTL monitor TTL_MARGIN seconds after its expiry at the earliest; its
        entry counts from CLOCK_SKEW seconds before that (by this process's clock), so a
        clock up to CLOCK_SKEW behind the server's still counts it before the monitor can
        remove the record. Entries that count are folded into ``floor`` (only if no writer
        raised them meanwhile). The earlier names of both (``f``, ``e``, which a process of
        an earlier release may still write) count as much: the floor is the greatest of
        them all.

        Read in the same round trip for a collection with a long name: its catalog
        document, put back when another process's ``drop`` removed it (see
        :meth:`_recatalog`)."""
        key = self._floor_key(collection)
        long = key.startswith(self._prefix + LONG_NAME)
        if long:
            cursor = self._floors.find({"_id": {"$in": [key, CATALOG + key]}})
            docs = await self._call(cursor.to_list(None), "read the versions of", collection)
            doc = next((d for d in docs if d["_id"] == key), None)
            if not any(d["_id"] == CATALOG + key for d in docs):
                await self._recatalog(collection, key)
        else:
            doc = await self._call(
                self._floors.find_one({"_id": key}), "read the versions of", collection
            )
        if doc is None:
            return 0
        top = max(
            (int(floor) for name in _FLOOR_FIELDS if _is_version(floor := doc.get(name))),
            default=0,
        )
        now = utcnow().timestamp() // _BUCKET
        condition: dict[str, Any] = {"_id": key}
        for field in _EXPIRY_FIELDS:
            entries = doc.get(field)
            if not isinstance(entries, dict):
                continue
            for name, version in entries.items():
                if name.isdigit() and int(name) <= now and _is_version(version):
                    top = max(top, int(version))
                    condition[f"{field}.{name}"] = version
        if len(condition) == 1:
            return top
        await self._call(
            self._floors.update_one(
                condition,
                {"$max": {FLOOR: top}, "$unset": dict.fromkeys(list(condition)[1:], "")},
            ),
            "record the versions of",
            collection,
        )
        return top

    async def _cover(self, collection: str, covers: dict[int, int]) -> None:
        """Raise entries of the floor's ``expiry_floors`` (``{entry: version}``, see
        :meth:`_floor`) before records with an expiry are written at those versions, so that
        the TTL monitor never removes a record the floor does not cover. Skipped for what
        this process has raised already."""
        key = self._floor_key(collection)
        needed = {
            minute: version
            for minute, version in covers.items()
            if self._covered.get((key, minute), 0) < version
        }
        if not needed:
            return
        await self._call(
            self._floors.update_one(
                {"_id": key},
                {
                    "$max": {
                        f"{EXPIRY_FLOORS}.{minute}": version for minute, version in needed.items()
                    }
                },
                upsert=True,
            ),
            "record the versions of",
            collection,
        )
        for minute, version in needed.items():
            if self._covered.get((key, minute), 0) < version:
                self._covered[(key, minute)] = version
        if len(self._covered) > VERSION_CACHE_SIZE:
            self._covered.clear()

    def _counts_from(self, expires: datetime, now: datetime) -> int:
        """The entry of the floor's ``expiry_floors`` for a record expiring at ``expires``
        written at ``now``: the TTL monitor removes it ``ttl_margin`` seconds after it
        expires, and not before it is written, at the earliest; the entry counts from
        CLOCK_SKEW (to at most CLOCK_SKEW + _BUCKET) seconds before that."""
        removable = max(truncate_ms(expires).timestamp() + self.ttl_margin, now.timestamp())
        return int((removable - CLOCK_SKEW) // _BUCKET)

    async def _cover_record(self, record: Record, version: int, now: datetime) -> None:
        """:meth:`_cover` for ``record``, to be written at ``version``."""
        if record.expires_at is not None:
            entry = self._counts_from(record.expires_at, now)
            await self._cover(record.collection, {entry: version})

    async def _raise_floor(self, collection: str, version: Any) -> None:
        """Raise the collection's floor to ``version``, before a record at that version is
        removed."""
        if not _is_version(version):
            return
        await self._call(
            self._floors.update_one(
                {"_id": self._floor_key(collection)}, {"$max": {FLOOR: version}}, upsert=True
            ),
            "record the versions of",
            collection,
        )

    def _stored(
        self,
        record: Record,
        version: int,
        created: datetime,
        now: datetime,
        write: str | None = None,
        value: Any = _UNCOPIED,
    ) -> Record:
        """The record as stored: ``value`` is a deep copy of its value made already (else
        one is made here)."""
        expires = None if record.expires_at is None else truncate_ms(record.expires_at)
        if write is None:
            self._versions.pop((record.collection, record.key), None)
        else:
            self._remember(record.collection, record.key, version, created, expires, write)
        return Record(
            record.collection,
            record.key,
            copy_value(record.value) if value is _UNCOPIED else value,
            version,
            created,
            now,
            expires,
            {name: tuple(values) for name, values in record.index.items()},
        )

    @_bounded
    async def put_many(self, records: Sequence[Record]) -> list[Record]:
        if not records:
            return []
        now = utcnow()
        by_collection: dict[str, list[int]] = {}
        for position, record in enumerate(records):
            by_collection.setdefault(record.collection, []).append(position)
        # encode everything first: a value too large or not storable writes nothing
        for record in records:
            self._collection(record.collection)  # a name MongoDB refuses writes nothing
            self._document(record, 1, now, now, "0" * 24)  # checked, not sent
        out: list[Record | None] = [None] * len(records)
        for collection, positions in by_collection.items():
            await self._put_collection(
                collection, [records[p] for p in positions], positions, out, now
            )
        return [record for record in out if record is not None]

    @_bounded
    async def restore_many(self, records: Sequence[Record]) -> None:
        from satchel_mongodb.restore import restore_many  # a module of its own

        await restore_many(self, records)

    async def _put_collection(
        self,
        collection: str,
        records: list[Record],
        positions: list[int],
        out: list[Record | None],
        now: datetime,
    ) -> None:
        """Write the last record of each key in one bulk write, each operation's outcome
        read from the bulk write's own answer (never from a later read, which another
        writer may have overtaken):

        * a key with a record: an upsert filtered on that record's version and write id; it
          replaces the record, or meets another write (a duplicate key at its index: the key
          is read and planned again), or finds no document (then it leaves a claim);
        * a key without a record: a claim (an insert, or a replace of a foreign document);
        * a claimed key: after the claims are in, one read of the floor, then an upsert
          filtered on the claim writes the record above the floor.
        """
        coll = self._collection(collection)
        if collection not in self._indexed:
            await self._prepare(collection, coll)
        chains: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            chains.setdefault(record.key, []).append(index)
        plan: list[str] = list(chains)  # keys to read (or take from memory) and write
        claimed: dict[str, str] = {}  # key -> the claim this batch holds on it
        # writes of records with an expiry held back while this batch claims keys: the
        # floor those keys get is read before they raise it (see below)
        postponed: list[tuple[Any, tuple[str, int, datetime, str, str]]] = []
        for attempt in range(ATTEMPTS):
            if not plan and not claimed and not postponed:
                return
            if attempt >= 3:
                await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 20)))
            known: dict[str, Any] = {}
            if plan:
                unknown = plan
                if attempt == 0:
                    unknown = [key for key in plan if (collection, key) not in self._versions]
                    for key in plan:
                        if (collection, key) in self._versions:
                            version, created, expires, write = self._versions[(collection, key)]
                            known[key] = {
                                "version": version,
                                "created": created,
                                "expires": expires,
                                "write_id": write,
                            }
                if unknown:
                    cursor = coll.find({"_id": {"$in": unknown}}, _META)
                    for doc in await self._call(cursor.to_list(None), "read from", collection):
                        known[doc["_id"]] = doc
            floor = await self._floor(collection) if claimed else 0
            operations: list[Any] = []
            # per operation: (key, first version, created, write id, claim id or None)
            meant: list[tuple[str, int, datetime, str, str]] = []
            waiting: list[str] = []
            for key in plan:
                current: Any = known.get(key)
                chain = chains[key]
                if _alive(current, now):
                    base, created = int(current["version"]), current["created"]
                    seen = (base, created, current.get("expires"), current.get("write_id"))
                    condition = self._written_by(key, seen)
                elif _is_record(current):
                    base, created = int(current["version"]), now
                    condition = _exactly(key, current)
                elif _is_young_claim(current):
                    waiting.append(key)
                    continue
                else:
                    claim = self._write_id()
                    doc = _claim_document(key, claim, now)
                    if current is None:
                        operations.append(InsertOne(doc))
                    else:
                        operations.append(ReplaceOne(_exactly(key, current), doc, upsert=True))
                    meant.append((key, 0, now, "", claim))
                    continue
                write, claim = self._write_id(), self._write_id()
                last = _last_created(records, chain, created, now)
                doc = self._document(records[chain[-1]], base + len(chain), last, now, write)
                operations.append(_write_or_claim(condition, doc, key, claim, now))
                meant.append((key, base, created, write, claim))
            if any(not m[3] for m in meant):
                # keys are claimed in this round, and read the floor in the next: the
                # records with an expiry wait for that round, so that the floor those keys
                # get does not count this batch's own records (it need not: they are other
                # keys), as on every backend
                later = {
                    i
                    for i, m in enumerate(meant)
                    if m[3] and records[chains[m[0]][-1]].expires_at is not None
                }
                held_back = [(operations[i], meant[i]) for i in sorted(later)]
                operations = [op for i, op in enumerate(operations) if i not in later]
                meant = [m for i, m in enumerate(meant) if i not in later]
            else:
                held_back = []
            for key, held in claimed.items():
                chain = chains[key]
                write, claim = self._write_id(), self._write_id()
                last = _last_created(records, chain, now, now)
                doc = self._document(records[chain[-1]], floor + len(chain), last, now, write)
                operations.append(
                    _write_or_claim({"_id": key, "write_id": held}, doc, key, claim, now)
                )
                meant.append((key, floor, now, write, claim))
            for op, m in postponed:
                operations.append(op)
                meant.append(m)
            postponed = held_back
            plan, claimed = waiting, {}
            if not operations:
                continue
            covers: dict[int, int] = {}
            for key, base, _, writes, _ in meant:
                final = records[chains[key][-1]]
                if writes and final.expires_at is not None:
                    minute = self._counts_from(final.expires_at, now)
                    covers[minute] = max(covers.get(minute, 0), base + len(chains[key]))
            if covers:
                await self._cover(collection, covers)
            failed, upserted = await self._bulk(coll, collection, operations)
            for index, (key, base, created, write, claim) in enumerate(meant):
                if index in failed:
                    plan.append(key)  # another writer changed the key: read it again
                elif not write:
                    claimed[key] = claim  # a claim is in place
                elif index in upserted:
                    claimed[key] = claim  # the record was gone: a claim took its place
                else:
                    self._fill(records, chains[key], positions, out, base, created, now, write)
        unwritten = sorted({*plan, *claimed})
        shown = ", ".join(map(repr, unwritten[:10])) + (", ..." if len(unwritten) > 10 else "")
        raise BackendUnavailable(
            f"{collection!r}: could not write {len(unwritten)} of the batch's "
            f"{len(chains)} keys ({shown}): other writers changed them (or were creating them) "
            f"{ATTEMPTS} times in a row; the batch's other keys were written"
        )

    def _fill(
        self,
        records: list[Record],
        chain: list[int],
        positions: list[int],
        out: list[Record | None],
        base: int,
        created: datetime,
        now: datetime,
        write: str,
    ) -> None:
        """The records of one key's chain as written: the last stored at ``base + len``, the
        earlier ones at the versions below it (each overwritten in the same write)."""
        version = base
        for index in chain:
            version += 1
            record = records[index]
            out[positions[index]] = self._stored(record, version, created, now, write)
            expires = record.expires_at
            if expires is not None and truncate_ms(expires) <= now:
                created = now  # the next record of the chain finds this one expired

    async def _bulk(
        self, coll: AsyncCollection[Any], collection: str, operations: list[Any]
    ) -> tuple[set[int], set[int]]:
        """Run an unordered bulk write; the indexes of the operations that met a duplicate
        key (another writer), and of those that inserted a document."""
        try:
            result = await self._call(
                coll.bulk_write(operations, ordered=False), "write to", collection
            )
            return set(), set(result.upserted_ids or {})
        except SatchelError as exc:
            if not isinstance(exc.__cause__, perr.BulkWriteError):
                raise
            details = exc.__cause__.details
            errors = details.get("writeErrors", ())
            if any(e.get("code") != 11000 for e in errors) or details.get("writeConcernErrors"):
                raise
            failed = {int(e["index"]) for e in errors}
            upserted = {int(u["index"]) for u in details.get("upserted", ())}
            return failed, upserted

    @_bounded
    async def delete(self, collection: str, key: str, *, if_version: int | None = None) -> bool:
        coll = self._collection(collection)
        now = utcnow()
        cached = self._versions.pop((collection, key), None)
        for attempt in range(ATTEMPTS):
            if attempt >= 3:
                await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 20)))
            if attempt == 0 and cached is not None and if_version in (None, cached[0]):
                version: Any = cached[0]
            else:
                current = await self._current(coll, collection, key)
                if if_version is not None:
                    _check_version(collection, key, if_version, current, now)
                elif not _alive(current, now):
                    if current is None or _is_record(current) or current.get("version") == 0:
                        return False
                    # a document another client wrote: removed, as a put would replace it
                    result = await self._call(
                        coll.delete_one(_exactly(key, current)), "delete from", collection
                    )
                    if result.deleted_count == 1:
                        return True
                    continue
                version = current["version"] if current is not None else None
            # the floor first: a record created after the removal starts above it
            await self._raise_floor(collection, version)
            result = await self._call(
                coll.delete_one({"_id": key, "version": version, **translate.live(now)}),
                "delete from",
                collection,
            )
            if result.deleted_count == 1:
                return True
        raise BackendUnavailable(f"{collection!r}: could not delete {key!r}: it kept changing")

    async def _top_version(self, coll: AsyncCollection[Any], collection: str, where: Any) -> Any:
        cursor = (
            coll.find({**where, "version": {"$gte": 1}}, {"version": 1})
            .sort("version", -1)
            .limit(1)
        )
        docs = await self._call(cursor.to_list(None), "read the versions of", collection)
        return docs[0]["version"] if docs else None

    @_bounded
    async def drop(self, collection: str) -> int:
        coll = self._collection(collection)
        now = utcnow()
        # the floor first, then every document at or below it (a record written meanwhile
        # above the floor was written after the drop, and stays; so does a log appended to)
        top = await self._top_version(coll, collection, {})
        await self._raise_floor(collection, top)
        floor = top if _is_version(top) else 0
        below: dict[str, Any] = {"$nor": [{"version": {"$gt": floor}}]}
        # the live records first, counted by their removal: drops racing this one (two
        # deletes of one instance) count each record once in all, never twice
        live = {**translate.live(now), "seq": {"$exists": False}, **below}
        removed = await self._call(coll.delete_many(live), "drop", collection)
        count = int(removed.deleted_count)
        logs = await self._logs.drop(coll, collection, floor, now)
        if logs is not None:
            count += logs
            below["seq"] = {"$exists": False}  # the logs' documents are gone (or stay)
        await self._call(coll.delete_many(below), "drop", collection)
        # an empty collection goes too, so that the database does not fill up with empty
        # collections (which collections() and purge_expired() would visit one by one)
        if await self._call(coll.find_one({}, {"_id": 1}), "drop", collection) is None:
            await self._call(coll.drop(), "drop", collection)
            self._indexed.discard(collection)
            self._natural.discard(collection)
            self._logs.forget(collection)
            await self._uncatalog(collection, coll)
        for cached in [k for k in self._versions if k[0] == collection]:
            del self._versions[cached]
        return count

    @_bounded
    async def purge_expired(self) -> int:
        now = utcnow()
        total = 0
        for name, mongo in await self.mongo_collections():
            coll = self._db.get_collection(mongo)
            expired: dict[str, Any] = {"expires": {"$lte": now}}
            top = await self._top_version(coll, mongo, expired)
            await self._raise_floor(name, top)
            floor = top if _is_version(top) else 0
            logs = await self._logs.purge(coll, name, floor, now)
            if logs is not None:
                total += logs
                expired["seq"] = {"$exists": False}  # the logs' documents are done
            result = await self._call(
                coll.delete_many({**expired, "$nor": [{"version": {"$gt": floor}}]}),
                "purge",
                mongo,
            )
            total += result.deleted_count
        return total

    # -- logs (see satchel_mongodb.logs) ---------------------------------------------------------

    @_bounded
    async def log_append(
        self,
        collection: str,
        key: str,
        values: Sequence[JSONValue],
        *,
        expires_at: datetime | None = None,
    ) -> list[LogEntry]:
        return await self._logs.append(collection, key, values, expires_at)

    @_bounded
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
        return await self._logs.read(collection, key, after, before, limit, reverse)

    @_bounded
    async def log_length(self, collection: str, key: str) -> int:
        return await self._logs.length(collection, key)

    @_bounded
    async def log_pop(self, collection: str, key: str, count: int) -> list[LogEntry]:
        return await self._logs.pop(collection, key, count)

    @_bounded
    async def log_trim(
        self,
        collection: str,
        key: str,
        *,
        keep_last: int | None = None,
        before: int | None = None,
    ) -> int:
        return await self._logs.trim(collection, key, keep_last, before)

    @_bounded
    async def log_delete(self, collection: str, key: str) -> bool:
        return await self._logs.delete(collection, key)

    async def log_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        regex = compile_glob(pattern) if pattern is not None else None
        prefix = _literal_prefix(pattern) if pattern is not None else ""
        last: str | None = None
        while True:
            keys = await self._log_keys_page(collection, prefix, last)
            for key in keys:
                if not key.startswith(prefix):
                    return
                if regex is None or regex.fullmatch(key):
                    yield key
            if len(keys) < 1000:
                return
            last = keys[-1]

    @_bounded
    async def _log_keys_page(self, collection: str, prefix: str, last: str | None) -> list[str]:
        """One page of ``log_keys`` (each page bounded as a call)."""
        return await self._logs.keys_page(collection, prefix, last, 1000)

    # -- life -----------------------------------------------------------------------------------

    @_bounded
    async def ping(self) -> None:
        await self._call(self._client.admin.command("ping"), "ping", self.settings.database)

    @_bounded
    async def stats(self) -> dict[str, Any]:
        info = await self._call(
            self._client.server_info(), "read the server info of", self.settings.database
        )
        return {
            "server_version": info.get("version"),
            "database": self.settings.database,
            "collection_prefix": self._prefix,
            "write_concern": self.settings.write_concern,
            "log_layout": LOG_LAYOUT,
        }

    async def close(self) -> None:
        """Close the client of every event loop that used the backend: at once for the
        running loop, in its own loop for a loop running in another thread (or idle), and
        nothing more for a loop already shut down (its client was closed then)."""
        with self._lock:
            self._closed = True
            conns = list(self._loops.values())
            self._loops.clear()
            spare, self._spare = self._spare, None
        if spare is not None:
            await spare.close()  # never used: nothing is open
        here = asyncio.get_running_loop()
        for conn in conns:
            loop = conn.loop
            if conn.keeper is not None and loop.is_closed():
                continue
            if loop is here:
                if conn.keeper is not None:
                    conn.keeper.cancel()
                await conn.close()
            elif loop.is_running():
                done = asyncio.run_coroutine_threadsafe(conn.close_in_loop(), loop)
                await asyncio.wrap_future(done)
            elif not loop.is_closed():
                await asyncio.to_thread(loop.run_until_complete, conn.close_in_loop())


class _Connection:
    """The client of one event loop, with its database and collection handles."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: AsyncMongoClient[Any], db: Any
    ) -> None:
        self.loop = loop
        self.client = client
        self.db: AsyncDatabase[Any] = db
        self.keeper: asyncio.Task[None] | None = None
        self._collections: dict[str, AsyncCollection[Any]] = {}
        self._closing: asyncio.Future[None] | None = None

    def collection(self, mongo_name: str) -> AsyncCollection[Any]:
        coll = self._collections.get(mongo_name)
        if coll is None:
            coll = self._collections[mongo_name] = self.db.get_collection(mongo_name)
        return coll

    async def close_in_loop(self) -> None:
        """Close from the connection's own loop (run there by another loop's ``close``)."""
        if self.keeper is not None:
            self.keeper.cancel()
        await self.close()

    async def close(self) -> None:
        """Close the client once (without ending its server sessions: a server forgets them
        by itself, and ending them would wait for a server that may be gone)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        topology = getattr(self.client, "_topology", None)
        if topology is not None:
            topology.pop_all_sessions()
        await self.client.close()


class _Unsure(Exception):
    """A page :meth:`MongoBackend._server_query` fetched with a superset filter holds a
    document the exact filter may not select."""


def _literal_prefix(pattern: str) -> str:
    """The characters every key matching the glob ``pattern`` starts with."""
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char in "*?[":
            break
        if char == "\\":
            index += 1
            if index == len(pattern):
                break
            char = pattern[index]
        out.append(char)
        index += 1
    return "".join(out)
