"""satchel-langgraph: a LangGraph checkpointer that keeps checkpoints, channel values and
pending writes in satchel, on whichever backend it is configured with (memory, Redis,
MongoDB)::

    from langgraph.graph import StateGraph
    from satchel_langgraph import SatchelSaver

    graph = builder.compile(checkpointer=SatchelSaver())  # SATCHEL_BACKEND=redis, ...
    graph.invoke(inputs, {"configurable": {"thread_id": "1"}})

See ``docs/langgraph.md``.
"""

from __future__ import annotations

from satchel_langgraph.saver import NAMESPACE, SatchelSaver

__all__ = ["NAMESPACE", "SatchelSaver"]
