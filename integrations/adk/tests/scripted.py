"""A scripted model for ADK's Runner (no network) and the agent the tests run: it answers
from a script, and records what it was sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.models import LlmCapabilities
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions import BaseSessionService
from google.adk.tools.tool_context import ToolContext
from google.genai import types
from pydantic import Field

APP = "notes"


class ScriptedLlm(BaseLlm):
    """Answers each call with the next reply of ``script``: a string is a text answer, a
    dict ``{"call": name, "args": {...}}`` a function call. With an empty script it echoes
    the last user text as ``"re: <text>"``. ``delay`` seconds pass before each answer."""

    model: str = "scripted"
    script: list[Any] = Field(default_factory=list)
    sent: list[list[str]] = Field(default_factory=list)
    delay: float = 0.0

    @property
    def capabilities(self) -> LlmCapabilities:
        return LlmCapabilities(output_schema_and_tools=False)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.sent.append([render(c) for c in llm_request.contents])
        if self.delay:
            await asyncio.sleep(self.delay)
        reply: Any = self.script.pop(0) if self.script else None
        if reply is None:
            users = [c for c in llm_request.contents if c.role == "user"]
            reply = "re: " + render(users[-1]).split(": ", 1)[1] if users else "hello"
        if isinstance(reply, dict):
            part = types.Part(
                function_call=types.FunctionCall(name=reply["call"], args=reply["args"])
            )
        else:
            part = types.Part(text=reply)
        yield LlmResponse(content=types.Content(role="model", parts=[part]))


def render(content: types.Content) -> str:
    """``role: text`` for a text, ``role: call name`` / ``role: result name``."""
    bits = []
    for part in content.parts or []:
        if part.text is not None:
            bits.append(part.text)
        elif part.function_call is not None:
            bits.append(f"call {part.function_call.name}")
        elif part.function_response is not None:
            bits.append(f"result {part.function_response.name}")
    return f"{content.role}: {' '.join(bits)}"


def remember(color: str, tool_context: ToolContext) -> dict[str, str]:
    """Remember the user's favourite colour."""
    tool_context.state["user:color"] = color
    tool_context.state["times_remembered"] = tool_context.state.get("times_remembered", 0) + 1
    return {"status": "remembered"}


def runner(service: BaseSessionService, model: ScriptedLlm) -> Runner:
    agent = LlmAgent(
        name="notes",
        model=model,
        instruction="Keep notes.",
        tools=[remember],
        output_key="last_reply",
    )
    return Runner(app_name=APP, agent=agent, session_service=service)


def message(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


async def turn(run: Runner, user_id: str, session_id: str, text: str) -> list[Any]:
    """One turn; the events it produced."""
    return [
        e
        async for e in run.run_async(
            user_id=user_id, session_id=session_id, new_message=message(text)
        )
    ]
