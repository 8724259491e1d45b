"""Teal Agents compatibility of the ``redis`` backend: Teal's ``TA_REDIS_*`` variables.

A Teal Agents deployment configures its Redis example with ``TA_REDIS_*`` variables; the
``redis`` backend reads each of them as an alias of its own ``SATCHEL_REDIS_*`` variable
(the ``SATCHEL_REDIS_*`` one wins when both are set), and its messages name the one that was
set. ``TA_PERSISTENCE_MODULE``/``TA_PERSISTENCE_CLASS`` naming Teal's Redis example select
this backend (see :mod:`satchel.teal`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["TEAL_VARIABLES"]

#: Teal Agents' variable of each setting that has one (``ssl``: ``TA_REDIS_SSL`` is read
#: the right way round, ``true`` connects with TLS).
TEAL_VARIABLES: Final = {
    "host": "TA_REDIS_HOST",
    "port": "TA_REDIS_PORT",
    "db": "TA_REDIS_DB",
    "password": "TA_REDIS_PWD",
    "ssl": "TA_REDIS_SSL",
    "ttl": "TA_REDIS_TTL",
}
