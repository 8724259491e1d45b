"""The checks of :class:`~satchel_langgraph.SatchelSaver`'s arguments: each bad one is an
:class:`~satchel.InvalidArgument` whose message names it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import get_checkpoint_id

from satchel import InvalidArgument

__all__ = [
    "checkpoint_id_of",
    "id_list",
    "namespace_of",
    "thread_id_of",
    "thread_of",
    "unicode",
]


T = TypeVar("T")


def thread_of(config: RunnableConfig) -> str:
    """The thread id of ``config`` (as text)."""
    thread_id = config.get("configurable", {}).get("thread_id")
    if thread_id is None or thread_id == "":
        raise InvalidArgument("config: configurable.thread_id is required")
    return unicode(str(thread_id), "config: configurable.thread_id")


def namespace_of(config: RunnableConfig) -> str:
    """The checkpoint namespace of ``config`` (``""``, the root, when it names none)."""
    checkpoint_ns = config.get("configurable", {}).get("checkpoint_ns", "")
    if not isinstance(checkpoint_ns, str):
        raise InvalidArgument(
            f"config: configurable.checkpoint_ns must be a string, not {checkpoint_ns!r}"
        )
    return unicode(checkpoint_ns, "config: configurable.checkpoint_ns")


def checkpoint_id_of(config: RunnableConfig) -> str | None:
    """The checkpoint id of ``config`` (LangGraph's ``get_checkpoint_id``), if it has one."""
    checkpoint_id = get_checkpoint_id(config)
    if checkpoint_id is not None:
        unicode(checkpoint_id, "config: configurable.checkpoint_id")
    return checkpoint_id


def unicode(text: T, argument: str) -> T:
    """``text``, or :class:`InvalidArgument` naming ``argument`` when it holds a lone
    surrogate (text that is not valid Unicode, which no server takes: refused before
    anything is read or written, the same on every backend)."""
    if isinstance(text, str) and not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(
                f"{argument}: {text!r:.60} holds a lone surrogate, which is not valid Unicode"
            ) from None
    return text


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
    return unicode(thread_id, argument)


def id_list(ids: Any, argument: str) -> list[str]:
    """The distinct ids of ``ids``, a sequence of non-empty strings (or whole numbers or
    UUIDs, taken as their text; a lone string is refused), given as ``argument``."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InvalidArgument(f"{argument}: must be a list of strings, not {ids!r}")
    return list(dict.fromkeys(thread_id_of(one, f"{argument} item") for one in ids))
