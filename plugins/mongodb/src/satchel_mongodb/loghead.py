"""The head document of a log on MongoDB (see :mod:`satchel_mongodb.logs` for the layout),
and the entries as read back: parsed, checked, and told apart from what another client
wrote."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Final

from satchel.backend import LogEntry, utcnow
from satchel.errors import CorruptRecord
from satchel_mongodb.codec import decode

__all__ = [
    "EPOCH",
    "LOG_CLAIM_SECONDS",
    "Creation",
    "Head",
    "backoff",
    "claim_is_young",
    "is_int",
    "parse_entry",
    "parse_head",
]

#: How long an append's claim on a log holds off other writers without being renewed.
LOG_CLAIM_SECONDS: Final = 3.0
#: The expiry of a creation claim: 1970, so that no read counts it as live.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int (and not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Head:
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
        """Whether the log has not expired at ``now``."""
        return self.exp is None or self.exp > now

    def visible(self, seq: int) -> bool:
        """Whether ``seq`` is the number of one of the log's entries (if it is stored)."""
        if not self.lo <= seq <= self.top:
            return False
        return not any(a <= seq <= b for a, b in self.dead)

    def young_claim(self) -> bool:
        """Whether an append holds the log (and may still commit)."""
        return self.claim is not None and claim_is_young(self.claimed_at)

    def unclaimed(self) -> Head:
        """This head without its (stale) claim: the claimed range is dead from now on."""
        if self.claim is None:
            return self
        dead = self.dead
        if self.rs > self.top and self.rs <= self.ver:
            dead = (*dead, (self.rs, self.ver))
        return replace(self, claim=None, claimed_at=None, rs=0, dead=dead)

    def document(self) -> dict[str, Any]:
        """The head as the document stored."""
        doc: dict[str, Any] = {
            "_id": self.key,
            "log": self.key,
            "seq": 0,
            "version": self.ver,
            "bottom": self.lo,
            "top": self.top,
            "length": self.n,
            "cuts": self.cut,
            "incarnation": self.inc,
            "expires": self.exp,
            "entries_expire": self.ee,
            "created": self.ca,
            "write_id": self.w,
            "cut_write_ids": list(self.cw),
        }
        if self.claim is not None:
            doc.update(claim=self.claim, claimed_at=self.claimed_at, claim_start=self.rs)
        if self.dead:
            doc["dead"] = [list(r) for r in self.dead]
        return doc


@dataclass(frozen=True, slots=True)
class Creation:
    """A creation claim: a log being created (not a log yet)."""

    w: str
    claimed_at: Any


def claim_is_young(claimed_at: Any) -> bool:
    """Whether a claim made at ``claimed_at`` (by its writer's clock) still holds: made less
    than LOG_CLAIM_SECONDS ago; a claim dated more than that ahead counts as old, so a writer
    whose clock runs fast holds a log for at most LOG_CLAIM_SECONDS of anyone's time."""
    if not isinstance(claimed_at, datetime):
        return False
    return -LOG_CLAIM_SECONDS < (utcnow() - claimed_at).total_seconds() < LOG_CLAIM_SECONDS


def parse_head(collection: str, key: str, doc: Any) -> Head | Creation | None:
    """The head (or creation claim) ``doc``; ``None`` for no document; CorruptRecord for a
    document that is neither."""
    if doc is None:
        return None
    if ("ver" in doc and "version" not in doc) or ("w" in doc and "write_id" not in doc):
        from satchel_mongodb.migrate import LegacyForm

        raise LegacyForm(collection)
    try:
        if doc.get("seq") != 0 or doc.get("log") != key:
            raise ValueError("not a log's head")
        w = doc["write_id"]
        if not isinstance(w, str):
            raise ValueError("no write id")
        if doc.get("version") == 0:
            return Creation(w, doc.get("claimed_at"))
        ints = [doc[name] for name in ("version", "bottom", "top", "length", "cuts")]
        if not all(is_int(v) for v in ints):
            raise ValueError("counters of the wrong types")
        exp, ee, ca = doc.get("expires"), doc.get("entries_expire"), doc["created"]
        if not (exp is None or isinstance(exp, datetime)) or not (
            ee is None or isinstance(ee, datetime)
        ):
            raise ValueError("expiry of the wrong type")
        claim = doc.get("claim")
        dead = tuple((int(a), int(b)) for a, b in doc.get("dead") or ())
        ver, lo, top, n, cut = (int(v) for v in ints)
        return Head(
            key,
            ver,
            lo,
            top,
            n,
            cut,
            str(doc["incarnation"]),
            exp,
            ee,
            ca,
            w,
            tuple(str(x) for x in doc.get("cut_write_ids") or ()),
            claim if isinstance(claim, str) else None,
            doc.get("claimed_at"),
            int(doc.get("claim_start") or 0),
            dead,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptRecord(
            f"{collection!r}: the document of key {key!r} is not the head of a satchel log "
            f"({exc}); another client wrote it. Remove it with the log's delete"
        ) from None


def parse_entry(collection: str, key: str, doc: Any) -> LogEntry:
    seq = doc.get("seq")
    try:
        if ("value" not in doc and ("v" in doc or "ver" in doc)) or (
            "at" in doc and "appended" not in doc
        ):
            from satchel_mongodb.migrate import LegacyForm

            raise LegacyForm(collection)
        at = doc["appended"]
        if not is_int(seq) or not isinstance(at, datetime):
            raise ValueError("metadata of the wrong types")
        return LogEntry(int(seq), decode(doc["value"]), at)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise CorruptRecord(
            f"{collection!r}: entry {seq!r} of log {key!r} is not a satchel log entry "
            f"({exc}); another client wrote it. Delete the log to repair it"
        ) from None


async def backoff(attempt: int) -> None:
    """A short random pause while another writer holds the log, growing to 50 ms."""
    await asyncio.sleep(random.uniform(0.5, 1.0) * min(0.05, 0.002 * 2 ** min(attempt, 5)))
