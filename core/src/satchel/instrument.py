"""The layer between the stores and a backend: every operation goes through the
``satchel_backend_operation`` hook, and every value through the registered codecs.

:class:`InstrumentedBackend` is itself a :class:`~satchel.backend.Backend`, so the stores
never know whether plugins observe them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from satchel.backend import Backend, Page, Record
from satchel.errors import CorruptRecord, PluginError, SatchelError
from satchel.query import Condition, Query, project
from satchel.settings import scrub_secrets

if TYPE_CHECKING:
    import pluggy

__all__ = ["Codec", "InstrumentedBackend", "Operation"]

log = logging.getLogger("satchel")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Operation:
    """One backend operation, as the ``satchel_backend_operation`` hook sees it.

    :param name: the backend method: ``get``, ``get_many``, ``put``, ``put_many``,
        ``delete``, ``find``, ``query``, ``count``, ``keys``, ``collections``, ``drop``,
        ``purge_expired``, ``ping``, ``stats``.
    :param backend: the backend's name (``memory``, ``redis``, ...).
    :param collection: the collection it works on (``None`` for whole-backend operations).
    :param key: the key, for single-record operations.
    :param items: how many records a batch operation carries (1 otherwise).
    :param run: performs the operation; core's hook implementation returns ``run()``.
    """

    name: str
    backend: str
    collection: str | None
    key: str | None
    items: int
    run: Callable[[], Awaitable[Any]] = field(repr=False)


@dataclass(frozen=True)
class Codec:
    """A transform of stored values, registered with ``satchel_register_codecs``.

    :param name: unique name, shown in listings.
    :param encode: ``encode(value, collection, key) -> value``, on every write; must return
        a JSON value and must not mutate its argument.
    :param decode: ``decode(value, collection, key) -> value``, on every read; the inverse.
    :param order: encoders run in ascending order, decoders in descending order.
    """

    name: str
    encode: Callable[[Any, str, str], Any]
    decode: Callable[[Any, str, str], Any]
    order: int = 0


class InstrumentedBackend(Backend):
    """Wraps a backend: hook around every call, codecs on every value, driver errors
    wrapped in :class:`~satchel.errors.SatchelError`."""

    def __init__(
        self, inner: Backend, hook: pluggy.HookRelay | None = None, codecs: Sequence[Codec] = ()
    ) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.capabilities = inner.capabilities
        self._hook = hook
        self._encoders = sorted(codecs, key=lambda c: (c.order, c.name))
        self._decoders = list(reversed(self._encoders))

    # -- plumbing ------------------------------------------------------------------------

    async def _call(
        self,
        name: str,
        collection: str | None,
        key: str | None,
        run: Callable[[], Awaitable[R]],
        items: int = 1,
    ) -> R:
        try:
            if self._hook is None:
                return await run()
            timed = self._metrics_only()
            if timed is not None:  # the default plugins: skip building the hook call
                return await timed(name, run())  # type: ignore[no-any-return]
            op = Operation(name, self.inner.name, collection, key, items, run)
            awaitable = self._hook.satchel_backend_operation(operation=op)
            return await (awaitable if awaitable is not None else run())
        except SatchelError:
            raise
        except Exception as exc:  # a backend bug or a driver error (CancelledError is not one)
            raise SatchelError(
                f"backend {self.inner.name!r} failed in {name}"
                f"({collection!r}{', ' + repr(key) if key is not None else ''}): "
                f"{type(exc).__name__}: {scrub_secrets(str(exc))}"
            ) from exc

    def _metrics_only(self) -> Callable[[str, Awaitable[Any]], Awaitable[Any]] | None:
        """The metrics plugin's timer when it and core's own implementation are the only
        ones of the operation hook (the default), else ``None``. The answer is the same as
        going through the hook; it is checked on every call, so that a plugin registered
        later is honoured."""
        assert self._hook is not None
        impls = self._hook.satchel_backend_operation.get_hookimpls()
        if len(impls) != 2:
            return None
        core, metrics = impls  # pluggy lists trylast implementations first
        if (
            core.plugin_name != "core"
            or metrics.plugin_name != "metrics"
            or not metrics.wrapper
            or type(metrics.plugin).__name__ != "OperationMetrics"
        ):
            return None
        plugin: Any = metrics.plugin
        timed: Callable[[str, Awaitable[Any]], Awaitable[Any]] = plugin._timed
        return timed

    def _encode(self, record: Record) -> Record:
        if not self._encoders:
            return record
        value = record.value
        for codec in self._encoders:
            try:
                value = codec.encode(value, record.collection, record.key)
            except Exception as exc:
                raise PluginError(
                    f"codec {codec.name!r} failed to encode {record.key!r} in "
                    f"{record.collection!r}: {type(exc).__name__}: {scrub_secrets(str(exc))}"
                ) from exc
        return replace(record, value=value)

    def _decode(self, record: Record) -> Record:
        if not self._decoders:
            return record
        value = record.value
        for codec in self._decoders:
            try:
                value = codec.decode(value, record.collection, record.key)
            except Exception as exc:
                raise CorruptRecord(
                    f"codec {codec.name!r} cannot decode {record.key!r} in "
                    f"{record.collection!r} (written without it, or damaged): "
                    f"{type(exc).__name__}: {scrub_secrets(str(exc))}"
                ) from exc
        return replace(record, value=value)

    def _decode_optional(self, record: Record | None) -> Record | None:
        return None if record is None else self._decode(record)

    # -- the contract --------------------------------------------------------------------

    async def get(self, collection: str, key: str) -> Record | None:
        record = await self._call("get", collection, key, lambda: self.inner.get(collection, key))
        return self._decode_optional(record)

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[Record | None]:
        records = await self._call(
            "get_many", collection, None, lambda: self.inner.get_many(collection, keys), len(keys)
        )
        return [self._decode_optional(r) for r in records]

    async def find(self, collection: str, index_name: str, value: str) -> list[Record]:
        records = await self._call(
            "find", collection, None, lambda: self.inner.find(collection, index_name, value)
        )
        return [self._decode(r) for r in records]

    async def query(self, collection: str, query: Query) -> Page[Record]:
        if not self._decoders:
            return await self._call(
                "query", collection, None, lambda: self.inner.query(collection, query)
            )
        # Stored values are encoded: fetch them whole, decode, then project here.
        whole = replace(query, select=None)
        page = await self._call(
            "query", collection, None, lambda: self.inner.query(collection, whole)
        )
        decoded = [self._decode(r) for r in page.items]
        if query.select is not None:
            decoded = [replace(r, value=project(r.value, query.select)) for r in decoded]
        return Page(decoded, page.next_cursor)

    async def count(self, collection: str, where: Sequence[Condition] = ()) -> int:
        return await self._call(
            "count", collection, None, lambda: self.inner.count(collection, where)
        )

    async def iter_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        async def collect() -> list[str]:
            return [k async for k in self.inner.iter_keys(collection, pattern)]

        for key in await self._call("keys", collection, None, collect):
            yield key

    async def collections(self) -> list[str]:
        return await self._call("collections", None, None, self.inner.collections)

    async def put(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> Record:
        encoded = self._encode(record)
        stored = await self._call(
            "put",
            record.collection,
            record.key,
            lambda: self.inner.put(encoded, if_absent=if_absent, if_version=if_version),
        )
        return self._decode(stored)

    async def put_many(self, records: Sequence[Record]) -> list[Record]:
        encoded = [self._encode(r) for r in records]
        collection = records[0].collection if records else None
        stored = await self._call(
            "put_many", collection, None, lambda: self.inner.put_many(encoded), len(records)
        )
        return [self._decode(s) for s in stored] if self._decoders else stored

    async def delete(self, collection: str, key: str, *, if_version: int | None = None) -> bool:
        return await self._call(
            "delete",
            collection,
            key,
            lambda: self.inner.delete(collection, key, if_version=if_version),
        )

    async def drop(self, collection: str) -> int:
        return await self._call("drop", collection, None, lambda: self.inner.drop(collection))

    async def purge_expired(self) -> int:
        return await self._call("purge_expired", None, None, self.inner.purge_expired)

    async def ping(self) -> None:
        await self._call("ping", None, None, self.inner.ping)

    async def stats(self) -> dict[str, Any]:
        return await self._call("stats", None, None, self.inner.stats)

    async def close(self) -> None:
        await self.inner.close()

    def describe(self) -> str:
        return self.inner.describe()
