"""Fixtures of the MongoDB plugin's tests: the throwaway SecantusDB servers of
:mod:`satchel_mongodb.testing.fixtures`, and a real mongod when ``SATCHEL_TEST_MONGODB_URI``
names one. Without SecantusDB the tests are skipped, or fail when ``CI=true``.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from satchel_mongodb import MongoBackend
from satchel_mongodb.testing.fixtures import (  # noqa: F401
    mongodb_uri,
    real_mongodb_uri,
    secantus_server,
    server_factory,
)

# --import-mode=importlib does not put this folder on sys.path: do it for the helper
# modules beside the tests (mongo_wire, the workers).
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


#: The database of the tests' own backends (:func:`backend`).
OWN_DATABASE = "satchel_own"


@pytest.fixture
async def backend(mongodb_uri: str) -> AsyncIterator[MongoBackend]:  # noqa: F811
    """A backend of the test's own: its collections under a prefix of its own in
    :data:`OWN_DATABASE`, dropped afterwards (the conformance kit's classes and the modules
    that need another set-up define their own)."""
    made = MongoBackend.from_uri(
        mongodb_uri,
        database=OWN_DATABASE,
        collection_prefix=f"t{uuid.uuid4().hex[:10]}.",
        server_selection_timeout=5,
    )
    try:
        yield made
    finally:
        for name in await made.collections():
            await made.drop(name)
        await made.close()
