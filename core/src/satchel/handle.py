"""``satchel.open()`` and the :class:`Satchel` handle it returns."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from satchel.backend import Backend
from satchel.errors import BackendNotFound, ConfigError, InvalidArgument, SatchelError
from satchel.instrument import InstrumentedBackend
from satchel.plugins import LoadedPlugins, load_plugins, scrub_secrets
from satchel.settings import SatchelSettings, clean_error, load_settings, settings_secrets
from satchel.stores.base import collection_name
from satchel.stores.kv import KVStore
from satchel.stores.logs import LogStore
from satchel.stores.sessions import SessionStore
from satchel.stores.tasks import IndexExtractor, TaskStore
from satchel.validation import check_name, check_ttl

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["Satchel", "build_backend", "open"]

M = TypeVar("M", bound="BaseModel")
_UNSET: Any = object()


def build_backend(
    settings: SatchelSettings,
    plugins: LoadedPlugins,
    environ: Mapping[str, str] | None = None,
) -> Backend:
    """The backend ``settings`` select (not instrumented), or a :class:`ConfigError`."""
    custom = settings.custom_backend(environ)
    if custom is not None:
        from satchel.loader import build_custom_backend

        return build_custom_backend(custom[0], custom[1], settings, environ)
    registered = plugins.backends.get(settings.backend)
    if registered is None:
        failed = [f for f in plugins.failures if f.name == settings.backend]
        if failed:
            raise BackendNotFound(f"backend {settings.backend!r} (SATCHEL_BACKEND): {failed[0]}")
        installed = ", ".join(plugins.names()) or "none"
        hint = ""
        if settings.backend in plugins.disabled:
            hint = " (it is disabled by SATCHEL_DISABLE_PLUGINS)"
        raise BackendNotFound(
            f"unknown backend {settings.backend!r} (SATCHEL_BACKEND){hint}; installed: {installed}"
        )
    spec = registered.spec
    plugin_settings = (
        load_settings(spec.settings_cls, environ) if spec.settings_cls is not None else None
    )
    secrets = settings_secrets(plugin_settings)
    error: SatchelError | None = None
    try:
        backend = spec.factory(plugin_settings, settings)
    except SatchelError as exc:
        error = exc
    except ImportError as exc:
        error = BackendNotFound(
            f"backend {spec.name!r} (from {registered.distribution}) needs a package that is "
            f"not installed: {exc.name or exc}"
        )
        error.__cause__ = exc
    except Exception as exc:
        error = ConfigError(
            f"backend {spec.name!r} (SATCHEL_BACKEND) could not be built: "
            f"{type(exc).__name__}: {scrub_secrets(str(exc))}"
        )
        error.__cause__ = exc
    if error is not None:  # raised here, with no secret anywhere in its chain
        raise clean_error(error, secrets)
    if not isinstance(backend, Backend):
        raise ConfigError(
            f"backend {spec.name!r} (from {registered.distribution}): its factory returned "
            f"{type(backend).__name__}, not a satchel.backend.Backend"
        )
    return backend


def open(
    settings: SatchelSettings | None = None,
    *,
    backend: Backend | None = None,
    environ: Mapping[str, str] | None = None,
) -> Satchel:
    """Open satchel as the environment (or ``settings``) says.

    Reads ``SATCHEL_*`` settings, loads the plugins, builds the selected backend and returns
    the handle. Nothing connects yet: network backends connect on first use (``await
    handle.ping()`` to check early). Use it as an async context manager, or call
    :meth:`Satchel.close` when done.

    :param settings: core settings (default: read from the environment).
    :param backend: use this backend object instead of the one the settings select.
    :param environ: read variables from this mapping instead of ``os.environ``.
    :raises ConfigError: a variable is wrong; the message names it.
    """
    if settings is None:
        settings = load_settings(SatchelSettings, environ)
    elif not isinstance(settings, SatchelSettings):
        raise InvalidArgument(f"settings: must be SatchelSettings, not {type(settings).__name__}")
    plugins = load_plugins(disabled=settings.disable_plugins)
    if backend is None:
        backend = build_backend(settings, plugins, environ)
    elif not isinstance(backend, Backend):
        raise InvalidArgument(f"backend: must be a satchel.backend.Backend, not {backend!r}")
    return Satchel(backend, settings, plugins)


class Satchel:
    """The handle to one backend: the stores, stats and lifecycle. Get it from
    :func:`satchel.open`."""

    def __init__(self, backend: Backend, settings: SatchelSettings, plugins: LoadedPlugins) -> None:
        self.settings = settings
        self.plugins = plugins
        self.raw_backend = backend
        self.backend: Backend = InstrumentedBackend(
            backend,
            plugins.manager.hook,
            plugins.codecs,
            distributions=plugins.distributions,
            codec_plugins=plugins.codec_plugins,
            secrets=settings_secrets(getattr(backend, "settings", None)),
        )
        self.namespace = settings.namespace
        self._closed = False

    def _ttl(self, ttl: Any) -> float | None:
        return self.settings.default_ttl if ttl is _UNSET else check_ttl(ttl)

    def tasks(
        self,
        model: type[M],
        *,
        name: str = "tasks",
        ttl: Any = _UNSET,
        id_field: str = "task_id",
        status_field: str = "status",
        indexes: Mapping[str, IndexExtractor] | None = None,
    ) -> TaskStore[M]:
        """The task store ``name`` for tasks of ``model``.

        :param ttl: default seconds to live of each write (default ``SATCHEL_DEFAULT_TTL``;
            ``None``: never expire).
        :param id_field: the model's field holding the task id.
        :param status_field: the model's field holding the status (for ``list``/``cleanup``).
        :param indexes: extra multi-valued indexes, ``{name: task -> [values]}``, for
            :meth:`TaskStore.find`; ``request_id`` is always declared.
        """
        return TaskStore(
            self.backend,
            self.namespace,
            model,
            name=name,
            ttl=self._ttl(ttl),
            id_field=id_field,
            status_field=status_field,
            indexes=indexes,
        )

    def sessions(
        self, model: type[M], *, name: str = "sessions", ttl: Any = _UNSET
    ) -> SessionStore[M]:
        """The session store ``name`` for snapshots of ``model``."""
        return SessionStore(self.backend, self.namespace, model, name=name, ttl=self._ttl(ttl))

    def kv(self, namespace: str, *, ttl: Any = _UNSET) -> KVStore:
        """The key-value namespace ``namespace`` (any non-empty string without NUL)."""
        check_name(namespace, "namespace")
        return KVStore(self.backend, self.namespace, namespace, self._ttl(ttl))

    @overload
    def logs(self, name: str, model: None = None, *, ttl: Any = _UNSET) -> LogStore[Any]: ...

    @overload
    def logs(self, name: str, model: type[M], *, ttl: Any = _UNSET) -> LogStore[M]: ...

    def logs(self, name: str, model: type[M] | None = None, *, ttl: Any = _UNSET) -> LogStore[Any]:
        """The log store ``name``: ordered, append-only logs, one per key (a chat history per
        conversation, the events of a run).

        :param model: a pydantic model every entry is an instance of (default: entries are
            JSON values).
        :param ttl: seconds each log lives after its last append (default
            ``SATCHEL_DEFAULT_TTL``; ``None``: never expire).
        """
        return LogStore(self.backend, self.namespace, name, self._ttl(ttl), model)

    async def namespaces(self) -> list[str]:
        """The KV namespaces that hold at least one value, sorted."""
        prefix = collection_name(self.namespace, "kv", "")
        return [c[len(prefix) :] for c in await self.backend.collections() if c.startswith(prefix)]

    async def ping(self) -> None:
        """Check that the backend answers (:class:`~satchel.errors.BackendUnavailable` if not)."""
        await self.backend.ping()

    async def purge_expired(self) -> int:
        """Remove expired records now; return how many."""
        return await self.backend.purge_expired()

    async def stats(self) -> dict[str, Any]:
        """The backend's figures and, per operation, calls, errors and latency percentiles."""
        return {
            "backend": self.raw_backend.name,
            "namespace": self.namespace,
            "backend_stats": await self.backend.stats(),
            "operations": self.plugins.metrics.snapshot() if self.plugins.metrics else {},
        }

    async def close(self) -> None:
        """Release the backend's connections. Calling it twice is harmless."""
        if not self._closed:
            self._closed = True
            await self.backend.close()

    async def __aenter__(self) -> Satchel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<Satchel backend={self.backend.describe()!r} namespace={self.namespace!r}>"
