"""satchel-mongodb: the MongoDB backend for satchel.

Select it with ``SATCHEL_BACKEND=mongodb``; see ``docs/mongodb.md`` for the settings, the
document layout and how queries are translated. :class:`MongoBackend` can also be built in
code::

    from satchel_mongodb import MongoBackend
    backend = MongoBackend.from_uri("mongodb://localhost:27017", database="app")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["MongoBackend", "MongoSettings"]

if TYPE_CHECKING:
    from satchel_mongodb.backend import MongoBackend
    from satchel_mongodb.plugin import MongoSettings


def __getattr__(name: str) -> Any:
    # lazy, so that importing the package (as the plugin loader does) leaves pymongo alone
    if name == "MongoBackend":
        from satchel_mongodb.backend import MongoBackend

        return MongoBackend
    if name == "MongoSettings":
        from satchel_mongodb.plugin import MongoSettings

        return MongoSettings
    raise AttributeError(f"module 'satchel_mongodb' has no attribute {name!r}")
