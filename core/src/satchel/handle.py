"""``satchel.open()`` and the :class:`Satchel` handle it returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic_settings import BaseSettings

from satchel.backend import Backend
from satchel.errors import BackendNotFound, ConfigError, InvalidArgument, SatchelError
from satchel.instrument import InstrumentedBackend
from satchel.plugins import (
    LoadedPlugins,
    RegisteredBackend,
    load_plugins,
    plugins_from_code,
)
from satchel.redaction import scrub_secrets
from satchel.settings import (
    SatchelSettings,
    clean_error,
    load_settings,
    settings_from_code,
    settings_secrets,
    variable_source,
)
from satchel.stores.base import IndexExtractor, collection_name
from satchel.stores.instances import InstanceStore
from satchel.stores.kv import KVStore
from satchel.stores.logs import LogStore
from satchel.stores.sessions import SessionStore
from satchel.stores.tasks import TaskStore
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
    *,
    backend_settings: Mapping[str, Any] | BaseSettings | None = None,
) -> Backend:
    """The backend ``settings`` select (not instrumented), or a :class:`ConfigError`.

    :param environ: read the backend's variables from this mapping instead of
        ``os.environ``.
    :param backend_settings: the backend was named in code (``satchel.open(backend=...)``)
        and these are its settings: a mapping by field name, validated by the backend's
        settings class over ``environ`` (nothing when ``environ`` is ``None``; never
        ``os.environ``), or an instance of that class, used as it is. Errors then name the
        arguments instead of variables.
    """
    in_code = backend_settings is not None
    source = (
        "the backend argument"
        if in_code
        else variable_source(SatchelSettings, "backend", environ) or "SATCHEL_BACKEND"
    )
    custom = None if in_code else settings.custom_backend(environ)
    if custom is not None:
        from satchel.loader import build_custom_backend

        return build_custom_backend(custom[0], custom[1], settings, environ)
    registered = plugins.backends.get(settings.backend)
    if registered is None:
        failed = [f for f in plugins.failures if f.name == settings.backend]
        if failed:
            raise BackendNotFound(f"backend {settings.backend!r} ({source}): {failed[0]}")
        installed = ", ".join(plugins.names()) or "none"
        hint = ""
        if settings.backend in plugins.disabled:
            by = "disable_plugins" if in_code else "SATCHEL_DISABLE_PLUGINS"
            hint = f" (it is disabled by {by})"
        raise BackendNotFound(
            f"unknown backend {settings.backend!r} ({source}){hint}; installed: {installed}"
        )
    spec = registered.spec
    if backend_settings is not None:
        plugin_settings = _settings_in_code(registered, backend_settings, environ)
    elif spec.settings_cls is not None:
        plugin_settings = load_settings(spec.settings_cls, environ)
    else:
        plugin_settings = None
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
            f"backend {spec.name!r} ({source}) could not be built: "
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


def _settings_in_code(
    registered: RegisteredBackend,
    given: Mapping[str, Any] | BaseSettings,
    environ: Mapping[str, str] | None,
) -> BaseSettings | None:
    """The settings of the backend ``registered``, given in code as ``backend_settings``."""
    spec = registered.spec
    cls = spec.settings_cls
    if cls is None:
        if isinstance(given, BaseSettings) or given:
            raise InvalidArgument(f"backend_settings: backend {spec.name!r} has no settings")
        return None
    if isinstance(given, cls):
        return given
    if isinstance(given, BaseSettings):
        raise InvalidArgument(
            f"backend_settings: backend {spec.name!r} takes a {cls.__name__} (or a mapping "
            f"of its fields), not a {type(given).__name__}"
        )
    return settings_from_code(cls, given, argument="backend_settings", environ=environ)


def _check_backend_arguments(backend: Any, backend_settings: Any) -> None:
    """Refuse a ``backend`` or ``backend_settings`` of the wrong kind, naming it."""
    if backend is not None and not isinstance(backend, (Backend, str)):
        raise InvalidArgument(
            f"backend: must be a backend name or a satchel.backend.Backend, not {backend!r}"
        )
    if backend_settings is None:
        return
    if not isinstance(backend, str):
        raise InvalidArgument(
            "backend_settings: only with a backend name (backend='redis'), "
            + ("not alone" if backend is None else "not a backend object, which is built already")
        )
    if not isinstance(backend_settings, (Mapping, BaseSettings)):
        raise InvalidArgument(
            "backend_settings: must be a mapping of the backend's settings by field name "
            f"or its settings object, not {type(backend_settings).__name__}"
        )


def _core_settings(
    settings: Any,
    backend: Backend | str | None,
    given: dict[str, Any],
    environ: Mapping[str, str] | None,
) -> tuple[SatchelSettings, Mapping[str, str] | None]:
    """The core settings of :func:`open`, and the mapping the backend's settings are then
    read from (``None``: ``os.environ``; empty when the handle is configured in code)."""
    named = isinstance(backend, str)
    if settings is not None:
        if not isinstance(settings, SatchelSettings):
            raise InvalidArgument(
                f"settings: must be SatchelSettings, not {type(settings).__name__} (give core "
                "settings in code as namespace=, default_ttl=, disable_plugins=)"
            )
        clash = [*given, *(["a backend name"] if named else [])]
        if clash:
            raise InvalidArgument(
                f"settings: give either a SatchelSettings object or {', '.join(clash)}, not both"
            )
        return settings, environ
    if backend is None and not given:
        return load_settings(SatchelSettings, environ), environ
    # configured in code: os.environ is left out, and a backend name wins over any custom
    # backend class a mapping names
    if named:
        given = {**given, "backend": backend, "backend_module": None, "backend_class": None}
    settings = settings_from_code(SatchelSettings, given, argument="", environ=environ)
    return settings, {} if environ is None else environ


def open(
    settings: SatchelSettings | None = None,
    *,
    backend: Backend | str | None = None,
    backend_settings: Mapping[str, Any] | BaseSettings | None = None,
    namespace: str | None = None,
    default_ttl: float | timedelta | None = _UNSET,
    disable_plugins: str | Iterable[str] | None = None,
    plugins: Iterable[object] = (),
    environ: Mapping[str, str] | None = None,
) -> Satchel:
    """Open satchel as the environment, or the arguments, say.

    Reads the settings, loads the plugins, builds the selected backend and returns the
    handle. Nothing connects yet: network backends connect on first use (``await
    handle.ping()`` to check early). Use it as an async context manager, or call
    :meth:`Satchel.close` when done. Each handle has its own settings, plugins, codecs and
    metrics: several handles, on different backends, live side by side in one process.

    Where the settings come from:

    * ``satchel.open()`` (or with ``plugins`` only): the ``SATCHEL_*`` variables of
      ``os.environ``, or of ``environ`` when it is given;
    * ``settings=SatchelSettings(...)``: that object (which reads the environment for the
      fields it is not given) and the backend's variables;
    * configured in code, that is given a backend (a name or an object),
      ``backend_settings``, ``namespace``, ``default_ttl`` or ``disable_plugins``: those
      arguments, and the defaults for the rest. ``os.environ`` is not read at all, so no
      ``SATCHEL_*`` variable reaches the handle; pass ``environ`` (``environ=os.environ``
      too) to fill what the arguments leave out from a mapping: the arguments win over it.

    ::

        store = satchel.open(backend="redis", backend_settings={"url": url}, namespace="t1")
        store = satchel.open(backend=MyBackend(), plugins=[ZlibCodec(), ("audit", audit)])

    :param settings: core settings as one object; not with ``namespace``,
        ``default_ttl``, ``disable_plugins``, a backend name or ``backend_settings``.
    :param backend: the name of a registered backend (``"redis"``; one an installed plugin
        or a plugin in ``plugins`` registers), or a backend object to use as it is.
    :param backend_settings: the named backend's settings, by field name
        (``{"url": ..., "key_prefix": "app:"}``, the fields of ``SATCHEL_REDIS_*``),
        validated by its settings class, or an instance of that class; only with a backend
        name.
    :param namespace: the tenant prefix of every collection (``SATCHEL_NAMESPACE``).
    :param default_ttl: seconds (or a ``timedelta``) a record lives when neither its store
        nor the call gives a TTL; ``None``: never expire (``SATCHEL_DEFAULT_TTL``).
    :param disable_plugins: plugin names not to load, a list or a comma-separated string
        (``SATCHEL_DISABLE_PLUGINS``); they apply to ``plugins`` too.
    :param plugins: plugins for this handle only, registered after the installed ones and
        checked as they are: modules or objects with ``@satchel.hookimpl`` methods, each
        named after its module (``__name__``) or its class, or ``(name, plugin)`` pairs.
    :param environ: read variables from this mapping instead of ``os.environ``.
    :raises ConfigError: a setting is wrong; the message names its variable, or its
        argument when it was given in code (``backend_settings['port']=0: ...``).
    :raises BackendNotFound: no plugin registers the backend named.
    :raises PluginError: a plugin is broken (a hook that does not exist, a name or a codec
        name used twice, a registration hook of a plugin in ``plugins`` that raises).
    :raises InvalidArgument: an argument has the wrong type or shape; the message names it.
    """
    code_plugins = plugins_from_code(plugins)
    _check_backend_arguments(backend, backend_settings)
    given: dict[str, Any] = {}
    if namespace is not None:
        given["namespace"] = namespace
    if default_ttl is not _UNSET:
        given["default_ttl"] = (
            default_ttl.total_seconds() if isinstance(default_ttl, timedelta) else default_ttl
        )
    if disable_plugins is not None:
        given["disable_plugins"] = disable_plugins
    settings, environ = _core_settings(settings, backend, given, environ)
    loaded = load_plugins(disabled=settings.disable_plugins, code_plugins=code_plugins)
    if not isinstance(backend, Backend):
        in_code = None
        if isinstance(backend, str):
            in_code = {} if backend_settings is None else backend_settings
        backend = build_backend(settings, loaded, environ, backend_settings=in_code)
    return Satchel(backend, settings, loaded)


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

    def kv(
        self,
        namespace: str,
        *,
        ttl: Any = _UNSET,
        indexes: Mapping[str, IndexExtractor] | None = None,
    ) -> KVStore:
        """The key-value namespace ``namespace`` (any non-empty string without NUL).

        :param ttl: seconds each value lives (default ``SATCHEL_DEFAULT_TTL``; ``None``:
            never expire).
        :param indexes: ``{name: extractor}``: each extractor takes a value and returns the
            strings under which :meth:`KVStore.find` looks it up.
        """
        check_name(namespace, "namespace")
        return KVStore(self.backend, self.namespace, namespace, self._ttl(ttl), indexes)

    def instances(self) -> InstanceStore:
        """The instances of this tenant: named, described containers of key-value
        namespaces, each under a tenant of its own (see ``docs/instances.md``). Their KV
        stores take the handle's default TTL."""
        return InstanceStore(self.backend, self.namespace, self.settings.default_ttl)

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
