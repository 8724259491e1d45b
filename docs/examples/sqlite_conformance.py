"""tests/test_conformance.py of satchel-sqlite: the conformance kit against the backend."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from satchel.backend import Backend
from satchel.testing import BackendConformance, MakeBackend

from satchel_sqlite.backend import SqliteBackend


class TestSqliteConformance(BackendConformance):
    @pytest.fixture
    def make_backend(self, tmp_path: Path) -> MakeBackend:
        path = str(tmp_path / "satchel.sqlite3")
        return lambda: SqliteBackend(path)  # every call: a new client of the same file

    async def plant_corrupt_record(self, backend: Backend, collection: str, key: str) -> None:
        """Optional hook: write what another program could leave under a key, here a row
        whose value is not JSON, so that the kit checks it is reported as CorruptRecord."""
        assert isinstance(backend, SqliteBackend)
        with contextlib.closing(sqlite3.connect(backend.path)) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, '{not json', 1, 0, 0, NULL, '{}')",
                (collection, key),
            )
