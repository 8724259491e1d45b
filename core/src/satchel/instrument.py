"""The layer between the stores and a backend: every operation goes through the
``satchel_backend_operation`` hook, and every value through the registered codecs.

:class:`InstrumentedBackend` is itself a :class:`~satchel.backend.Backend`, so the stores
never know whether plugins observe them.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from satchel.backend import Backend, JSONValue, LogEntry, Page, Record, check_restore
from satchel.errors import CorruptRecord, InvalidArgument, PluginError, SatchelError
from satchel.markers import AROUND, _Around
from satchel.query import Condition, Query, project
from satchel.settings import clean_error, mask_foreign
from satchel.validation import check_json, forget_vouched

if TYPE_CHECKING:
    import pluggy

__all__ = ["Codec", "InstrumentedBackend", "Operation"]

log = logging.getLogger("satchel")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Operation:
    """One backend operation, as the ``satchel_backend_operation`` hook sees it.

    :param name: the backend method: ``get``, ``get_many``, ``exists``, ``put``,
        ``put_many`` (a store that needs only the new versions may ask the backend for
        just those, but a plugin's wrapper always sees what ``put`` and ``put_many`` give:
        the stored records), ``restore_many``, ``delete``,
        ``find``, ``query``, ``count``, ``keys``, ``collections``, ``drop``, ``purge_expired``,
        ``ping``, ``stats``, and the log operations ``log_append``,
        ``log_range``, ``log_length``, ``log_pop``, ``log_trim``, ``log_delete``,
        ``log_keys``.
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _records(value: Any, optional: bool = False) -> bool:
    return isinstance(value, list) and all(
        isinstance(r, Record) or (optional and r is None) for r in value
    )


def _entries(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(e, LogEntry) and _is_int(e.seq) and isinstance(e.appended_at, datetime)
        for e in value
    )


#: What each operation must return: a description, and a test of a result (given how many
#: items the call carries).
# the types a JSON value's top level may have, as a codec's decode returns it
_JSON_TOP = frozenset({dict, list, str, int, float, bool, type(None)})

#: What an operation's result must be: a description, and a check of (result, items).
_Rule = tuple[str, Callable[[Any, int], bool]]

_RESULTS: dict[str, _Rule] = {
    "get": ("a Record or None", lambda r, n: r is None or isinstance(r, Record)),
    "get_many": (
        "a list of Record or None, one per key",
        lambda r, n: _records(r, optional=True) and len(r) == n,
    ),
    "find": ("a list of Record", lambda r, n: _records(r)),
    "query": (
        "a Page of Record",
        lambda r, n: (
            isinstance(r, Page)
            and _records(r.items)
            and (r.next_cursor is None or isinstance(r.next_cursor, str))
        ),
    ),
    "count": ("an int", lambda r, n: _is_int(r)),
    "keys": ("a list of str", lambda r, n: isinstance(r, list) and all(type(k) is str for k in r)),
    "collections": (
        "a list of str",
        lambda r, n: isinstance(r, list) and all(type(k) is str for k in r),
    ),
    "put": ("a Record", lambda r, n: isinstance(r, Record)),
    "put_many": (
        "a list of Record, one per record",
        lambda r, n: _records(r) and len(r) == n,
    ),
    "restore_many": ("None", lambda r, n: r is None),
    "delete": ("a bool", lambda r, n: isinstance(r, bool)),
    "exists": ("a bool", lambda r, n: isinstance(r, bool)),
    "drop": ("an int", lambda r, n: _is_int(r)),
    "purge_expired": ("an int", lambda r, n: _is_int(r)),
    "ping": ("None", lambda r, n: r is None),
    "log_append": (
        "a list of LogEntry, one per value",
        lambda r, n: _entries(r) and len(r) == n,
    ),
    "log_range": ("a list of LogEntry", lambda r, n: _entries(r)),
    "log_length": ("an int", lambda r, n: _is_int(r)),
    "log_pop": ("a list of LogEntry", lambda r, n: _entries(r)),
    "log_trim": ("an int", lambda r, n: _is_int(r)),
    "log_delete": ("a bool", lambda r, n: isinstance(r, bool)),
    "log_keys": (
        "a list of str",
        lambda r, n: isinstance(r, list) and all(type(k) is str for k in r),
    ),
    "stats": ("a dict", lambda r, n: isinstance(r, dict)),
}
#: What ``put_version`` and ``put_many_versions`` return (the hook sees them as ``put`` and
#: ``put_many``).
_VERSION: _Rule = ("a version (a positive int)", lambda r, n: _is_int(r) and r > 0)
_VERSIONS: _Rule = (
    "a list of versions (positive ints), one per record",
    lambda r, n: isinstance(r, list) and len(r) == n and all(_is_int(v) and v > 0 for v in r),
)
#: A delete with ``if_version`` deletes (``True``) or raises NotFound or Conflict: ``False``
#: is what a wrapper that swallowed one of those would give.
_CONDITIONAL_DELETE: _Rule = (
    "True (a delete with if_version deletes, or raises)",
    lambda r, n: r is True,
)

#: How to run an operation around-wrappers only: the wrappers, innermost first, as
#: ``(function, plugin or None)``, and whether every one is satchel's own.
_Plan = tuple[tuple[tuple[Callable[..., Awaitable[Any]], Any], ...], bool]

_NO_WRAPPERS: _Plan = ((), True)

#: Plugins of satchel itself, trusted not to misbehave (their code is tested here).
_OWN_PLUGINS = frozenset({"core", "metrics"})


class _Attempt:
    """What the backend operation itself did in one call: what it returned or raised, and
    the coroutines made to run it (so that one a plugin dropped is closed, not leaked)."""

    __slots__ = ("coroutines", "error", "finished", "result")

    def __init__(self) -> None:
        self.coroutines: list[Coroutine[Any, Any, Any]] = []
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None

    def starter(self, run: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def observed() -> Any:
            try:
                result = await run()
            except BaseException as exc:
                self.error = exc
                raise
            self.finished, self.result = True, result
            return result

        def start() -> Awaitable[Any]:
            coroutine = observed()
            self.coroutines.append(coroutine)
            return coroutine

        return start

    def close_unstarted(self) -> None:
        for coroutine in self.coroutines:
            if inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                coroutine.close()


#: Keys per ``keys`` operation when a handle walks a collection's keys (:meth:`iter_keys`).
KEYS_PER_CALL = 1000


class InstrumentedBackend(Backend):
    """Wraps a backend: hook around every call, codecs on every value, driver errors
    wrapped in :class:`~satchel.errors.SatchelError`, and what plugins return checked: a
    wrapper, codec or backend that returns what its hook or method must not is a
    :class:`~satchel.errors.PluginError` naming it.

    :param distributions: ``{plugin name: distribution}``, to name a plugin's origin.
    :param codec_plugins: ``{codec name: plugin name}``: who registered each codec.
    """

    def __init__(
        self,
        inner: Backend,
        hook: pluggy.HookRelay | None = None,
        codecs: Sequence[Codec] = (),
        *,
        distributions: Mapping[str, str] | None = None,
        codec_plugins: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.capabilities = inner.capabilities
        self._hook = hook
        self._encoders = sorted(codecs, key=lambda c: (c.order, c.name))
        self._decoders = list(reversed(self._encoders))
        self._distributions = dict(distributions or {})
        self._codec_plugins = dict(codec_plugins or {})
        self._secrets = secrets
        # put_version, put_many_versions and exists go to put, put_many and get instead
        # when the backend's class overrides those below where its shortcut is defined (the
        # contract's defaults, or a subclass that changed put): what they return is checked,
        # and a subclass that changed put sees every write
        kind = type(inner)
        self._own_put_version = _shortcut_holds(kind, "put_version", "put")
        self._own_put_many_versions = _shortcut_holds(kind, "put_many_versions", "put_many")
        self._own_exists = _shortcut_holds(kind, "exists", "get")
        self._plan_impls: list[Any] | None = None
        self._plan: _Plan | None = None

    # -- plumbing ------------------------------------------------------------------------

    def _plugin(self, name: str) -> str:
        return f"plugin {name!r} (from {self._distributions.get(name, 'an unknown distribution')})"

    def _wrappers(self) -> str:
        """The plugins implementing the operation hook (other than satchel's own), named."""
        assert self._hook is not None
        names = [
            impl.plugin_name
            for impl in reversed(self._hook.satchel_backend_operation.get_hookimpls())
            if impl.plugin_name not in _OWN_PLUGINS
        ]
        if not names:
            names = ["metrics"]
        shown = ", ".join(self._plugin(n) for n in names)
        return shown if len(names) == 1 else f"one of {shown}"

    def _backend_origin(self) -> str:
        return f"backend {self.inner.name!r} ({type(self.inner).__name__})"

    async def _call(
        self,
        name: str,
        collection: str | None,
        key: str | None,
        run: Callable[[], Awaitable[R]],
        items: int = 1,
        rule: _Rule | None = None,
    ) -> R:
        """Run one operation through the hook; every error it raises is cleaned of secrets
        (:func:`~satchel.settings.clean_error`), its whole chain included. ``rule``: what
        the result must be, when the call's arguments narrow it (default: by ``name``)."""
        try:
            return await self._call_checked(name, collection, key, run, items, rule)
        except SatchelError as exc:
            clean_error(exc, self._secrets)
            raise

    async def _call_checked(
        self,
        name: str,
        collection: str | None,
        key: str | None,
        run: Callable[[], Awaitable[R]],
        items: int = 1,
        rule: _Rule | None = None,
    ) -> R:
        attempt: _Attempt | None = None
        try:
            plan = _NO_WRAPPERS if self._hook is None else self._around_plan()
            if plan is not None:  # no plugin needs the hook call: run the wrappers directly
                layers, own = plan
                if own:
                    awaitable: Awaitable[Any] = run()
                    start = run
                else:
                    forget_vouched()  # a plugin's wrapper may suspend the call: values may change
                    attempt = _Attempt()
                    start = attempt.starter(run)
                    awaitable = start()
                if layers:
                    op = Operation(name, self.inner.name, collection, key, items, start)
                    for function, plugin in layers:
                        args = (op, awaitable) if plugin is None else (plugin, op, awaitable)
                        awaitable = _Around(function, args)
                result = await awaitable
            else:
                assert self._hook is not None
                forget_vouched()
                attempt = _Attempt()
                start = attempt.starter(run)
                op = Operation(name, self.inner.name, collection, key, items, start)
                awaitable = self._hook.satchel_backend_operation(operation=op)
                if not inspect.isawaitable(awaitable):
                    raise PluginError(
                        f"{self._wrappers()}: its satchel_backend_operation wrapper "
                        f"returned {_kind(awaitable)}, not an awaitable, for "
                        f"{_where(name, collection, key)}; a wrapper must return an "
                        "awaitable (such as a coroutine) that awaits the one it receives"
                    )
                result = await awaitable
        except SatchelError:
            raise
        except Exception as exc:  # a backend bug or a driver error (CancelledError is not one)
            shown = f"{type(exc).__name__}: {mask_foreign(str(exc), self._secrets)}"
            where = _where(name, collection, key)
            if attempt is not None and attempt.error is not exc:
                raise PluginError(
                    f"{self._wrappers()}: its satchel_backend_operation wrapper raised "
                    f"{shown} in {where}"
                ) from exc
            raise SatchelError(f"backend {self.inner.name!r} failed in {where}: {shown}") from exc
        finally:
            if attempt is not None:
                attempt.close_unstarted()
        expected, valid = rule or _RESULTS[name]
        if not valid(result, items):
            raise self._wrong_result(name, collection, key, expected, result, attempt)
        return result  # type: ignore[no-any-return]

    def _wrong_result(
        self,
        name: str,
        collection: str | None,
        key: str | None,
        expected: str,
        result: Any,
        attempt: _Attempt | None,
    ) -> PluginError:
        """The error for a result of the wrong type: the backend's, when it returned it;
        else the wrapper's that did."""
        where = _where(name, collection, key)
        if attempt is None or (attempt.finished and attempt.result is result):
            return PluginError(
                f"{self._backend_origin()} returned {_kind(result)} from {name}, not "
                f"{expected}, in {where}"
            )
        if isinstance(result, Awaitable):
            detail = f"gave {_kind(result)} (an awaitable it did not await)"
            if inspect.iscoroutine(result):
                result.close()
        else:
            detail = f"returned {_kind(result)}"
        if attempt.error is not None:
            detail += (
                f" where the operation raised {type(attempt.error).__name__}: "
                f"{mask_foreign(str(attempt.error), self._secrets)}"
            )
        error = PluginError(
            f"{self._wrappers()}: its satchel_backend_operation wrapper {detail}, for {where}, "
            f"which must give {expected}"
        )
        if attempt.error is not None:
            error.__cause__ = attempt.error
        return error

    def _only_own_wrappers(self) -> bool:
        """Whether no plugin but satchel's own wraps the backend's operations. Only then do
        ``put_version`` and ``put_many_versions`` reach the backend's shortcuts: a plugin's
        wrapper of ``put`` and ``put_many`` sees what those return (the stored records), as
        it did before the shortcuts existed, whatever the store asked for."""
        if self._hook is None:
            return True
        plan = self._around_plan()
        return plan is not None and plan[1]

    def _around_plan(self) -> _Plan | None:
        """How to run an operation without the hook call, when every implementation of the
        operation hook is core's own or made with :func:`satchel.around_operation`: the
        wrappers, innermost first (``(function, plugin or None)``), and whether all of them
        are satchel's own; ``None`` when some plugin needs the hook call. Checked on every
        call (cheaply: the plan is kept while the implementations stay the same), so that a
        plugin registered later is honoured."""
        assert self._hook is not None
        impls = self._hook.satchel_backend_operation.get_hookimpls()
        if impls == self._plan_impls:
            return self._plan
        plan: _Plan | None = None
        layers: list[tuple[Callable[..., Awaitable[Any]], Any]] = []
        own = True
        for impl in impls:  # pluggy lists them innermost first
            if impl.plugin_name == "core" and not impl.wrapper:
                continue
            function = getattr(impl.function, AROUND, None)
            if function is None or not impl.wrapper:
                break
            bound: Any = impl.function
            layers.append((function, bound.__self__ if inspect.ismethod(bound) else None))
            own = own and impl.plugin_name in _OWN_PLUGINS
        else:
            if any(impl.plugin_name == "core" for impl in impls):
                plan = (tuple(layers), own)
        self._plan_impls, self._plan = impls, plan
        return plan

    def _codec(self, codec: Codec) -> str:
        plugin = self._codec_plugins.get(codec.name)
        return f"codec {codec.name!r}" + (f" of {self._plugin(plugin)}" if plugin else "")

    def _checked(self, codec: Codec, step: str, value: Any, record: Record) -> Any:
        """``value``, which ``codec``'s ``step`` returned, if it is a JSON value; else a
        :class:`PluginError` naming the codec (the caller's value is not to blame).

        What ``encode`` returns is about to be written: it is checked whole, with the
        nesting limit of writes. What ``decode`` returns is only read: its top level's type
        is checked (a codec that returns bytes or a set is named), not its depth (a record
        stored under an earlier, higher limit still reads) nor its every item (a read costs
        no second pass over the value)."""
        finite = type(value) is not float or math.isfinite(value)
        if step == "decode" and type(value) in _JSON_TOP and finite:
            return value
        try:
            check_json(value, "result")
        except InvalidArgument as exc:
            raise PluginError(
                f"{self._codec(codec)}: its {step} returned what JSON cannot hold for "
                f"{record.key!r} in {record.collection!r} ({exc}); a codec's {step} must "
                "return a JSON value"
            ) from None
        return value

    def _encode(self, record: Record) -> Record:
        if not self._encoders:
            return record
        value = record.value
        for codec in self._encoders:
            try:
                value = codec.encode(value, record.collection, record.key)
            except Exception as exc:
                raise PluginError(
                    f"{self._codec(codec)} failed to encode {record.key!r} in "
                    f"{record.collection!r}: {type(exc).__name__}: "
                    f"{mask_foreign(str(exc), self._secrets)}"
                ) from exc
            self._checked(codec, "encode", value, record)
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
                    f"{self._codec(codec)} cannot decode {record.key!r} in "
                    f"{record.collection!r} (written without it, or damaged): "
                    f"{type(exc).__name__}: {mask_foreign(str(exc), self._secrets)}"
                ) from exc
            self._checked(codec, "decode", value, record)
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

    async def exists(self, collection: str, key: str) -> bool:
        if not self._own_exists:
            found = await self._call(
                "exists",
                collection,
                key,
                lambda: self.inner.get(collection, key),
                rule=_RESULTS["get"],
            )
            return found is not None
        return await self._call(
            "exists", collection, key, lambda: self.inner.exists(collection, key)
        )

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
        """The backend's keys, :data:`KEYS_PER_CALL` at a time: each chunk is one ``keys``
        operation through the hook, so a walk over a large collection holds one chunk."""
        inner = self.inner.iter_keys(collection, pattern)
        exhausted = False

        async def chunk() -> list[str]:
            nonlocal exhausted
            keys: list[str] = []
            while len(keys) < KEYS_PER_CALL:
                try:
                    keys.append(await inner.__anext__())
                except StopAsyncIteration:
                    exhausted = True
                    break
            return keys

        try:
            while not exhausted:
                for key in await self._call("keys", collection, None, chunk):
                    yield key
        finally:
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()

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

    async def put_version(
        self, record: Record, *, if_absent: bool = False, if_version: int | None = None
    ) -> int:
        # the hook sees a put: it is one, whose caller needs only the version
        encoded = self._encode(record)
        if not self._own_put_version or not self._only_own_wrappers():
            stored = await self._call(
                "put",
                record.collection,
                record.key,
                lambda: self.inner.put(encoded, if_absent=if_absent, if_version=if_version),
            )
            return stored.version
        return await self._call(
            "put",
            record.collection,
            record.key,
            lambda: self.inner.put_version(encoded, if_absent=if_absent, if_version=if_version),
            rule=_VERSION,
        )

    async def put_many_versions(self, records: Sequence[Record]) -> list[int]:
        encoded = [self._encode(r) for r in records]
        collection = records[0].collection if records else None
        if not self._own_put_many_versions or not self._only_own_wrappers():
            stored = await self._call(
                "put_many", collection, None, lambda: self.inner.put_many(encoded), len(records)
            )
            return [r.version for r in stored]
        return await self._call(
            "put_many",
            collection,
            None,
            lambda: self.inner.put_many_versions(encoded),
            len(records),
            rule=_VERSIONS,
        )

    async def restore_many(self, records: Sequence[Record]) -> None:
        # the values go through the codecs as on any write; the metadata is kept as given
        encoded = [self._encode(r) for r in check_restore(records)]
        collection = records[0].collection if records else None
        await self._call(
            "restore_many",
            collection,
            None,
            lambda: self.inner.restore_many(encoded),
            len(records),
        )

    async def delete(self, collection: str, key: str, *, if_version: int | None = None) -> bool:
        return await self._call(
            "delete",
            collection,
            key,
            lambda: self.inner.delete(collection, key, if_version=if_version),
            rule=None if if_version is None else _CONDITIONAL_DELETE,
        )

    async def drop(self, collection: str) -> int:
        return await self._call("drop", collection, None, lambda: self.inner.drop(collection))

    async def purge_expired(self) -> int:
        return await self._call("purge_expired", None, None, self.inner.purge_expired)

    async def ping(self) -> None:
        await self._call("ping", None, None, self.inner.ping)

    async def stats(self) -> dict[str, Any]:
        return await self._call("stats", None, None, self.inner.stats)

    # -- logs: each entry's value goes through the codecs, under the log's key ------------

    def _encode_value(self, collection: str, key: str, value: JSONValue) -> JSONValue:
        return self._encode(Record(collection, key, value)).value if self._encoders else value

    def _decode_entries(self, collection: str, key: str, entries: list[LogEntry]) -> list[LogEntry]:
        if not self._decoders:
            return entries
        return [
            replace(e, value=self._decode(Record(collection, key, e.value)).value) for e in entries
        ]

    async def log_append(
        self,
        collection: str,
        key: str,
        values: Sequence[JSONValue],
        *,
        expires_at: datetime | None = None,
    ) -> list[LogEntry]:
        encoded = [self._encode_value(collection, key, v) for v in values]
        entries = await self._call(
            "log_append",
            collection,
            key,
            lambda: self.inner.log_append(collection, key, encoded, expires_at=expires_at),
            len(values),
        )
        return self._decode_entries(collection, key, entries)

    async def log_range(
        self,
        collection: str,
        key: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[LogEntry]:
        entries = await self._call(
            "log_range",
            collection,
            key,
            lambda: self.inner.log_range(
                collection, key, after=after, before=before, limit=limit, reverse=reverse
            ),
        )
        return self._decode_entries(collection, key, entries)

    async def log_length(self, collection: str, key: str) -> int:
        return await self._call(
            "log_length", collection, key, lambda: self.inner.log_length(collection, key)
        )

    async def log_pop(self, collection: str, key: str, count: int) -> list[LogEntry]:
        entries = await self._call(
            "log_pop", collection, key, lambda: self.inner.log_pop(collection, key, count)
        )
        try:
            return self._decode_entries(collection, key, entries)
        except CorruptRecord as exc:  # removed already: hand them over, as stored
            exc.popped = entries
            raise

    async def log_trim(
        self,
        collection: str,
        key: str,
        *,
        keep_last: int | None = None,
        before: int | None = None,
    ) -> int:
        return await self._call(
            "log_trim",
            collection,
            key,
            lambda: self.inner.log_trim(collection, key, keep_last=keep_last, before=before),
        )

    async def log_delete(self, collection: str, key: str) -> bool:
        return await self._call(
            "log_delete", collection, key, lambda: self.inner.log_delete(collection, key)
        )

    async def log_keys(self, collection: str, pattern: str | None = None) -> AsyncIterator[str]:
        async def collect() -> list[str]:
            return [k async for k in self.inner.log_keys(collection, pattern)]

        for key in await self._call("log_keys", collection, None, collect):
            yield key

    async def close(self) -> None:
        await self.inner.close()

    def describe(self) -> str:
        return self.inner.describe()


def _defined_in(kind: type, name: str) -> type:
    """The class of ``kind``'s MRO whose own body defines ``name``."""
    return next(c for c in kind.__mro__ if name in vars(c))


def _shortcut_holds(kind: type, shortcut: str, method: str) -> bool:
    """Whether ``kind``'s ``shortcut`` (``put_version``...) is defined by a class that also
    sees its ``method`` (``put``...): not the contract's default, and not overtaken by a
    subclass that overrides ``method`` alone."""
    where = _defined_in(kind, shortcut)
    return where is not Backend and issubclass(where, _defined_in(kind, method))


def _where(name: str, collection: str | None, key: str | None) -> str:
    return f"{name}({collection!r}{', ' + repr(key) if key is not None else ''})"


def _kind(value: Any) -> str:
    """What a plugin returned, by type (never its content, which may hold a value)."""
    if value is None:
        return "None"
    if inspect.isfunction(value) or inspect.ismethod(value):
        return "function"
    return type(value).__name__
