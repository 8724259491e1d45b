"""Fixtures of the MongoDB plugin's tests: the throwaway SecantusDB servers of
:mod:`satchel_mongodb.testing.fixtures`, and a real mongod when ``SATCHEL_TEST_MONGODB_URI``
names one. Without SecantusDB the tests are skipped, or fail when ``CI=true``.
"""

from __future__ import annotations

import sys
from pathlib import Path

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
