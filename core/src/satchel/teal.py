"""Teal Agents compatibility: what satchel recognises of a Teal Agents deployment.

A Teal deployment's configuration works unchanged:

* ``TA_PERSISTENCE_MODULE`` and ``TA_PERSISTENCE_CLASS`` are read as aliases of
  ``SATCHEL_BACKEND_MODULE`` and ``SATCHEL_BACKEND_CLASS``
  (:class:`~satchel.settings.SatchelSettings`), and the class they name is loaded the way
  Teal's factory loads it (:mod:`satchel.loader`);
* Teal's defaults, which name its in-memory manager, count as no custom class: satchel uses
  its configured backend (``memory`` unless told otherwise);
* Teal's Redis example class selects satchel's ``redis`` backend, which reads Teal's
  ``TA_REDIS_*`` variables (``satchel_redis.teal`` lists them).

Two more pieces serve Teal where they are used: :class:`~satchel.stores.TaskStore` keeps
Teal's task-persistence contract (``create``, ``load``, ``update``, ``delete``,
``load_by_request_id``), and ``satchel demo`` runs on task models shaped like Teal's
(:mod:`satchel.demo`). ``docs/teal-agents.md`` is the guide.
"""

from __future__ import annotations

__all__ = [
    "PERSISTENCE_CLASS_VARIABLE",
    "PERSISTENCE_MODULE_VARIABLE",
    "TEAL_DEFAULT_PERSISTENCE_CLASS",
    "TEAL_DEFAULT_PERSISTENCE_MODULE",
    "TEAL_REDIS_EXAMPLE_CLASS",
    "TEAL_REDIS_EXAMPLE_MODULE",
    "is_default_manager",
    "is_redis_example",
]

#: Teal Agents' variables naming its task-persistence manager: aliases of
#: ``SATCHEL_BACKEND_MODULE`` and ``SATCHEL_BACKEND_CLASS``.
PERSISTENCE_MODULE_VARIABLE = "TA_PERSISTENCE_MODULE"
PERSISTENCE_CLASS_VARIABLE = "TA_PERSISTENCE_CLASS"

#: Teal Agents' defaults: when ``TA_PERSISTENCE_MODULE``/``TA_PERSISTENCE_CLASS`` hold these,
#: Teal uses its in-memory manager, and so does satchel.
TEAL_DEFAULT_PERSISTENCE_MODULE = "persistence/in_memory_persistence_manager.py"
TEAL_DEFAULT_PERSISTENCE_CLASS = "InMemoryPersistenceManager"

#: Teal Agents' Redis example (``TA_PERSISTENCE_MODULE=.../example_redis_persistence.py``,
#: ``TA_PERSISTENCE_CLASS=RedisTaskPersistenceManager``): satchel selects its ``redis``
#: backend for it, which reads the same ``TA_REDIS_*`` variables.
TEAL_REDIS_EXAMPLE_MODULE = "example_redis_persistence"
TEAL_REDIS_EXAMPLE_CLASS = "RedisTaskPersistenceManager"


def is_default_manager(module: str | None, class_name: str | None) -> bool:
    """Whether a module and class (either may be unset) name Teal's in-memory default."""
    return module in (None, TEAL_DEFAULT_PERSISTENCE_MODULE) and class_name in (
        None,
        TEAL_DEFAULT_PERSISTENCE_CLASS,
    )


def is_redis_example(module: str | None, class_name: str | None) -> bool:
    """Whether a module (a file path or a dotted name) and class name Teal's Redis example."""
    if module is None or class_name not in (None, TEAL_REDIS_EXAMPLE_CLASS):
        return False
    stem = module.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
    return stem.rsplit(".", 1)[-1] == TEAL_REDIS_EXAMPLE_MODULE
