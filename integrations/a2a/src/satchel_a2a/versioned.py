""":class:`SatchelVersionedTaskStore`: the A2A SDK's ``VersionedTaskStore`` (its interface
for several server replicas sharing tasks) on satchel's record versions."""

from __future__ import annotations

from datetime import timedelta

from a2a.server.cluster.task_store import StoredTask, VersionedTaskStore
from a2a.server.cluster.version import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.owner_resolver import OwnerResolver, resolve_user_scope
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState

from satchel import InvalidArgument, Satchel
from satchel.stores import DEFAULT
from satchel.stores.base import Default
from satchel_a2a.errors import TaskModified
from satchel_a2a.records import owner_of
from satchel_a2a.tasks import TASKS_NAMESPACE, SatchelTaskStore

__all__ = ["SatchelVersionedTaskStore"]

_TERMINAL = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_REJECTED,
    }
)


class SatchelVersionedTaskStore(VersionedTaskStore):
    """The A2A SDK's ``VersionedTaskStore``: every save names the version it was derived
    from and is refused (``ConcurrentTaskModificationError``, here :class:`TaskModified`)
    when another writer got there first, or when it would move a finished task (completed,
    canceled, failed, rejected) to another state; the SDK's request handler then reloads
    the task. So a task canceled through one server replica stays canceled when the
    replica running it saves again. Give it to ``DefaultRequestHandler(task_store=...)``.

    The records are those of :class:`SatchelTaskStore` (same namespace, same form); a
    version is satchel's record version. Events (the ``event`` of :meth:`save`) are not
    kept: this store does not stream events between replicas, so the SDK warns that
    cross-replica streaming is off when it is given no ``event_stream``.

    :param store: the satchel handle (default: the process's handle, opened from the
        environment on first use).
    :param namespace: the KV namespace of the tasks.
    :param owner_resolver: the owner of a call, from its ``ServerCallContext``.
    :param ttl: seconds (or a ``timedelta``) a task lives after its last save; ``None``:
        forever; default: the handle's ``default_ttl``.
    """

    def __init__(
        self,
        *,
        store: Satchel | None = None,
        namespace: str = TASKS_NAMESPACE,
        owner_resolver: OwnerResolver = resolve_user_scope,
        ttl: float | timedelta | Default | None = DEFAULT,
    ) -> None:
        self._tasks = SatchelTaskStore(
            store=store, namespace=namespace, owner_resolver=owner_resolver, ttl=ttl
        )

    @property
    def as_task_store(self) -> SatchelTaskStore:
        """The same tasks as a plain ``TaskStore`` (saves without a version check)."""
        return self._tasks

    async def save(
        self,
        task: Task,
        *,
        event: Event | None = None,
        prev: Task | None = None,
        prev_version: TaskVersion,
        context: ServerCallContext,
    ) -> TaskVersion:
        """Save ``task`` over ``prev_version`` (``TaskVersion.MISSING``: a new task) and
        return its new version. A save that moves the task to CANCELED overwrites any task
        that is not yet terminal, whatever its version, and is refused for a terminal or
        missing one, as the interface asks. A task in a terminal state (completed,
        canceled, failed, rejected) never moves to another state.

        :raises TaskModified: the stored version is not ``prev_version``, or the save would
            move a finished task to another state; nothing was written.
        """
        del event, prev  # no event log here; the stored version and state decide
        if not isinstance(prev_version, TaskVersion):
            raise InvalidArgument(
                f"prev_version: must be the SDK's TaskVersion, not {type(prev_version).__name__}"
            )
        if not isinstance(task, Task):
            raise InvalidArgument(f"task: must be the SDK's Task, not {type(task).__name__}")
        owner = owner_of(context, self._tasks.owner_resolver)
        if task.status.state == TaskState.TASK_STATE_CANCELED:
            return TaskVersion(await self._cancel(task, owner))
        expected = 0 if prev_version.is_missing else _version_number(prev_version)

        def stays_finished(version: int | None, state: int) -> None:
            # A2A's terminal states are final: a save derived from a finished task (one a
            # replica reloaded after a refused save) may not move it to another state. The
            # stored task is read for it: the SDK hands over as ``prev`` the object it has
            # already changed into ``task``.
            if version != expected:
                return  # the write refuses it for its version
            if state in _TERMINAL and task.status.state != state:
                raise TaskModified(
                    f"task {task.id!r}: it is finished ({TaskState.Name(state)}); "
                    "a save may not move it to another state",
                    task_id=task.id,
                    expected=expected,
                    actual=expected,
                )

        saved = await self._tasks._write(
            task, owner, expected_version=expected, check=stays_finished if expected else None
        )
        return TaskVersion(saved)

    async def _cancel(self, task: Task, owner: str) -> int:
        def cancelable(version: int | None, state: int) -> None:
            if version is None or state in _TERMINAL:
                raise TaskModified(
                    f"task {task.id!r}: it is "
                    + ("gone" if version is None else "already finished")
                    + "; a cancel applies only to a task that is not",
                    task_id=task.id,
                    actual=0 if version is None else version,
                )

        # written over whatever version is stored, read again when another write lands
        return await self._tasks._write(task, owner, check=cancelable)

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        """The call's owner's task ``task_id`` with its version, or ``None``."""
        found = await self._tasks.get_versioned(task_id, context)
        return None if found is None else StoredTask(found.value, TaskVersion(found.version))

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """As :meth:`SatchelTaskStore.list`."""
        return await self._tasks.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        """Delete the call's owner's task ``task_id`` (nothing happens if there is none)."""
        await self._tasks.delete(task_id, context)

    def __repr__(self) -> str:
        return repr(self._tasks).replace("SatchelTaskStore", "SatchelVersionedTaskStore", 1)


def _version_number(version: TaskVersion) -> int:
    value = version._value  # the SDK's stores read it the same way
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(
            f"prev_version: must be a version this store returned, not {version!r}"
        )
    return value
