"""Logs in MongoDB: a head document per log, and one document per entry.

A log collection holds, in the MongoDB collection of its satchel collection::

    head   {_id: <key>, log: <key>, seq: 0, version, bottom, top, length, cuts,
            incarnation, expires, entries_expire, created, write_id, cut_write_ids,
            claim, claimed_at, claim_start (while an append holds the log), dead (only
            when there are some)}
    entry  {_id: <ObjectId>, log: <key>, seq, version: <seq>, appended, expires, value}

An entry's ``value`` is stored as :mod:`satchel_mongodb.codec` stores a record's; ``appended``
is when it was appended. The unique index ``satchel_log`` on ``{log: 1, seq: 1}`` serves
every range read (``find({log, seq: {$gte, $lte}}).sort({seq: -1})`` for the last entries)
and makes a sequence number impossible to store twice.

Why one document per entry: no log ever nears MongoDB's 16 MiB per document (only one
entry has to fit), the last entries are an index range, and a pop or a trim removes whole
documents. A batch document (one per append) saves documents but would make a pop of part
of a batch rewrite the batch. The price is a document per entry; the head keeps what would
otherwise need a scan (the length, the expiry).

The head decides what is visible. ``version`` is the highest sequence number ever handed
out in the log (also to an append still under way), ``top`` the highest one committed,
``bottom`` the lowest one still in the log; the entries are those with ``bottom <= seq <=
top`` outside the ``dead`` ranges, ``length`` of them. ``incarnation`` names the log's
incarnation, ``cuts`` counts its pops, trims and deletes, ``write_id`` is the id of the last
write to the head and ``cut_write_ids`` the ids of the last pops, trims and deletes (so one
whose reply was lost can tell whether it happened).

An append, from any process:

1. reads the head; a live one is *claimed* by a compare-and-set on ``write_id`` that hands
   out the next ``version + 1 .. version + m`` and records the claim (``claim``,
   ``claimed_at``, ``claim_start``). While a claim younger than
   :data:`~satchel_mongodb.loghead.LOG_CLAIM_SECONDS` is there, other writers wait; an older
   one is taken over: its range becomes ``dead`` and its writer's commit (filtered on its
   claim) fails.
2. inserts the entries (:mod:`satchel_mongodb.logappend`), which nobody reads yet (they are
   above ``top``), in chunks, renewing the claim between chunks (so a long append keeps it);
3. commits: one write of the head, filtered on its claim, sets ``top``, ``length`` and the
   expiry. Readers see the whole batch from then on, or none of it, and in sequence order:
   appends commit one after the other, each above the last.

A writer that dies leaves its claim and its entries; the next writer takes the claim over
after :data:`~satchel_mongodb.loghead.LOG_CLAIM_SECONDS` and deletes what lies above
``top``. An entry such a writer inserts later (it was only stopped) lands in a dead range,
where nobody reads; its writer, finding its claim gone, deletes what it inserted and tries
again. Only an acknowledged commit makes an append happen, and a commit whose reply was
lost is recognised as done by the head (``top`` has passed its range) instead of being
made again.

A log that does not exist is created under a *creation claim* (a head with ``version`` 0 that
no reader counts): the writer inserts it, then reads the collection's floor (the
``<prefix>%floors`` document that records versions use, here holding sequence numbers), and
starts the log above it. Every removal of a log (delete, a pop or trim that empties it,
drop, purge, the TTL monitor) raises the floor to the log's ``version`` first, or is covered by
it in advance, so sequence numbers are never reused.

Pop and trim are one compare-and-set of the head on ``write_id`` (lowering ``top``, or raising
``bottom``), after which the entries that left are deleted. A reader that read the head before
such a cut reads the head again after its entries, and starts over when ``cuts`` moved.

A pop or trim that empties the log, and a delete, are such a cut too: the head becomes a
*tombstone* (``length`` 0, ``bottom`` above ``version``: no entry is visible, so the log
reads as absent everywhere), whose ``cut_write_ids`` still holds the write's id, and whose
``expires`` keeps it for :func:`satchel.backend.outcome_retention` of the call bound (the
backend's ``tombstone_seconds``), after which ``purge_expired`` or the TTL monitor removes
it. Why not delete the head: a delete whose reply is lost, sent again, finds nothing to
delete and cannot tell whether its first attempt ran, and the entries it popped would be
lost to every caller. An append to a tombstone goes on from its ``version`` (keeping
``cut_write_ids``), so even a pop whose write is sent again after another writer appended
finds its id. The entries a cut removes are deleted after it; a failure there does not undo
the cut (the pop returns its entries), and what stays is never read and goes when the log is
next emptied, deleted, purged or dropped (or, above ``top``, at the next append).

A cut's write is the same write when it is sent again (by pymongo, or once more by the
backend itself when a reply is lost with retryable writes off, as on a standalone
``mongod``): it is filtered on the write id it replaces, so at most one copy applies, and
the write id in ``cut_write_ids`` says whether one did.

Expiry: the head's ``expires`` is the log's; entries carry ``expires`` too, kept at or after
the head's (``entries_expire``), so that MongoDB's TTL monitor (the ``satchel_ttl`` index,
shared with the records) removes the entries of an expired log and never those of a live
one. Renewing every entry on every append would cost a write per entry, so an append that
needs the entries to live longer sets them to its expiry plus its time to live (at most
:data:`~satchel_mongodb.logappend.ENTRY_SLACK_SECONDS`): the next renewal comes after that
time to live has passed again. Entries therefore outlive an expired log by up to that slack
before the TTL monitor removes them; ``purge_expired`` removes them with their head at once."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from pymongo import IndexModel
from pymongo import errors as perr
from pymongo.asynchronous.collection import AsyncCollection

from satchel.backend import JSONValue, LogEntry, check_log_call, truncate_ms, utcnow
from satchel.errors import BackendUnavailable, CorruptRecord, SatchelError
from satchel_mongodb import translate
from satchel_mongodb.logappend import Appender
from satchel_mongodb.loghead import (
    Creation,
    Head,
    backoff,
    claim_is_young,
    is_int,
    parse_entry,
    parse_head,
)

if TYPE_CHECKING:
    from satchel_mongodb.backend import MongoBackend

__all__ = ["LOG_INDEX", "LOG_LAYOUT", "MongoLogs"]

#: How logs are stored, as ``stats()`` reports it.
LOG_LAYOUT: Final = "a head document per log, a document per entry (index satchel_log)"
#: The unique index over the heads and entries of every log.
LOG_INDEX: Final = "satchel_log"
#: Pops, trims and deletes a head remembers, for one whose reply was lost.
_RECENT_CUTS: Final = 8
#: Attempts of a read that keeps meeting pops and trims.
_READ_ATTEMPTS: Final = 100


def unanswered(exc: SatchelError) -> bool:
    """Whether the driver error behind ``exc`` leaves open whether the write ran: the
    connection failed or timed out after it was sent, or the server ran it and reported a
    write concern error (not: no server could be selected, so nothing was sent)."""
    cause = exc.__cause__
    if isinstance(cause, perr.ServerSelectionTimeoutError):
        return False
    if isinstance(cause, (perr.ConnectionFailure, perr.WriteConcernError)):
        return True
    return isinstance(cause, perr.PyMongoError) and cause.has_error_label("RetryableWriteError")


class MongoLogs:
    """The log operations of a :class:`~satchel_mongodb.backend.MongoBackend` (its
    ``log_*`` methods delegate here)."""

    def __init__(self, backend: MongoBackend) -> None:
        self.backend = backend
        self._indexed: set[str] = set()
        self._appender = Appender(self)

    async def append(
        self,
        collection: str,
        key: str,
        values: Sequence[JSONValue],
        expires_at: datetime | None,
    ) -> list[LogEntry]:
        """See :meth:`satchel.backend.Backend.log_append` (and :mod:`.logappend`)."""
        return await self._appender.append(collection, key, values, expires_at)

    # -- plumbing -----------------------------------------------------------------------------

    async def call(self, awaitable: Any, what: str, collection: str) -> Any:
        """Await a driver call, its errors made satchel's (see the backend's ``_call``)."""
        return await self.backend._call(awaitable, what, collection)

    async def prepare(self, collection: str, coll: AsyncCollection[Any]) -> None:
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
        await self.backend._create_indexes(collection, coll, [index])
        self._indexed.add(collection)

    def forget(self, collection: str) -> None:
        """The collection was dropped: its indexes are made again on its next use."""
        self._indexed.discard(collection)

    async def head_document(self, coll: AsyncCollection[Any], collection: str, key: str) -> Any:
        """The document under ``key`` (a head, a creation claim, or not a log's)."""
        return await self.call(coll.find_one({"_id": key}), "read from", collection)

    async def head(
        self, coll: AsyncCollection[Any], collection: str, key: str
    ) -> Head | Creation | None:
        return parse_head(collection, key, await self.head_document(coll, collection, key))

    async def _live(self, coll: AsyncCollection[Any], collection: str, key: str) -> Head | None:
        """The head of the live log ``key`` that holds entries, or ``None``."""
        head = await self.head(coll, collection, key)
        if isinstance(head, Head) and head.n > 0 and head.live(utcnow()):
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
        docs: list[Any] = await self.call(cursor.to_list(None), "read from", collection)
        return docs

    async def _entries(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        head: Head,
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
            return [d for d in docs if is_int(d.get("seq")) and head.visible(d["seq"])]
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
            out.extend(d for d in docs if is_int(d.get("seq")) and head.visible(d["seq"]))
            span *= 4
        return out[:limit]

    async def delete_range(
        self, coll: AsyncCollection[Any], collection: str, key: str, low: int, high: int
    ) -> None:
        """Delete the documents of the log ``key`` numbered ``low`` to ``high``."""
        if low <= high:
            await self.call(
                coll.delete_many({"log": key, "seq": {"$gte": low, "$lte": high}}),
                "delete from",
                collection,
            )

    # -- reads --------------------------------------------------------------------------------

    async def length(self, collection: str, key: str) -> int:
        coll = self.backend._collection(collection)
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
        check_log_call(after=after, before=before, limit=limit)
        if limit is not None and limit <= 0:
            return []
        coll = self.backend._collection(collection)
        for _ in range(_READ_ATTEMPTS):
            head = await self._live(coll, collection, key)
            if head is None:
                return []
            low = head.lo if after is None else max(head.lo, after + 1)
            high = head.top if before is None else min(head.top, before - 1)
            if low > high:
                return []
            docs = await self._entries(coll, collection, head, low, high, limit, reverse)
            entries = [parse_entry(collection, key, d) for d in docs]
            if len(docs) == head.n:
                return entries  # every entry was there: no pop or trim got in between
            # a pop or trim after the head was read may have removed part of what it cut
            # while the entries were read: the head says whether one did
            again = await self.head(coll, collection, key)
            if not isinstance(again, Head) or again.inc != head.inc:
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
        coll = self.backend._collection(collection)
        await self.backend._check_form(collection, coll)  # an earlier form has no "length"
        after: dict[str, Any] = {"$gte": prefix} if last is None else {"$gt": last}
        condition = {"_id": after, "seq": 0, "length": {"$gt": 0}, **translate.live(utcnow())}
        cursor = coll.find(condition, {"_id": 1}).sort("_id", 1).limit(size)
        docs = await self.call(cursor.to_list(None), "list the logs of", collection)
        return [d["_id"] for d in docs if isinstance(d.get("_id"), str)]

    # -- pop, trim, delete --------------------------------------------------------------------

    async def _held(
        self, coll: AsyncCollection[Any], collection: str, key: str
    ) -> tuple[Head | None, bool]:
        """The live head to cut (``None`` when there is no live log), and whether an append
        holds it (then wait, and try again)."""
        head = await self.head(coll, collection, key)
        if not isinstance(head, Head) or not head.live(utcnow()):
            return None, False
        if head.young_claim():
            return None, True
        return (head if head.n > 0 or head.claim is not None else None), False

    async def tidy(
        self, coll: AsyncCollection[Any], collection: str, key: str, low: int, high: int
    ) -> None:
        """:meth:`delete_range` after a cut, which is done whatever happens here: documents
        left by a failure are never read, and go later (see the module's docs)."""
        with contextlib.suppress(BackendUnavailable):
            await self.delete_range(coll, collection, key, low, high)

    async def _remove(self, coll: AsyncCollection[Any], collection: str, head: Head) -> bool:
        """Remove the expired log of ``head`` (if it is still as read): the floor first,
        then the head, then the entries."""
        await self.backend._raise_floor(collection, head.ver)
        result = await self.call(
            coll.delete_one({"_id": head.key, "write_id": head.w}), "delete from", collection
        )
        if result.deleted_count != 1:
            return False
        await self.delete_range(coll, collection, head.key, 1, head.ver)
        return True

    async def _cut(
        self, coll: AsyncCollection[Any], collection: str, head: Head, cut: Head
    ) -> bool:
        """Write ``cut`` over ``head`` (if it is still as read); whether it is written.

        A write whose reply is lost is sent again once, the same write: filtered on the
        write id it replaces, it applies at most once whichever copy arrives, and the head
        remembers the ids of its last cuts (``cw``)."""
        condition, doc = {"_id": head.key, "write_id": head.w}, cut.document()
        try:
            result = await self.call(coll.replace_one(condition, doc), "write to", collection)
        except SatchelError as exc:
            if not unanswered(exc):
                raise
            result = await self.call(coll.replace_one(condition, doc), "write to", collection)
        if result.matched_count == 1:
            return True
        again = await self.head(coll, collection, head.key)
        return isinstance(again, Head) and cut.w in again.cw

    async def _empty(self, coll: AsyncCollection[Any], collection: str, head: Head) -> bool:
        """Empty the log of ``head`` (if it is still as read): the floor raised to its
        ``version``, the head made a tombstone (see the module's docs), the entries deleted;
        whether it is done."""
        await self.backend._raise_floor(collection, head.ver)
        kept = timedelta(seconds=self.backend.tombstone_seconds)
        tombstone = replace(
            self._cut_head(head, lo=head.ver + 1, top=head.ver, n=0),
            dead=(),
            exp=truncate_ms(utcnow() + kept),
        )
        if not await self._cut(coll, collection, head, tombstone):
            return False
        await self.tidy(coll, collection, head.key, 1, head.ver)
        return True

    def _cut_head(self, head: Head, **changes: Any) -> Head:
        w = self.backend._write_id()
        return replace(
            head.unclaimed(),
            cut=head.cut + 1,
            w=w,
            cw=(*head.cw, w)[-_RECENT_CUTS:],
            **changes,
        )

    async def pop(self, collection: str, key: str, count: int) -> list[LogEntry]:
        check_log_call(count=count)
        coll = self.backend._collection(collection)
        attempt = 0
        while True:
            attempt += 1
            head, busy = await self._held(coll, collection, key)
            if busy:
                await backoff(attempt)
                continue
            if head is None:
                return []
            docs = await self._entries(coll, collection, head, head.lo, head.top, count + 1, True)
            popped = [parse_entry(collection, key, d) for d in docs[:count]]
            popped.reverse()
            if len(docs) <= count:
                if await self._empty(coll, collection, head):
                    return popped
                continue
            top = int(docs[count]["seq"])
            cut = self._cut_head(head, top=top, n=head.n - len(popped))
            if await self._cut(coll, collection, head, cut):
                await self.tidy(coll, collection, key, top + 1, head.top)
                return popped

    async def trim(
        self, collection: str, key: str, keep_last: int | None, before: int | None
    ) -> int:
        check_log_call(keep_last=keep_last, before=before, trim=True)
        coll = self.backend._collection(collection)
        attempt = 0
        while True:
            attempt += 1
            head, busy = await self._held(coll, collection, key)
            if busy:
                await backoff(attempt)
                continue
            if head is None:
                return 0
            lo, removed = await self._new_low(coll, collection, head, keep_last, before)
            if removed == 0:
                return 0
            if removed >= head.n:
                if await self._empty(coll, collection, head):
                    return head.n
                continue
            dead = tuple(r for r in head.unclaimed().dead if r[1] >= lo)
            cut = self._cut_head(head, lo=lo, n=head.n - removed)
            cut = replace(cut, dead=dead)
            if await self._cut(coll, collection, head, cut):
                await self.tidy(coll, collection, key, 1, lo - 1)
                return removed

    async def _new_low(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        head: Head,
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
        self, coll: AsyncCollection[Any], collection: str, head: Head, seq: int
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
                count += await self.call(
                    coll.count_documents({"log": head.key, "seq": {"$gte": low, "$lte": high}}),
                    "count in",
                    collection,
                )
        return count

    async def delete(self, collection: str, key: str) -> bool:
        coll = self.backend._collection(collection)
        while True:
            doc = await self.head_document(coll, collection, key)
            if doc is None:
                return False
            try:
                head = parse_head(collection, key, doc)
            except CorruptRecord:
                # a document another client wrote: removed, as a record's delete would
                await self.call(coll.delete_one({"_id": key}), "delete from", collection)
                return False
            if isinstance(head, Creation):
                if claim_is_young(head.claimed_at):
                    return False  # a log being created: it does not exist yet
                result = await self.call(
                    coll.delete_one({"_id": key, "write_id": head.w}), "delete from", collection
                )
                if result.deleted_count == 1:
                    return False
                continue
            assert head is not None
            if not head.live(utcnow()):
                if await self._remove(coll, collection, head):
                    return False
                continue
            if head.n == 0 and head.claim is None:
                return False  # a tombstone: no log
            if await self._empty(coll, collection, head):
                return head.n > 0

    # -- whole collections ----------------------------------------------------------------------

    async def _holds_logs(self, coll: AsyncCollection[Any], collection: str) -> bool:
        doc = await self.call(
            coll.find_one({"seq": {"$gte": 0}}, {"_id": 1}), "read from", collection
        )
        return doc is not None

    async def drop(
        self, coll: AsyncCollection[Any], collection: str, floor: int, now: datetime
    ) -> int | None:
        """Remove every log at or below the collection's ``floor`` (raised by the caller):
        the heads, then the entries of every log whose head is gone. A log appended to
        after the floor was raised keeps its head and its entries. How many live logs that
        hold entries it removed (counted by their removal, so that drops racing each other
        count each once), or ``None`` when the collection held no logs at all."""
        if not await self._holds_logs(coll, collection):
            return None
        below: dict[str, Any] = {"seq": 0, "$nor": [{"version": {"$gt": floor}}]}
        live = {**below, "expires": {"$not": {"$lte": now}}}
        live["$or"] = [{"length": {"$gt": 0}}, {"n": {"$gt": 0}}]
        done = await self.call(coll.delete_many(live), "drop", collection)
        await self.call(coll.delete_many(below), "drop", collection)
        await self._remove_orphans(coll, collection, floor, None)
        return int(done.deleted_count)

    async def _remove_orphans(
        self, coll: AsyncCollection[Any], collection: str, floor: int, keys: list[str] | None
    ) -> None:
        """Delete the entries at or below ``floor`` of the logs ``keys`` (of every log when
        ``None``) that have no head any more."""
        condition: dict[str, Any] = {"seq": 0}
        if keys is not None:
            condition["_id"] = {"$in": keys}
        found = await self.call(
            coll.find(condition, {"_id": 1}).to_list(None), "read from", collection
        )
        survivors = [doc["_id"] for doc in found]
        entries: dict[str, Any] = {"seq": {"$gte": 1}, "$nor": [{"version": {"$gt": floor}}]}
        if keys is not None:
            entries["log"] = {"$in": [k for k in keys if k not in set(survivors)]}
        elif survivors:
            entries["log"] = {"$nin": survivors}
        if keys is not None and not entries["log"]["$in"]:
            return
        await self.call(coll.delete_many(entries), "delete from", collection)

    async def purge(
        self, coll: AsyncCollection[Any], collection: str, floor: int, now: datetime
    ) -> int | None:
        """Remove the expired logs at or below ``floor`` (raised by the caller), and entries
        whose expiry has passed; how many logs, or ``None`` when the collection holds no
        logs."""
        if not await self._holds_logs(coll, collection):
            return None
        expired = {"seq": 0, "expires": {"$lte": now}, "$nor": [{"version": {"$gt": floor}}]}
        found = await self.call(
            coll.find(expired, {"_id": 1, "length": 1}).to_list(None), "purge", collection
        )
        keys = [doc["_id"] for doc in found]
        removed = 0
        if keys:
            result = await self.call(
                coll.delete_many({**expired, "_id": {"$in": keys}}), "purge", collection
            )
            removed = min(result.deleted_count, sum(1 for d in found if (d.get("length") or 0) > 0))
            await self._remove_orphans(coll, collection, floor, keys)
        await self.call(
            coll.delete_many(
                {
                    "seq": {"$gte": 1},
                    "expires": {"$lte": now},
                    "$nor": [{"version": {"$gt": floor}}],
                }
            ),
            "purge",
            collection,
        )
        return removed
