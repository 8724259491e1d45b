"""End to end: the SDK's own request handler serves the SDK's own client (JSON-RPC over
ASGI, no network), with a scripted agent, and keeps its tasks and push notification
configs in satchel on Redis (standalone and Cluster) and MongoDB."""

from __future__ import annotations

import json
from typing import Any

import pytest
from a2a.client import Client
from a2a.helpers import get_artifact_text
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import A2AError, TaskNotCancelableError, TaskNotFoundError
from a2a_server import send, serve
from cryptography.fernet import Fernet

import satchel
from satchel_a2a import SatchelPushNotificationConfigStore, SatchelTaskStore

pytestmark = pytest.mark.parametrize(
    "backend", ["redis", "redis-cluster", "mongodb"], indirect=True
)


async def listing(client: Client, **params: Any) -> list[tuple[str, int]]:
    page = await client.list_tasks(ListTasksRequest(**params))
    return [(task.id, task.status.state) for task in page.tasks]


async def test_a_server_keeps_its_tasks_in_satchel(handle_arguments: dict[str, Any]) -> None:
    async with (
        satchel.open(**handle_arguments) as handle,
        serve(SatchelTaskStore(store=handle)) as client,
    ):
        ann, bob = client("ann"), client("bob")
        done = await send(ann, "hello")
        assert done.status.state == TaskState.TASK_STATE_COMPLETED
        assert get_artifact_text(done.artifacts[0]) == "echo: hello"
        waiting = await send(ann, "wait")
        assert waiting.status.state == TaskState.TASK_STATE_INPUT_REQUIRED

        got = await ann.get_task(GetTaskRequest(id=done.id))
        assert got.status.state == TaskState.TASK_STATE_COMPLETED
        assert [m.parts[0].text for m in got.history] == ["hello"]
        assert get_artifact_text(got.artifacts[0]) == "echo: hello"
        assert await listing(ann) == [
            (waiting.id, TaskState.TASK_STATE_INPUT_REQUIRED),
            (done.id, TaskState.TASK_STATE_COMPLETED),
        ]
        assert await listing(ann, status=TaskState.TASK_STATE_COMPLETED) == [
            (done.id, TaskState.TASK_STATE_COMPLETED)
        ]
        assert await listing(ann, context_id=waiting.context_id, page_size=1) == [
            (waiting.id, TaskState.TASK_STATE_INPUT_REQUIRED)
        ]

        canceled = await ann.cancel_task(CancelTaskRequest(id=waiting.id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
        with pytest.raises(TaskNotCancelableError):
            await ann.cancel_task(CancelTaskRequest(id=done.id))

        # another user sees none of it
        with pytest.raises(TaskNotFoundError):
            await bob.get_task(GetTaskRequest(id=done.id))
        assert await listing(bob) == []

        # what the server wrote is in satchel, under ann's name
        stored = await SatchelTaskStore(store=handle).kv.get(f"ann/{done.id}")
        assert isinstance(stored, dict)
        assert stored["task"]["status"]["state"] == "TASK_STATE_COMPLETED"

    # a new server, with new stores on a new handle (another replica, or after a restart)
    async with (
        satchel.open(**handle_arguments) as handle,
        serve(SatchelTaskStore(store=handle)) as client,
    ):
        ann = client("ann")
        assert await listing(ann) == [
            (waiting.id, TaskState.TASK_STATE_CANCELED),
            (done.id, TaskState.TASK_STATE_COMPLETED),
        ]
        again = await ann.get_task(GetTaskRequest(id=done.id))
        assert again == got
        resumed = await send(ann, "wait")
        assert (await ann.cancel_task(CancelTaskRequest(id=resumed.id))).status.state == (
            TaskState.TASK_STATE_CANCELED
        )
        page = await ann.list_tasks(ListTasksRequest(page_size=2))
        assert (len(page.tasks), page.total_size) == (2, 3)
        rest = await ann.list_tasks(ListTasksRequest(page_size=2, page_token=page.next_page_token))
        assert [t.id for t in rest.tasks] == [done.id]
        with pytest.raises(A2AError, match="page_token"):
            await ann.list_tasks(ListTasksRequest(page_token="not-a-token"))


async def test_a_server_keeps_push_configs_encrypted(handle_arguments: dict[str, Any]) -> None:
    key = Fernet.generate_key()
    async with satchel.open(**handle_arguments) as handle:
        configs = SatchelPushNotificationConfigStore(store=handle, encryption_key=key)
        async with serve(SatchelTaskStore(store=handle), configs) as client:
            ann = client("ann")
            task = await send(ann, "wait")
            made = await ann.create_task_push_notification_config(
                TaskPushNotificationConfig(
                    task_id=task.id, id="hook", url="https://hooks.example/a2a", token="s3cret"
                )
            )
            assert (made.id, made.token) == ("hook", "s3cret")
            got = await ann.get_task_push_notification_config(
                GetTaskPushNotificationConfigRequest(task_id=task.id, id="hook")
            )
            assert got.url == "https://hooks.example/a2a"
            listed = await ann.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=task.id)
            )
            assert [c.id for c in listed.configs] == ["hook"]
            assert await configs.get_info_for_dispatch(task.id) == [made]

            stored = await configs.kv.get(f"ann/{task.id}/hook")
            assert isinstance(stored, dict)
            assert "s3cret" not in json.dumps(stored)
            assert "hooks.example" not in json.dumps(stored)

            await ann.delete_task_push_notification_config(
                DeleteTaskPushNotificationConfigRequest(task_id=task.id, id="hook")
            )
            assert await configs.get_info_for_dispatch(task.id) == []
