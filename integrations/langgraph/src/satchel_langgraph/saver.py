""":class:`SatchelSaver`: LangGraph's ``BaseCheckpointSaver`` over satchel KV namespaces."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from satchel import InvalidArgument, Satchel
from satchel.backend import JSONValue
from satchel.stores.kv import Entry, KVStore
from satchel.validation import check_name
from satchel_langgraph.handle import HandleOwner
from satchel_langgraph.records import (
    checkpoint_key,
    dump_blob,
    filterable,
    load_blob,
    write_key,
)

__all__ = ["NAMESPACE", "SatchelSaver"]

#: The prefix of the KV namespaces the checkpoints (``<prefix>.checkpoints``) and the
#: pending writes (``<prefix>.writes``) live in by default.
NAMESPACE = "langgraph"
#: Records read per query page when listing or deleting.
_PAGE = 500


class SatchelSaver(BaseCheckpointSaver[str], HandleOwner):
    """A LangGraph checkpointer keeping checkpoints and pending writes in satchel, on
    whichever backend it is configured with. Pass it to ``builder.compile(checkpointer=...)``.

    * ``SatchelSaver()``: a handle opened from the environment (``SATCHEL_BACKEND`` and the
      rest, as :func:`satchel.open` reads them) on first use, closed by :meth:`close`;
    * ``SatchelSaver(store=handle)``: a handle the program opened itself (and closes itself).

    The async methods (``aput``, ``aget_tuple``, ``alist``, ...) run on the caller's loop;
    the blocking ones (``put``, ``get_tuple``, ``list``, ...) run the same code on a private
    event loop thread, so a graph can be run with ``invoke`` or ``ainvoke``.

    :param store: the satchel handle to keep the checkpoints in.
    :param namespace: the prefix of the two KV namespaces used.
    :param serde: LangGraph's serializer of checkpoints and written values (default: its
        ``JsonPlusSerializer``).
    :raises InvalidArgument: an argument has the wrong type or value; the message names it.
    """

    def __init__(
        self,
        *,
        store: Satchel | None = None,
        namespace: str = NAMESPACE,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self._init_handle(store)
        self._namespace = check_name(namespace, "namespace")

    # -- the stores ---------------------------------------------------------------------------

    @property
    def checkpoints(self) -> KVStore:
        """The KV namespace of the checkpoints."""
        return self.store.kv(f"{self._namespace}.checkpoints")

    @property
    def writes(self) -> KVStore:
        """The KV namespace of the pending writes."""
        return self.store.kv(f"{self._namespace}.writes")

    # -- async API ----------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint of ``config`` (its ``checkpoint_id``, or the thread's latest in
        its ``checkpoint_ns``) with its pending writes, or ``None``."""
        thread_id, checkpoint_ns = _thread(config), _ns(config)
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id:
            value = await self.checkpoints.get(
                checkpoint_key(thread_id, checkpoint_ns, checkpoint_id)
            )
            if value is None:
                return None
        else:
            page = await self.checkpoints.query(
                _where(thread_id, checkpoint_ns), order_by="-checkpoint_id", limit=1
            )
            if not page.items:
                return None
            value = page.items[0].value
        return await self._tuple(value)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """The checkpoints matching every argument, newest (highest ``checkpoint_id``)
        first: of ``config``'s thread (all threads when ``None``), of its
        ``checkpoint_ns`` (all namespaces when it has none), older than ``before``, whose
        metadata has every item of ``filter``; at most ``limit``. The conditions run as a
        satchel query on the backend."""
        where: list[tuple[Any, str, Any]] = []
        if config is not None:
            configurable = config.get("configurable", {})
            if "thread_id" in configurable:
                where.append(("thread_id", "eq", _thread(config)))
            if "checkpoint_ns" in configurable:
                where.append(("checkpoint_ns", "eq", _ns(config)))
            if checkpoint_id := get_checkpoint_id(config):
                where.append(("checkpoint_id", "eq", checkpoint_id))
        if before is not None and (before_id := get_checkpoint_id(before)):
            where.append(("checkpoint_id", "lt", before_id))
        pushed = True
        for name, wanted in (filter or {}).items():
            if filterable({name: wanted}):
                where.append((("filter", name), "eq", wanted))
            else:
                pushed = False  # compared below, on the loaded metadata
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise InvalidArgument(f"limit: must be a whole number or None, not {limit!r}")
        remaining = limit
        cursor: str | None = None
        while remaining is None or remaining > 0:
            size = min(_PAGE, remaining) if remaining is not None and pushed else _PAGE
            page = await self.checkpoints.query(
                where, order_by="-checkpoint_id", limit=size, cursor=cursor
            )
            for entry in page.items:
                found = await self._tuple(entry.value)
                if not pushed and any(
                    name not in found.metadata or found.metadata[name] != wanted  # type: ignore[literal-required]
                    for name, wanted in (filter or {}).items()
                ):
                    continue
                yield found
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store ``checkpoint`` (all its channel values) and its metadata, as the child of
        ``config``'s ``checkpoint_id``; return the config that addresses it."""
        thread_id, checkpoint_ns = _thread(config), _ns(config)
        full_metadata = dict(get_checkpoint_metadata(config, metadata))
        record: dict[str, JSONValue] = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": config.get("configurable", {}).get("checkpoint_id"),
            "checkpoint": dump_blob(self.serde, checkpoint),
            "metadata": dump_blob(self.serde, full_metadata),
            "filter": filterable(full_metadata),
        }
        await self.checkpoints.set(
            checkpoint_key(thread_id, checkpoint_ns, checkpoint["id"]), record
        )
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store the writes of task ``task_id`` against ``config``'s checkpoint. A write
        already stored (same task and index) is kept as it is, except the special channels'
        (errors, interrupts, ...), which are replaced."""
        thread_id, checkpoint_ns = _thread(config), _ns(config)
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            raise InvalidArgument("config: configurable.checkpoint_id is required for writes")
        records: dict[str, JSONValue] = {}
        for position, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, position)
            records[write_key(thread_id, checkpoint_ns, checkpoint_id, task_id, idx)] = {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
                "task_id": task_id,
                "task_path": task_path,
                "idx": idx,
                "channel": channel,
                "value": dump_blob(self.serde, value),
            }
        if not all(w[0] in WRITES_IDX_MAP for w in writes):
            stored = await self.writes.get_many(list(records))
            records = {k: v for k, v in records.items() if k not in stored}
        if records:
            await self.writes.set_many(records)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of ``thread_id``, in every namespace."""
        if not isinstance(thread_id, str) or not thread_id:
            raise InvalidArgument(f"thread_id: must be a non-empty string, not {thread_id!r}")
        for kv in (self.writes, self.checkpoints):
            while True:
                page = await kv.query([("thread_id", "eq", thread_id)], select=[], limit=_PAGE)
                if not page.items:
                    break
                await asyncio.gather(*(kv.delete(entry.key) for entry in page.items))

    # -- blocking API -------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """:meth:`aget_tuple`, blocking."""
        return self._run().run(self.aget_tuple, config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """:meth:`alist`, blocking (read in full before the first item is returned)."""

        async def collect() -> list[CheckpointTuple]:
            return [t async for t in self.alist(config, filter=filter, before=before, limit=limit)]

        yield from self._run().run(collect)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """:meth:`aput`, blocking."""
        return self._run().run(self.aput, config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """:meth:`aput_writes`, blocking."""
        self._run().run(self.aput_writes, config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        """:meth:`adelete_thread`, blocking."""
        self._run().run(self.adelete_thread, thread_id)

    # -- lifecycle (aclose, close_loop: HandleOwner) -----------------------------------------

    def __repr__(self) -> str:
        return f"<SatchelSaver in KV namespaces {self._namespace!r}.*>"

    # -- helpers ------------------------------------------------------------------------------

    async def _tuple(self, value: JSONValue) -> CheckpointTuple:
        assert isinstance(value, dict)
        thread_id, checkpoint_ns = value["thread_id"], value["checkpoint_ns"]
        checkpoint_id, parent_id = value["checkpoint_id"], value["parent_checkpoint_id"]
        writes = await self._writes(str(thread_id), str(checkpoint_ns), str(checkpoint_id))
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": checkpoint_id,
                }
            },
            checkpoint=load_blob(self.serde, value["checkpoint"]),
            metadata=load_blob(self.serde, value["metadata"]),
            parent_config=None
            if parent_id is None
            else {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": parent_id,
                }
            },
            pending_writes=writes,
        )

    async def _writes(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> builtins.list[PendingWrite]:
        where = [
            ("thread_id", "eq", thread_id),
            ("checkpoint_ns", "eq", checkpoint_ns),
            ("checkpoint_id", "eq", checkpoint_id),
        ]
        found: builtins.list[Entry] = []
        cursor: str | None = None
        while True:
            page = await self.writes.query(where, limit=_PAGE, cursor=cursor)
            found.extend(page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        values = [e.value for e in found if isinstance(e.value, dict)]
        values.sort(key=lambda v: writes_sort_key(str(v["task_path"]), str(v["task_id"]), _int(v)))
        return [
            (str(v["task_id"]), str(v["channel"]), load_blob(self.serde, v["value"]))
            for v in values
        ]


def _thread(config: RunnableConfig) -> str:
    thread_id = config.get("configurable", {}).get("thread_id")
    if thread_id is None or thread_id == "":
        raise InvalidArgument("config: configurable.thread_id is required")
    return str(thread_id)


def _ns(config: RunnableConfig) -> str:
    checkpoint_ns = config.get("configurable", {}).get("checkpoint_ns", "")
    if not isinstance(checkpoint_ns, str):
        raise InvalidArgument(
            f"config: configurable.checkpoint_ns must be a string, not {checkpoint_ns!r}"
        )
    return checkpoint_ns


def _int(write: dict[str, JSONValue]) -> int:
    idx = write["idx"]
    return idx if isinstance(idx, int) else 0


def _where(thread_id: str, checkpoint_ns: str) -> list[tuple[Any, str, Any]]:
    return [("thread_id", "eq", thread_id), ("checkpoint_ns", "eq", checkpoint_ns)]
