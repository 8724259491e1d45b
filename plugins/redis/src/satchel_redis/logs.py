"""The logs of satchel-redis: each log one Redis stream, in one of its collection's buckets.

A log's entries are the entries of a stream whose ids are ``<seq>-0``, so a range read by
sequence number is one ``XRANGE`` (or ``XREVRANGE``), a pop is ``XREVRANGE`` + ``XDEL`` and a
trim is ``XTRIM MINID``/``MAXLEN``; each entry holds its append time (``t``) and its value's
JSON (``v``), written as records' values are. Every write is one Lua script in the slot of
the log's bucket (see :mod:`satchel_redis.layout` for the buckets and why, and
:mod:`satchel_redis.scripts` for the scripts); the writes recall and record their outcome in
the bucket's outcome log, so a retried append or pop is applied once. A range read is the
``log_range`` script, which checks the log's expiry and reads the entries in one step.

Sequence numbers: a log's next number is one above the last it handed out (kept as its score
in the bucket's log index, which outlives a stream that Redis expired by itself); a log that
is created, or created again after it was deleted, emptied, expired or dropped, starts one
above the bucket's floor, which every removal raises to the removed log's last number.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from satchel.backend import JSONValue, LogEntry, check_log_call
from satchel.errors import CorruptRecord
from satchel.query import compile_glob
from satchel_redis.layout import server_pattern
from satchel_redis.scripts import SCRIPTS
from satchel_redis.stored import decode_json, moment, now_ms, text

if TYPE_CHECKING:
    from satchel_redis.backend import RedisBackend

__all__ = ["LOG_BATCH", "RANGE_PAGE", "RedisLogs"]

#: The largest sequence number a stream id can carry (its first part is 64 bits).
_MAX_ID: Final = 2**64 - 1
#: The largest count Redis takes (``COUNT``, ``MAXLEN``: a signed 64-bit integer). A pop or a
#: trim asking for more is asked with this: no stream holds that many entries.
_MAX_COUNT: Final = 2**63 - 1
#: Entries one range call reads at most: a read asking for more (or for all) is split, so
#: that no script builds an unbounded reply. ``LogStore.read`` asks for a page of up to
#: 10,000 entries and one more, which is one call, so one consistent view.
RANGE_PAGE: Final = 10_001
#: Logs removed per script call by drop() and purge_expired() (each log's stream is freed
#: off the main thread, ``UNLINK``, but its index entries are not).
LOG_BATCH: Final = 100


def _decode(ids: Sequence[Any], ats: Sequence[Any], values: Sequence[Any]) -> list[LogEntry]:
    """Entries from their ids (``b'<seq>-0'``), append times and values' JSON (bytes); the
    hot path of every read, so without a call per entry beyond what each one needs."""
    times: dict[Any, datetime] = {}  # the entries of one append share their time
    out: list[LogEntry] = []
    for raw_id, at, value in zip(ids, ats, values, strict=True):
        when = times.get(at)
        if when is None:
            when = times[at] = moment(int(at))
        out.append(LogEntry(int(raw_id.partition(b"-")[0]), decode_json(value), when))
    return out


class RedisLogs:
    """The ``log_*`` operations of :class:`~satchel_redis.backend.RedisBackend`, which
    delegates to it, and the logs' share of ``drop``, ``collections`` and
    ``purge_expired``."""

    __slots__ = ("_backend",)

    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend

    # -- plumbing ---------------------------------------------------------------------------

    def _where(self, collection: str, key: str) -> tuple[str, str]:
        """The base of the log's bucket and the Redis key of its stream."""
        base = self._backend._layout.log_base(collection, key)
        return base, f"{base}l:{key}"

    async def _call(self, what: str, name: str, keys: list[str], args: list[Any]) -> Any:
        backend = self._backend
        script = SCRIPTS[name]
        return await backend._run(what, lambda: script(backend._client, keys, args), keys[0])

    def _corrupt(self, collection: str, key: str, problem: str) -> CorruptRecord:
        _, stream = self._where(collection, key)
        return CorruptRecord(
            f"log {key!r} in {collection!r} is not a satchel log (Redis key {stream!r}: "
            f"{problem}); another client wrote it. Delete the log"
        )

    def _entry(self, collection: str, key: str, raw_id: Any, at: Any, value: Any) -> LogEntry:
        try:
            seq = int(text(raw_id).partition("-")[0])
            return LogEntry(seq, decode_json(value), moment(int(at)))
        except (ValueError, TypeError, OverflowError) as exc:
            problem = f"entry {text(raw_id)!r}: {type(exc).__name__}: {exc}"
            raise self._corrupt(collection, key, problem) from None

    def _entries(
        self, collection: str, key: str, ids: Sequence[Any], ats: Sequence[Any], values: Any
    ) -> list[LogEntry]:
        """The entries with these ids, append times and values' JSON, as Redis sent them."""
        try:
            return _decode(ids, ats, values)
        except (ValueError, TypeError, OverflowError, AttributeError):
            # the entry at fault raises, with what is wrong with it
            entry = self._entry
            return [entry(collection, key, *parts) for parts in zip(ids, ats, values, strict=True)]

    # -- writes -------------------------------------------------------------------------------

    async def append(
        self,
        collection: str,
        key: str,
        values: Sequence[JSONValue],
        expires_at: datetime | None,
    ) -> list[LogEntry]:
        check_log_call(values=values)
        backend = self._backend
        now = now_ms()
        at = moment(now)
        where = f" in {collection!r}"
        texts = [
            backend._value_text(value, f"values[{i}] of log {key!r}", where)
            for i, value in enumerate(values)
        ]  # every check before anything is sent
        expires = backend._expiry(expires_at, at)
        base, stream = self._where(collection, key)
        args = [base, now, key, expires, backend._token(), backend._keep_ms, *texts]
        result = await self._call(
            f"log_append to {key!r} in {collection!r}", "log_append", [stream], args
        )
        if text(result[0]) != "ok":
            raise self._corrupt(collection, key, "not a stream; an append needs one")
        first = int(result[1])
        # the values as stored, decoded again: the caller's own copies
        return [LogEntry(first + i, decode_json(t), at) for i, t in enumerate(texts)]

    async def pop(self, collection: str, key: str, count: int) -> list[LogEntry]:
        check_log_call(count=count)
        backend = self._backend
        base, stream = self._where(collection, key)
        wanted = str(min(count, _MAX_COUNT))
        args = [base, now_ms(), key, wanted, backend._token(), backend._keep_ms]
        what = f"log_pop of {key!r} in {collection!r}"
        result = await self._call(what, "log_pop", [stream], args)
        if text(result[0]) != "ok":
            raise self._corrupt(collection, key, "not a stream")
        return self._entries(collection, key, result[1::3], result[2::3], result[3::3])

    async def trim(
        self, collection: str, key: str, keep_last: int | None, before: int | None
    ) -> int:
        check_log_call(keep_last=keep_last, before=before, trim=True)
        backend = self._backend
        base, stream = self._where(collection, key)
        keep = "" if keep_last is None else str(min(keep_last, _MAX_COUNT))
        below = "" if before is None else f"{min(max(before, 0), _MAX_ID)}-0"
        args = [base, now_ms(), key, keep, below, backend._token(), backend._keep_ms]
        result = await self._call(
            f"log_trim of {key!r} in {collection!r}", "log_trim", [stream], args
        )
        if text(result[0]) != "ok":
            raise self._corrupt(collection, key, "not a stream")
        return int(result[1])

    async def delete(self, collection: str, key: str) -> bool:
        backend = self._backend
        base, stream = self._where(collection, key)
        args = [base, now_ms(), key, backend._token(), backend._keep_ms]
        result = await self._call(
            f"log_delete of {key!r} in {collection!r}", "log_delete", [stream], args
        )
        return bool(int(result[1]))

    # -- reads --------------------------------------------------------------------------------

    async def length(self, collection: str, key: str) -> int:
        base, stream = self._where(collection, key)
        result = await self._call(
            f"log_length of {key!r} in {collection!r}",
            "log_length",
            [stream],
            [base, now_ms(), key],
        )
        if text(result[0]) != "ok":
            raise self._corrupt(collection, key, "not a stream")
        return int(result[1])

    async def range(
        self,
        collection: str,
        key: str,
        after: int | None,
        before: int | None,
        limit: int | None,
        reverse: bool,
    ) -> list[LogEntry]:
        check_log_call(after=after, before=before, limit=limit)
        low = 1 if after is None else max(1, after + 1)
        high = _MAX_ID if before is None else min(_MAX_ID, before - 1)
        if low > high or (limit is not None and limit <= 0):
            return []
        base, stream = self._where(collection, key)
        what = f"log_range of {key!r} in {collection!r}"
        out: list[LogEntry] = []
        while True:
            wanted = RANGE_PAGE if limit is None else min(RANGE_PAGE, limit - len(out))
            page = await self._scripted_page(
                what, collection, key, base, stream, low, high, wanted, reverse
            )
            out.extend(page)
            if len(page) < wanted or (limit is not None and len(out) >= limit):
                return out
            # the next page starts past this one: entries appended meanwhile come later in
            # ascending order, and never among those already read
            if reverse:
                high = page[-1].seq - 1
            else:
                low = page[-1].seq + 1
            if low > high:
                return out

    async def _scripted_page(
        self,
        what: str,
        collection: str,
        key: str,
        base: str,
        stream: str,
        low: int,
        high: int,
        wanted: int,
        reverse: bool,
    ) -> list[LogEntry]:
        """One page of a range read, by the ``log_range`` script: the log's expiry and the
        entries, in one atomic step. (A ``MULTI``/``EXEC`` of ``ZSCORE`` and ``XRANGE`` was
        measured no faster: redis-py's transaction costs as much as the copy through Lua, a
        server out of memory refuses a ``MULTI`` even of reads, and a Cluster client before
        redis-py 6.1 carries none.)"""
        order = "1" if reverse else ""
        args = [base, now_ms(), key, f"{low}-0", f"{high}-0", str(wanted), order]
        result = await self._call(what, "log_range", [stream], args)
        if text(result[0]) != "ok":
            raise self._corrupt(collection, key, "not a stream")
        return self._entries(collection, key, result[1::3], result[2::3], result[3::3])

    async def keys(self, collection: str, pattern: str | None) -> AsyncIterator[str]:
        """``ZSCAN ... MATCH`` over each bucket's log index in turn, as records' keys are
        listed: never ``KEYS`` nor ``SCAN``. Each key once (a log lives in one bucket)."""
        regex = compile_glob(pattern) if pattern is not None else None  # InvalidQuery first
        match = "" if pattern is None else server_pattern(pattern)
        for base in self._backend._layout.log_bases(collection):
            index = f"{base}lk"
            cursor: Any = b"0"
            seen: set[bytes] = set()  # ZSCAN may repeat a key while Redis rehashes the set
            while True:
                cursor, keys = await self._call(
                    f"log_keys of {collection!r}",
                    "log_keys_page",
                    [index],
                    [base, now_ms(), cursor, match, 500],
                )
                for raw in keys:
                    if raw not in seen:
                        seen.add(raw)
                        key = text(raw)
                        if regex is None or regex.fullmatch(key):
                            yield key
                if cursor in (b"0", "0", 0):
                    break

    # -- the collection as a whole ------------------------------------------------------------

    async def drop(self, collection: str) -> int:
        """Delete every log of ``collection``, bucket by bucket; how many were live. The
        floors stay."""
        dropped = 0
        for base in self._backend._layout.log_bases(collection):
            while True:
                live, left = await self._call(
                    f"drop {collection!r}",
                    "log_drop_batch",
                    [f"{base}lk"],
                    [base, now_ms(), LOG_BATCH],
                )
                dropped += int(live)
                if int(left) == 0:
                    break
        return dropped

    async def live(self, collection: str, buckets: set[int]) -> bool:
        """Whether one of ``buckets`` of ``collection`` holds a live log."""
        bases = self._backend._layout.log_bases(collection)
        for bucket in sorted(buckets):
            base = bases[bucket]
            count = await self._call("collections", "log_count", [f"{base}lk"], [base, now_ms()])
            if int(count) > 0:
                return True
        return False

    async def purge(self, collection: str, buckets: set[int]) -> int:
        """Remove the expired logs of ``buckets`` of ``collection``; how many."""
        bases = self._backend._layout.log_bases(collection)
        removed = 0
        for bucket in sorted(buckets):
            base = bases[bucket]
            while True:
                gone = int(
                    await self._call(
                        f"purge_expired in {collection!r}",
                        "log_purge",
                        [f"{base}lk"],
                        [base, now_ms(), LOG_BATCH],
                    )
                )
                removed += gone
                if gone < LOG_BATCH:
                    break
        return removed
