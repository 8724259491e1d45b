"""Fixtures of the Redis plugin's tests: the throwaway servers of
:mod:`satchel_redis.testing.fixtures` (standalone, Cluster, Sentinel).

``SATCHEL_TEST_REDIS_URL`` / ``SATCHEL_TEST_REDIS_CLUSTER_URL`` point the tests at servers
started elsewhere instead. Without a ``redis-server`` the tests are skipped, or fail when
``CI=true``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from satchel_redis.testing.fixtures import (  # noqa: F401
    redis_binary,
    redis_cluster_url,
    redis_sentinel,
    redis_server_factory,
    redis_url,
)

# --import-mode=importlib does not put this folder on sys.path: do it for the helper
# modules beside the tests (contention_worker).
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
