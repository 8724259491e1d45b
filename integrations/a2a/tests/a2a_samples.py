"""Tasks, configs and call contexts for the A2A tests."""

from __future__ import annotations

import random
from typing import Any

from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import (
    Artifact,
    AuthenticationInfo,
    ListTasksRequest,
    Message,
    Part,
    Role,
    Task,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
)
from google.protobuf.struct_pb2 import Struct, Value
from google.protobuf.timestamp_pb2 import Timestamp

#: Owners: the unauthenticated user (empty name), and names a key must keep apart.
OWNERS = ["", "ann", "bob/ö", "ann/"]
CONTEXTS = ["ctx-1", "ctx-2", "ctx-3"]
STATES = [
    TaskState.TASK_STATE_SUBMITTED,
    TaskState.TASK_STATE_WORKING,
    TaskState.TASK_STATE_COMPLETED,
    TaskState.TASK_STATE_CANCELED,
    TaskState.TASK_STATE_INPUT_REQUIRED,
]
#: Status timestamps (seconds, nanos), with ties, the epoch, before it, and the last second
#: of the year 9999; ``None``: no timestamp.
TIMES: list[tuple[int, int] | None] = [
    None,
    (1_700_000_000, 0),
    (1_700_000_000, 5),
    (1_700_000_000, 999_999_999),
    (1_700_000_001, 0),
    (0, 0),
    (-86_400, 10),
    (253_402_300_799, 999_999_999),
]
# (no empty id: the SDK's in-memory store cannot page past a task whose id is empty)
TASK_IDS = [f"task-{n}" for n in range(10)] + ["a/b", "ü", "Task-1", "task-1 "]


class NamedUser(User):
    """An authenticated user with a name."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self._name


def ctx(owner: str) -> ServerCallContext:
    """A call context whose user is ``owner`` (the empty name: unauthenticated)."""
    if not owner:
        return ServerCallContext()
    return ServerCallContext(user=NamedUser(owner))


def timestamp(time: tuple[int, int]) -> Timestamp:
    return Timestamp(seconds=time[0], nanos=time[1])


def make_task(
    task_id: str,
    *,
    context_id: str = "ctx-1",
    state: int = TaskState.TASK_STATE_WORKING,
    time: tuple[int, int] | None = (1_700_000_000, 0),
    text: str = "hello",
) -> Task:
    """A task with history, an artifact and metadata (so that every kind of field is
    stored and read back)."""
    status = TaskStatus(state=state)  # type: ignore[arg-type]
    if time is not None:
        status.timestamp.CopyFrom(timestamp(time))
    metadata = Struct()
    metadata.update({"n": 1.5, "s": "x", "nested": {"list": [1, "a", None, True]}})
    data = Value()
    data.struct_value.update({"answer": 42, "$odd.key": "kept"})
    return Task(
        id=task_id,
        context_id=context_id,
        status=status,
        history=[
            Message(
                message_id=f"m-{task_id}",
                role=Role.ROLE_USER,
                parts=[Part(text=text), Part(raw=b"\x00\xffbytes", media_type="x/y")],
            )
        ],
        artifacts=[Artifact(artifact_id="a-1", name="result", parts=[Part(data=data)])],
        metadata=metadata,
    )


def random_task(rng: random.Random) -> Task:
    return make_task(
        rng.choice(TASK_IDS),
        context_id=rng.choice(CONTEXTS),
        state=rng.choice(STATES),
        time=rng.choice(TIMES),
        text=rng.choice(["a", "b", "ü"]),
    )


def random_listing(rng: random.Random) -> ListTasksRequest:
    params: dict[str, Any] = {}
    if rng.random() < 0.4:
        params["context_id"] = rng.choice(CONTEXTS)
    if rng.random() < 0.3:
        params["status"] = rng.choice(STATES)
    if rng.random() < 0.3:
        time = rng.choice([t for t in TIMES if t is not None])
        params["status_timestamp_after"] = timestamp(time)
    params["page_size"] = rng.choice([0, 1, 2, 3, 5])
    return ListTasksRequest(**params)


def make_config(
    config_id: str = "",
    *,
    url: str = "https://hooks.example/notify",
    token: str = "secret-token",
    credentials: str = "secret-credentials",
) -> TaskPushNotificationConfig:
    """A push notification config with secrets in it."""
    return TaskPushNotificationConfig(
        id=config_id,
        url=url,
        token=token,
        authentication=AuthenticationInfo(scheme="Bearer", credentials=credentials),
    )
