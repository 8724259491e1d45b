"""Finding and loading plugins.

:func:`load_plugins` builds a fresh plugin manager each time it is called (nothing happens
at import time): it reads the entry-point group ``satchel`` itself, registers each plugin
under its entry-point name, reports plugins that fail to import and goes on without them,
runs ``check_pending()``, then collects the backends and codecs the plugins register.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from satchel import hookspecs
from satchel.backend import BackendSpec
from satchel.errors import PluginError
from satchel.instrument import Codec, Operation
from satchel.markers import hookimpl
from satchel.metrics import OperationMetrics
from satchel.settings import scrub_secrets

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedPlugins",
    "PluginFailure",
    "RegisteredBackend",
    "load_plugins",
    "scrub_secrets",
]

log = logging.getLogger("satchel")

ENTRY_POINT_GROUP = "satchel"
#: The plugin name core registers itself under (not an entry point, cannot be disabled).
CORE_PLUGIN = "core"
METRICS_PLUGIN = "metrics"


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


def load_plugins(
    disabled: Iterable[str] = (),
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> LoadedPlugins:
    """Build a plugin manager with every installed plugin and collect what they register.

    :param disabled: plugin names not to load (``SATCHEL_DISABLE_PLUGINS``).
    :param entry_points: the entry points to load (default: the installed ones in the
        group ``satchel``); for tests.
    :param extra_plugins: ``(name, plugin)`` pairs to register as well, as if installed.
    :raises PluginError: a plugin implements a hook that does not exist, or two plugins
        register the same backend or codec name.
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
        if ep.name in loaded.distributions:
            raise PluginError(
                f"plugin name {ep.name!r} is used by both {loaded.distributions[ep.name]} "
                f"and {dist}; uninstall one, or disable it with SATCHEL_DISABLE_PLUGINS"
            )
        loaded.distributions[ep.name] = dist
        try:
            candidates.append((ep.name, dist, ep.load()))
        except Exception as exc:
            failure = PluginFailure(ep.name, dist, scrub_secrets(f"{type(exc).__name__}: {exc}"))
            loaded.failures.append(failure)
            log.warning("satchel: %s; the other plugins are loaded", failure)
    for name, plugin in extra_plugins:
        loaded.distributions.setdefault(name, "(registered in code)")
        candidates.append((name, loaded.distributions[name], plugin))

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
    names: dict[str, str] = {}
    for impl in loaded.manager.hook.satchel_register_codecs.get_hookimpls():
        dist = loaded.distributions.get(impl.plugin_name, "an unknown distribution")

        def register(codec: Codec, *, _plugin: str = impl.plugin_name, _dist: str = dist) -> None:
            if not isinstance(codec, Codec):
                raise PluginError(
                    f"plugin {_plugin!r} (from {_dist}) registered {codec!r}, not a Codec"
                )
            if codec.name in names:
                raise PluginError(
                    f"codec {codec.name!r} is registered by both {names[codec.name]} and {_dist}"
                )
            names[codec.name] = _dist
            loaded.codecs.append(codec)
            loaded.codec_plugins[codec.name] = _plugin

        _run_registration(loaded, impl, register)
    loaded.codecs.sort(key=lambda c: (c.order, c.name))


def _run_registration(loaded: LoadedPlugins, impl: Any, register: Any) -> None:
    """Call one plugin's registration hook; a plugin that raises is reported and skipped."""
    try:
        impl.function(register=register)
    except PluginError:
        raise
    except Exception as exc:
        dist = loaded.distributions.get(impl.plugin_name, "an unknown distribution")
        failure = PluginFailure(
            impl.plugin_name, dist, scrub_secrets(f"{type(exc).__name__}: {exc}")
        )
        loaded.failures.append(failure)
        log.warning("satchel: %s; the other plugins are loaded", failure)
