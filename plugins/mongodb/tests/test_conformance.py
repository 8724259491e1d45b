"""The whole conformance kit, with the stateful test, over the MongoDB wire protocol: against
a throwaway SecantusDB server, and against a real mongod when ``SATCHEL_TEST_MONGODB_URI``
is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from satchel.backend import Backend, Record
from satchel.testing import BackendConformance, MakeBackend, SilentServer
from satchel_mongodb import MongoBackend
from satchel_mongodb.testing.servers import SecantusProcess


async def plant_foreign_document(backend: Backend, collection: str, key: str) -> None:
    """What another client of the server could do: write a document that is not a satchel
    record under the key's ``_id``."""
    assert isinstance(backend, MongoBackend)
    await backend.put(Record(collection, key, {"soon": "overwritten"}))
    raw: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        backend.settings.uri.get_secret_value()
    )
    try:
        mongo = backend._collection(collection)
        await raw[backend.settings.database][mongo.name].replace_one(
            {"_id": key}, {"name": "not a record", "version": "seven"}
        )
    finally:
        await raw.close()


async def unset_value(backend: Backend, collection: str, key: str) -> None:
    """What another client of the server could do: ``$unset`` a record's ``value``, its
    metadata left in place."""
    assert isinstance(backend, MongoBackend)
    raw: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        backend.settings.uri.get_secret_value()
    )
    try:
        mongo = backend._collection(collection)
        done = await raw[backend.settings.database][mongo.name].update_one(
            {"_id": key}, {"$unset": {"value": ""}}
        )
        assert done.modified_count == 1
    finally:
        await raw.close()


class TestSecantus(BackendConformance):
    """A SecantusDB server (the MongoDB wire protocol, in a process of its own)."""

    @pytest.fixture
    def make_backend(self, mongodb_uri: str) -> MakeBackend:
        return lambda: MongoBackend.from_uri(
            mongodb_uri, database="satchel_kit", server_selection_timeout=5
        )

    @pytest.fixture
    def process_backend(self, mongodb_uri: str) -> tuple[str, dict[str, Any]]:
        return ("mongodb", {"uri": mongodb_uri, "database": "satchel_kit"})

    @pytest.fixture
    def silent_server(self, tmp_path: Path) -> Iterator[SilentServer]:
        """A SecantusDB process of its own (stopped with SIGSTOP); a call bound of 2.5 s
        and a pool of two."""
        with SecantusProcess(tmp_path / "silent") as server:
            yield SilentServer(
                lambda: MongoBackend.from_uri(
                    server.uri,
                    database="satchel_kit",
                    server_selection_timeout=1,
                    connect_timeout=0.5,
                    socket_timeout=1,
                    max_pool_size=2,
                ),
                2,
                server.pause,
                server.resume,
            )

    async def plant_corrupt_record(self, backend: Backend, collection: str, key: str) -> None:
        await plant_foreign_document(backend, collection, key)

    async def remove_record_value(self, backend: Backend, collection: str, key: str) -> None:
        await unset_value(backend, collection, key)


class TestRealMongo(BackendConformance):
    """A real mongod, when ``SATCHEL_TEST_MONGODB_URI`` names one."""

    @pytest.fixture
    def make_backend(self, real_mongodb_uri: str) -> MakeBackend:
        return lambda: MongoBackend.from_uri(real_mongodb_uri, database="satchel_kit")

    @pytest.fixture
    def process_backend(self, real_mongodb_uri: str) -> tuple[str, dict[str, Any]]:
        return ("mongodb", {"uri": real_mongodb_uri, "database": "satchel_kit"})

    async def plant_corrupt_record(self, backend: Backend, collection: str, key: str) -> None:
        await plant_foreign_document(backend, collection, key)

    async def remove_record_value(self, backend: Backend, collection: str, key: str) -> None:
        await unset_value(backend, collection, key)
