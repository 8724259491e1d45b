"""The backend contract: what a storage plugin implements.

A backend stores :class:`Record` objects in named collections. It is small, record
oriented and async; the stores (:mod:`satchel.stores`) build tasks, sessions and key-value
namespaces on top of it. The rules every backend shares are enforced by the conformance
kit in :mod:`satchel.testing`; ``docs/writing-a-backend.md`` walks through writing one.

Rules that hold for every method:

* Collection names and keys are opaque, non-empty strings; any character (``*``, ``?``,
  ``[``, ``:``, ``$``, ``.``, NUL, non-ASCII) may appear in a key and must never reach
  another record. Collection names never contain NUL.
* A record whose ``expires_at`` has passed is gone: never returned, counted, listed or
  found, and a write treats it as absent.
* Timestamps are timezone-aware UTC datetimes with millisecond precision (:func:`utcnow`).
* Every write bumps ``version``: the previous version + 1 over a live record; a record
  written where no live record exists (a new key, or one whose record was deleted, expired
  or dropped with its collection) starts a new *incarnation* of the key, whose version is
  greater than every version any earlier incarnation of that key had (1 in a collection
  that never held a record that was removed or had an expiry). Versions of a key therefore
  never repeat, so a conditional write (``if_version``) succeeds only against the exact
  incarnation and version its caller read. A backend keeps this knowledge as long as it
  keeps its data: after a server loses its data (a restart without persistence), versions
  may start again, and its docs say so.
* A write is applied at most once: a backend that retries a write after a lost reply
  returns what the first attempt did (its version, or its error) and never applies it twice
  or undoes a later write. ``put_many`` writes each record exactly once.
* One backend instance serves whichever event loop calls it (successive ``asyncio.run()``
  calls, a thread running a loop of its own); what it holds for a loop (a driver's client
  bound to that loop) is released when the loop ends or by :meth:`Backend.close`.
* Every call returns or raises within :attr:`Backend.call_timeout` when the backend states
  one, counted from the call (a wait for a free connection of a pool included), with an
  error that names the host and the cause.
* Values are JSON values (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``,
  ``None``); what a backend returns is the caller's own copy.
* Driver exceptions never leak: a backend raises :class:`~satchel.errors.SatchelError`
  subclasses (:class:`~satchel.errors.BackendUnavailable` for connection trouble).

A collection holds records, or *logs*: append-only, ordered lists of JSON entries, one per
key (the ``log_*`` methods). The stores never put records and logs in one collection.
Rules of logs:

* Every entry gets a sequence number (``seq``, a positive int) when it is appended. Within a
  log, sequence numbers are unique and strictly increasing in append order, and never
  reused: not after :meth:`~Backend.log_pop`, :meth:`~Backend.log_trim`, nor after the log is
  deleted, expires or is dropped and is then appended to again (numbers may have gaps).
* One :meth:`~Backend.log_append` is atomic: its entries get contiguous sequence numbers, and
  a reader sees all of them or none. Concurrent appends (from any number of processes) are
  all kept, each in the order its caller made them.
* Entries become visible in sequence order: once a reader has seen an entry with ``seq``
  *s*, no entry with a lower ``seq`` appears later. (So a reader that polls
  :meth:`~Backend.log_range` with ``after=`` the last ``seq`` it saw misses nothing; a
  backend that hands out numbers before it stores the entries must not let a later append
  become visible before an earlier one.)
* :meth:`~Backend.log_pop` removes and returns entries atomically: two concurrent pops never
  return the same entry.
* A log exists while it holds at least one entry. Its expiry is set by each append (renewed,
  or cleared with ``expires_at=None``); an expired log reads as empty and is gone from every
  listing, as an expired record is. :meth:`~Backend.drop`, :meth:`~Backend.collections` and
  :meth:`~Backend.purge_expired` cover logs as they cover records (a live log counts as one
  in what ``drop`` and ``purge_expired`` return).
"""

from __future__ import annotations

import abc
import inspect
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeAlias, TypeVar

from satchel.errors import InvalidArgument, Unsupported
from satchel.query import Condition, Query, compile_glob

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    from satchel.settings import SatchelSettings

__all__ = [
    "MAX_LOG_BATCH",
    "Backend",
    "BackendFactory",
    "BackendSpec",
    "Capabilities",
    "JSONValue",
    "LogEntry",
    "Page",
    "Query",
    "Record",
    "REQUIRED_METHODS",
    "check_log_call",
    "check_restore",
    "missing_methods",
    "outcome_retention",
    "utcnow",
]

JSONValue: TypeAlias = Any
"""Any value JSON can hold: ``dict[str, JSONValue] | list[JSONValue] | str | int | float |
bool | None``. (Spelled ``Any`` so that callers need no casts.)"""

T = TypeVar("T")


def utcnow() -> datetime:
    """The current UTC time, truncated to milliseconds (the precision every backend keeps)."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def truncate_ms(value: datetime) -> datetime:
    """``value`` as UTC, truncated to milliseconds; naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def outcome_retention(call_bound: float) -> float:
    """How long, in seconds, a backend keeps what recognises a write it may be sent again
    (its outcome, or its write id), for calls that take at most ``call_bound`` seconds: the
    last attempt of a call starts at most ``call_bound`` after the first; twice that, and a
    minute more, so that an attempt that reaches the server late (a server stopped and
    resumed) still finds it."""
    return 2 * call_bound + 60


def expiry_after(ttl: float | timedelta | None, now: datetime | None = None) -> datetime | None:
    """The ``expires_at`` of a record written now with ``ttl`` seconds to live."""
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    return truncate_ms((now or utcnow()) + timedelta(seconds=seconds))


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record.

    :param collection: the collection it lives in.
    :param key: its key, unique within the collection.
    :param value: its JSON value.
    :param version: 1 after the first write, +1 on every write (0 on a record not yet written).
    :param created_at: when the key was first written (kept across updates).
    :param updated_at: when it was last written.
    :param expires_at: when it stops existing (``None``: never).
    :param index: index entries, ``{index_name: (value, ...)}``; :meth:`Backend.find` looks
        records up by them. Several values per index are allowed (a multi-valued index).
    """

    collection: str
    key: str
    value: JSONValue
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    index: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def is_live(self, now: datetime) -> bool:
        """Whether the record still exists at ``now``."""
        return self.expires_at is None or self.expires_at > now


#: The most entries one :meth:`Backend.log_append` carries.
MAX_LOG_BATCH: Final = 10_000


def check_log_call(
    *,
    values: Sequence[JSONValue] | None = None,
    count: int | None = None,
    keep_last: int | None = None,
    before: int | None = None,
    trim: bool = False,
    after: int | None = None,
    limit: int | None = None,
) -> None:
    """Refuse, with :class:`~satchel.errors.InvalidArgument` naming the argument, what no
    log operation accepts: an append of no values (or more than :data:`MAX_LOG_BATCH`), or
    of ``values`` that are not a sequence of them (a string, bytes, a mapping); a pop of
    fewer than one entry, a negative ``keep_last``, a trim with neither bound
    (``trim=True``); a ``count``, ``keep_last``, ``before``, ``after`` or ``limit`` (of a
    range) that is not a whole number (``True`` and ``2.0`` are not). The stores check
    their arguments before this; a backend calls it so that a direct call cannot create an
    empty log or empty one by mistake."""
    if values is not None:
        if not isinstance(values, Sequence) or isinstance(values, (str, bytes, bytearray)):
            raise InvalidArgument(
                f"values: must be a list of the values to append, not {type(values).__name__}"
            )
        if not 1 <= len(values) <= MAX_LOG_BATCH:
            raise InvalidArgument(
                f"values: an append takes 1 to {MAX_LOG_BATCH} values, not {len(values)}"
            )
    if count is not None:
        _check_whole(count, "count")
        if count < 1:
            raise InvalidArgument(f"count: a pop takes at least 1 entry, not {count!r}")
    if keep_last is not None:
        _check_whole(keep_last, "keep_last")
        if keep_last < 0:
            raise InvalidArgument(f"keep_last: must be 0 or more, not {keep_last!r}")
    if before is not None:
        _check_whole(before, "before")
    if after is not None:
        _check_whole(after, "after")
    if limit is not None:
        _check_whole(limit, "limit")
    if trim and keep_last is None and before is None:
        raise InvalidArgument("keep_last and before: give at least one")


def _check_whole(value: Any, argument: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{argument}: must be a whole number, not {value!r}")


#: The highest version :meth:`Backend.restore_many` takes: every backend counts on from it
#: exactly, for trillions more writes (Redis's scripts count in doubles and write numbers
#: with 14 significant digits, exact below 10**14).
MAX_RESTORED_VERSION: Final = 2**46


def _check_unicode(text: str, what: str) -> None:
    """Refuse ``text`` holding a lone surrogate (not valid Unicode: no backend stores it)."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"{what}: holds a lone surrogate ({exc.object[exc.start]!r}), which is not valid "
            "Unicode"
        ) from None


def check_restore(records: Sequence[Record]) -> list[Record]:
    """The records of a :meth:`Backend.restore_many`, checked and normalised: each is a
    :class:`Record` with a non-empty collection and key, a version of 1 or more, and both
    ``created_at`` and ``updated_at`` set; the times come back as UTC with milliseconds (a
    naive time is taken as UTC), the index values as tuples without repeats. No text of
    it (collection, key, index names and values) may hold a lone surrogate, which no
    backend can store and no store writes. Anything else raises
    :class:`~satchel.errors.InvalidArgument` naming the record at fault, before a backend
    writes anything. (The value is the backend's to check, as it encodes it: a restore
    refuses what JSON cannot hold as the stores do.)"""
    checked: list[Record] = []
    for position, record in enumerate(records):
        where = f"records[{position}]"
        if not isinstance(record, Record):
            raise InvalidArgument(f"{where}: must be a Record, not {type(record).__name__}")
        where = f"{where} ({record.collection!r}, {record.key!r})"
        if not isinstance(record.collection, str) or not record.collection:
            raise InvalidArgument(f"{where}: collection must be a non-empty string")
        if "\x00" in record.collection:
            raise InvalidArgument(f"{where}: collection must not hold NUL")
        if not isinstance(record.key, str) or not record.key:
            raise InvalidArgument(f"{where}: key must be a non-empty string")
        _check_unicode(record.collection, f"{where}: collection")
        _check_unicode(record.key, f"{where}: key")
        version = record.version
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidArgument(f"{where}: version must be an int of 1 or more, not {version!r}")
        if version > MAX_RESTORED_VERSION:
            raise InvalidArgument(
                f"{where}: version {version} is above {MAX_RESTORED_VERSION} (2**46), "
                "the highest every backend counts on from exactly"
            )
        times = {}
        for name in ("created_at", "updated_at", "expires_at"):
            value = getattr(record, name)
            if value is None and name != "expires_at":
                raise InvalidArgument(f"{where}: {name} must be set (a restore keeps it)")
            if value is not None and not isinstance(value, datetime):
                raise InvalidArgument(f"{where}: {name} must be a datetime, not {value!r}")
            times[name] = None if value is None else truncate_ms(value)
        if not isinstance(record.index, Mapping):
            raise InvalidArgument(f"{where}: index must be a mapping, not {record.index!r}")
        index: dict[str, tuple[str, ...]] = {}
        entries: Mapping[Any, Any] = record.index
        for name, values in entries.items():
            if (
                not isinstance(name, str)
                or isinstance(values, str)
                or not all(isinstance(v, str) for v in values)
            ):
                raise InvalidArgument(
                    f"{where}: index[{name!r}] must be index values (strings), not {values!r}"
                )
            _check_unicode(name, f"{where}: index name")
            for one in values:
                _check_unicode(one, f"{where}: index[{name!r}]")
            index[name] = tuple(dict.fromkeys(values))
        checked.append(
            Record(
                record.collection,
                record.key,
                record.value,
                version,
                times["created_at"],
                times["updated_at"],
                times["expires_at"],
                index,
            )
        )
    return checked


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of a log.

    :param seq: its sequence number (see "Rules of logs" above).
    :param value: its JSON value (the caller's own copy).
    :param appended_at: when it was appended (UTC, milliseconds).
    """

    seq: int
    value: JSONValue
    appended_at: datetime


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results.

    :param items: the results, in order.
    :param next_cursor: pass it as ``cursor`` to get the next page; ``None`` when no result
        follows this page.
    """

    items: list[T]
    next_cursor: str | None = None

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend declares it can do. The stores and the conformance kit read these
    instead of guessing from a backend's name.

    :param query_pushdown: queries run on the server (else the backend scans and filters).
    :param shared_across_processes: records written by one process are seen by another
        (false for the in-process memory backend); enables the kit's multi-process tests.
    :param persistent: records survive a restart of the server.
    :param transactions: several writes can be made atomic together.
    :param max_value_bytes: the largest encoded value accepted (``None``: no limit).
    """

    query_pushdown: bool = False
    shared_across_processes: bool = False
    persistent: bool = False
    transactions: bool = False
    max_value_bytes: int | None = None


class Backend(abc.ABC):
    """The storage contract. Subclass it, implement the abstract methods, and run the
    conformance kit (:class:`satchel.testing.BackendConformance`) against your class.

    The non-abstract methods have correct but slow defaults built on the abstract ones;
    a network backend overrides them (``get_many``/``put_many`` with one round trip).
    """

    #: The backend's name, as in ``SATCHEL_BACKEND``.
    name: ClassVar[str] = "custom"
    #: What the backend can do; see :class:`Capabilities`. An instance may set its own.
    capabilities: Capabilities = Capabilities()
    #: The longest one call takes before it returns or raises, in seconds, as the backend's
    #: settings make it, its waits for a free connection included (``None``: the backend
    #: states no bound). ``satchel doctor`` waits at least this long, so that the
    #: backend's own error, naming the cause, is reported.
    call_timeout: float | None = None

    # -- reads -------------------------------------------------------------------------

    @abc.abstractmethod
    async def get(self, collection: str, key: str) -> Record | None:
        """The live record under ``key``, or ``None``."""

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[Record | None]:
        """The live records under ``keys``, in the order of ``keys`` (``None`` where absent)."""
        return [await self.get(collection, key) for key in keys]

    async def exists(self, collection: str, key: str) -> bool:
        """Whether a live record is stored under ``key``. The default reads the record; a
        backend that can answer without reading the value overrides it."""
        return await self.get(collection, key) is not None

    @abc.abstractmethod
    async def find(self, collection: str, index_name: str, value: str) -> list[Record]:
        """The live records whose index ``index_name`` holds ``value``, ordered by key."""

    @abc.abstractmethod
    async def query(self, collection: str, query: Query) -> Page[Record]:
        """Run ``query`` with the semantics of :func:`satchel.query.evaluate`."""

    async def count(self, collection: str, where: Sequence[Condition] = ()) -> int:
        """How many live records match ``where`` (all of them when empty)."""
        from satchel.toolkit import iter_pages

        conditions = tuple(where)
        total = 0
        async for page in iter_pages(
            lambda cursor: self.query(
                collection, Query(where=conditions, select=(), limit=1000, cursor=cursor)
            )
        ):
            total += len(page.items)
        return total

    async def iter_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        """Every live key of the collection matching the glob ``pattern`` (all when
        ``None``), each exactly once, in any order. See :func:`satchel.query.compile_glob`
        for the pattern language."""
        from satchel.toolkit import iter_pages

        regex = compile_glob(pattern) if pattern is not None else None
        async for page in iter_pages(
            lambda cursor: self.query(collection, Query(select=(), limit=1000, cursor=cursor))
        ):
            for record in page.items:
                if regex is None or regex.fullmatch(record.key):
                    yield record.key

    @abc.abstractmethod
    async def collections(self) -> list[str]:
        """The names of the collections that hold at least one live record, sorted."""

    # -- writes ------------------------------------------------------------------------

    @abc.abstractmethod
    async def put(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> Record:
        """Write ``record.value``, ``record.expires_at`` and ``record.index`` under
        ``(record.collection, record.key)`` and return the stored record.

        ``record.version``, ``created_at`` and ``updated_at`` are ignored: over a live
        record the stored record gets the previous version + 1 and keeps its ``created_at``;
        otherwise it starts a new incarnation (a version above every earlier incarnation's,
        1 in a collection that never held a record that was removed or had an expiry;
        ``created_at`` = now). In
        both cases ``updated_at`` = now. The old index entries are replaced by the new ones.

        :param if_absent: write only if no live record exists, else raise
            :class:`~satchel.errors.AlreadyExists`.
        :param if_version: write only if the live record has this version; raise
            :class:`~satchel.errors.NotFound` if there is none and
            :class:`~satchel.errors.Conflict` if its version differs.

        Both conditions together contradict each other: raise
        :class:`~satchel.errors.InvalidArgument` naming both, and write nothing
        (:func:`satchel.toolkit.check_put_condition`).

        The check and the write are one atomic step, across processes where the backend is
        shared: two writers can never both succeed with the same ``if_version``, and a
        version read from an earlier incarnation of the key never matches a later one.
        """

    async def put_many(self, records: Sequence[Record]) -> list[Record]:
        """Write every record unconditionally, in order (a later duplicate wins); return the
        stored records in the same order. Each record is written exactly once, also when
        other writers race the batch: the version returned for a record is the version that
        holds its value."""
        return [await self.put(record) for record in records]

    async def put_version(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> int:
        """Exactly :meth:`put`, with every rule and error of it, but return only the new
        version: for callers that do not need the stored record (the stores' ``set``,
        ``create`` and ``update``). The default calls :meth:`put`; a backend that would
        otherwise build the stored record (decode a copy of the value) overrides it."""
        stored = await self.put(record, if_absent=if_absent, if_version=if_version)
        return stored.version

    async def put_many_versions(self, records: Sequence[Record]) -> list[int]:
        """Exactly :meth:`put_many`, but return only the new versions, in order. The
        default calls :meth:`put_many`."""
        return [stored.version for stored in await self.put_many(records)]

    async def restore_many(self, records: Sequence[Record]) -> None:
        """Store each record exactly as given: its value, ``version``, ``created_at``,
        ``updated_at``, ``expires_at`` and index entries, replacing whatever its key holds
        (live, expired or absent), with no condition. For moving data between backends
        (:mod:`satchel.transfer`): a record read from one backend and restored into another
        reads back identical, and so do its :meth:`find` and :meth:`query` answers.

        Rules (the kit's :class:`~satchel.testing.RestoreRules` check them):

        * Every record is checked first (:func:`check_restore`); a bad one raises
          :class:`~satchel.errors.InvalidArgument` and nothing is written.
        * An empty call writes nothing and returns: :mod:`satchel.transfer` makes one
          before it starts, to learn whether the backend restores at all.
        * The next write of a restored key gives ``version + 1``, as after any write; the
          record it replaced counts as removed (the key's floor rises to its version), and
          a restored record that is later removed raises the floor to its own version, so
          a new incarnation starts above both.
        * A record whose ``expires_at`` has passed is stored as expired is: the key reads
          as absent afterwards (what it held is removed), and a later write starts above
          the record's version. So a restore of a record, expired or not, always leaves the
          key as the record's source would show it.
        * Restoring the same records again changes nothing (a copy run again is safe). A
          later duplicate of a key in one call wins.
        * Each record is restored atomically (never a value without its index entries);
          the call as a whole need not be: after an error, some records of the batch may be
          restored and others not, and the same call made again completes it.
        * Restoring over a live record with a *higher* version than the restored one puts
          the key back to the lower version: a caller holding a version between the two
          could then match a later write. Restore into an empty target, or over a copy of
          the same data, to keep versions from repeating.

        The default raises :class:`~satchel.errors.Unsupported`, writing nothing: the other
        methods of the contract cannot set a version or a time (``put`` ignores them), and
        a restore that changed them would break every ``if_version`` held on the data. A
        backend that keeps its own metadata overrides it.
        """
        raise Unsupported(
            f"restore_many: backend {self.name!r} ({type(self).__name__}) cannot store "
            "records with their versions and times as given; it does not implement "
            "Backend.restore_many. Nothing was written"
        )

    @abc.abstractmethod
    async def delete(self, collection: str, key: str, *, if_version: int | None = None) -> bool:
        """Delete the live record under ``key``; ``True`` if one was deleted.

        :param if_version: delete only if the live record has this version; raise
            :class:`~satchel.errors.NotFound` if there is none and
            :class:`~satchel.errors.Conflict` if its version differs (atomically).
        """

    @abc.abstractmethod
    async def drop(self, collection: str) -> int:
        """Delete the whole collection; return how many live records it removed (drops
        racing each other report each record once in all)."""

    @abc.abstractmethod
    async def purge_expired(self) -> int:
        """Remove expired records (and their index entries) now; return how many."""

    # -- logs --------------------------------------------------------------------------
    #
    # The defaults keep each log as one record (see :mod:`satchel.logrecords`), built on
    # get/put(if_version=)/delete: correct on any backend that keeps the record rules, but
    # every call reads the whole log, and a log is bounded by ``max_value_bytes``. A backend
    # with a native list type overrides all of them together.

    async def log_append(
        self,
        collection: str,
        key: str,
        values: Sequence[JSONValue],
        *,
        expires_at: datetime | None = None,
    ) -> list[LogEntry]:
        """Append ``values`` (1 to :data:`MAX_LOG_BATCH` of them) to the log ``key``, as one
        atomic step, creating the log if it does not exist; set the log's expiry to
        ``expires_at`` (``None``: never expires). Return the appended entries, in order,
        with their sequence numbers."""
        from satchel.logrecords import append

        return await append(self, collection, key, values, expires_at)

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
        """The entries of the log with ``after < seq < before`` (either bound may be
        ``None``), in ascending order of ``seq`` (descending with ``reverse``), at most
        ``limit`` of them (the first ones in that order; ``limit`` is ``None`` or 0 and
        above, and 0 gives none). An absent or expired log has none."""
        from satchel.logrecords import read_range

        return await read_range(self, collection, key, after, before, limit, reverse)

    async def log_length(self, collection: str, key: str) -> int:
        """How many entries the log holds (0 when absent or expired)."""
        from satchel.logrecords import length

        return await length(self, collection, key)

    async def log_pop(self, collection: str, key: str, count: int) -> list[LogEntry]:
        """Remove the last ``count`` entries (``count`` >= 1; fewer if the log is shorter)
        as one atomic step and return them in ascending order of ``seq``. Popping every
        entry removes the log; popping does not change its expiry."""
        from satchel.logrecords import pop

        return await pop(self, collection, key, count)

    async def log_trim(
        self,
        collection: str,
        key: str,
        *,
        keep_last: int | None = None,
        before: int | None = None,
    ) -> int:
        """Remove, as one atomic step, every entry but the last ``keep_last`` (0: all of
        them), and every entry with ``seq < before``; at least one of the two is given.
        Return how many were removed. Trimming does not change the log's expiry."""
        from satchel.logrecords import trim

        return await trim(self, collection, key, keep_last, before)

    async def log_delete(self, collection: str, key: str) -> bool:
        """Delete the whole log; ``True`` if it existed (held entries and had not expired)."""
        return await self.delete(collection, key)

    async def log_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        """The key of every live log of the collection matching the glob ``pattern`` (all
        when ``None``), each exactly once, in any order."""
        async for key in self.iter_keys(collection, pattern):
            yield key

    # -- life --------------------------------------------------------------------------

    async def ping(self) -> None:
        """Check the connection; raise :class:`~satchel.errors.BackendUnavailable` if down."""

    async def stats(self) -> dict[str, Any]:
        """Backend-specific figures (JSON values only, never a secret)."""
        return {}

    async def close(self) -> None:
        """Release connections. The backend is not used after this."""

    def describe(self) -> str:
        """A one-line description for listings and ``repr``; never contains a secret."""
        return self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


_BACKEND_NAME = re.compile(r"[a-z][a-z0-9_]*")

REQUIRED_METHODS: tuple[str, ...] = tuple(sorted(Backend.__abstractmethods__))


def missing_methods(cls: type) -> list[str]:
    """The contract methods ``cls`` lacks or does not implement as ``async def``."""
    if isinstance(cls, type) and issubclass(cls, Backend):
        return sorted(getattr(cls, "__abstractmethods__", ()))
    return [
        name
        for name in REQUIRED_METHODS
        if not inspect.iscoroutinefunction(getattr(cls, name, None))
    ]


BackendFactory: TypeAlias = "Callable[[Any, SatchelSettings], Backend]"
"""Builds a backend from the plugin's settings object and the core settings."""


@dataclass(frozen=True)
class BackendSpec:
    """What a plugin registers for each backend it provides.

    :param name: the backend name users put in ``SATCHEL_BACKEND``; by convention the
        plugin's entry-point name. Lower-case letters, digits and ``_``.
    :param factory: ``factory(plugin_settings, core_settings) -> Backend``. Import the
        database driver inside it, not at module level, so listing backends stays fast.
    :param settings_cls: a settings class built with
        :func:`satchel.settings.plugin_settings_config` (variables ``SATCHEL_<NAME>_*``),
        or ``None`` when the backend has no settings.
    :param description: one line for ``satchel backends``.
    """

    name: str
    factory: Callable[[Any, SatchelSettings], Backend]
    settings_cls: type[BaseSettings] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _BACKEND_NAME.fullmatch(self.name):
            raise InvalidArgument(
                f"BackendSpec.name: {self.name!r} must be lower-case letters, digits and '_'"
            )
        if not callable(self.factory):
            raise InvalidArgument(f"BackendSpec.factory: {self.factory!r} is not callable")
