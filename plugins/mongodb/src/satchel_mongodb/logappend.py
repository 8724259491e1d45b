"""Appending to a log on MongoDB: claim the head, insert the entries, commit the head (see
:mod:`satchel_mongodb.logs` for why, and what a reader sees meanwhile)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import errors as perr
from pymongo.asynchronous.collection import AsyncCollection

from satchel.backend import JSONValue, LogEntry, check_log_call, truncate_ms, utcnow
from satchel.errors import SatchelError
from satchel.toolkit import encode_value
from satchel_mongodb.codec import copy_value, document_bytes, encode
from satchel_mongodb.loghead import (
    EPOCH,
    LOG_CLAIM_SECONDS,
    Creation,
    Head,
    backoff,
    claim_is_young,
    parse_head,
)

if TYPE_CHECKING:
    from satchel_mongodb.logs import MongoLogs

__all__ = ["CHUNK_BYTES", "CHUNK_ENTRIES", "ENTRY_SLACK_SECONDS", "Appender"]

#: The most entries, and encoded bytes, one insert of an append carries; the claim is
#: renewed between inserts.
CHUNK_ENTRIES: Final = 1000
CHUNK_BYTES: Final = 8 * 1024 * 1024
#: The most the entries' expiry runs ahead of their log's (see :mod:`satchel_mongodb.logs`).
ENTRY_SLACK_SECONDS: Final = 3600


class ClaimLost(Exception):
    """The append's claim was taken over (or its log removed) while it worked."""


class Claim:
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
        """Renew the claim when a quarter of its time has passed; ClaimLost when it is gone."""
        if time.monotonic() - self.renewed < LOG_CLAIM_SECONDS / 4:
            return
        self.renewed = time.monotonic()
        result = await self.logs.call(
            self.coll.update_one(
                {"_id": self.key, "claim": self.claim}, {"$set": {"claimed_at": utcnow()}}
            ),
            "append to",
            self.collection,
        )
        if result.matched_count != 1:
            raise ClaimLost


class Appender:
    """The appends of a :class:`~satchel_mongodb.logs.MongoLogs`."""

    def __init__(self, logs: MongoLogs) -> None:
        self._logs = logs
        self._backend = logs.backend

    def _encode(self, collection: str, key: str, values: Sequence[JSONValue]) -> list[Any]:
        """The stored form of each value, checked: a JSON value, as every backend takes one
        (BSON would store NaN and infinities, and raise an untyped error for a lone surrogate
        or an object key that is not a string), whose entry's document fits MongoDB."""
        shadows = []
        for index, value in enumerate(values):
            encode_value(value, f"values[{index}] of log {key!r} in {collection!r}")
            shadow, _ = encode(value)
            probe = {
                "_id": ObjectId(),
                "log": key,
                "seq": 2**62,
                "version": 2**62,
                "appended": EPOCH,
                "expires": EPOCH,
                "value": shadow,
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
        """Append ``values`` to the log ``key`` (see
        :meth:`satchel.backend.Backend.log_append`): claim, insert, commit, again from the
        start whenever another writer got in the way."""
        check_log_call(values=values)
        coll = self._backend._collection(collection)
        await self._logs.prepare(collection, coll)
        shadows = self._encode(collection, key, values)
        expires = None if expires_at is None else truncate_ms(expires_at)
        attempt = 0
        while True:
            attempt += 1
            now = utcnow()
            base = await self._base(coll, collection, key, now)
            if base is None:
                await backoff(attempt)
                continue
            head, created = base
            appended = await self._append_to(coll, collection, head, created, shadows, expires, now)
            if appended is not None:
                rs, at = appended
                return [LogEntry(rs + i, copy_value(value), at) for i, value in enumerate(values)]

    async def _base(
        self, coll: AsyncCollection[Any], collection: str, key: str, now: datetime
    ) -> tuple[Head, bool] | None:
        """The head an append builds on, and whether it is a new log's; ``None`` when
        another writer holds the log (wait, then try again)."""
        doc = await self._logs.head_document(coll, collection, key)
        current = parse_head(collection, key, doc)
        if isinstance(current, Head) and current.live(now):
            return None if current.young_claim() else (current, False)
        if isinstance(current, Creation) and claim_is_young(current.claimed_at):
            return None
        # no log (or an expired one, or a creation claim left by a writer that died): claim
        # the key, then read the floor, then start the log above it
        claim = self._backend._write_id()
        claim_doc = {
            "_id": key,
            "log": key,
            "seq": 0,
            "version": 0,
            "expires": EPOCH,
            "created": now,
            "write_id": claim,
            "claimed_at": now,
        }
        if current is None:
            try:
                await self._logs.call(coll.insert_one(claim_doc), "append to", collection)
            except SatchelError as exc:
                if isinstance(exc.__cause__, perr.DuplicateKeyError):
                    return None
                raise
        else:
            if isinstance(current, Head):
                # the expired log's numbers are taken for good before it is replaced
                await self._backend._raise_floor(collection, current.ver)
            result = await self._logs.call(
                coll.replace_one({"_id": key, "write_id": current.w}, claim_doc),
                "append to",
                collection,
            )
            if result.matched_count != 1:
                return None
        floor = await self._backend._floor(collection)
        head = Head(key, floor, floor + 1, floor, 0, 0, claim, None, None, now, claim)
        return head, True

    def _entries_expiry(
        self, head: Head, expires: datetime | None, now: datetime
    ) -> tuple[datetime | None, bool]:
        """The expiry the log's entries get with an append that sets the log's to
        ``expires``, and whether the entries stored already must be changed to it."""
        if expires is None:
            return None, head.ee is not None and head.n > 0
        if head.ee is not None and head.ee >= expires:
            return head.ee, False
        # entries that expire too soon (or never, in a log that gets an expiry) are set to
        # this append's expiry plus its time to live (but no later than the last datetime,
        # which an expiry near it would overflow)
        slack = min(max((expires - now).total_seconds(), 0.0), float(ENTRY_SLACK_SECONDS))
        room = datetime.max.replace(tzinfo=expires.tzinfo) - expires
        return truncate_ms(expires + min(timedelta(seconds=slack), room)), head.n > 0

    async def _append_to(
        self,
        coll: AsyncCollection[Any],
        collection: str,
        base: Head,
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
        result = await self._logs.call(
            coll.replace_one({"_id": key, "write_id": base.w}, held.document()),
            "append to",
            collection,
        )
        if result.matched_count != 1:
            return None
        hold = Claim(self._logs, coll, collection, key, claim)
        at = utcnow()
        try:
            if created or base.n == 0:
                # what earlier incarnations of the key left (all below the floor), or what
                # a log emptied by a pop, trim or delete left (nothing of it is visible)
                await self._logs.delete_range(coll, collection, key, 1, base.ver)
            elif base.top < rs - 1:
                # entries popped but not deleted yet, and what a writer that died left
                await self._logs.delete_range(coll, collection, key, base.top + 1, rs - 1)
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
            result = await self._logs.call(
                coll.replace_one({"_id": key, "claim": claim}, committed.document()),
                "append to",
                collection,
            )
            if result.matched_count == 1 or await self._committed(coll, collection, held, rs):
                return rs, at
        except ClaimLost:
            pass
        # another writer took the log over (or it was removed): what this attempt inserted
        # lies in a range nobody reads; delete it and try again
        await self._logs.delete_range(coll, collection, key, rs, re)
        return None

    async def _committed(
        self, coll: AsyncCollection[Any], collection: str, held: Head, rs: int
    ) -> bool:
        """Whether the commit of the append that held ``held`` happened after all (its reply
        was lost and a retry found the claim gone): the log has passed its range."""
        head = await self._logs.head(coll, collection, held.key)
        return (
            isinstance(head, Head)
            and head.inc == held.inc
            and head.top >= held.ver
            and head.claim != held.claim
            and head.visible(rs)
        )

    async def _renew(self, hold: Claim, base: Head, ee: datetime | None) -> None:
        """Set the expiry of the log's stored entries to ``ee``, a range at a time; entries
        already there are left alone, so an append that was cut short leaves less to do."""
        pending: dict[str, Any] = {"$ne": None} if ee is None else {"$not": {"$gte": ee}}
        low = base.lo
        while low <= base.top:
            high = min(base.top, low + CHUNK_ENTRIES - 1)
            await hold.keep()
            await self._logs.call(
                hold.coll.update_many(
                    {"log": base.key, "seq": {"$gte": low, "$lte": high}, "expires": pending},
                    {"$set": {"expires": ee}},
                ),
                "append to",
                hold.collection,
            )
            low = high + 1

    async def _insert(
        self, hold: Claim, rs: int, shadows: list[Any], at: datetime, ee: datetime | None
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
                "version": seq,
                "appended": at,
                "expires": ee,
                "value": shadow,
            }
            data = document_bytes(doc, None, f"value {offset} of log {hold.key!r}")
            if chunk and (len(chunk) >= CHUNK_ENTRIES or size + len(data) > CHUNK_BYTES):
                await self._insert_chunk(hold, chunk)
                chunk, size = [], 0
            chunk.append(RawBSONDocument(data))
            size += len(data)
        if chunk:
            await self._insert_chunk(hold, chunk)

    async def _insert_chunk(self, hold: Claim, chunk: list[RawBSONDocument]) -> None:
        await hold.keep()
        coll, collection = hold.coll, hold.collection
        try:
            await self._logs.call(coll.insert_many(chunk), "append to", collection)
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
        await self._logs.call(
            coll.delete_many(
                {"log": hold.key, "seq": {"$gte": low, "$lte": high}, "_id": {"$nin": ids}}
            ),
            "append to",
            collection,
        )
        found = await self._logs.call(
            coll.find({"_id": {"$in": ids}}, {"_id": 1}).to_list(None), "append to", collection
        )
        present = {doc["_id"] for doc in found}
        missing = [doc for doc in chunk if doc["_id"] not in present]
        if missing:
            await self._logs.call(coll.insert_many(missing), "append to", collection)
