"""satchel-langgraph: a LangGraph checkpointer that keeps checkpoints, channel values and
pending writes in satchel, and a LangGraph store (long-term memory) that keeps items there,
on whichever backend satchel is configured with (memory, Redis, MongoDB)::

    from langgraph.graph import StateGraph
    from satchel_langgraph import SatchelSaver, SatchelStore

    graph = builder.compile(checkpointer=SatchelSaver(), store=SatchelStore())
    graph.invoke(inputs, {"configurable": {"thread_id": "1"}})  # SATCHEL_BACKEND=redis, ...

Threads kept by another checkpointer are moved over with :func:`copy_checkpoints`.
See ``docs/langgraph.md``.
"""

from __future__ import annotations

from satchel.shared import close_shared_store, shared_store
from satchel_langgraph.copy import acopy_checkpoints, copy_checkpoints
from satchel_langgraph.saver import NAMESPACE, SatchelSaver
from satchel_langgraph.store import SatchelStore

__all__ = [
    "NAMESPACE",
    "SatchelSaver",
    "SatchelStore",
    "acopy_checkpoints",
    "close_shared_store",
    "copy_checkpoints",
    "shared_store",
]
