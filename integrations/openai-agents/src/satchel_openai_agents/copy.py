"""Moving a conversation from another ``Session`` (``SQLiteSession``, ``RedisSession``, any)
into a :class:`~satchel_openai_agents.SatchelSession`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from satchel import AlreadyExists
from satchel.backend import MAX_LOG_BATCH

if TYPE_CHECKING:
    from agents.memory import Session

    from satchel_openai_agents.session import SatchelSession

__all__ = ["copy_session"]


async def copy_session(source: Session, target: SatchelSession) -> int:
    """Copy every item of ``source`` into ``target``, oldest first, and return how many.
    ``source`` is left as it is. Run it while nothing writes to either session.

    :raises AlreadyExists: ``target`` holds items already (so a second run does not
        duplicate the history).
    """
    if await target.get_items(limit=1):
        raise AlreadyExists(
            f"target: session {target.session_id!r} holds items already; clear it first"
        )
    items = await source.get_items()
    for start in range(0, len(items), MAX_LOG_BATCH):
        await target.add_items(items[start : start + MAX_LOG_BATCH])
    return len(items)
