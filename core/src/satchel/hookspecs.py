"""Hook specifications: what a satchel plugin can implement.

A plugin is a module or object with functions marked ``@satchel.hookimpl`` whose names are
the hooks below. It is found through an entry point in the group ``satchel``; the entry
point's name is the plugin's name (the one ``SATCHEL_DISABLE_PLUGINS`` takes)::

    # pyproject.toml of satchel-foo
    [project.entry-points.satchel]
    foo = "satchel_foo.plugin"

Every hook name starts with ``satchel_``. A function marked ``@hookimpl`` whose name is not
a hook here is an error when plugins are loaded, not silence. The docs build their hook
reference from these docstrings, and a test fails when a hook is undocumented.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from satchel.backend import BackendSpec
    from satchel.instrument import Codec, Operation

__all__ = [
    "satchel_backend_operation",
    "satchel_register_backends",
    "satchel_register_codecs",
]

_hookspec = pluggy.HookspecMarker("satchel")

# -------------------------------------------------------------------------
# registration hooks


@_hookspec
def satchel_register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register the storage backends this plugin provides.

    Called once each time plugins are loaded (every :func:`satchel.open` and CLI command),
    after every plugin is registered and before a backend is chosen. Call ``register`` once
    per backend; do not import the database driver here, import it in the factory.

    Two plugins registering the same backend name is a
    :class:`~satchel.errors.PluginError` naming both distributions.

    :param register: call it with a :class:`satchel.backend.BackendSpec`.

    Example::

        @satchel.hookimpl
        def satchel_register_backends(register):
            register(BackendSpec("foo", FooBackend.from_settings, FooSettings, "Foo server"))
    """


@_hookspec
def satchel_register_codecs(register: Callable[[Codec], None]) -> None:
    """Register payload codecs: transforms of every stored value on the way in and out
    (encryption at rest, compression, signing).

    Called once each time plugins are loaded, right after
    :func:`satchel_register_backends`. On a write, the codecs' ``encode`` functions run in
    ascending :attr:`~satchel.instrument.Codec.order` (ties by codec name); on a read,
    their ``decode`` functions run in the reverse order, so the last encoder is the first
    decoder. Queries and indexes see the *encoded* value, so a codec that hides fields
    makes them unqueryable; index entries are never encoded.

    Two codecs with one name are a :class:`~satchel.errors.PluginError`.

    :param register: call it with a :class:`satchel.instrument.Codec`.
    """


# -------------------------------------------------------------------------
# operation hooks


@_hookspec(firstresult=True)
def satchel_backend_operation(operation: Operation) -> Awaitable[Any] | None:
    """Called for every backend operation (``get``, ``put``, ``query``, ...), before it
    runs; returns the awaitable that performs it.

    Implement it as a new-style wrapper to observe or wrap operations (metrics, tracing,
    audit logs, retries). The wrapper receives the awaitable from the inner
    implementations with ``yield`` and must return an awaitable (usually a coroutine that
    awaits it); it must not block::

        @satchel.hookimpl(wrapper=True)
        def satchel_backend_operation(operation):
            inner = yield

            async def traced():
                with tracer.start_span(f"satchel.{operation.name}"):
                    return await inner

            return traced()

    A wrapper that only runs code around ``await inner`` is best written as one ``async
    def satchel_backend_operation(operation, inner)`` marked with
    :func:`satchel.around_operation`: when every implementation is core's own or made so
    (the built-in ``metrics`` plugin is one), satchel calls them directly, without building
    a hook call; with no implementation but core's, the operation runs alone.

    Core's own implementation, which runs last, returns ``operation.run()``. An
    implementation that is not a wrapper and returns something else than ``None``
    replaces the operation (``firstresult``); this is meant for test doubles only.

    :param operation: what is about to run: its name, the backend's name, the
        collection and key (or the number of items, for batch operations).
    """
