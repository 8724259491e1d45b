""":class:`SatchelSaver`: LangGraph's ``BaseCheckpointSaver`` over satchel KV namespaces."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import random
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import datetime, timedelta
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from satchel import AlreadyExists, InvalidArgument, Satchel, ValueTooLarge
from satchel.backend import JSONValue, Record, expiry_after
from satchel.stores.kv import KVStore
from satchel.validation import check_name, check_ttl
from satchel_langgraph import maintenance
from satchel_langgraph.arguments import (
    checkpoint_id_of,
    id_list,
    namespace_of,
    thread_id_of,
    thread_of,
    unicode,
)
from satchel_langgraph.handle import HandleOwner
from satchel_langgraph.maintenance import PAGE, walk
from satchel_langgraph.records import (
    blob_key,
    channel_record,
    checkpoint_key,
    checkpoint_record,
    filterable,
    key_prefix,
    load_blob,
    run_index,
    write_key,
    write_record,
)

__all__ = ["NAMESPACE", "SatchelSaver"]

#: The prefix of the KV namespaces the checkpoints (``<prefix>.checkpoints``), the channel
#: values (``<prefix>.blobs``) and the pending writes (``<prefix>.writes``) live in by
#: default.
NAMESPACE = "langgraph"
#: Checkpoints ``list`` loads at once (each with its values and writes).
_AHEAD = 4

T = TypeVar("T")


class SatchelSaver(BaseCheckpointSaver[str], HandleOwner):
    """A LangGraph checkpointer keeping checkpoints, channel values and pending writes in
    satchel, on whichever backend it is configured with. Pass it to
    ``builder.compile(checkpointer=...)``.

    * ``SatchelSaver()``: the process's handle (:func:`satchel.shared.shared_store`),
      opened from the environment (``SATCHEL_BACKEND`` and the rest, as
      :func:`satchel.open` reads them) the first time any saver or store needs it, and
      shared by every one built this way; ``close_shared_store()`` closes it;
    * ``SatchelSaver(store=handle)``: a handle the program opened itself (and closes itself);
    * ``SatchelSaver.open(backend=..., ...)``: a handle of its own, closed by :meth:`aclose`.

    The async methods (``aput``, ``aget_tuple``, ``alist``, ...) run on the caller's loop;
    the blocking ones (``put``, ``get_tuple``, ``list``, ...) run the same code on a private
    event loop thread, so a graph can be run with ``invoke`` or ``ainvoke``.

    :param store: the satchel handle to keep the checkpoints in (default: the process's).
    :param namespace: the prefix of the three KV namespaces used.
    :param serde: LangGraph's serializer of checkpoints and written values (default: its
        ``JsonPlusSerializer``).
    :param ttl: seconds (or a ``timedelta``) a checkpoint lives after it is put, with its
        pending writes and the channel values it reads; each put renews the values its
        checkpoint reads, so a thread lives ``ttl`` after its last put. ``None`` (default):
        nothing expires.
    :raises InvalidArgument: an argument has the wrong type or value; the message names it.
    """

    def __init__(
        self,
        *,
        store: Satchel | None = None,
        namespace: str = NAMESPACE,
        serde: SerializerProtocol | None = None,
        ttl: float | timedelta | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self._init_handle(store)
        self._namespace = check_name(namespace, "namespace")
        self._ttl = check_ttl(ttl, "ttl")

    @classmethod
    def open(
        cls,
        *,
        serde: SerializerProtocol | None = None,
        ttl: float | timedelta | None = None,
        **open_arguments: Any,
    ) -> SatchelSaver:
        """A saver on a handle of its own, ``satchel.open(**open_arguments)``
        (``backend="redis", backend_settings={"url": ...}``; ``namespace=`` is satchel's
        namespace there), which :meth:`aclose` closes. Its KV namespaces have the default
        prefix; for another, pass a handle: ``SatchelSaver(store=..., namespace=...)``."""
        saver = cls(serde=serde, ttl=ttl)  # bad arguments fail here
        saver._adopt(cls._open_handle(open_arguments))
        return saver

    # -- the stores ---------------------------------------------------------------------------

    @property
    def ttl(self) -> float | None:
        """Seconds a checkpoint lives after it is put (``None``: forever)."""
        return self._ttl

    @property
    def checkpoints(self) -> KVStore:
        """The KV namespace of the checkpoints."""
        return self.store.kv(f"{self._namespace}.checkpoints")

    @property
    def blobs(self) -> KVStore:
        """The KV namespace of the channel values, one record per channel and version."""
        return self.store.kv(f"{self._namespace}.blobs")

    @property
    def writes(self) -> KVStore:
        """The KV namespace of the pending writes."""
        return self.store.kv(f"{self._namespace}.writes")

    # -- async API ----------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint of ``config`` (its ``checkpoint_id``, or the thread's latest in
        its ``checkpoint_ns``) with its channel values and pending writes, or ``None``."""
        thread_id, checkpoint_ns = thread_of(config), namespace_of(config)
        checkpoint_id = checkpoint_id_of(config)
        if checkpoint_id:
            value = await self.checkpoints.get(
                checkpoint_key(thread_id, checkpoint_ns, checkpoint_id)
            )
            if value is None:
                return None
        else:
            # the keys of a namespace sort newest first: its first record is the latest
            page = await self.checkpoints.query(
                [("key", "startswith", key_prefix(thread_id, checkpoint_ns))], limit=1
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
        satchel query on the backend; a thread is read from its key range alone."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise InvalidArgument(f"limit: must be a whole number or None, not {limit!r}")
        if filter is not None and not isinstance(filter, Mapping):
            raise InvalidArgument(
                f"filter: must be a mapping of metadata keys to values or None, "
                f"not {type(filter).__name__}"
            )
        where: list[tuple[Any, str, Any]] = []
        order_by: str | None = "-checkpoint_id"
        if config is not None:
            configurable = config.get("configurable", {})
            checkpoint_id = checkpoint_id_of(config)
            if "thread_id" in configurable:
                thread_id = thread_of(config)
                if "checkpoint_ns" in configurable:
                    checkpoint_ns = namespace_of(config)
                    where.append(("key", "startswith", key_prefix(thread_id, checkpoint_ns)))
                    order_by = None  # the range's key order is newest first
                    if checkpoint_id:
                        key = checkpoint_key(thread_id, checkpoint_ns, checkpoint_id)
                        where.append(("key", "eq", key))
                else:
                    where.append(("key", "startswith", key_prefix(thread_id)))
            elif "checkpoint_ns" in configurable:
                where.append(("checkpoint_ns", "eq", namespace_of(config)))
            if checkpoint_id:
                where.append(("checkpoint_id", "eq", checkpoint_id))
        if before is not None and (before_id := checkpoint_id_of(before)):
            where.append(("checkpoint_id", "lt", before_id))
        pushed = True
        for name, wanted in (filter or {}).items():
            if _pushable(name, wanted):
                where.append((("filter", name), "eq", wanted))
            else:
                pushed = False  # compared below, on the loaded metadata
        remaining = limit
        cursor: str | None = None
        while remaining is None or remaining > 0:
            size = min(PAGE, remaining) if remaining is not None and pushed else PAGE
            page = await self.checkpoints.query(where, order_by=order_by, limit=size, cursor=cursor)
            loading = _ahead(self._tuple(entry.value) for entry in page.items)
            async with contextlib.aclosing(loading) as loaded:
                async for found in loaded:
                    if not pushed and any(
                        found.metadata.get(name) != wanted  # a missing key is None
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
        """Store ``checkpoint`` and its metadata as the child of ``config``'s
        ``checkpoint_id``; return the config that addresses it.

        Each channel value is a record of its own, written when ``new_versions`` names the
        channel (with a ``ttl``, every value the checkpoint reads is written again, to live
        as long as it). The values are written first, in one batch, then the checkpoint:
        a value larger than the backend takes raises :class:`~satchel.ValueTooLarge` and
        nothing is stored.

        A put never leaves a checkpoint whose values are missing:

        * when writing the checkpoint fails (the backend went away, ...), the checkpoint
          and the values this put wrote are deleted again before the error is raised; if
          that fails too, the values are left without a checkpoint that reads them
          (unreachable) and the thread's deletion reclaims them (with a ``ttl``, they also
          expire);
        * a put that races :meth:`adelete_thread` of its thread is checked once written:
          its parent checkpoint must still be there (or, without one, every value it
          reads); if not, the thread was deleted under it, and the put deletes its
          checkpoint and values, so that the thread stays deleted."""
        thread_id, checkpoint_ns = thread_of(config), namespace_of(config)
        parent_id = config.get("configurable", {}).get("checkpoint_id")
        if isinstance(parent_id, str):
            unicode(parent_id, "config: configurable.checkpoint_id")
        unicode(checkpoint["id"], "checkpoint: id")
        values = checkpoint["channel_values"]
        versions = checkpoint["channel_versions"]
        for channel in (*values, *versions, *new_versions):
            unicode(channel, "checkpoint: channel name")
        expires = expiry_after(self._ttl)
        blobs = {ch: versions[ch] for ch in values if ch in versions}
        written = {ch: v for ch, v in new_versions.items() if ch in values}
        blobs.update(written)
        if self._ttl is not None:
            written = blobs  # renewed, so that they live as long as this checkpoint
        blob_records = [
            Record(
                self.blobs.collection,
                blob_key(thread_id, checkpoint_ns, ch, version),
                channel_record(self.serde, thread_id, checkpoint_ns, ch, version, values[ch]),
                expires_at=expires,
            )
            for ch, version in written.items()
        ]
        value = checkpoint_record(
            self.serde,
            thread_id,
            checkpoint_ns,
            checkpoint,
            dict(get_checkpoint_metadata(config, metadata)),
            parent_id,
            blobs,
        )
        record = Record(
            self.checkpoints.collection,
            checkpoint_key(thread_id, checkpoint_ns, checkpoint["id"]),
            value,
            expires_at=expires,
            index=run_index(value["filter"]),
        )
        fresh = [r.key for r in blob_records if r.value["channel"] in new_versions]
        undo = functools.partial(self._undo, thread_id, checkpoint_ns, parent_id, fresh)
        backend = self.store.backend
        if blob_records:
            try:
                await backend.put_many(blob_records)
            except ValueTooLarge as exc:
                raise _too_large(exc, thread_id, checkpoint["id"], blob_records) from None
        try:
            await backend.put(record)
        except InvalidArgument:
            await undo(None)  # refused before it was written: only the values are there
            raise
        except Exception:
            await undo(record.key)  # it may have been written all the same (a reply lost)
            raise
        if not await self._complete(thread_id, checkpoint_ns, parent_id, blobs):
            await undo(record.key)
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
        already stored (same task and index) is kept as it is, also against a concurrent
        call: each is created only if absent, in one atomic step, so the first one stored
        stays. The special channels' writes (errors, interrupts, ...) are replaced. With a
        ``ttl``, the writes expire with their checkpoint. A write too large for the backend
        raises :class:`~satchel.ValueTooLarge`, and none of the call's writes is stored."""
        thread_id, checkpoint_ns = thread_of(config), namespace_of(config)
        checkpoint_id = checkpoint_id_of(config)
        if not checkpoint_id:
            raise InvalidArgument("config: configurable.checkpoint_id is required for writes")
        unicode(task_id, "task_id")
        unicode(task_path, "task_path")
        for n, (channel, _) in enumerate(writes):
            unicode(channel, f"writes[{n}] channel")
        records: dict[str, dict[str, JSONValue]] = {}
        for position, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, position)
            key = write_key(thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
            records[key] = write_record(
                self.serde,
                thread_id,
                checkpoint_ns,
                checkpoint_id,
                task_id,
                task_path,
                idx,
                channel,
                value,
            )
        if not records:
            return
        expires = await self._writes_expiry(thread_id, checkpoint_ns, checkpoint_id)
        batch = [
            Record(self.writes.collection, key, record, expires_at=expires)
            for key, record in records.items()
        ]
        kept = [r for r in batch if r.value["idx"] >= 0]
        replaced = [r for r in batch if r.value["idx"] < 0]
        backend = self.store.backend
        # the regular writes first: the special ones, which replace, go only once those
        # succeeded, so that a refusal leaves nothing of the call
        outcomes = await asyncio.gather(
            *(backend.put(r, if_absent=True) for r in kept), return_exceptions=True
        )
        created = [o for o in outcomes if isinstance(o, Record)]
        failed = [
            o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, AlreadyExists)
        ]
        try:
            if failed:
                raise failed[0]
            if replaced:
                await backend.put_many(replaced)
        except Exception as exc:
            with contextlib.suppress(Exception):  # what this call created goes again
                await asyncio.gather(
                    *(backend.delete(r.collection, r.key, if_version=r.version) for r in created)
                )
            if isinstance(exc, ValueTooLarge):
                raise _too_large(exc, thread_id, checkpoint_id, batch, task_id) from None
            raise

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, channel value and write of ``thread_id``, in every
        namespace."""
        await maintenance.delete_thread(self, thread_id_of(thread_id, "thread_id"))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints made by the runs ``run_ids`` (their metadata's
        ``run_id``), with their pending writes and the channel values no other checkpoint
        reads. The checkpoints are found by the record index ``run_id``."""
        await maintenance.delete_for_runs(self, id_list(run_ids, "run_ids"))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint of ``source_thread_id`` (in every namespace) with its
        channel values and pending writes to ``target_thread_id``; records the target
        holds under the same ids are replaced. The copies take this saver's ``ttl`` from
        now."""
        source = thread_id_of(source_thread_id, "source_thread_id")
        target = thread_id_of(target_thread_id, "target_thread_id")
        if source == target:
            raise InvalidArgument("target_thread_id: must differ from source_thread_id")
        await maintenance.copy_thread(self, source, target)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune the threads ``thread_ids``: ``"keep_latest"`` keeps the latest checkpoint
        of each namespace (with the ancestors its ``DeltaChannel`` values are rebuilt from,
        back to the nearest that holds each one's value), their writes and the channel
        values they read; ``"delete"`` deletes the threads."""
        if strategy not in ("keep_latest", "delete"):
            raise InvalidArgument(f"strategy: must be 'keep_latest' or 'delete', not {strategy!r}")
        for thread_id in id_list(thread_ids, "thread_ids"):
            if strategy == "delete":
                await maintenance.delete_thread(self, thread_id)
            else:
                await maintenance.keep_latest(self, thread_id)

    def get_next_version(self, current: str | int | float | None, channel: None) -> str:
        """A version above ``current`` with a random tail: a fork of a thread never reuses
        a version another branch wrote with another value (channel values are keyed by
        version)."""
        if current is None:
            number = 0
        elif isinstance(current, (int, float)):
            number = int(current)
        else:
            number = int(current.split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

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

        async def collect() -> builtins.list[CheckpointTuple]:
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

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """:meth:`adelete_for_runs`, blocking."""
        self._run().run(self.adelete_for_runs, run_ids)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """:meth:`acopy_thread`, blocking."""
        self._run().run(self.acopy_thread, source_thread_id, target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """:meth:`aprune`, blocking."""
        self._run().run(self.aprune, thread_ids, strategy=strategy)

    # -- lifecycle (aclose, close_loop: HandleOwner) -----------------------------------------

    def __repr__(self) -> str:
        return f"<SatchelSaver in KV namespaces {self._namespace!r}.*>"

    # -- helpers ------------------------------------------------------------------------------

    async def _complete(
        self,
        thread_id: str,
        checkpoint_ns: str,
        parent_id: str | None,
        blobs: dict[str, Any],
    ) -> bool:
        """Whether a checkpoint just written still has every value it reads, also when
        :func:`~satchel_langgraph.maintenance.delete_thread` ran meanwhile.

        Its parent still there is enough: a deletion removes a thread's checkpoints
        before its values, and goes on until it finds no checkpoint, so it either removed
        none of the values yet (and will find this checkpoint) or removed the parent. The
        values the parent reads are there since its own put passed this check. Without a
        parent (or with one that is gone), every value is read back."""
        if parent_id:
            parent = await self.store.backend.get(
                self.checkpoints.collection, checkpoint_key(thread_id, checkpoint_ns, parent_id)
            )
            if parent is not None:
                return True
        keys = [blob_key(thread_id, checkpoint_ns, ch, v) for ch, v in blobs.items()]
        return not keys or len(await self.blobs.get_many(keys)) == len(keys)

    async def _undo(
        self,
        thread_id: str,
        checkpoint_ns: str,
        parent_id: str | None,
        fresh: builtins.list[str],
        key: str | None,
    ) -> None:
        """Delete a put's checkpoint ``key`` (if it may have been written), then the values
        it wrote (``fresh``) that its parent does not read (a copied thread's versions
        repeat from checkpoint to checkpoint). A failure stops it: the checkpoint, while
        there, keeps its values; values left without it are unreachable, and reclaimed when
        the thread is deleted."""
        try:
            if key is not None:
                await self.checkpoints.delete(key)
            if parent_id and fresh:
                parent = await self.checkpoints.get(
                    checkpoint_key(thread_id, checkpoint_ns, parent_id)
                )
                if isinstance(parent, dict):
                    shared = maintenance.blob_keys(thread_id, checkpoint_ns, parent)
                    fresh = [k for k in fresh if k not in shared]
            await maintenance.delete_keys(self.blobs, fresh)
        except Exception:
            return

    async def _writes_expiry(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> datetime | None:
        """When the writes against a checkpoint expire: with it (``None`` without a ttl)."""
        if self._ttl is None:
            return None
        entry = await self.checkpoints.get_entry(
            checkpoint_key(thread_id, checkpoint_ns, checkpoint_id)
        )
        if entry is not None and entry.expires_at is not None:
            return entry.expires_at
        return expiry_after(self._ttl)

    async def _tuple(self, value: JSONValue) -> CheckpointTuple:
        assert isinstance(value, dict)
        thread_id, checkpoint_ns = str(value["thread_id"]), str(value["checkpoint_ns"])
        checkpoint_id, parent_id = value["checkpoint_id"], value["parent_checkpoint_id"]
        channels = {
            blob_key(thread_id, checkpoint_ns, ch, version): ch
            for ch, version in value["blobs"].items()
        }
        blobs, writes = await asyncio.gather(
            self.blobs.get_many(builtins.list(channels)) if channels else _no_keys(),
            self._writes(thread_id, checkpoint_ns, str(checkpoint_id)),
        )
        checkpoint = load_blob(self.serde, value["checkpoint"])
        checkpoint["channel_values"] = {
            channels[key]: load_blob(self.serde, blob) for key, blob in blobs.items()
        }
        configurable = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        return CheckpointTuple(
            config={"configurable": {**configurable, "checkpoint_id": checkpoint_id}},
            checkpoint=checkpoint,
            metadata=load_blob(self.serde, value["metadata"]),
            parent_config=None
            if parent_id is None
            else {"configurable": {**configurable, "checkpoint_id": parent_id}},
            pending_writes=writes,
        )

    async def _writes(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> builtins.list[PendingWrite]:
        prefix = key_prefix(thread_id, checkpoint_ns, checkpoint_id)
        values = [e.value async for e in walk(self.writes, prefix) if isinstance(e.value, dict)]
        values.sort(key=lambda v: writes_sort_key(str(v["task_path"]), str(v["task_id"]), _int(v)))
        return [(str(v["task_id"]), str(v["channel"]), load_blob(self.serde, v)) for v in values]


async def _ahead(loads: Iterator[Awaitable[T]]) -> AsyncGenerator[T, None]:
    """The results of ``loads``, in order, with up to :data:`_AHEAD` of them running at once
    (those still running when the caller stops are cancelled)."""
    running: deque[asyncio.Future[T]] = deque()
    try:
        for load in loads:
            running.append(asyncio.ensure_future(load))
            if len(running) >= _AHEAD:
                yield await running.popleft()
        while running:
            yield await running.popleft()
    finally:
        for future in running:
            future.cancel()


def _pushable(name: Any, wanted: Any) -> bool:
    """Whether the filter item ``name: wanted`` can run as a query condition: a JSON value
    under a key a query path can name (a non-empty string of valid Unicode). Any other item
    is compared on the loaded metadata, as LangGraph's savers compare every key; so is
    ``None``, which (as in LangGraph's savers) also matches metadata without the key."""
    if not isinstance(name, str) or not name or wanted is None:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(filterable({name: wanted}))


async def _no_keys() -> dict[str, JSONValue]:
    return {}


def _too_large(
    exc: ValueTooLarge,
    thread_id: str,
    checkpoint_id: str,
    records: Sequence[Record],
    task_id: str | None = None,
) -> ValueTooLarge:
    """The backend's refusal, naming the largest value of the batch (nothing was written)."""
    largest = max(records, key=lambda r: len(r.value["data"]))
    size = len(largest.value["data"]) * 3 // 4
    what = "a pending write" if task_id is not None else "the value"
    where = f" of task {task_id!r}" if task_id is not None else ""
    return ValueTooLarge(
        f"{what} of channel {largest.value['channel']!r}{where} (checkpoint "
        f"{checkpoint_id!r} of thread {thread_id!r}) is too large to store: about {size} "
        f"bytes serialized, {len(largest.value['data'])} as base64 text; nothing was "
        f"written. Keep large data out of the graph state (store a reference to it). "
        f"The backend said: {exc}"
    )


def _int(write: dict[str, JSONValue]) -> int:
    idx = write["idx"]
    return idx if isinstance(idx, int) else 0
