"""A satchel backend that keeps records in a SQLite database file.

Queries are not pushed down: the backend reads the live records of the collection and runs
the reference semantics (``satchel.query.evaluate``) on them, which is always correct. The
conditional writes are atomic across processes: each runs in one ``BEGIN IMMEDIATE``
transaction, which holds SQLite's write lock from the read of the current version to the
commit. Versions never repeat for a key: the table ``floors`` keeps, per collection, the
highest version of any record removed from it, and a new incarnation of a key starts above
it (and above an expired record it replaces).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from satchel.backend import Backend, Capabilities, Page, Record
from satchel.errors import BackendUnavailable, CorruptRecord
from satchel.query import Condition, Query, evaluate, matches
from satchel.toolkit import (
    already_exists,
    check_put_condition,
    conflict,
    decode_json,
    encode_json,
    encode_value,
    from_unix_ms,
    not_found,
    now_ms,
    unix_ms,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    collection TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,     -- JSON
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,  -- milliseconds since the epoch, UTC
    updated_at INTEGER NOT NULL,
    expires_at INTEGER,           -- NULL: never expires
    idx        TEXT NOT NULL,     -- the record's index entries, as JSON
    PRIMARY KEY (collection, key)
);
CREATE TABLE IF NOT EXISTS index_entries (
    collection TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    key        TEXT NOT NULL,
    PRIMARY KEY (collection, name, value, key)
);
CREATE TABLE IF NOT EXISTS floors (
    collection TEXT PRIMARY KEY,
    version    INTEGER NOT NULL   -- the highest version of a record removed from it
);
"""
# raise a collection's floor to the versions the SELECT yields as (collection, version)
_RAISE_FLOOR = (
    "INSERT INTO floors (collection, version) {select} "
    "ON CONFLICT (collection) DO UPDATE SET version = MAX(version, excluded.version)"
)
_COLUMNS = "key, value, version, created_at, updated_at, expires_at, idx"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _datetime(ms: int | None) -> datetime | None:
    return None if ms is None else from_unix_ms(ms)


class SqliteBackend(Backend):
    """Records in a SQLite file; several processes may open the same file."""

    name = "sqlite"
    capabilities = Capabilities(shared_across_processes=True, persistent=True)

    def __init__(self, path: str, *, timeout: float = 5.0) -> None:
        self.path = path
        try:
            # isolation_level=None: no implicit transactions; we open them ourselves.
            self._db = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"sqlite database {path!r}: {exc}") from exc
        # One connection per backend; the lock serialises the worker threads that use it.
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run blocking database work in a worker thread, never on the event loop."""

        def locked() -> T:
            with self._lock:
                try:
                    return work(self._db)
                except sqlite3.Error as exc:  # driver errors never leak unwrapped
                    if self._db.in_transaction:
                        self._db.rollback()
                    raise BackendUnavailable(f"sqlite database {self.path!r}: {exc}") from exc

        return await asyncio.to_thread(locked)

    def _record(self, collection: str, row: tuple[Any, ...]) -> Record:
        key, text, version, created, updated, expires, idx = row
        try:
            value, index = decode_json(text), decode_json(idx)
        except ValueError as exc:
            raise CorruptRecord(f"{key!r} in {collection!r} is not valid JSON: {exc}") from exc
        return Record(
            collection,
            key,
            value,
            version,
            _datetime(created),
            _datetime(updated),
            _datetime(expires),
            {name: tuple(values) for name, values in index.items()},
        )

    def _live_records(self, db: sqlite3.Connection, collection: str, now: int) -> list[Record]:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM records WHERE collection = ? AND {_LIVE}",
            (collection, now),
        ).fetchall()
        return [self._record(collection, row) for row in rows]

    def _write(
        self,
        db: sqlite3.Connection,
        record: Record,
        text: str,
        now: int,
        if_absent: bool = False,
        if_version: int | None = None,
    ) -> Record:
        """One write, inside the caller's transaction."""
        current = db.execute(
            f"SELECT version, created_at FROM records WHERE collection = ? AND key = ? AND {_LIVE}",
            (record.collection, record.key, now),
        ).fetchone()
        if if_absent and current is not None:
            raise already_exists(record.collection, record.key, current[0])
        if if_version is not None:
            if current is None:
                raise not_found(record.collection, record.key)
            if current[0] != if_version:
                raise conflict(record.collection, record.key, if_version, current[0])
        if current is None:  # a new incarnation: above every version the key had before
            (floor,) = db.execute(
                "SELECT MAX(v) FROM (SELECT version AS v FROM floors WHERE collection = ?"
                " UNION ALL SELECT version FROM records WHERE collection = ? AND key = ?)",
                (record.collection, record.collection, record.key),
            ).fetchone()
            version, created = (floor or 0) + 1, now
        else:
            version, created = current[0] + 1, current[1]
        index = {name: list(dict.fromkeys(values)) for name, values in record.index.items()}
        idx = encode_json(index)[0].decode()
        expires = None if record.expires_at is None else unix_ms(record.expires_at)
        db.execute(
            "DELETE FROM index_entries WHERE collection = ? AND key = ?",
            (record.collection, record.key),
        )
        db.execute(
            f"INSERT OR REPLACE INTO records (collection, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
            (record.collection, record.key, text, version, created, now, expires, idx),
        )
        db.executemany(
            "INSERT OR IGNORE INTO index_entries VALUES (?,?,?,?)",
            [
                (record.collection, name, value, record.key)
                for name, values in index.items()
                for value in values
            ],
        )
        return Record(
            record.collection,
            record.key,
            decode_json(text),  # a fresh copy for the caller
            version,
            _datetime(created),
            _datetime(now),
            _datetime(expires),
            {name: tuple(values) for name, values in index.items()},
        )

    @staticmethod
    def _text(record: Record) -> str:
        """The value as stored: compact JSON, checked (InvalidArgument naming the part that
        is not JSON)."""
        where = f"value of {record.key!r} in {record.collection!r}"
        return encode_value(record.value, where).data.decode()

    # -- reads ------------------------------------------------------------------------------

    async def get(self, collection: str, key: str) -> Record | None:
        now = now_ms()

        def work(db: sqlite3.Connection) -> Record | None:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE collection = ? AND key = ? AND {_LIVE}",
                (collection, key, now),
            ).fetchone()
            return None if row is None else self._record(collection, row)

        return await self._run(work)

    async def find(self, collection: str, index_name: str, value: str) -> list[Record]:
        now = now_ms()

        def work(db: sqlite3.Connection) -> list[Record]:
            # TEXT compares by its UTF-8 bytes, which is code point order, as Python sorts.
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE collection = ? AND {_LIVE} AND key IN "
                "(SELECT key FROM index_entries WHERE collection = ? AND name = ? AND value = ?)"
                " ORDER BY key",
                (collection, now, collection, index_name, value),
            ).fetchall()
            return [self._record(collection, row) for row in rows]

        return await self._run(work)

    async def query(self, collection: str, query: Query) -> Page[Record]:
        now = now_ms()
        records = await self._run(lambda db: self._live_records(db, collection, now))
        items, next_cursor = evaluate(records, query)  # the reference semantics
        return Page(items, next_cursor)

    async def count(self, collection: str, where: Sequence[Condition] = ()) -> int:
        now = now_ms()
        records = await self._run(lambda db: self._live_records(db, collection, now))
        return sum(1 for record in records if matches(record, where))

    async def collections(self) -> list[str]:
        now = now_ms()
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT DISTINCT collection FROM records WHERE {_LIVE} ORDER BY collection",
                (now,),
            ).fetchall()
        )
        return [row[0] for row in rows]

    # -- writes -----------------------------------------------------------------------------

    async def put(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> Record:
        check_put_condition(if_absent, if_version)
        text = self._text(record)  # every check before the transaction
        now = now_ms()

        def work(db: sqlite3.Connection) -> Record:
            db.execute("BEGIN IMMEDIATE")  # the write lock, from the version check to commit
            try:
                stored = self._write(db, record, text, now, if_absent, if_version)
            except BaseException:
                db.rollback()
                raise
            db.commit()
            return stored

        return await self._run(work)

    async def put_many(self, records: Sequence[Record]) -> list[Record]:
        texts = [self._text(record) for record in records]
        now = now_ms()

        def work(db: sqlite3.Connection) -> list[Record]:
            db.execute("BEGIN IMMEDIATE")
            try:
                stored = [self._write(db, r, t, now) for r, t in zip(records, texts, strict=True)]
            except BaseException:
                db.rollback()
                raise
            db.commit()
            return stored

        return await self._run(work)

    async def delete(self, collection: str, key: str, *, if_version: int | None = None) -> bool:
        now = now_ms()

        def work(db: sqlite3.Connection) -> bool:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    f"SELECT version FROM records WHERE collection = ? AND key = ? AND {_LIVE}",
                    (collection, key, now),
                ).fetchone()
                if row is None and if_version is not None:
                    raise not_found(collection, key)
                if row is not None and if_version is not None and row[0] != if_version:
                    raise conflict(collection, key, if_version, row[0])
                db.execute(
                    _RAISE_FLOOR.format(
                        select="SELECT collection, version FROM records "
                        "WHERE collection = ? AND key = ?"
                    ),
                    (collection, key),
                )
                for table in ("records", "index_entries"):
                    db.execute(
                        f"DELETE FROM {table} WHERE collection = ? AND key = ?", (collection, key)
                    )
            except BaseException:
                db.rollback()
                raise
            db.commit()
            return row is not None

        return await self._run(work)

    async def drop(self, collection: str) -> int:
        now = now_ms()

        def work(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                (live,) = db.execute(
                    f"SELECT COUNT(*) FROM records WHERE collection = ? AND {_LIVE}",
                    (collection, now),
                ).fetchone()
                db.execute(
                    _RAISE_FLOOR.format(
                        select="SELECT collection, MAX(version) FROM records "
                        "WHERE collection = ? GROUP BY collection"
                    ),
                    (collection,),
                )
                db.execute("DELETE FROM records WHERE collection = ?", (collection,))
                db.execute("DELETE FROM index_entries WHERE collection = ?", (collection,))
            except BaseException:
                db.rollback()
                raise
            db.commit()
            return int(live)

        return await self._run(work)

    async def purge_expired(self) -> int:
        now = now_ms()

        def work(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "DELETE FROM index_entries WHERE (collection, key) IN (SELECT collection, key"
                    " FROM records WHERE expires_at IS NOT NULL AND expires_at <= ?)",
                    (now,),
                )
                db.execute(
                    _RAISE_FLOOR.format(
                        select="SELECT collection, MAX(version) FROM records "
                        "WHERE expires_at IS NOT NULL AND expires_at <= ? GROUP BY collection"
                    ),
                    (now,),
                )
                removed = db.execute(
                    "DELETE FROM records WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
                ).rowcount
            except BaseException:
                db.rollback()
                raise
            db.commit()
            return int(removed)

        return await self._run(work)

    # -- life -------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def stats(self) -> dict[str, Any]:
        (records,) = await self._run(
            lambda db: db.execute("SELECT COUNT(*) FROM records").fetchone()
        )
        return {"path": self.path, "records": int(records)}

    async def close(self) -> None:
        await self._run(lambda db: db.close())

    def describe(self) -> str:
        return f"sqlite {self.path}"
