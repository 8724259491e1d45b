"""The child processes of the tests: each configures satchel from its environment only
(``SATCHEL_BACKEND`` and the rest), as a deployed program would, through
``SatchelSessionService()``.

``python worker.py chat USER SESSION TEXT``: run one turn of ADK's Runner with the scripted
model (which echoes) and print, as JSON, what the model was sent and the session's state.
``python worker.py turns USER SESSION NAME COUNT``: print ``ready``, wait for a line on
stdin, then run COUNT turns ``NAME:0``, ``NAME:1``, ... with a slow model, retrying a turn
on ``StaleSessionError``; print ``{"conflicts": n}``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from google.adk.errors._stale_session_error import StaleSessionError
from scripted import APP, ScriptedLlm, runner, turn

from satchel_adk import SatchelSessionService, close_shared_store


async def chat(user_id: str, session_id: str, text: str) -> None:
    service = SatchelSessionService()
    model = ScriptedLlm()
    await turn(runner(service, model), user_id, session_id, text)
    session = await service.get_session(app_name=APP, user_id=user_id, session_id=session_id)
    assert session is not None
    print(json.dumps({"sent": model.sent[-1], "state": session.state}), flush=True)


async def turns(user_id: str, session_id: str, name: str, count: int) -> None:
    service = SatchelSessionService()
    run = runner(service, ScriptedLlm(delay=0.02))
    await service.get_session(app_name=APP, user_id=user_id, session_id=session_id)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    conflicts = 0
    started = time.monotonic()
    for i in range(count):
        while True:
            try:
                await turn(run, user_id, session_id, f"{name}:{i}")
                break
            except StaleSessionError:
                conflicts += 1
                await asyncio.sleep(random.uniform(0.01, 0.1))  # back off, as an OCC client does
    print(json.dumps({"conflicts": conflicts, "seconds": time.monotonic() - started}), flush=True)


async def main(command: str, *args: str) -> None:
    try:
        if command == "chat":
            await chat(*args)
        else:
            await turns(args[0], args[1], args[2], int(args[3]))
    finally:
        await close_shared_store()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
