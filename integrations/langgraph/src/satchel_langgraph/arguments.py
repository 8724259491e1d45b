"""The checks of :class:`~satchel_langgraph.SatchelSaver`'s arguments: each bad one is an
:class:`~satchel.InvalidArgument` whose message names it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.runnables import RunnableConfig

from satchel import InvalidArgument

__all__ = ["id_list", "namespace_of", "thread_id_of", "thread_of"]


def thread_of(config: RunnableConfig) -> str:
    """The thread id of ``config`` (as text)."""
    thread_id = config.get("configurable", {}).get("thread_id")
    if thread_id is None or thread_id == "":
        raise InvalidArgument("config: configurable.thread_id is required")
    return str(thread_id)


def namespace_of(config: RunnableConfig) -> str:
    """The checkpoint namespace of ``config`` (``""``, the root, when it names none)."""
    checkpoint_ns = config.get("configurable", {}).get("checkpoint_ns", "")
    if not isinstance(checkpoint_ns, str):
        raise InvalidArgument(
            f"config: configurable.checkpoint_ns must be a string, not {checkpoint_ns!r}"
        )
    return checkpoint_ns


def thread_id_of(thread_id: Any, argument: str) -> str:
    """``thread_id``, a non-empty string, given as ``argument``; a whole number or a UUID
    is taken as its text, as a config's ``thread_id`` is (:func:`thread_of`), so that a
    thread run with ``thread_id=42`` is deleted by ``42`` too."""
    if isinstance(thread_id, (int, UUID)) and not isinstance(thread_id, bool):
        thread_id = str(thread_id)
    if not isinstance(thread_id, str) or not thread_id:
        raise InvalidArgument(
            f"{argument}: must be a non-empty string (or a whole number or UUID), not {thread_id!r}"
        )
    return thread_id


def id_list(ids: Any, argument: str) -> list[str]:
    """The distinct ids of ``ids``, a sequence of non-empty strings (or whole numbers or
    UUIDs, taken as their text; a lone string is refused), given as ``argument``."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InvalidArgument(f"{argument}: must be a list of strings, not {ids!r}")
    return list(dict.fromkeys(thread_id_of(one, f"{argument} item") for one in ids))
