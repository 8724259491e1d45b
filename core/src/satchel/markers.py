"""The markers plugins use on their hook implementations: ``satchel.hookimpl``, and
``satchel.around_operation`` for a wrapper of every backend operation."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pluggy

__all__ = ["AROUND", "around_operation", "hookimpl"]

#: Marks a function or method as an implementation of a hook in :mod:`satchel.hookspecs`.
hookimpl = pluggy.HookimplMarker("satchel")

#: The attribute :func:`around_operation` sets on the hook implementation it makes: the
#: coroutine function it wraps.
AROUND = "__satchel_around__"


class _Around:
    """The awaitable an around-wrapper gives: its coroutine is made only when it is awaited,
    so that an outer wrapper that drops it leaves no "coroutine was never awaited" behind."""

    __slots__ = ("args", "function")

    def __init__(self, function: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        self.function = function
        self.args = args

    def __await__(self) -> Generator[Any, None, Any]:
        return self.function(*self.args).__await__()


def around_operation(function: Callable[..., Awaitable[Any]]) -> Any:
    """Make ``async def satchel_backend_operation(operation, inner)`` (or a method with
    ``self`` first) a plugin's implementation of the ``satchel_backend_operation`` hook: a
    wrapper that runs around every backend operation and returns what awaiting ``inner``
    returns (or raises)::

        class Timer:
            @satchel.around_operation
            async def satchel_backend_operation(self, operation, inner):
                start = time.perf_counter()
                try:
                    return await inner
                finally:
                    record(operation.name, time.perf_counter() - start)

    It is a new-style wrapper like any other, and more: when every implementation of the
    hook is core's own or made with this decorator (satchel's ``metrics`` plugin is one),
    satchel calls them directly, innermost first, without building a pluggy hook call;
    and with no implementation but core's, it runs the operation alone. The result is the
    same as going through the hook. Misbehaviour is reported the same way too (a
    :class:`~satchel.errors.PluginError` naming the plugin).
    """
    if not inspect.iscoroutinefunction(function):
        raise TypeError("around_operation: decorate an async def")
    method = len(inspect.signature(function).parameters) == 3
    if method:

        def implementation(
            self: Any, operation: Any
        ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
            inner = yield
            return _Around(function, (self, operation, inner))

    else:

        def implementation(  # type: ignore[misc]
            operation: Any,
        ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
            inner = yield
            return _Around(function, (operation, inner))

    implementation.__name__ = implementation.__qualname__ = "satchel_backend_operation"
    implementation.__doc__ = function.__doc__
    setattr(implementation, AROUND, function)
    return hookimpl(wrapper=True)(implementation)
