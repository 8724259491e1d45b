"""The SDK's own Runner, with a scripted model (no network): a conversation kept in a
SatchelSession on Redis and on MongoDB, continued by another process that sees the
history."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from agents import Agent, Runner
from agents.testing import ScriptedModel, assistant_message
from items import INPUT_ITEM

from satchel import Satchel
from satchel_openai_agents import SatchelSession

WORKER = str(Path(__file__).with_name("worker.py"))


@pytest.mark.parametrize("backend", ["redis", "mongodb"], indirect=True)
async def test_a_conversation_continues_in_another_process(
    environ: dict[str, str], store: Satchel
) -> None:
    session = SatchelSession(f"chat-{uuid.uuid4().hex}", store=store)
    model = ScriptedModel(
        [[assistant_message("Hello!", item_id="m1")], [assistant_message("Noted.", item_id="m2")]]
    )
    agent = Agent(name="a", model=model)
    await Runner.run(agent, "Hi", session=session)
    await Runner.run(agent, "Remember: blue.", session=session)
    assert [m["role"] for m in model.calls[1].input] == ["user", "assistant", "user"]

    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, WORKER, "chat", session.session_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    child = json.loads(done.stdout.splitlines()[-1])
    assert child["output"] == "You said three things."
    sent = child["sent"]
    assert [m.get("content") for m in sent if m["role"] == "user"] == [
        "Hi",
        "Remember: blue.",
        "How many?",
    ]
    assert [m["id"] for m in sent if m["role"] == "assistant"] == ["m1", "m2"]

    history = await session.get_items()
    assert len(history) == 6
    assert history[-1]["id"] == "m3"  # type: ignore[typeddict-item]
    for item in history:  # each is a valid input item of the SDK's own type
        INPUT_ITEM.validate_python(item)
