"""An A2A server for the tests: the SDK's ``DefaultRequestHandler`` behind its JSON-RPC
routes in a Starlette app, with a scripted ``AgentExecutor``, and the SDK's client talking
to it over ASGI (no network). A header names the user, through Starlette's authentication
middleware, as a real deployment's authentication would."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
from a2a.client import Client, ClientConfig, ClientFactory
from a2a.helpers import get_message_text, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.cluster import VersionedTaskStore
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import PushNotificationConfigStore, TaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    Role,
    SendMessageRequest,
    Task,
)
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

URL = "http://agent.test/"

CARD = AgentCard(
    name="echo",
    description="Echoes what it is told; waits for input when told 'wait'.",
    version="1.0.0",
    supported_interfaces=[
        AgentInterface(protocol_binding="JSONRPC", url=URL, protocol_version="1.0")
    ],
    capabilities=AgentCapabilities(streaming=False, push_notifications=True),
    default_input_modes=["text/plain"],
    default_output_modes=["text/plain"],
    skills=[AgentSkill(id="echo", name="echo", description="echoes", tags=["echo"])],
)


class ScriptedExecutor(AgentExecutor):
    """'wait': the task asks for input; 'slow': the task works until ``gate`` is set, then
    completes; anything else: an artifact echoing it, then completed. Cancel: canceled."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate or asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        text = get_message_text(context.message)
        if text == "wait":
            await updater.requires_input()
            return
        if text == "slow":
            await updater.start_work()
            await self.gate.wait()
        await updater.add_artifact([new_text_part(f"echo: {text}")], name="echo")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None and context.context_id is not None
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


class HeaderUser(AuthenticationBackend):
    """The user named by the ``x-user`` header (none: unauthenticated)."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        name = conn.headers.get("x-user")
        return (AuthCredentials(["authenticated"]), SimpleUser(name)) if name else None


@contextlib.asynccontextmanager
async def serve(
    task_store: TaskStore | VersionedTaskStore,
    push_config_store: PushNotificationConfigStore | None = None,
    executor: ScriptedExecutor | None = None,
) -> AsyncIterator[Callable[..., Client]]:
    """An A2A server over these stores; yields ``client(user, polling=False)``, the SDK's
    client as ``user`` (``polling``: a message returns at once, without waiting for the
    task to finish). Leaving it waits for the tasks it runs."""
    handler = DefaultRequestHandler(
        agent_executor=executor or ScriptedExecutor(),
        task_store=task_store,
        agent_card=CARD,
        push_config_store=push_config_store,
    )
    app = Starlette(
        routes=[*create_agent_card_routes(CARD), *create_jsonrpc_routes(handler, "/")],
        middleware=[Middleware(AuthenticationMiddleware, backend=HeaderUser())],
    )
    async with contextlib.AsyncExitStack() as stack:

        def client(user: str, *, polling: bool = False) -> Client:
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=URL, headers={"x-user": user}
            )
            stack.push_async_callback(http.aclose)
            config = ClientConfig(httpx_client=http, streaming=False, polling=polling)
            return ClientFactory(config).create(CARD)

        try:
            yield client
        finally:
            await handler.aclose()


async def send(client: Client, text: str, *, task_id: str = "") -> Task:
    """Send ``text`` (to ``task_id``, if given) and return the task it ran as."""
    message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[new_text_part(text)])
    if task_id:
        message.task_id = task_id
    tasks = [
        event.task
        async for event in client.send_message(SendMessageRequest(message=message))
        if event.HasField("task")
    ]
    assert len(tasks) == 1
    return tasks[0]
