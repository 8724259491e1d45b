"""satchel-redis: the Redis backend for satchel (standalone, Sentinel and Cluster).

Select it with ``SATCHEL_BACKEND=redis``; see ``docs/redis.md`` for the settings, the key
layout and what is atomic. :class:`RedisBackend` can also be built in code::

    from satchel_redis import RedisBackend
    backend = RedisBackend.from_url("redis://localhost:6379/0")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["RedisBackend", "RedisSettings"]

if TYPE_CHECKING:
    from satchel_redis.backend import RedisBackend
    from satchel_redis.plugin import RedisSettings


def __getattr__(name: str) -> Any:
    # lazy, so that importing the package (as the plugin loader does) leaves redis-py alone
    if name == "RedisBackend":
        from satchel_redis.backend import RedisBackend

        return RedisBackend
    if name == "RedisSettings":
        from satchel_redis.plugin import RedisSettings

        return RedisSettings
    raise AttributeError(f"module 'satchel_redis' has no attribute {name!r}")
