"""The scripted agent-task lifecycle behind ``satchel demo``, and its Teal-shaped models.

:class:`AgentTask` and :class:`AgentTaskItem` mirror Teal Agents' task models, so the demo
shows the calls a Teal deployment makes: create a task, pause it for a human, find it again
by the ``request_id`` the resume call carries, resume it, complete it, list and clean up.
A short key-value part and a session part follow. (The rest of satchel's Teal Agents
compatibility is in :mod:`satchel.teal`.)

The demo writes only under its own names (:data:`DEMO_STORE`, :data:`DEMO_NAMESPACE`), with
keys unique to each run and a one-hour TTL, and removes what it wrote, so it can run
repeatedly, even concurrently, against a shared Redis or MongoDB.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from satchel.backend import utcnow
from satchel.errors import Conflict, SatchelError

if TYPE_CHECKING:
    from satchel.handle import Satchel

__all__ = [
    "DEMO_NAMESPACE",
    "DEMO_STORE",
    "AgentTask",
    "AgentTaskItem",
    "DemoSession",
    "DemoStep",
    "MultiModalItem",
    "TaskStatus",
    "run_demo",
]

#: The task store and session store the demo writes to.
DEMO_STORE = "satchel-demo"
#: The KV namespace the demo writes to.
DEMO_NAMESPACE = "satchel-demo"
#: Seconds everything the demo writes lives, so an interrupted run leaves nothing for long.
DEMO_TTL = 3600.0

TaskStatus = Literal["Running", "Paused", "Completed", "Failed", "Canceled"]


class MultiModalItem(BaseModel):
    """One piece of content of a task item (Teal Agents' ``MultiModalItem``)."""

    content_type: Literal["text", "image"] = "text"
    content: str


class AgentTaskItem(BaseModel):
    """One message of a task: every item of one invocation carries its ``request_id``."""

    task_id: str
    request_id: str
    role: Literal["user", "assistant"]
    item: MultiModalItem
    updated: datetime
    pending_tool_calls: list[dict[str, Any]] | None = None
    chat_history: list[dict[str, Any]] | None = None


class AgentTask(BaseModel):
    """An agent task, shaped like Teal Agents' ``AgentTask``."""

    task_id: str
    session_id: str
    user_id: str
    items: list[AgentTaskItem] = Field(default_factory=list)
    created_at: datetime
    last_updated: datetime
    status: TaskStatus = "Running"


class DemoSession(BaseModel):
    """A session snapshot: the conversation so far."""

    session_id: str
    user_id: str
    messages: list[dict[str, str]] = Field(default_factory=list)


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo, as it happens.

    :param section: ``tasks``, ``kv`` or ``sessions``.
    :param action: a short verb (``create``, ``pause``, ...).
    :param detail: one readable line saying what happened.
    :param data: the same, as JSON values, for ``--json``.
    """

    section: str
    action: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def _item(
    task_id: str,
    request_id: str,
    role: Literal["user", "assistant"],
    content: str,
    **extra: Any,
) -> AgentTaskItem:
    return AgentTaskItem(
        task_id=task_id,
        request_id=request_id,
        role=role,
        item=MultiModalItem(content=content),
        updated=utcnow(),
        **extra,
    )


def _failed(message: str) -> SatchelError:
    """The demo fails loudly when the backend does not do what the contract says."""
    return SatchelError(f"demo: {message}; the backend does not behave as satchel expects")


async def run_demo(handle: Satchel, emit: Callable[[DemoStep], None]) -> None:
    """Run the demo on ``handle``'s backend, calling ``emit`` after each step."""
    run = uuid.uuid4().hex[:8]
    await _tasks_part(handle, emit, run)
    await _kv_part(handle, emit, run)
    await _sessions_part(handle, emit, run)


async def _tasks_part(handle: Satchel, emit: Callable[[DemoStep], None], run: str) -> None:
    def step(action: str, detail: str, **data: Any) -> None:
        emit(DemoStep("tasks", action, detail, data))

    tasks = handle.tasks(AgentTask, name=DEMO_STORE, ttl=DEMO_TTL)
    task_id = f"demo-task-{run}"
    r1, r2 = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        now = utcnow()
        task = AgentTask(
            task_id=task_id,
            session_id=f"demo-session-{run}",
            user_id="demo-user",
            items=[_item(task_id, r1, "user", "Book me a table for two tonight.")],
            created_at=now,
            last_updated=now,
        )
        version = await tasks.create(task)
        step(
            "create",
            f"task {task_id}: Running, 1 item with request_id r1={r1} (version {version})",
            task_id=task_id,
            status=task.status,
            request_id=r1,
            version=version,
        )

        # The agent needs a human to approve a tool call: it records the call and pauses.
        task.items.append(
            _item(
                task_id,
                r1,
                "assistant",
                "I can book Casa Lisboa at 20:00. Shall I?",
                pending_tool_calls=[{"name": "book_table", "arguments": {"time": "20:00"}}],
            )
        )
        task.status = "Paused"
        task.last_updated = utcnow()
        paused_from = version
        version = await tasks.update(task, expected_version=version)
        step(
            "pause",
            f"status Paused, pending tool call recorded "
            f"(update with expected_version={paused_from} -> version {version})",
            status=task.status,
            expected_version=paused_from,
            version=version,
        )

        try:
            await tasks.update(task, expected_version=paused_from)
        except Conflict as exc:
            step(
                "conflict",
                f"a second writer still holding version {paused_from} is refused: Conflict",
                expected_version=paused_from,
                actual_version=exc.actual,
            )
        else:
            raise _failed("an update with a stale expected_version was accepted")

        # The resume call carries only the request id: find the task by it.
        found = await tasks.load_by_request_id(r1)
        if found is None or found.task_id != task_id:
            raise _failed(f"load_by_request_id(r1) did not find {task_id}")
        step(
            "find",
            f"load_by_request_id(r1) -> task {found.task_id}, status {found.status}",
            request_id=r1,
            task_id=found.task_id,
            status=found.status,
        )
        current = await tasks.load_versioned(task_id)
        if current is None:
            raise _failed(f"task {task_id} vanished")
        found.items.append(_item(task_id, r2, "user", "Yes, go ahead."))
        found.status = "Running"
        found.last_updated = utcnow()
        version = await tasks.update(found, expected_version=current.version)
        step(
            "resume",
            f"appended an item with a new request_id r2={r2}; status Running (version {version})",
            request_id=r2,
            status=found.status,
            version=version,
        )

        found.items.append(_item(task_id, r2, "assistant", "Booked: Casa Lisboa, 20:00."))
        found.status = "Completed"
        found.last_updated = utcnow()
        version = await tasks.update(found, expected_version=version)
        step(
            "complete",
            f"status Completed, {len(found.items)} items (version {version})",
            status=found.status,
            items=len(found.items),
            version=version,
        )

        by_status: dict[str, list[str]] = {}
        for status in ("Running", "Paused", "Completed"):
            page = await tasks.list(status=status, limit=10)
            by_status[status] = [t.task_id for t in page.items]
        if task_id not in by_status["Completed"]:
            raise _failed(f"list(status='Completed') did not list {task_id}")
        step(
            "list",
            "; ".join(f"{s}: {', '.join(ids) or '-'}" for s, ids in by_status.items()),
            by_status=by_status,
        )

        removed = await tasks.cleanup(older_than=timedelta(0))
        gone = await tasks.load(task_id) is None
        if not gone:
            raise _failed(f"cleanup left the finished task {task_id}")
        step(
            "cleanup",
            f"cleanup(older_than=timedelta(0)) removed {removed} finished task(s); "
            f"load({task_id!r}) -> None",
            removed=removed,
            gone=gone,
        )
    finally:
        if await tasks.exists(task_id):
            await tasks.delete(task_id)


async def _kv_part(handle: Satchel, emit: Callable[[DemoStep], None], run: str) -> None:
    def step(action: str, detail: str, **data: Any) -> None:
        emit(DemoStep("kv", action, detail, data))

    kv = handle.kv(DEMO_NAMESPACE, ttl=DEMO_TTL)
    prefix = f"{run}/"
    values = {
        f"{prefix}agent-1": {"step": 5, "model": "small"},
        f"{prefix}agent-2": {"step": 2, "model": "large"},
        f"{prefix}agent-3": {"step": 9, "model": "large"},
    }
    try:
        versions = await kv.set_many(values)
        step(
            "set",
            f"set_many: {len(values)} agents' state under {prefix}agent-1..3 "
            f"(versions {versions}, TTL {DEMO_TTL:g} s)",
            keys=list(values),
            versions=versions,
        )
        got = await kv.get(f"{prefix}agent-1")
        if got != values[f"{prefix}agent-1"]:
            raise _failed("get returned another value than was set")
        step("get", f"get {prefix}agent-1 -> {json.dumps(got)}", key=f"{prefix}agent-1", value=got)
        page = await kv.query(
            [("key", "startswith", prefix), ("step", "gte", 3)],
            order_by="-step",
            select=["step"],
        )
        found = {entry.key: entry.value for entry in page.items}
        if list(found) != [f"{prefix}agent-3", f"{prefix}agent-1"]:
            raise _failed(f"the query returned {list(found)}")
        step(
            "query",
            f"where step >= 3, order by -step, select step -> {json.dumps(found)}",
            where="step gte 3",
            order_by="-step",
            results=found,
        )
    finally:
        for key in values:
            await kv.delete(key)
    step("delete", f"deleted {len(values)} keys", deleted=len(values))


async def _sessions_part(handle: Satchel, emit: Callable[[DemoStep], None], run: str) -> None:
    def step(action: str, detail: str, **data: Any) -> None:
        emit(DemoStep("sessions", action, detail, data))

    sessions = handle.sessions(DemoSession, name=DEMO_STORE, ttl=DEMO_TTL)
    session_id = f"demo-session-{run}"
    session = DemoSession(
        session_id=session_id,
        user_id="demo-user",
        messages=[
            {"role": "user", "content": "Book me a table for two tonight."},
            {"role": "assistant", "content": "Booked: Casa Lisboa, 20:00."},
        ],
    )
    try:
        version = await sessions.save(session_id, session)
        step(
            "save",
            f"session {session_id}: {len(session.messages)} messages (version {version})",
            session_id=session_id,
            version=version,
        )
        loaded = await sessions.load(session_id)
        if loaded != session:
            raise _failed("load returned another snapshot than was saved")
        step("load", f"load -> {len(session.messages)} messages, equal to what was saved")
    finally:
        deleted = await sessions.delete(session_id)
    step("delete", f"delete -> {deleted}; exists -> {await sessions.exists(session_id)}")
