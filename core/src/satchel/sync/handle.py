"""``satchel.sync.open()`` and the blocking handle :class:`SyncSatchel` it returns."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from pydantic import BaseModel

from satchel import handle as _handle
from satchel.errors import InvalidArgument
from satchel.handle import _UNSET, Satchel
from satchel.settings import SatchelSettings
from satchel.stores.base import IndexExtractor
from satchel.sync.loop import LoopThread
from satchel.sync.stores import (
    SyncInstanceStore,
    SyncKVStore,
    SyncLogStore,
    SyncSessionStore,
    SyncTaskStore,
    twin_of,
)

__all__ = ["SyncSatchel", "open"]

M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")
R = TypeVar("R")


@twin_of(Satchel)
class SyncSatchel:
    """The handle to one backend with blocking methods: the twin of :class:`satchel.Satchel`.
    Get it from :func:`satchel.sync.open`.

    One handle serves any number of threads at once. It owns an event loop running in a
    daemon thread of its own, where the backend's clients live; every blocking call runs
    there and waits for its outcome. :meth:`close` (or leaving a ``with`` block) closes the
    backend and ends the thread; a handle that is never closed is closed when it and its
    stores are collected, or at interpreter exit.

    :param handle: the async handle to run (closing this one closes it).
    """

    def __init__(self, handle: Satchel) -> None:
        if not isinstance(handle, Satchel):
            raise InvalidArgument(
                f"handle: must be a satchel.Satchel (from satchel.open()), not {handle!r}"
            )
        self._handle = handle
        self._loop = LoopThread(handle.close)

    @property
    def settings(self) -> SatchelSettings:
        """The core settings the handle was opened with."""
        return self._handle.settings

    @property
    def namespace(self) -> str:
        """The tenant prefix of every collection (``SATCHEL_NAMESPACE``)."""
        return self._handle.namespace

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._loop.closed

    def tasks(
        self,
        model: type[M],
        *,
        name: str = "tasks",
        ttl: Any = _UNSET,
        id_field: str = "task_id",
        status_field: str = "status",
        indexes: Mapping[str, IndexExtractor] | None = None,
    ) -> SyncTaskStore[M]:
        store = self._handle.tasks(
            model,
            name=name,
            ttl=ttl,
            id_field=id_field,
            status_field=status_field,
            indexes=indexes,
        )
        return SyncTaskStore(store, self._loop)

    def sessions(
        self, model: type[M], *, name: str = "sessions", ttl: Any = _UNSET
    ) -> SyncSessionStore[M]:
        return SyncSessionStore(self._handle.sessions(model, name=name, ttl=ttl), self._loop)

    def kv(
        self,
        namespace: str,
        *,
        ttl: Any = _UNSET,
        indexes: Mapping[str, IndexExtractor] | None = None,
    ) -> SyncKVStore:
        return SyncKVStore(self._handle.kv(namespace, ttl=ttl, indexes=indexes), self._loop)

    def instances(self) -> SyncInstanceStore:
        return SyncInstanceStore(self._handle.instances(), self._loop)

    @overload
    def logs(self, name: str, model: None = None, *, ttl: Any = _UNSET) -> SyncLogStore[Any]: ...

    @overload
    def logs(self, name: str, model: type[M], *, ttl: Any = _UNSET) -> SyncLogStore[M]: ...

    def logs(
        self, name: str, model: type[M] | None = None, *, ttl: Any = _UNSET
    ) -> SyncLogStore[Any]:
        return SyncLogStore(self._handle.logs(name, model, ttl=ttl), self._loop)

    def namespaces(self) -> list[str]:
        return self._loop.run(self._handle.namespaces)

    def ping(self) -> None:
        return self._loop.run(self._handle.ping)

    def purge_expired(self) -> int:
        return self._loop.run(self._handle.purge_expired)

    def stats(self) -> dict[str, Any]:
        return self._loop.run(self._handle.stats)

    def close(self) -> None:
        """Close the backend's connections and end the handle's thread; wait for both.
        Calls still running in other threads are cancelled and raise
        :class:`~satchel.errors.HandleClosed`, as does every later call. Calling it twice is
        harmless."""
        self._loop.close()

    def __enter__(self) -> SyncSatchel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        status = " closed" if self.closed else ""
        return f"<Sync{repr(self._handle)[1:-1]}{status}>"


def _parameters_of(source: Callable[P, Any]) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Type (and sign, for :func:`inspect.signature`) the decorated function with the
    parameters of ``source``, to which it forwards its arguments unchanged."""

    def apply(target: Callable[..., R]) -> Callable[P, R]:
        signature = inspect.signature(source)
        returns = inspect.signature(target).return_annotation
        target.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
        return target

    return apply


@_parameters_of(_handle.open)
def open(*args: Any, **kwargs: Any) -> SyncSatchel:
    """Open satchel with blocking methods: :func:`satchel.open` with the same arguments, and
    the handle it returns run on an event loop thread of its own.

    Nothing connects yet: network backends connect on first use (``handle.ping()`` to check
    early). Use it as a context manager, or call :meth:`SyncSatchel.close` when done.
    It can be called anywhere, also inside a running event loop (it does not wait for
    anything); the handle's methods cannot.

    :raises ConfigError: a variable is wrong; the message names it.
    """
    return SyncSatchel(_handle.open(*args, **kwargs))
