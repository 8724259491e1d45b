"""Moving threads from another LangGraph checkpointer (``InMemorySaver``, ``SqliteSaver``,
``MongoDBSaver``, any ``BaseCheckpointSaver``) into a
:class:`~satchel_langgraph.SatchelSaver`, through the savers' public methods only: the
source's ``list`` and ``get_tuple``, the target's ``put`` and ``put_writes``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from satchel import InvalidArgument
from satchel_langgraph.saver import SatchelSaver

__all__ = ["acopy_checkpoints", "copy_checkpoints"]

#: What the target's ``put_writes`` is called with: config, writes, task id, task path.
_Writes = tuple[RunnableConfig, list[tuple[str, Any]], str, str]
#: What the target's ``put`` is called with.
_Put = tuple[RunnableConfig, Checkpoint, CheckpointMetadata, ChannelVersions]


def copy_checkpoints(
    source: BaseCheckpointSaver[Any],
    target: SatchelSaver,
    thread_ids: Iterable[str] | None = None,
) -> int:
    """Copy the checkpoints of ``thread_ids`` (every thread of ``source`` when ``None``),
    in every checkpoint namespace, with their metadata, parents and pending writes, from
    ``source`` into ``target``; return how many checkpoints were copied. Ids are kept, so
    a graph compiled with ``target`` goes on where it was, history and all. ``source`` is
    left as it is. Run it while nothing writes to either saver.

    Copying again copies the same records again, with the same ids: nothing is
    duplicated, so an interrupted copy is finished by running it again. Each thread is
    copied oldest checkpoint first, each checkpoint after its pending writes.

    Channel versions that are numbers (``MongoDBSaver``'s, the base class's) are copied as
    the ``"<counter>.<tail>"`` strings the target makes, with the same counters, so that
    the graph can go on from them; every other part of a checkpoint is copied as it is.

    Blocking (it calls the savers' blocking methods): for a saver that has only the async
    ones (``AsyncSqliteSaver``, ...) use :func:`acopy_checkpoints`.

    :raises InvalidArgument: ``source`` is not a checkpointer, ``target`` not a
        ``SatchelSaver``, or ``thread_ids`` not a collection of thread ids (nothing is
        copied then).
    """
    scopes = _scopes(source, target, thread_ids)
    copied = 0
    for scope in scopes:
        configs = [found.config for found in source.list(scope)]  # read before get_tuple
        for config in reversed(configs):  # oldest first
            found = source.get_tuple(config)
            if found is None:  # deleted since it was listed
                continue
            for writes in _writes(found):
                target.put_writes(*writes)
            target.put(*_put(found, target))
            copied += 1
    return copied


async def acopy_checkpoints(
    source: BaseCheckpointSaver[Any],
    target: SatchelSaver,
    thread_ids: Iterable[str] | None = None,
) -> int:
    """:func:`copy_checkpoints` through the savers' async methods (``alist``,
    ``aget_tuple``, ``aput``, ``aput_writes``), for a saver that has only those
    (``AsyncSqliteSaver``, ...)."""
    scopes = _scopes(source, target, thread_ids)
    copied = 0
    for scope in scopes:
        configs = [found.config async for found in source.alist(scope)]
        for config in reversed(configs):
            found = await source.aget_tuple(config)
            if found is None:
                continue
            for writes in _writes(found):
                await target.aput_writes(*writes)
            await target.aput(*_put(found, target))
            copied += 1
    return copied


def _scopes(
    source: Any, target: Any, thread_ids: Iterable[str] | None
) -> list[RunnableConfig | None]:
    """The configs to list ``source`` with (``None``: every thread), after checking every
    argument."""
    if not isinstance(source, BaseCheckpointSaver):
        raise InvalidArgument(
            f"source: must be a LangGraph checkpointer (a BaseCheckpointSaver), "
            f"not {type(source).__name__}"
        )
    if not isinstance(target, SatchelSaver):
        raise InvalidArgument(f"target: must be a SatchelSaver, not {type(target).__name__}")
    if thread_ids is None:
        return [None]
    if isinstance(thread_ids, (str, bytes)) or not isinstance(thread_ids, Iterable):
        raise InvalidArgument(
            f"thread_ids: must be a collection of thread ids (a list of strings) or None, "
            f"not {type(thread_ids).__name__}"
        )
    wanted = list(dict.fromkeys(thread_ids))
    for thread_id in wanted:
        if not isinstance(thread_id, str) or not thread_id:
            raise InvalidArgument(f"thread_ids: each must be a non-empty string, not {thread_id!r}")
    return [{"configurable": {"thread_id": thread_id}} for thread_id in wanted]


def _put(found: CheckpointTuple, target: SatchelSaver) -> _Put:
    """The arguments of ``put`` that store ``found`` as the child of its parent."""
    configurable = found.config["configurable"]
    config: dict[str, Any] = {
        "thread_id": configurable["thread_id"],
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
    }
    if found.parent_config is not None:
        config["checkpoint_id"] = found.parent_config["configurable"]["checkpoint_id"]
    checkpoint = found.checkpoint
    if isinstance(target.get_next_version(None, None), str):
        checkpoint = _string_versions(checkpoint)
    # every channel is new to the target: all of the checkpoint's values are stored
    versions = dict(checkpoint["channel_versions"])
    return {"configurable": config}, checkpoint, found.metadata, versions


def _string_versions(checkpoint: Checkpoint) -> Checkpoint:
    """``checkpoint`` with its channel versions as ``"<counter>.<tail>"`` strings, the form
    of LangGraph's own savers and of the target's next versions: a version that is a number
    (the base class's, kept by ``MongoDBSaver`` and others) becomes its counter with a tail
    of zeros, the same on every copy. A graph compares a checkpoint's versions with the new
    ones it makes, which it cannot do between a number and a string."""

    def convert(version: Any) -> Any:
        return f"{int(version):032}.{0:016}" if _is_number(version) else version

    versions = checkpoint["channel_versions"]
    seen = checkpoint["versions_seen"]
    every = [*versions.values(), *(v for by_node in seen.values() for v in by_node.values())]
    if not any(map(_is_number, every)):
        return checkpoint
    converted = checkpoint.copy()
    converted["channel_versions"] = {ch: convert(v) for ch, v in versions.items()}
    converted["versions_seen"] = {
        node: {ch: convert(v) for ch, v in by_node.items()} for node, by_node in seen.items()
    }
    return converted


def _is_number(version: Any) -> bool:
    return isinstance(version, (int, float)) and not isinstance(version, bool)


def _writes(found: CheckpointTuple) -> list[_Writes]:
    """The ``put_writes`` calls that store ``found``'s pending writes: per task, its
    ordinary writes in their order (their index is their position), then those of the
    special channels (errors, interrupts, ...; their index is fixed). A ``PendingWrite``
    does not carry the task path its saver sorted it by, so each task is given one of its
    rank (``0000000000``, ``0000000001``, ...): the target returns the writes in the
    source's order, and before those of any task that runs later (whose paths start
    with ``~``)."""
    config: RunnableConfig = {
        "configurable": {
            "thread_id": found.config["configurable"]["thread_id"],
            "checkpoint_ns": found.config["configurable"].get("checkpoint_ns", ""),
            "checkpoint_id": found.checkpoint["id"],
        }
    }
    tasks: dict[str, tuple[list[tuple[str, Any]], list[tuple[str, Any]]]] = {}
    for task_id, channel, value in found.pending_writes or ():
        ordinary, special = tasks.setdefault(task_id, ([], []))
        (special if channel in WRITES_IDX_MAP else ordinary).append((channel, value))
    calls: list[_Writes] = []
    for rank, (task_id, (ordinary, special)) in enumerate(tasks.items()):
        path = f"{rank:010d}"
        calls.extend((config, writes, task_id, path) for writes in (ordinary, special) if writes)
    return calls
