"""Finding and loading plugins.

:func:`load_plugins` builds a fresh plugin manager each time it is called (nothing happens
at import time): it reads the entry-point group ``satchel`` itself, registers each plugin
under its entry-point name, reports plugins that fail to import and goes on without them,
registers the plugins a program passed to ``satchel.open(plugins=...)`` (named by
:func:`plugins_from_code`), runs ``check_pending()``, then collects the backends and codecs
the plugins register. Each handle has its own manager, so what one handle's plugins do
(codecs, metrics, wrappers) never reaches another handle.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from satchel import hookspecs
from satchel.backend import BackendSpec
from satchel.errors import InvalidArgument, PluginError
from satchel.instrument import Codec, Operation
from satchel.markers import hookimpl
from satchel.metrics import OperationMetrics
from satchel.redaction import clean_error, scrub_secrets

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedPlugins",
    "PluginFailure",
    "RegisteredBackend",
    "load_plugins",
    "plugins_from_code",
]

log = logging.getLogger("satchel")

ENTRY_POINT_GROUP = "satchel"
#: The plugin name core registers itself under (not an entry point, cannot be disabled).
CORE_PLUGIN = "core"
METRICS_PLUGIN = "metrics"
#: Where a plugin passed to ``satchel.open(plugins=...)`` comes from, in messages.
FROM_CODE = "satchel.open(plugins=...)"
#: Where a plugin passed to ``load_plugins(extra_plugins=...)`` comes from, in messages.
FROM_EXTRA = "(registered in code)"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, and why."""

    name: str
    distribution: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.name!r} (from {self.distribution}) failed to load: {self.error}"


@dataclass(frozen=True)
class RegisteredBackend:
    """A backend as registered: its spec, the plugin that registered it, and where from."""

    spec: BackendSpec
    plugin: str
    distribution: str


@dataclass
class LoadedPlugins:
    """What :func:`load_plugins` found."""

    manager: pluggy.PluginManager
    backends: dict[str, RegisteredBackend] = field(default_factory=dict)
    codecs: list[Codec] = field(default_factory=list)
    #: ``{codec name: plugin name}``: the plugin that registered each codec.
    codec_plugins: dict[str, str] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    distributions: dict[str, str] = field(default_factory=dict)
    metrics: OperationMetrics | None = None
    disabled: tuple[str, ...] = ()

    def names(self) -> list[str]:
        """The names of the installed backends, sorted."""
        return sorted(self.backends)


class _CorePlugin:
    """Core's own hook implementations."""

    @hookimpl(trylast=True)
    def satchel_backend_operation(self, operation: Operation) -> Any:
        return operation.run()


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def plugins_from_code(plugins: Iterable[object]) -> list[tuple[str, object]]:
    """The plugins given to ``satchel.open(plugins=...)`` as ``(name, plugin)`` pairs.

    Each item is a plugin (a module, or an object whose methods are marked
    ``@satchel.hookimpl``) or a ``(name, plugin)`` pair. A plugin without a pair is named
    after the module (its ``__name__``, ``"myapp.audit"``) or, for any other object, its
    class (``"ZlibCodec"``); give a pair to name it otherwise, for instance to register two
    objects of one class, or to use a name that ``SATCHEL_DISABLE_PLUGINS`` can match (it
    takes lower-case names).

    :raises InvalidArgument: ``plugins`` is not a list of plugins, an item is a string, a
        malformed pair, or an object that implements no satchel hook; the message names it
        (``plugins[1]``).
    """
    if isinstance(plugins, (str, bytes, Mapping)) or not isinstance(plugins, Iterable):
        raise InvalidArgument(
            f"plugins: must be a list of plugin objects or (name, plugin) pairs, "
            f"not {type(plugins).__name__}"
        )
    probe = pluggy.PluginManager("satchel")  # only to read the @hookimpl marks
    named: list[tuple[str, object]] = []
    for position, item in enumerate(plugins):
        where = f"plugins[{position}]"
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], str) or not item[0]:
                raise InvalidArgument(
                    f"{where}: a pair must be (name, plugin) with a non-empty name, not {item!r}"
                )
            name, plugin = item
        else:
            plugin = item
            owner = plugin if isinstance(plugin, (ModuleType, type)) else type(plugin)
            name = owner.__name__
        if plugin is None or isinstance(plugin, (str, bytes, int, float, tuple)):
            raise InvalidArgument(
                f"{where}: {plugin!r} is a {type(plugin).__name__}, not a plugin (a module "
                "or an object with @satchel.hookimpl methods)"
            )
        if all(probe.parse_hookimpl_opts(plugin, attr) is None for attr in dir(plugin)):
            raise InvalidArgument(
                f"{where}: {name!r} implements no satchel hook (mark its hook functions "
                "with @satchel.hookimpl)"
            )
        named.append((name, plugin))
    return named


def load_plugins(
    disabled: Iterable[str] = (),
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
    code_plugins: Iterable[tuple[str, object]] = (),
) -> LoadedPlugins:
    """Build a plugin manager with every installed plugin and collect what they register.

    Plugins are registered in this order: core's, the installed ones (entry-point order),
    ``extra_plugins``, then ``code_plugins`` in the order given; as pluggy calls the
    implementations of a hook latest-registered first (``tryfirst``/``trylast`` aside), a
    plugin given in code wraps the installed ones. Every plugin passes the same checks:
    unique names, ``check_pending()``, unique backend and codec names.

    :param disabled: plugin names not to load (``SATCHEL_DISABLE_PLUGINS``); they apply to
        plugins given in code too.
    :param entry_points: the entry points to load (default: the installed ones in the
        group ``satchel``); for tests.
    :param extra_plugins: ``(name, plugin)`` pairs to register as well, as if installed.
    :param code_plugins: ``(name, plugin)`` pairs a program passed to
        ``satchel.open(plugins=...)`` (see :func:`plugins_from_code`). Unlike an installed
        plugin, one whose registration hook raises is a :class:`PluginError`, not a
        reported failure: the program asked for it, so there is nothing to go on without.
    :raises PluginError: a plugin implements a hook that does not exist, two plugins have
        one name, or two plugins register the same backend or codec name.
    """
    disabled = tuple(disabled)
    pm = pluggy.PluginManager("satchel")
    pm.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(manager=pm, disabled=disabled)
    pm.register(_CorePlugin(), name=CORE_PLUGIN)
    loaded.distributions[CORE_PLUGIN] = "satchel"
    for name in disabled:
        if name == CORE_PLUGIN:
            log.warning("satchel: the core plugin cannot be disabled (SATCHEL_DISABLE_PLUGINS)")
            continue
        pm.set_blocked(name)
    if METRICS_PLUGIN not in disabled:
        loaded.metrics = OperationMetrics()
        pm.register(loaded.metrics, name=METRICS_PLUGIN)
        loaded.distributions[METRICS_PLUGIN] = "satchel"

    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    candidates: list[tuple[str, str, Any]] = []
    for ep in entry_points:
        dist = _distribution(ep)
        if ep.name in disabled:
            log.debug("satchel: plugin %r (from %s) is disabled", ep.name, dist)
            continue
        _claim_name(loaded, ep.name, dist)
        try:
            candidates.append((ep.name, dist, ep.load()))
        except Exception as exc:
            failure = PluginFailure(ep.name, dist, scrub_secrets(f"{type(exc).__name__}: {exc}"))
            loaded.failures.append(failure)
            log.warning("satchel: %s; the other plugins are loaded", failure)
    for source, given in ((FROM_EXTRA, extra_plugins), (FROM_CODE, code_plugins)):
        for name, plugin in given:
            if name in disabled:
                log.debug("satchel: plugin %r (from %s) is disabled", name, source)
                continue
            _claim_name(loaded, name, source)
            candidates.append((name, source, plugin))

    for name, dist, plugin in candidates:
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} (from {dist}) is invalid: {exc}") from exc
        except ValueError as exc:  # the same module registered under two names
            raise PluginError(f"plugin {name!r} (from {dist}) cannot be registered: {exc}") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin_name = pm.get_name(exc.plugin) or "?"
        dist = loaded.distributions.get(plugin_name, "an unknown distribution")
        raise PluginError(
            f"plugin {plugin_name!r} (from {dist}) implements a hook that does not exist: {exc}"
        ) from exc

    _collect_backends(loaded)
    _collect_codecs(loaded)
    return loaded


def _claim_name(loaded: LoadedPlugins, name: str, source: str) -> None:
    """Record that plugin ``name`` comes from ``source``, or raise if it is taken."""
    other = loaded.distributions.get(name)
    if other is None:
        loaded.distributions[name] = source
        return
    hint = (
        "give the plugin in code another name with a (name, plugin) pair"
        if source in (FROM_CODE, FROM_EXTRA)
        else "uninstall one, or disable it with SATCHEL_DISABLE_PLUGINS"
    )
    raise PluginError(f"plugin name {name!r} is used by both {other} and {source}; {hint}")


def _collect_backends(loaded: LoadedPlugins) -> None:
    for impl in loaded.manager.hook.satchel_register_backends.get_hookimpls():
        dist = loaded.distributions.get(impl.plugin_name, "an unknown distribution")

        def register(
            spec: BackendSpec, *, _plugin: str = impl.plugin_name, _dist: str = dist
        ) -> None:
            if not isinstance(spec, BackendSpec):
                raise PluginError(
                    f"plugin {_plugin!r} (from {_dist}) registered {spec!r}, not a BackendSpec"
                )
            other = loaded.backends.get(spec.name)
            if other is not None:
                raise PluginError(
                    f"backend {spec.name!r} is registered by both {other.distribution} "
                    f"(plugin {other.plugin!r}) and {_dist} (plugin {_plugin!r}); "
                    "uninstall one, or disable one with SATCHEL_DISABLE_PLUGINS"
                )
            loaded.backends[spec.name] = RegisteredBackend(spec, _plugin, _dist)

        _run_registration(loaded, impl, register)


def _collect_codecs(loaded: LoadedPlugins) -> None:
    names: dict[str, str] = {}  # codec name: "plugin 'x' (from y)"
    for impl in loaded.manager.hook.satchel_register_codecs.get_hookimpls():
        dist = loaded.distributions.get(impl.plugin_name, "an unknown distribution")

        def register(codec: Codec, *, _plugin: str = impl.plugin_name, _dist: str = dist) -> None:
            if not isinstance(codec, Codec):
                raise PluginError(
                    f"plugin {_plugin!r} (from {_dist}) registered {codec!r}, not a Codec"
                )
            this = f"plugin {_plugin!r} (from {_dist})"
            if codec.name in names:
                raise PluginError(
                    f"codec {codec.name!r} is registered by both {names[codec.name]} and {this}"
                )
            names[codec.name] = this
            loaded.codecs.append(codec)
            loaded.codec_plugins[codec.name] = _plugin

        _run_registration(loaded, impl, register)
    loaded.codecs.sort(key=lambda c: (c.order, c.name))


def _run_registration(loaded: LoadedPlugins, impl: Any, register: Any) -> None:
    """Call one plugin's registration hook; an installed plugin that raises is reported and
    skipped, one given in code is a :class:`PluginError`."""
    error: PluginError | None = None
    try:
        impl.function(register=register)
    except PluginError:
        raise
    except Exception as exc:
        dist = loaded.distributions.get(impl.plugin_name, "an unknown distribution")
        failure = PluginFailure(
            impl.plugin_name, dist, scrub_secrets(f"{type(exc).__name__}: {exc}")
        )
        if dist == FROM_CODE:
            error = PluginError(
                f"plugin {impl.plugin_name!r} (from {dist}): its {impl.function.__name__} "
                f"raised {failure.error}"
            )
            error.__cause__ = exc
        else:
            loaded.failures.append(failure)
            log.warning("satchel: %s; the other plugins are loaded", failure)
    if error is not None:  # raised here, with no secret anywhere in its chain
        raise clean_error(error)
