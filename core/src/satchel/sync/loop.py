"""A private event loop in a daemon thread that runs coroutines for blocking callers.

Every blocking handle (:class:`satchel.sync.SyncSatchel`) owns one :class:`LoopThread`.
Callers in any thread submit a coroutine function with :meth:`LoopThread.run` and wait for
its outcome; the backend's clients are made on, and live on, the one private loop. The
thread stops when the handle is closed, when the last object using it is collected, or at
interpreter exit, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from satchel.errors import BlockingCallInEventLoop, HandleClosed

__all__ = ["CANCEL_WAIT", "EXIT_WAIT", "LoopThread", "refuse_in_event_loop"]

P = ParamSpec("P")
R = TypeVar("R")

#: Seconds a call interrupted by Ctrl-C waits for its cancelled operation to end.
CANCEL_WAIT = 5.0
#: Seconds between two looks of a waiting caller for a Ctrl-C received by another thread.
SIGNAL_CHECK = 0.2
#: Seconds the loop is given to close the backend when nothing closed it before (garbage
#: collection, interpreter exit).
EXIT_WAIT = 10.0

_numbers = itertools.count(1)


def refuse_in_event_loop(what: str) -> None:
    """Raise :class:`BlockingCallInEventLoop` if the calling thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise BlockingCallInEventLoop(
        f"{what} is a blocking call (satchel.sync) and was called inside a running event "
        "loop, which it would stall; there, use the async API (satchel.open() and await its "
        "stores), or run the blocking call in a worker thread: "
        "await asyncio.to_thread(...)"
    )


class _Call:
    """One submitted call: ``task`` runs it in the loop, and the caller waits for ``done``.

    ``done`` is a plain lock, held from the start and released once ``result`` or ``error``
    is set: the loop's thread never waits for a lock the caller may hold, so a Ctrl-C at any
    instruction of the caller cannot block the loop (``concurrent.futures.Future`` would:
    its condition can stay held by an interrupted ``result()``).
    """

    __slots__ = ("abandoned", "done", "error", "finished", "result", "task", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.done = threading.Lock()
        self.done.acquire()
        self.task: asyncio.Task[Any] | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False  # result or error is set (under the state's lock)
        self.abandoned = False  # interrupted before it started: never start it

    def outcome(self) -> Any:
        """The result, or raise the error (the very object the call raised)."""
        error, self.error = self.error, None  # the traceback will hold the caller's frame
        if error is None:
            return self.result
        try:
            raise error
        finally:
            del error


class _State:
    """What the thread, the finaliser and :class:`LoopThread` share (never the
    :class:`LoopThread` itself, so that collecting it is what stops the thread)."""

    def __init__(self, name: str, on_close: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.on_close = on_close
        self.lock = threading.Lock()
        self.closing = False  # no new call is accepted
        self.calls: set[_Call] = set()  # submitted and not settled
        self.close_error: BaseException | None = None
        self.background: set[asyncio.Task[Any]] = set()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=_serve, args=(self,), name=name, daemon=True)

    @property
    def forked(self) -> bool:
        """Whether this is a process forked from the one that made the loop (whose thread,
        and any lock another thread held at the fork, are not here)."""
        return os.getpid() != self.pid

    def closed_error(self, what: str) -> HandleClosed:
        if self.forked:
            return HandleClosed(
                f"{what}: this blocking handle was opened in another process (before a fork) "
                "and its event loop thread does not exist here; open a new handle in this "
                "process"
            )
        return HandleClosed(f"{what}: the blocking handle is closed; open a new one")

    def request_close(self) -> bool:
        """Stop accepting calls and ask the loop to shut down; ``True`` the first time."""
        if self.forked:  # the loop belongs to the parent process
            return False
        with self.lock:
            if self.closing:
                return False
            self.closing = True
        with contextlib.suppress(RuntimeError):  # a closed loop: the thread has ended
            self.loop.call_soon_threadsafe(_start_shutdown, self)
        return True

    def settle(self, call: _Call, result: Any = None, error: BaseException | None = None) -> None:
        """Forget ``call`` and give its caller ``result`` or ``error`` (the first time)."""
        with self.lock:
            self.calls.discard(call)
            if call.finished:
                return
            call.result, call.error, call.finished = result, error, True
        call.done.release()


class LoopThread:
    """An event loop running in a daemon thread of its own, for blocking callers.

    :param on_close: awaited in the loop when the thread is asked to stop (the handle's
        ``close``), after the calls still running were cancelled.
    """

    def __init__(self, on_close: Callable[[], Awaitable[None]], name: str = "") -> None:
        state = _State(name or f"satchel-sync-{next(_numbers)}", on_close)
        self._state = state
        state.thread.start()
        # Collected unclosed (or still open at exit): stop the thread and close the backend.
        self._finalizer = weakref.finalize(self, _finalize, state)

    @property
    def name(self) -> str:
        """The thread's name."""
        return self._state.name

    @property
    def thread(self) -> threading.Thread:
        """The thread running the loop."""
        return self._state.thread

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the thread ended)."""
        return self._state.closing

    def run(self, func: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``await func(*args, **kwargs)`` in the loop; block until it is done and return its
        result, or raise its exception (the same object).

        :raises BlockingCallInEventLoop: the calling thread runs an event loop.
        :raises HandleClosed: the loop was closed, before or during the call.
        """
        what = getattr(func, "__qualname__", None) or repr(func)
        refuse_in_event_loop(what)
        state = self._state
        if state.forked:
            raise state.closed_error(what)
        call = _Call(what)
        try:  # from here on, Ctrl-C (at whichever instruction) cancels the call
            with state.lock:
                if state.closing:
                    raise state.closed_error(what)
                state.calls.add(call)
                # under the lock: a close() requested later is queued after this start
                state.loop.call_soon_threadsafe(_start, state, call, func, args, kwargs)
            # in slices: a signal that another thread received reaches this one only when it
            # runs Python code again
            while not call.done.acquire(timeout=SIGNAL_CHECK):
                pass
        except KeyboardInterrupt:
            _interrupt(state, call)
            raise
        result: R = call.outcome()
        return result

    def schedule(self, func: Callable[[], Awaitable[object]]) -> None:
        """Run ``func()`` in the loop without waiting for it; nothing happens once the loop
        is closing (its end finalises what is left)."""
        state = self._state
        if state.forked:
            return
        with state.lock:
            if not state.closing:
                state.loop.call_soon_threadsafe(_spawn, state, func)

    def close(self) -> None:
        """Cancel the calls still running, await ``on_close`` in the loop, stop the loop and
        wait for the thread to end. Calling it again is harmless; ``on_close``'s error is
        raised by the first call."""
        refuse_in_event_loop("SyncSatchel.close")
        state = self._state
        first = state.request_close()
        self._finalizer.detach()
        if threading.current_thread() is not state.thread:
            while state.thread.is_alive():  # in slices, as in run()
                state.thread.join(SIGNAL_CHECK)
        if first and state.close_error is not None:
            error, state.close_error = state.close_error, None
            raise error

    def __repr__(self) -> str:
        status = "closed" if self.closed else "running"
        return f"<LoopThread {self.name!r} {status}>"


# -- in the loop's thread -----------------------------------------------------------------


def _serve(state: _State) -> None:
    """The thread: run the loop until it is stopped, then finish its tasks and close it."""
    loop = state.loop
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            _finish(loop)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            with state.lock:
                state.closing = True
                left = list(state.calls)
            for call in left:  # nothing will run them now
                state.settle(call, error=state.closed_error(call.what))


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does at the end: cancel the tasks left, finalise the async
    generators and the default executor."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())


async def _await(func: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> Any:
    return await func(*args, **kwargs)


def _start(
    state: _State, call: _Call, func: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
) -> None:
    with state.lock:
        if call.abandoned:  # interrupted before it started
            return
        call.task = state.loop.create_task(_await(func, args, kwargs))
    call.task.add_done_callback(lambda task: _settle(state, call, task))


def _settle(state: _State, call: _Call, task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        if state.closing:
            error: BaseException = state.closed_error(f"{call.what} (cancelled by close())")
        else:  # interrupted (the caller raised already), or cancelled by the operation itself
            error = asyncio.CancelledError()
        state.settle(call, error=error)
        return
    error_or_none = task.exception()
    if error_or_none is not None:
        state.settle(call, error=error_or_none)
    else:
        state.settle(call, result=task.result())


def _spawn(state: _State, func: Callable[[], Awaitable[object]]) -> None:
    task = state.loop.create_task(_await(func, (), {}))
    state.background.add(task)  # held until done (the loop keeps only weak references)
    task.add_done_callback(lambda t: _forget(state, t))


def _forget(state: _State, task: asyncio.Task[Any]) -> None:
    state.background.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failed clean-up is not worth a warning


def _cancel(call: _Call) -> None:
    if call.task is not None:
        call.task.cancel()


def _start_shutdown(state: _State) -> None:
    _spawn(state, lambda: _shutdown(state))


async def _shutdown(state: _State) -> None:
    """Cancel the calls still running, await ``on_close``, stop the loop."""
    try:
        with state.lock:
            running = [c.task for c in state.calls if c.task is not None]
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        try:
            await state.on_close()
        except BaseException as exc:  # given to the caller of close()
            state.close_error = exc
    finally:
        state.loop.stop()


# -- in the caller's thread ---------------------------------------------------------------


def _interrupt(state: _State, call: _Call) -> None:
    """Ctrl-C while waiting: cancel the call and give it :data:`CANCEL_WAIT` seconds to end."""
    with state.lock:
        if call.finished:
            return
        if call.task is None:  # it had not started: it never will
            call.abandoned = True
            state.calls.discard(call)
            return
    try:
        state.loop.call_soon_threadsafe(_cancel, call)
    except RuntimeError:  # the loop is closed: nothing runs any more
        return
    if call.done.acquire(timeout=CANCEL_WAIT):
        call.done.release()


def _finalize(state: _State) -> None:
    """The handle was collected unclosed, or the interpreter exits: close it, and wait for
    the thread unless this thread runs an event loop (or is the loop's own)."""
    if not state.request_close() or threading.current_thread() is state.thread:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        state.thread.join(EXIT_WAIT)
