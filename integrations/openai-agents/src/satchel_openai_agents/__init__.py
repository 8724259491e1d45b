"""satchel-openai-agents: a ``Session`` for the OpenAI Agents SDK that keeps each
conversation in satchel, on whichever backend it is configured with (memory, Redis,
MongoDB)::

    from agents import Agent, Runner
    from satchel_openai_agents import SatchelSession

    session = SatchelSession("conversation-1")  # SATCHEL_BACKEND=redis, ...
    result = await Runner.run(agent, "Hello", session=session)

See ``docs/openai-agents.md``.
"""

from __future__ import annotations

from satchel.shared import close_shared_store, shared_store
from satchel_openai_agents.copy import copy_session
from satchel_openai_agents.session import LOG_NAME, SatchelSession

__all__ = ["LOG_NAME", "SatchelSession", "close_shared_store", "copy_session", "shared_store"]
