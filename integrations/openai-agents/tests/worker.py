"""The child processes of the tests: each configures satchel from its environment only
(``SATCHEL_BACKEND`` and the rest), as a deployed program would.

``python worker.py add SESSION WORKER CALLS SIZE``: print ``ready``, wait for a line on
stdin, then make CALLS ``add_items`` calls of SIZE items each.
``python worker.py pop SESSION``: same start, then pop until the session is empty and print
the popped items as one JSON list.
``python worker.py chat SESSION``: run one more turn of the conversation of
``test_runner.py`` and print what the model was sent, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from satchel_openai_agents import SatchelSession, close_shared_store


def wait_for_start() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


async def add(session: SatchelSession, worker: str, calls: int, size: int) -> None:
    for call in range(calls):
        await session.add_items(
            [{"role": "user", "content": f"{worker}:{call}:{i}"} for i in range(size)]
        )


async def pop(session: SatchelSession) -> list[Any]:
    popped = []
    while (item := await session.pop_item()) is not None:
        popped.append(item)
    return popped


async def chat(session: SatchelSession) -> Any:
    from agents import Agent, Runner
    from agents.testing import ScriptedModel, assistant_message

    model = ScriptedModel([[assistant_message("You said three things.", item_id="m3")]])
    result = await Runner.run(Agent(name="a", model=model), "How many?", session=session)
    return {"sent": model.calls[0].input, "output": result.final_output}


async def main(command: str, session_id: str, *args: str) -> None:
    session = SatchelSession(session_id)
    try:
        if command == "add":
            await session.get_items(limit=1)  # connected before the start
            wait_for_start()
            await add(session, args[0], int(args[1]), int(args[2]))
        elif command == "pop":
            await session.get_items(limit=1)
            wait_for_start()
            print(json.dumps(await pop(session)), flush=True)
        else:
            print(json.dumps(await chat(session), default=str), flush=True)
    finally:
        await close_shared_store()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
