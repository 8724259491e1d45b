"""Throwaway MongoDB wire-protocol servers for tests: SecantusDB (PyPI ``SecantusDB``) in
this process or in a process of its own (:mod:`satchel_mongodb.testing.servers`), and pytest
fixtures that start them (:mod:`satchel_mongodb.testing.fixtures`). Used by
satchel-mongodb's own tests and by the tests of anything built on it; a test suite imports
the fixtures into its ``conftest.py``::

    from satchel_mongodb.testing.fixtures import mongodb_uri  # noqa: F401
"""
