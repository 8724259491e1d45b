"""Logs in MongoDB: a head document per log, and one document per entry.

A log collection holds, in the MongoDB collection of its satchel collection::

    head   {_id: <key>, log: <key>, seq: 0, ver, lo, top, n, cut, inc, exp, ee, ca, w, cw,
            c, cat, rs (while an append holds the log), dead (only when there are some)}
    entry  {_id: <ObjectId>, log: <key>, seq, ver: <seq>, at, exp, v}

An entry's value ``v`` is in the shadow form of :mod:`satchel_mongodb.codec`, as a record's
is; ``at`` is when it was appended. The unique index ``satchel_log`` on ``{log: 1, seq: 1}``
serves every range read (``find({log, seq: {$gte, $lte}}).sort({seq: -1})`` for the last
entries) and makes a sequence number impossible to store twice.

Why one document per entry: no log ever nears MongoDB's 16 MiB per document (only one
entry has to fit), the last entries are an index range, and a pop or a trim removes whole
documents. A batch document (one per append) saves documents but would make a pop of part
of a batch rewrite the batch. The price is a document per entry; the head keeps what would
otherwise need a scan (the length, the expiry).

The head decides what is visible. ``ver`` is the highest sequence number ever handed out in
the log (also to an append still under way), ``top`` the highest one committed, ``lo`` the
lowest one still in the log; the entries are those with ``lo <= seq <= top`` outside the
``dead`` ranges, ``n`` of them. ``inc`` names the log's incarnation, ``cut`` counts its
pops and trims, ``w`` is the id of the last write to the head and ``cw`` the ids of the last
pops and trims (so a pop whose reply was lost can tell whether it happened).

An append, from any process:

1. reads the head; a live one is *claimed* by a compare-and-set on ``w`` that hands out the
   next ``ver + 1 .. ver + m`` and records the claim (``c``, ``cat``, ``rs``). While a claim
   younger than :data:`LOG_CLAIM_SECONDS` is there, other writers wait; an older one is taken
   over: its range becomes ``dead`` and its writer's commit (filtered on its claim) fails.
2. inserts the entries, which nobody reads yet (they are above ``top``), in chunks,
   renewing the claim between chunks (so a long append keeps it);
3. commits: one write of the head, filtered on its claim, sets ``top``, ``n`` and the
   expiry. Readers see the whole batch from then on, or none of it, and in sequence order:
   appends commit one after the other, each above the last.

A writer that dies leaves its claim and its entries; the next writer takes the claim over
after :data:`LOG_CLAIM_SECONDS` and deletes what lies above ``top``. An entry such a writer
inserts later (it was only stopped) lands in a dead range, where nobody reads; its writer,
finding its claim gone, deletes what it inserted and tries again. Only an acknowledged
commit makes an append happen, and a commit whose reply was lost is recognised as done by
the head (``top`` has passed its range) instead of being made again.

A log that does not exist is created under a *creation claim* (a head with ``ver`` 0 that
no reader counts): the writer inserts it, then reads the collection's floor (the
``<prefix>%floors`` document that records versions use, here holding sequence numbers), and
starts the log above it. Every removal of a log (delete, a pop or trim that empties it,
drop, purge, the TTL monitor) raises the floor to the log's ``ver`` first, or is covered by
it in advance, so sequence numbers are never reused.

Pop and trim are one compare-and-set of the head on ``w`` (lowering ``top``, or raising
``lo``), after which the entries that left are deleted. A reader that read the head before
such a cut reads the head again after its entries, and starts over when ``cut`` moved.

Expiry: the head's ``exp`` is the log's; entries carry ``exp`` too, kept at or after the
head's (``ee``), so that MongoDB's TTL monitor (the ``satchel_ttl`` index, shared with the
records) removes the entries of an expired log and never those of a live one. Renewing
every entry on every append would cost a write per entry, so an append that needs the
entries to live longer sets them to its expiry plus its time to live (at most
:data:`ENTRY_SLACK_SECONDS`): the next renewal comes after that time to live has passed
again. Entries therefore outlive an expired log by up to that slack before the TTL monitor
removes them; ``purge_expired`` removes them with their head at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel
from pymongo import errors as perr
from pymongo.asynchronous.collection import AsyncCollection

from satchel.backend import MAX_LOG_BATCH, JSONValue, LogEntry, truncate_ms, utcnow
from satchel.errors import BackendUnavailable, CorruptRecord, InvalidArgument, SatchelError
from satchel_mongodb import translate
from satchel_mongodb.codec import copy_value, decode, document_bytes, encode

if TYPE_CHECKING:
    from satchel_mongodb.backend import MongoBackend

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_ENTRIES",
    "ENTRY_SLACK_SECONDS",
    "LOG_CLAIM_SECONDS",
    "LOG_INDEX",
    "LOG_LAYOUT",
    "MongoLogs",
]

#: How logs are stored, as ``stats()`` reports it.
LOG_LAYOUT: Final = "a head document per log, a document per entry (index satchel_log)"

#: How long an append's claim on a log holds off other writers without being renewed.
LOG_CLAIM_SECONDS: Final = 3.0
#: The most entries, and encoded bytes, one insert of an append carries; the claim is
#: renewed between inserts.
CHUNK_ENTRIES: Final = 1000
CHUNK_BYTES: Final = 8 * 1024 * 1024
#: The most the entries' expiry runs ahead of their log's (see the module docstring).
ENTRY_SLACK_SECONDS: Final = 3600
#: The unique index over the heads and entries of every log.
LOG_INDEX: Final = "satchel_log"
#: Pops and trims a head remembers, for a pop whose reply was lost.
_RECENT_CUTS: Final = 8
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Attempts of a read that keeps meeting pops and trims.
_READ_ATTEMPTS: Final = 100


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class _Head:
    """A log's head document, read (or about to be written)."""

    key: str
    ver: int
    lo: int
    top: int
    n: int
    cut: int
    inc: str
    exp: datetime | None
    ee: datetime | None
    ca: datetime
    w: str
    cw: tuple[str, ...] = ()
    claim: str | None = None
    claimed_at: datetime | None = None
    rs: int = 0
    dead: tuple[tuple[int, int], ...] = ()

    def live(self, now: datetime) -> bool:
        return self.exp is None or self.exp > now

    def visible(self, seq: int) -> bool:
        if not self.lo <= seq <= self.top:
            return False
        return not any(a <= seq <= b for a, b in self.dead)

    def young_claim(self) -> bool:
        return self.claim is not None and _young(self.claimed_at)

    def unclaimed(self) -> _Head:
        """This head without its (stale) claim: the claimed range is dead from now on."""
        if self.claim is None:
            return self
        dead = self.dead
        if self.rs > self.top and self.rs <= self.ver:
            dead = (*dead, (self.rs, self.ver))
        return replace(self, claim=None, claimed_at=None, rs=0, dead=dead)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_id": self.key,
            "log": self.key,
            "seq": 0,
            "ver": self.ver,
            "lo": self.lo,
            "top": self.top,
            "n": self.n,
            "cut": self.cut,
            "inc": self.inc,
            "exp": self.exp,
            "ee": self.ee,
            "ca": self.ca,
            "w": self.w,
            "cw": list(self.cw),
        }
        if self.claim is not None:
            doc.update(c=self.claim, cat=self.claimed_at, rs=self.rs)
        if self.dead:
            doc["dead"] = [list(r) for r in self.dead]
        return doc


@dataclass(frozen=True, slots=True)
class _Creation:
    """A creation claim: a log being created (not a log yet)."""

    w: str
    claimed_at: Any


def _young(claimed_at: Any) -> bool:
    """Whether a claim made at ``claimed_at`` (by its writer's clock) still holds: made less
    than LOG_CLAIM_SECONDS ago; a claim dated more than that ahead counts as old, so a writer
    whose clock runs fast holds a log for at most LOG_CLAIM_SECONDS of anyone's time."""
    if not isinstance(claimed_at, datetime):
        return False
    return -LOG_CLAIM_SECONDS < (utcnow() - claimed_at).total_seconds() < LOG_CLAIM_SECONDS


def _parse(collection: str, key: str, doc: Any) -> _Head | _Creation | None:
    """The head (or creation claim) ``doc``; ``None`` for no document; CorruptRecord for a
    document that is neither."""
    if doc is None:
        return None
    try:
        if doc.get("seq") != 0 or doc.get("log") != key:
            raise ValueError("not a log's head")
        w = doc["w"]
        if not isinstance(w, str):
            raise ValueError("no write id")
        if doc.get("ver") == 0:
            return _Creation(w, doc.get("cat"))
        ints = [doc[name] for name in ("ver", "lo", "top", "n", "cut")]
        if not all(_is_int(v) for v in ints):
            raise ValueError("counters of the wrong types")
        exp, ee, ca = doc.get("exp"), doc.get("ee"), doc["ca"]
        if not (exp is None or isinstance(exp, datetime)) or not (
            ee is None or isinstance(ee, datetime)
        ):
            raise ValueError("expiry of the wrong type")
        claim = doc.get("c")
        dead = tuple((int(a), int(b)) for a, b in doc.get("dead") or ())
        ver, lo, top, n, cut = (int(v) for v in ints)
        return _Head(
            key,
            ver,
            lo,
            top,
            n,
            cut,
            str(doc["inc"]),
            exp,
            ee,
            ca,
            w,
            tuple(str(x) for x in doc.get("cw") or ()),
            claim if isinstance(claim, str) else None,
            doc.get("cat"),
            int(doc.get("rs") or 0),
            dead,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptRecord(
            f"{collection!r}: the document of key {key!r} is not the head of a satchel log "
            f"({exc}); another client wrote it. Remove it with the log's delete"
        ) from None


def _entry(collection: str, key: str, doc: Any) -> LogEntry:
    seq = doc.get("seq")
    try:
        at = doc["at"]
        if not _is_int(seq) or not isinstance(at, datetime):
            raise ValueError("metadata of the wrong types")
        return LogEntry(int(seq), decode(doc["v"]), at)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise CorruptRecord(
            f"{collection!r}: entry {seq!r} of log {key!r} is not a satchel log entry "
            f"({exc}); another client wrote it. Delete the log to repair it"
        ) from None


async def _backoff(attempt: int) -> None:
    """A short random pause while another writer holds the log, growing to 50 ms."""
    await asyncio.sleep(random.uniform(0.5, 1.0) * min(0.05, 0.002 * 2 ** min(attempt, 5)))


class _ClaimLost(Exception):
    """The append's claim was taken over (or its log removed) while it worked."""


class _Claim:
    """A claim this append holds: renewed between the append's steps."""

    def __init__(
        self, logs: MongoLogs, coll: AsyncCollection[Any], collection: str, key: str, claim: str
    ) -> None:
        self.logs = logs
        self.coll = coll
        self.collection = collection
        self.key = key
        self.claim = claim
        self.renewed = time.monotonic()

    async def keep(self) -> None:
        """Renew the claim when a quarter of its time has passed; _ClaimLost when it is gone."""
        if time.monotonic() - self.renewed < LOG_CLAIM_SECONDS / 4:
            return
        self.renewed = time.monotonic()
        result = await self.logs._call(
            self.coll.update_one({"_id": self.key, "c": self.claim}, {"$set": {"cat": utcnow()}}),
            "append to",
            self.collection,
        )
        if result.matched_count != 1:
            raise _ClaimLost


class MongoLogs:
    """The log operations of a :class:`~satchel_mongodb.backend.MongoBackend` (its
    ``log_*`` methods delegate here)."""

    def __init__(self, backend: MongoBackend) -> None:
        self._backend = backend
        self._indexed: set[str] = set()

    # -- plumbing -----------------------------------------------------------------------------

    async def _call(self, awaitable: Any, what: str, collection: str) -> Any:
        return await self._backend._call(awaitable, what, collection)

    async def _prepare(self, collection: str, coll: AsyncCollection[Any]) -> None:
        """Create the indexes of a log collection, once per process: ``satchel_log`` (unique,
        over heads and entries only) and the records' ``satchel_ttl``."""
        if collection in self._indexed:
            return
        index = IndexModel(
            [("log", 1), ("seq", 1)],
            name=LOG_INDEX,
            unique=True,
            # records (which have neither field) stay out of it
            sparse=True,
        )
        await self._backend._create_indexes(collection, coll, [index])
        self._indexed.add(collection)

    def forget(self, collection: str) -> None:
        """The collection was dropped: its indexes are made again on its next use."""
        self._indexed.discard(collection)

    async def _read(self, coll: AsyncCollection[Any], collection: str, key: str) -> Any:
        return await self._call(coll.find_one({"_id": key}), "read from", collection)

    async def _head(
        self, coll: AsyncCollection[Any], collection: str, key: str
    ) -> _Head | _Creation | None:
        return _parse(collection, key, await self._read(coll, collection, key))

    async def _live(self, coll: AsyncCollection[Any], collection: str, key: str) -> _Head | None:
        """The head of the live log ``key`` that holds entries, or ``None``."""
        head = await self._head(coll, collection, key)
        if isinstance(head, _Head) and head.n > 0 and head.live(utcnow()):
            return head
        return None

    async def _find(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        key: str,
        low: int,
        high: int,
        reverse: bool,
        fields: Any = None,
    ) -> list[Any]:
        cursor = coll.find({"log": key, "seq": {"$gte": low, "$lte": high}}, fields)
        cursor = cursor.sort("seq", -1 if reverse else 1)
        docs: list[Any] = await self._call(cursor.to_list(None), "read from", collection)
        return docs

    async def _entries(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        head: _Head,
        low: int,
        high: int,
        limit: int | None,
        reverse: bool,
        fields: Any = None,
    ) -> list[Any]:
        """The documents of the entries of ``head`` with ``low <= seq <= high``, in order of
        ``seq`` (descending with ``reverse``), at most ``limit``. A limited read asks for a
        range of ``limit`` sequence numbers first (the numbers of a log are contiguous but
        for the gaps that pops leave) and widens it only when that range falls short, so
        that the server reads about ``limit`` entries whatever its query planner does with
        a sort and a limit."""
        low, high = max(low, head.lo), min(high, head.top)
        key = head.key
        if limit is None:
            docs = await self._find(coll, collection, key, low, high, reverse, fields)
            return [d for d in docs if _is_int(d.get("seq")) and head.visible(d["seq"])]
        out: list[Any] = []
        span = limit
        while low <= high and len(out) < limit:
            if reverse:
                a, b = max(low, high - span + 1), high
                high = a - 1
            else:
                a, b = low, min(high, low + span - 1)
                low = b + 1
            docs = await self._find(coll, collection, key, a, b, reverse, fields)
            out.extend(d for d in docs if _is_int(d.get("seq")) and head.visible(d["seq"]))
            span *= 4
        return out[:limit]

    # -- reads --------------------------------------------------------------------------------

    async def length(self, collection: str, key: str) -> int:
        coll = self._backend._collection(collection)
        head = await self._live(coll, collection, key)
        return 0 if head is None else head.n

    async def read(
        self,
        collection: str,
        key: str,
        after: int | None,
        before: int | None,
        limit: int | None,
        reverse: bool,
    ) -> list[LogEntry]:
        if limit is not None and limit <= 0:
            return []
        coll = self._backend._collection(collection)
        for _ in range(_READ_ATTEMPTS):
            head = await self._live(coll, collection, key)
            if head is None:
                return []
            low = head.lo if after is None else max(head.lo, after + 1)
            high = head.top if before is None else min(head.top, before - 1)
            if low > high:
                return []
            docs = await self._entries(coll, collection, head, low, high, limit, reverse)
            entries = [_entry(collection, key, d) for d in docs]
            if len(docs) == head.n:
                return entries  # every entry was there: no pop or trim got in between
            # a pop or trim after the head was read may have removed part of what it cut
            # while the entries were read: the head says whether one did
            again = await self._head(coll, collection, key)
            if not isinstance(again, _Head) or again.inc != head.inc:
                return []  # deleted (or deleted and created again) meanwhile
            if not again.live(utcnow()):
                return []
            if again.cut == head.cut:
                return entries
        raise self._busy(collection, key, "read")

    def _busy(self, collection: str, key: str, doing: str) -> SatchelError:
        return BackendUnavailable(
            f"{collection!r}: could not {doing} the log {key!r}: other writers changed it "
            f"{_READ_ATTEMPTS} times in a row"
        )

    async def keys_page(
        self, collection: str, prefix: str, last: str | None, size: int
    ) -> list[str]:
        """Up to ``size`` keys of live logs, in order, from ``prefix`` (after ``last``)."""
        coll = self._backend._collection(collection)
        after: dict[str, Any] = {"$gte": prefix} if last is None else {"$gt": last}
        condition = {"_id": after, "seq": 0, "n": {"$gt": 0}, **translate.live(utcnow())}
        cursor = coll.find(condition, {"_id": 1}).sort("_id", 1).limit(size)
        docs = await self._call(cursor.to_list(None), "list the logs of", collection)
        return [d["_id"] for d in docs if isinstance(d.get("_id"), str)]

    # -- append -------------------------------------------------------------------------------

    def _encode(self, key: str, values: Sequence[JSONValue]) -> list[Any]:
        """The shadow of each value, checked: the document of every entry fits MongoDB."""
        shadows = []
        for index, value in enumerate(values):
            shadow, _ = encode(value)
            probe = {
                "_id": ObjectId(),
                "log": key,
                "seq": 2**62,
                "ver": 2**62,
                "at": _EPOCH,
                "exp": _EPOCH,
                "v": shadow,
            }
            document_bytes(probe, value, f"value {index} of log {key!r}")
            shadows.append(shadow)
        return shadows

    async def append(
        self,
        collection: str,
        key: str,
        values: Sequence[JSONValue],
        expires_at: datetime | None,
    ) -> list[LogEntry]:
        m = len(values)
        if not 1 <= m <= MAX_LOG_BATCH:
            raise InvalidArgument(
                f"values: an append takes 1 to {MAX_LOG_BATCH} values at a time, not {m}"
            )
        coll = self._backend._collection(collection)
        await self._prepare(collection, coll)
        shadows = self._encode(key, values)
        expires = None if expires_at is None else truncate_ms(expires_at)
        attempt = 0
        while True:
            attempt += 1
            now = utcnow()
            base = await self._base(coll, collection, key, now)
            if base is None:
                await _backoff(attempt)
                continue
            head, created = base
            appended = await self._append_to(coll, collection, head, created, shadows, expires, now)
            if appended is not None:
                rs, at = appended
                return [LogEntry(rs + i, copy_value(value), at) for i, value in enumerate(values)]

    async def _base(
        self, coll: AsyncCollection[Any], collection: str, key: str, now: datetime
    ) -> tuple[_Head, bool] | None:
        """The head an append builds on, and whether it is a new log's; ``None`` when
        another writer holds the log (wait, then try again)."""
        doc = await self._read(coll, collection, key)
        current = _parse(collection, key, doc)
        if isinstance(current, _Head) and current.live(now):
            return None if current.young_claim() else (current, False)
        if isinstance(current, _Creation) and _young(current.claimed_at):
            return None
        # no log (or an expired one, or a creation claim left by a writer that died): claim
        # the key, then read the floor, then start the log above it
        claim = self._backend._write_id()
        claim_doc = {
            "_id": key,
            "log": key,
            "seq": 0,
            "ver": 0,
            "exp": _EPOCH,
            "ca": now,
            "w": claim,
            "cat": now,
        }
        if current is None:
            try:
                await self._call(coll.insert_one(claim_doc), "append to", collection)
            except SatchelError as exc:
                if isinstance(exc.__cause__, perr.DuplicateKeyError):
                    return None
                raise
        else:
            if isinstance(current, _Head):
                # the expired log's numbers are taken for good before it is replaced
                await self._backend._raise_floor(collection, current.ver)
            result = await self._call(
                coll.replace_one({"_id": key, "w": current.w}, claim_doc),
                "append to",
                collection,
            )
            if result.matched_count != 1:
                return None
        floor = await self._backend._floor(collection)
        head = _Head(key, floor, floor + 1, floor, 0, 0, claim, None, None, now, claim)
        return head, True

    def _entries_expiry(
        self, head: _Head, expires: datetime | None, now: datetime
    ) -> tuple[datetime | None, bool]:
        """The expiry the log's entries get with an append that sets the log's to
        ``expires``, and whether the entries stored already must be changed to it."""
        if expires is None:
            return None, head.ee is not None and head.n > 0
        if head.ee is not None and head.ee >= expires:
            return head.ee, False
        # entries that expire too soon (or never, in a log that gets an expiry) are set to
        # this append's expiry plus its time to live
        slack = min(max((expires - now).total_seconds(), 0.0), float(ENTRY_SLACK_SECONDS))
        return truncate_ms(expires + timedelta(seconds=slack)), head.n > 0

    async def _append_to(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        base: _Head,
        created: bool,
        shadows: list[Any],
        expires: datetime | None,
        now: datetime,
    ) -> tuple[int, datetime] | None:
        """One attempt: claim ``base`` with the next numbers, insert, commit. The first
        number and the time of the append, or ``None`` when another writer got in the way."""
        key, m = base.key, len(shadows)
        backend = self._backend
        stale = base.unclaimed()
        rs, re = base.ver + 1, base.ver + m
        claim = backend._write_id()
        ee, renew = self._entries_expiry(base, expires, now)
        held = replace(
            stale,
            ver=re,
            w=backend._write_id(),
            claim=claim,
            claimed_at=now,
            rs=rs,
            exp=expires if created else base.exp,
            ee=ee if created else base.ee,
        )
        # the floor covers the numbers handed out before the TTL monitor can remove the
        # head (at its expiry during the append, or the one it commits)
        covers: dict[int, int] = {}
        for when in (held.exp, expires):
            if when is not None:
                entry = backend._counts_from(when, now)
                covers[entry] = re
        if covers:
            await backend._cover(collection, covers)
        result = await self._call(
            coll.replace_one({"_id": key, "w": base.w}, held.document()), "append to", collection
        )
        if result.matched_count != 1:
            return None
        hold = _Claim(self, coll, collection, key, claim)
        at = utcnow()
        try:
            if created:
                # what earlier incarnations of the key left (all below the floor)
                await self._delete_range(coll, collection, key, 1, base.ver)
            elif base.top < rs - 1:
                # entries popped but not deleted yet, and what a writer that died left
                await self._delete_range(coll, collection, key, base.top + 1, rs - 1)
            if renew:
                await self._renew(hold, base, ee)
            await self._insert(hold, rs, shadows, at, ee)
            committed = replace(
                held,
                top=re,
                n=base.n + m,
                exp=expires,
                ee=ee,
                w=backend._write_id(),
                claim=None,
                claimed_at=None,
                rs=0,
            )
            await hold.keep()
            result = await self._call(
                coll.replace_one({"_id": key, "c": claim}, committed.document()),
                "append to",
                collection,
            )
            if result.matched_count == 1 or await self._committed(coll, collection, held, rs):
                return rs, at
        except _ClaimLost:
            pass
        # another writer took the log over (or it was removed): what this attempt inserted
        # lies in a range nobody reads; delete it and try again
        await self._delete_range(coll, collection, key, rs, re)
        return None

    async def _committed(
        self, coll: AsyncCollection[Any], collection: str, held: _Head, rs: int
    ) -> bool:
        """Whether the commit of the append that held ``held`` happened after all (its reply
        was lost and a retry found the claim gone): the log has passed its range."""
        head = await self._head(coll, collection, held.key)
        return (
            isinstance(head, _Head)
            and head.inc == held.inc
            and head.top >= held.ver
            and head.claim != held.claim
            and head.visible(rs)
        )

    async def _delete_range(
        self, coll: AsyncCollection[Any], collection: str, key: str, low: int, high: int
    ) -> None:
        if low <= high:
            await self._call(
                coll.delete_many({"log": key, "seq": {"$gte": low, "$lte": high}}),
                "delete from",
                collection,
            )

    async def _renew(self, hold: _Claim, base: _Head, ee: datetime | None) -> None:
        """Set the expiry of the log's stored entries to ``ee``, a range at a time; entries
        already there are left alone, so an append that was cut short leaves less to do."""
        pending: dict[str, Any] = {"$ne": None} if ee is None else {"$not": {"$gte": ee}}
        low = base.lo
        while low <= base.top:
            high = min(base.top, low + CHUNK_ENTRIES - 1)
            await hold.keep()
            await self._call(
                hold.coll.update_many(
                    {"log": base.key, "seq": {"$gte": low, "$lte": high}, "exp": pending},
                    {"$set": {"exp": ee}},
                ),
                "append to",
                hold.collection,
            )
            low = high + 1

    async def _insert(
        self, hold: _Claim, rs: int, shadows: list[Any], at: datetime, ee: datetime | None
    ) -> None:
        """Insert the entries from number ``rs`` on, in chunks."""
        chunk: list[RawBSONDocument] = []
        size = 0
        for offset, shadow in enumerate(shadows):
            seq = rs + offset
            doc = {
                "_id": ObjectId(),
                "log": hold.key,
                "seq": seq,
                "ver": seq,
                "at": at,
                "exp": ee,
                "v": shadow,
            }
            data = document_bytes(doc, None, f"value {offset} of log {hold.key!r}")
            if chunk and (len(chunk) >= CHUNK_ENTRIES or size + len(data) > CHUNK_BYTES):
                await self._insert_chunk(hold, chunk)
                chunk, size = [], 0
            chunk.append(RawBSONDocument(data))
            size += len(data)
        if chunk:
            await self._insert_chunk(hold, chunk)

    async def _insert_chunk(self, hold: _Claim, chunk: list[RawBSONDocument]) -> None:
        await hold.keep()
        coll, collection = hold.coll, hold.collection
        try:
            await self._call(coll.insert_many(chunk), "append to", collection)
            return
        except SatchelError as exc:
            cause = exc.__cause__
            if not isinstance(cause, perr.BulkWriteError) or any(
                e.get("code") != 11000 for e in cause.details.get("writeErrors", ())
            ):
                raise
        # a number of this append's range is taken: by this insert itself (retried after a
        # lost reply), or by a writer that held the log before and died; only this append
        # may write there now
        ids = [doc["_id"] for doc in chunk]
        low, high = chunk[0]["seq"], chunk[-1]["seq"]
        await self._call(
            coll.delete_many(
                {"log": hold.key, "seq": {"$gte": low, "$lte": high}, "_id": {"$nin": ids}}
            ),
            "append to",
            collection,
        )
        found = await self._call(
            coll.find({"_id": {"$in": ids}}, {"_id": 1}).to_list(None), "append to", collection
        )
        present = {doc["_id"] for doc in found}
        missing = [doc for doc in chunk if doc["_id"] not in present]
        if missing:
            await self._call(coll.insert_many(missing), "append to", collection)

    # -- pop, trim, delete --------------------------------------------------------------------

    async def _held(
        self, coll: AsyncCollection[Any], collection: str, key: str
    ) -> tuple[_Head | None, bool]:
        """The live head to cut (``None`` when there is no live log), and whether an append
        holds it (then wait, and try again)."""
        head = await self._head(coll, collection, key)
        if not isinstance(head, _Head) or not head.live(utcnow()):
            return None, False
        if head.young_claim():
            return None, True
        return (head if head.n > 0 or head.claim is not None else None), False

    async def _remove(self, coll: AsyncCollection[Any], collection: str, head: _Head) -> bool:
        """Remove the log of ``head`` (if it is still as read): the floor first, then the
        head, then the entries."""
        await self._backend._raise_floor(collection, head.ver)
        result = await self._call(
            coll.delete_one({"_id": head.key, "w": head.w}), "delete from", collection
        )
        if result.deleted_count != 1:
            return False
        await self._delete_range(coll, collection, head.key, 1, head.ver)
        return True

    async def _cut(
        self, coll: AsyncCollection[Any], collection: str, head: _Head, cut: _Head
    ) -> bool:
        """Write ``cut`` over ``head`` (if it is still as read); whether it is written."""
        result = await self._call(
            coll.replace_one({"_id": head.key, "w": head.w}, cut.document()),
            "write to",
            collection,
        )
        if result.matched_count == 1:
            return True
        # a reply lost and the write retried: the head remembers the last cuts
        again = await self._head(coll, collection, head.key)
        return isinstance(again, _Head) and cut.w in again.cw

    def _cut_head(self, head: _Head, **changes: Any) -> _Head:
        w = self._backend._write_id()
        return replace(
            head.unclaimed(),
            cut=head.cut + 1,
            w=w,
            cw=(*head.cw, w)[-_RECENT_CUTS:],
            **changes,
        )

    async def pop(self, collection: str, key: str, count: int) -> list[LogEntry]:
        if not _is_int(count) or count < 1:
            raise InvalidArgument(f"count: must be a whole number of 1 or more, not {count!r}")
        coll = self._backend._collection(collection)
        attempt = 0
        while True:
            attempt += 1
            head, busy = await self._held(coll, collection, key)
            if busy:
                await _backoff(attempt)
                continue
            if head is None:
                return []
            docs = await self._entries(coll, collection, head, head.lo, head.top, count + 1, True)
            popped = [_entry(collection, key, d) for d in docs[:count]]
            popped.reverse()
            if len(docs) <= count:
                if await self._remove(coll, collection, head):
                    return popped
                continue
            top = int(docs[count]["seq"])
            cut = self._cut_head(head, top=top, n=head.n - len(popped))
            if await self._cut(coll, collection, head, cut):
                await self._delete_range(coll, collection, key, top + 1, head.top)
                return popped

    async def trim(
        self, collection: str, key: str, keep_last: int | None, before: int | None
    ) -> int:
        if keep_last is None and before is None:
            raise InvalidArgument("keep_last and before: give at least one")
        if keep_last is not None and (not _is_int(keep_last) or keep_last < 0):
            raise InvalidArgument(f"keep_last: must be a whole number, not {keep_last!r}")
        if before is not None and not _is_int(before):
            raise InvalidArgument(f"before: must be a whole number, not {before!r}")
        coll = self._backend._collection(collection)
        attempt = 0
        while True:
            attempt += 1
            head, busy = await self._held(coll, collection, key)
            if busy:
                await _backoff(attempt)
                continue
            if head is None:
                return 0
            lo, removed = await self._new_low(coll, collection, head, keep_last, before)
            if removed == 0:
                return 0
            if removed >= head.n:
                if await self._remove(coll, collection, head):
                    return head.n
                continue
            dead = tuple(r for r in head.unclaimed().dead if r[1] >= lo)
            cut = self._cut_head(head, lo=lo, n=head.n - removed)
            cut = replace(cut, dead=dead)
            if await self._cut(coll, collection, head, cut):
                await self._delete_range(coll, collection, key, 1, lo - 1)
                return removed

    async def _new_low(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        head: _Head,
        keep_last: int | None,
        before: int | None,
    ) -> tuple[int, int]:
        """The lowest number a trim keeps, and how many entries it removes."""
        if keep_last == 0 or (before is not None and before > head.top):
            return head.top + 1, head.n
        lo, removed = head.lo, 0
        if keep_last is not None and keep_last < head.n:
            # the first entry kept, found from whichever end is nearer
            drop = head.n - keep_last
            fields = {"seq": 1, "_id": 0}
            if keep_last <= drop:
                wanted, reverse = keep_last, True
            else:
                wanted, reverse = drop + 1, False
            docs = await self._entries(
                coll, collection, head, head.lo, head.top, wanted, reverse, fields
            )
            if len(docs) == wanted:
                lo, removed = int(docs[-1]["seq"]), drop
        if before is not None and before > lo:
            lo, removed = before, await self._count_below(coll, collection, head, before)
        return lo, removed

    async def _count_below(
        self, coll: AsyncCollection[Any], collection: str, head: _Head, seq: int
    ) -> int:
        """How many entries of ``head`` have a number below ``seq``."""
        ranges = [(head.lo, seq - 1)]
        for a, b in sorted(head.dead):  # the dead ranges cut the range in pieces
            low, high = ranges[-1]
            if a <= high and b >= low:
                ranges[-1:] = [(low, a - 1), (b + 1, high)]
        count = 0
        for low, high in ranges:
            if low <= high:
                count += await self._call(
                    coll.count_documents({"log": head.key, "seq": {"$gte": low, "$lte": high}}),
                    "count in",
                    collection,
                )
        return count

    async def delete(self, collection: str, key: str) -> bool:
        coll = self._backend._collection(collection)
        while True:
            doc = await self._read(coll, collection, key)
            if doc is None:
                return False
            try:
                head = _parse(collection, key, doc)
            except CorruptRecord:
                # a document another client wrote: removed, as a record's delete would
                await self._call(coll.delete_one({"_id": key}), "delete from", collection)
                return False
            if isinstance(head, _Creation):
                if _young(head.claimed_at):
                    return False  # a log being created: it does not exist yet
                result = await self._call(
                    coll.delete_one({"_id": key, "w": head.w}), "delete from", collection
                )
                if result.deleted_count == 1:
                    return False
                continue
            assert head is not None
            existed = head.n > 0 and head.live(utcnow())
            if await self._remove(coll, collection, head):
                return existed

    # -- whole collections ----------------------------------------------------------------------

    async def _holds_logs(self, coll: AsyncCollection[Any], collection: str) -> bool:
        doc = await self._call(
            coll.find_one({"seq": {"$gte": 0}}, {"_id": 1}), "read from", collection
        )
        return doc is not None

    async def drop(self, coll: AsyncCollection[Any], collection: str, floor: int) -> bool:
        """Remove every log at or below the collection's ``floor`` (raised by the caller):
        the heads, then the entries of every log whose head is gone. A log appended to
        after the floor was raised keeps its head and its entries. Whether the collection
        held logs at all."""
        if not await self._holds_logs(coll, collection):
            return False
        await self._call(
            coll.delete_many({"seq": 0, "$nor": [{"ver": {"$gt": floor}}]}), "drop", collection
        )
        await self._remove_orphans(coll, collection, floor, None)
        return True

    async def _remove_orphans(
        self, coll: AsyncCollection[Any], collection: str, floor: int, keys: list[str] | None
    ) -> None:
        """Delete the entries at or below ``floor`` of the logs ``keys`` (of every log when
        ``None``) that have no head any more."""
        condition: dict[str, Any] = {"seq": 0}
        if keys is not None:
            condition["_id"] = {"$in": keys}
        found = await self._call(
            coll.find(condition, {"_id": 1}).to_list(None), "read from", collection
        )
        survivors = [doc["_id"] for doc in found]
        entries: dict[str, Any] = {"seq": {"$gte": 1}, "$nor": [{"ver": {"$gt": floor}}]}
        if keys is not None:
            entries["log"] = {"$in": [k for k in keys if k not in set(survivors)]}
        elif survivors:
            entries["log"] = {"$nin": survivors}
        if keys is not None and not entries["log"]["$in"]:
            return
        await self._call(coll.delete_many(entries), "delete from", collection)

    async def purge(
        self, coll: AsyncCollection[Any], collection: str, floor: int, now: datetime
    ) -> int | None:
        """Remove the expired logs at or below ``floor`` (raised by the caller), and entries
        whose expiry has passed; how many logs, or ``None`` when the collection holds no
        logs."""
        if not await self._holds_logs(coll, collection):
            return None
        expired = {"seq": 0, "exp": {"$lte": now}, "$nor": [{"ver": {"$gt": floor}}]}
        found = await self._call(
            coll.find(expired, {"_id": 1, "n": 1}).to_list(None), "purge", collection
        )
        keys = [doc["_id"] for doc in found]
        removed = 0
        if keys:
            result = await self._call(
                coll.delete_many({**expired, "_id": {"$in": keys}}), "purge", collection
            )
            removed = min(result.deleted_count, sum(1 for d in found if (d.get("n") or 0) > 0))
            await self._remove_orphans(coll, collection, floor, keys)
        await self._call(
            coll.delete_many(
                {"seq": {"$gte": 1}, "exp": {"$lte": now}, "$nor": [{"ver": {"$gt": floor}}]}
            ),
            "purge",
            collection,
        )
        return removed
