""":class:`SatchelStore`: LangGraph's ``BaseStore`` (long-term memory) over a satchel KV
namespace."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from satchel import Conflict, InvalidArgument, NotFound, Satchel
from satchel.backend import JSONValue, Record, expiry_after, utcnow
from satchel.query import MAX_COUNT
from satchel.stores.kv import Entry, KVStore
from satchel.toolkit import iter_pages
from satchel.validation import check_json, check_name, check_ttl
from satchel_langgraph.arguments import unicode
from satchel_langgraph.filters import check_filter, matches, plan
from satchel_langgraph.handle import HandleOwner
from satchel_langgraph.items import item_key, namespace_of_key, plain_item, prefix_key, to_item
from satchel_langgraph.saver import NAMESPACE

__all__ = ["SatchelStore"]

#: The keys of LangGraph's ``TTLConfig``.
_TTL_CONFIG_KEYS = frozenset(
    {"refresh_on_read", "default_ttl", "sweep_interval_minutes", "omit_expired"}
)
#: The most records one page of a search or a namespace listing reads.
_PAGE = 500


@dataclass(frozen=True)
class _Write:
    """One put of a batch, checked: the record to write (``None``: delete) and its TTL."""

    key: str
    doc: dict[str, JSONValue] | None
    ttl: float | None


class SatchelStore(BaseStore, HandleOwner):
    """LangGraph's long-term memory store on satchel: items live in one satchel KV namespace
    (``<namespace>.store``), on whichever backend satchel is configured with. Pass it to
    ``builder.compile(store=...)``, or use it directly (``put``, ``get``, ``search``,
    ``list_namespaces`` and their async twins).

    * ``SatchelStore()``: the process's handle (:func:`satchel.shared.shared_store`),
      opened from the environment (``SATCHEL_BACKEND`` and the rest, as
      :func:`satchel.open` reads them) the first time any store or saver needs it, and
      shared by every one built this way; ``close_shared_store()`` closes it;
    * ``SatchelStore(store=handle)``: a handle the program opened itself (and closes itself);
    * ``SatchelStore.open(backend=..., ...)``: a handle of its own, closed by :meth:`aclose`.

    ``abatch`` runs on the caller's event loop; ``batch`` (behind ``put``, ``get``, ...)
    runs the same code on a private event loop thread.

    Searches return items in the order of ``(namespace, key)``; filters run as satchel
    queries (see :mod:`satchel_langgraph.filters`). Items written with a ``ttl`` (minutes)
    expire, and an expired item is never returned; reads renew the TTL unless told not to.
    There is no vector search: the ``query`` of a search is ignored, as LangGraph's
    ``InMemoryStore`` ignores it without an index, and the ``index`` of a put is accepted and
    ignored.

    :param store: the satchel handle to keep the items in (default: the process's).
    :param namespace: the prefix of the KV namespace used (``<namespace>.store``), the same
        prefix as :class:`~satchel_langgraph.SatchelSaver`'s.
    :param ttl: LangGraph's ``TTLConfig``: ``default_ttl`` (minutes, for puts without a
        ``ttl``) and ``refresh_on_read`` (default ``True``). ``sweep_interval_minutes`` and
        ``omit_expired`` are accepted; satchel never returns an expired item, and its
        backends remove them by themselves.
    :param index: vector search configuration: not supported, and refused.
    :raises InvalidArgument: an argument has the wrong type or value; the message names it.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        *,
        store: Satchel | None = None,
        namespace: str = NAMESPACE,
        ttl: TTLConfig | None = None,
        index: Any = None,
    ) -> None:
        if index is not None:
            raise InvalidArgument(
                "index: SatchelStore has no vector search; leave index out (searches then "
                "match on namespace and filter, and put's index argument is ignored)"
            )
        self._init_handle(store)
        self._namespace = check_name(namespace, "namespace")
        self.ttl_config = _check_ttl_config(ttl)

    @classmethod
    def open(
        cls, *, ttl: TTLConfig | None = None, index: Any = None, **open_arguments: Any
    ) -> SatchelStore:
        """A store on a handle of its own, ``satchel.open(**open_arguments)``
        (``backend="redis", backend_settings={"url": ...}``; ``namespace=`` is satchel's
        namespace there), which :meth:`aclose` closes. Its KV namespace has the default
        prefix; for another, pass a handle: ``SatchelStore(store=..., namespace=...)``."""
        store = cls(ttl=ttl, index=index)  # bad arguments fail here
        store._adopt(cls._open_handle(open_arguments))
        return store

    @property
    def items(self) -> KVStore:
        """The KV namespace of the items."""
        return self.store.kv(f"{self._namespace}.store")

    def __repr__(self) -> str:
        return f"<SatchelStore in KV namespace {self._namespace + '.store'!r}>"

    # -- BaseStore ----------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`abatch`, blocking."""
        return self._run().run(self.abatch, list(ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops`` and return their results, in order. As in LangGraph's stores, the
        reads of a batch see the items as they were before the batch, and its puts are
        written after them (the last put of a key wins). Every operation is checked before
        anything is read or written.

        :raises InvalidArgument: an operation has an argument of the wrong type or value.
        :raises InvalidNamespaceError: a namespace breaks LangGraph's rules.
        """
        ops = list(ops)
        writes: dict[str, _Write] = {}
        for op in ops:
            _check_op(op)
            if isinstance(op, PutOp):
                write = _prepare_put(op)
                writes[write.key] = write
        kv = self.items
        reads = [(n, op) for n, op in enumerate(ops) if not isinstance(op, PutOp)]
        found = await asyncio.gather(*(self._read(kv, op) for _, op in reads))
        results: list[Result] = [None] * len(ops)
        for (n, _), result in zip(reads, found, strict=True):
            results[n] = result
        await self._write(kv, list(writes.values()))
        return results

    # -- reads --------------------------------------------------------------------------------

    async def _read(self, kv: KVStore, op: Op) -> Result:
        if isinstance(op, GetOp):
            return await self._get(kv, op)
        if isinstance(op, SearchOp):
            return await self._search(kv, op)
        assert isinstance(op, ListNamespacesOp)
        return await self._list_namespaces(kv, op)

    async def _get(self, kv: KVStore, op: GetOp) -> Item | None:
        entry = await kv.get_entry(item_key(op.namespace, op.key))
        if entry is None:
            return None
        item = to_item(entry, kv.namespace)
        if op.refresh_ttl:
            await _renew(kv, [(entry, item)])
        return plain_item(item)

    async def _search(self, kv: KVStore, op: SearchOp) -> list[SearchItem]:
        where: list[Any] = []
        if op.namespace_prefix:
            where.append(("key", "startswith", prefix_key(op.namespace_prefix)))
        queries = plan(op.filter, ("value",), split=self.store.backend.capabilities.query_pushdown)
        if op.limit == 0 or not queries.alternatives:
            return []
        found: list[tuple[Entry, SearchItem]] = []
        if queries.exact:
            page = await kv.query(
                [*where, *queries.alternatives[0]], limit=op.limit, offset=op.offset
            )
            found = [(entry, to_item(entry, kv.namespace)) for entry in page.items]
        else:
            skip = op.offset
            size = min(_PAGE, max(32, 2 * (op.offset + op.limit)))
            wheres = [[*where, *alternative] for alternative in queries.alternatives]
            async with contextlib.aclosing(_merged(kv, wheres, size)) as candidates:
                async for entry in candidates:
                    item = to_item(entry, kv.namespace)
                    if not matches(item.value, op.filter):
                        continue
                    if skip:
                        skip -= 1
                        continue
                    found.append((entry, item))
                    if len(found) == op.limit:
                        break
        if op.refresh_ttl:
            await _renew(kv, found)
        return [item for _, item in found]

    async def _list_namespaces(self, kv: KVStore, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = tuple(op.match_conditions or ())
        where: list[Any] = []
        for condition in conditions:
            if condition.match_type != "prefix" or not condition.path:
                continue
            path = tuple(condition.path)
            fixed = path.index("*") if "*" in path else len(path)
            if fixed:
                where.append(("key", "startswith", prefix_key(path[:fixed])))
            where += [
                (("namespace", str(n)), "eq", label)
                for n, label in enumerate(path)
                if n > fixed and label != "*"
            ]
            where.append((("namespace", str(len(path) - 1)), "exists", True))
        seen: set[tuple[str, ...]] = set()
        async with contextlib.aclosing(_pages(kv, where, 2 * _PAGE, select=[])) as entries:
            async for entry in entries:
                namespace = namespace_of_key(entry.key, kv.namespace)
                if all(_matches_path(c, namespace) for c in conditions):
                    seen.add(namespace[: op.max_depth] if op.max_depth else namespace)
        return sorted(seen)[op.offset : op.offset + op.limit]

    # -- writes -------------------------------------------------------------------------------

    async def _write(self, kv: KVStore, writes: Sequence[_Write]) -> None:
        """The puts of a batch as one write of the backend (each record with its own
        expiry), which checks every record before writing any, so a value too large
        writes nothing; then, once it succeeded, the deletes."""
        now = utcnow()
        default = kv.default_ttl
        records = [
            Record(
                kv.collection,
                write.key,
                write.doc,
                expires_at=expiry_after(default if write.ttl is None else write.ttl * 60, now),
            )
            for write in writes
            if write.doc is not None
        ]
        if records:
            await self.store.backend.put_many(records)
        await asyncio.gather(*(kv.delete(write.key) for write in writes if write.doc is None))


async def _renew(kv: KVStore, found: Sequence[tuple[Entry, SearchItem]]) -> None:
    """Start the TTL of each item read that has one again (LangGraph's refresh on read),
    keeping its ``updated_at``. Only the version read is rewritten: an item written or
    deleted since then is left as that write left it."""

    async def renew(entry: Entry, item: SearchItem) -> None:
        assert isinstance(entry.value, dict)
        minutes = entry.value.get("ttl")
        if not isinstance(minutes, (int, float)) or isinstance(minutes, bool):
            return
        doc = {**entry.value, "updated_at": item.updated_at.isoformat()}
        with contextlib.suppress(Conflict, NotFound):
            await kv.set(entry.key, doc, ttl=minutes * 60, expected_version=entry.version)

    await asyncio.gather(*(renew(entry, item) for entry, item in found))


async def _pages(
    kv: KVStore, where: list[Any], size: int, select: list[str] | None = None
) -> AsyncGenerator[Entry, None]:
    """Every record matching ``where``, in key order, read ``size`` at a time."""
    async for page in iter_pages(
        lambda cursor: kv.query(where, select=select, limit=size, cursor=cursor)
    ):
        for entry in page.items:
            yield entry


async def _merged(kv: KVStore, wheres: list[list[Any]], size: int) -> AsyncGenerator[Entry, None]:
    """The records matching any of ``wheres`` (which never overlap), in key order."""
    streams = [_pages(kv, where, size) for where in wheres]
    try:
        heads: dict[int, Entry] = {}
        for n, stream in enumerate(streams):
            if (first := await anext(stream, None)) is not None:
                heads[n] = first
        while heads:
            n = min(heads, key=lambda m: heads[m].key)
            yield heads[n]
            if (following := await anext(streams[n], None)) is None:
                del heads[n]
            else:
                heads[n] = following
    finally:
        for stream in streams:
            await stream.aclose()


def _matches_path(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """Whether ``namespace`` meets a prefix or suffix condition (``"*"``: any label)."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    ends = namespace[: len(path)] if condition.match_type == "prefix" else namespace[-len(path) :]
    return (
        all(p == "*" or p == label for p, label in zip(path, ends, strict=True)) if path else True
    )


# -- checks -----------------------------------------------------------------------------------


def _check_op(op: Any) -> None:
    if isinstance(op, (GetOp, PutOp)):
        _check_namespace(op.namespace, "namespace", put=isinstance(op, PutOp))
        _check_text(op.key, "key")
        if isinstance(op, GetOp):
            _check_bool(op.refresh_ttl, "refresh_ttl")
    elif isinstance(op, SearchOp):
        _check_namespace(op.namespace_prefix, "namespace_prefix")
        check_filter(op.filter)
        _check_count(op.limit, "limit")
        _check_count(op.offset, "offset")
        _check_bool(op.refresh_ttl, "refresh_ttl")
        if op.query is not None and not isinstance(op.query, str):
            raise InvalidArgument(f"query: must be a string or None, not {op.query!r}")
    elif isinstance(op, ListNamespacesOp):
        conditions = op.match_conditions or ()
        if not isinstance(conditions, (tuple, list)):
            raise InvalidArgument(f"match_conditions: must be a tuple, not {conditions!r}")
        for condition in conditions:
            if not isinstance(condition, MatchCondition):
                raise InvalidArgument(
                    f"match_conditions: holds MatchCondition objects, not {condition!r}"
                )
            if condition.match_type not in ("prefix", "suffix"):
                raise InvalidArgument(
                    f"match_conditions: match_type is 'prefix' or 'suffix', "
                    f"not {condition.match_type!r}"
                )
            _check_namespace(condition.path, condition.match_type)
        if op.max_depth is not None:
            _check_count(op.max_depth, "max_depth", minimum=1)
        _check_count(op.limit, "limit")
        _check_count(op.offset, "offset")
    else:
        raise InvalidArgument(
            f"ops: {type(op).__name__} is not a store operation "
            "(GetOp, PutOp, SearchOp or ListNamespacesOp)"
        )


def _prepare_put(op: PutOp) -> _Write:
    key = item_key(op.namespace, op.key)
    if op.value is None:
        return _Write(key, None, None)
    if not isinstance(op.value, Mapping):
        raise InvalidArgument(f"value: must be a mapping (or None to delete), not {op.value!r}")
    value = dict(op.value)
    check_json(value, "value")
    minutes = _check_minutes(op.ttl, "ttl")
    doc: dict[str, JSONValue] = {"namespace": list(op.namespace), "key": op.key, "value": value}
    if minutes is not None:
        doc["ttl"] = minutes
    return _Write(key, doc, minutes)


def _check_namespace(namespace: Any, argument: str, *, put: bool = False) -> None:
    """LangGraph's rules for namespaces (its own error), and satchel's for text."""
    if not isinstance(namespace, tuple):
        raise InvalidArgument(
            f"{argument}: must be a tuple of strings, not {type(namespace).__name__} {namespace!r}"
        )
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} found in {namespace}. Namespace labels "
                f"must be strings, but got {type(label).__name__}."
            )
        if not label or "." in label or "\x00" in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} found in {namespace}. Namespace labels "
                "must be non-empty and cannot contain periods ('.') or NUL bytes."
            )
        _check_text(label, argument)
    if put and not namespace:
        raise InvalidNamespaceError("Namespace cannot be empty.")
    if put and namespace[0] == "langgraph":
        raise InvalidNamespaceError(
            f'Root label for namespace cannot be "langgraph". Got: {namespace}'
        )


def _check_text(text: Any, argument: str) -> None:
    if not isinstance(text, str):
        raise InvalidArgument(f"{argument}: must be a string, not {type(text).__name__} {text!r}")
    unicode(text, argument)


def _check_bool(value: Any, argument: str) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{argument}: must be True or False, not {value!r}")


def _check_count(value: Any, argument: str, *, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_COUNT:
        raise InvalidArgument(
            f"{argument}: must be a whole number from {minimum} to {MAX_COUNT}, not {value!r}"
        )


def _check_minutes(minutes: Any, argument: str) -> float | None:
    """A TTL in minutes: ``None`` or a positive number (within satchel's longest TTL)."""
    if minutes is None:
        return None
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, (int, float))
        or not math.isfinite(minutes)
        or minutes <= 0
    ):
        raise InvalidArgument(
            f"{argument}: must be a positive number of minutes or None, not {minutes!r}"
        )
    check_ttl(minutes * 60, argument)
    return minutes


def _check_ttl_config(ttl: Any) -> TTLConfig | None:
    if ttl is None:
        return None
    if not isinstance(ttl, Mapping):
        raise InvalidArgument(f"ttl: must be a TTLConfig (a dict) or None, not {ttl!r}")
    unknown = sorted(str(k) for k in ttl if k not in _TTL_CONFIG_KEYS)
    if unknown:
        raise InvalidArgument(
            f"ttl: unknown keys {', '.join(unknown)}; a TTLConfig has "
            f"{', '.join(sorted(_TTL_CONFIG_KEYS))}"
        )
    for name in ("refresh_on_read", "omit_expired"):
        if name in ttl:
            _check_bool(ttl[name], f"ttl['{name}']")
    _check_minutes(ttl.get("default_ttl"), "ttl['default_ttl']")
    sweep = ttl.get("sweep_interval_minutes")
    if sweep is not None:
        _check_count(sweep, "ttl['sweep_interval_minutes']", minimum=1)
    config: TTLConfig = {**ttl}  # type: ignore[typeddict-item]
    return config
