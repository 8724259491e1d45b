"""SatchelSessionService against ADK's own InMemorySessionService, operation by operation:
random sequences of create/get/list/delete/append/get_user_state (state in the app:, user:,
temp: and session scopes, every GetSessionConfig, events with and without content), on
every backend. Every answer, and every change an append makes to the caller's session
object, must be the same. (The release ships no session-service tests to run against another
service, so ADK's reference service is the oracle.)"""

from __future__ import annotations

import random
from typing import Any

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.platform import time as platform_time
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions import InMemorySessionService, Session
from google.adk.sessions.base_session_service import GetSessionConfig, ListSessionsResponse
from google.genai import types

from satchel_adk import SatchelSessionService

APPS = ["app", "app/2", "%app"]
USERS = ["u1", "u/2", "ü3"]
IDS = ["s1", "s2", "s/3", " s4 "]
KEYS = ["a", "b", "app:x", "app:y", "user:x", "user:y", "temp:t", "c.d", "$e"]


def dump(value: Any) -> Any:
    """A comparable form of what a service returned."""
    if isinstance(value, Session):
        data = value.model_dump(mode="json")
        data["events"] = [dump(e) for e in value.events]
        return data
    if isinstance(value, Event):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, ListSessionsResponse):
        return [dump(s) for s in value.sessions]
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value


async def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", dump(await call)
    except AlreadyExistsError:
        return "exists", None
    except SessionNotFoundError:
        return "not found", None


class Script:
    """Random operations, each run on both services with the same clock and ids."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = 1_000.0
        self.ids = 0
        self.events = 0

    def state(self) -> dict[str, Any]:
        rng = self.rng
        values: list[Any] = [1, 2.5, "x", None, [1, {"k": "v"}], {"n": {"m": True}}]
        return {k: rng.choice(values) for k in rng.sample(KEYS, rng.randint(0, 4))}

    def event(self) -> Event:
        rng = self.rng
        self.events += 1
        step = rng.choice([1.0, 1.0, 1.0, 0.0, -0.5])  # ties and a step back now and then
        self.clock += step
        content = None
        if rng.random() < 0.7:
            content = types.Content(
                role=rng.choice(["user", "model"]), parts=[types.Part(text=f"m{self.events}")]
            )
        return Event(
            id=f"e{self.events}",
            invocation_id=f"i{self.events // 3}",
            author=rng.choice(["user", "agent"]),
            content=content,
            actions=EventActions(state_delta=self.state()),
            timestamp=self.clock,
        )

    def config(self) -> GetSessionConfig | None:
        rng = self.rng
        choice = rng.randint(0, 4)
        if choice == 0:
            return None
        return GetSessionConfig(
            num_recent_events=rng.choice([None, 0, 1, 2, 5, 100]),
            after_timestamp=rng.choice([None, self.clock - 3, self.clock - 1, 0.0]),
        )


async def run_script(satchel_service: SatchelSessionService, seed: int, steps: int) -> None:
    reference = InMemorySessionService()
    script = Script(seed)
    rng = script.rng
    # the caller's current session objects, one per service, per session
    held: dict[tuple[str, str, str], tuple[Session, Session]] = {}
    for step in range(steps):
        script.clock += 1.0
        now = script.clock
        platform_time.set_time_provider(lambda now=now: now)
        new_id = f"gen{step}"
        platform_uuid.set_id_provider(lambda new_id=new_id: new_id)
        app, user = rng.choice(APPS), rng.choice(USERS)
        sid = rng.choice(IDS)
        if held and rng.random() < 0.6:  # mostly a session that exists
            app, user, sid = rng.choice(sorted(held))
        op = rng.choice(["create", "create", "get", "list", "delete", "append", "append"])
        op += "" if op != "append" or held else "-none"
        if op == "create":
            state = script.state()
            given = rng.choice([sid, None, ""])
            calls = [
                s.create_session(app_name=app, user_id=user, state=dict(state), session_id=given)
                for s in (reference, satchel_service)
            ]
            results = [await outcome(c) for c in calls]
        elif op == "get":
            config = script.config()
            calls = [
                s.get_session(app_name=app, user_id=user, session_id=sid, config=config)
                for s in (reference, satchel_service)
            ]
            results = [await outcome(c) for c in calls]
        elif op == "list":
            who = rng.choice([user, None])
            results = [
                await outcome(s.list_sessions(app_name=app, user_id=who))
                for s in (reference, satchel_service)
            ]
        elif op == "delete":
            results = [
                await outcome(s.delete_session(app_name=app, user_id=user, session_id=sid))
                for s in (reference, satchel_service)
            ]
            held.pop((app, user, sid.strip()), None)
        elif op == "append":
            where = rng.choice(sorted(held))
            mine = held[where]
            event = script.event()
            results = []
            for service, session in zip((reference, satchel_service), mine, strict=True):
                results.append(
                    await outcome(service.append_event(session, event.model_copy(deep=True)))
                )
            assert dump(mine[0]) == dump(mine[1]), f"step {step}: the sessions after append differ"
        else:
            results = [("skip", None), ("skip", None)]
        if op == "user-state" or rng.random() < 0.2:
            states = [
                await s.get_user_state(app_name=app, user_id=user)
                for s in (reference, satchel_service)
            ]
            assert states[0] == states[1], f"step {step}: get_user_state differs"
        assert results[0] == results[1], f"step {step}: {op} differs"
        if op in ("create", "get") and results[0][0] == "ok" and results[0][1] is not None:
            session_id = results[0][1]["id"]
            fresh = [
                await s.get_session(app_name=app, user_id=user, session_id=session_id)
                for s in (reference, satchel_service)
            ]
            assert fresh[0] is not None and fresh[1] is not None
            held[(app, user, session_id)] = (fresh[0], fresh[1])
    platform_time.reset_time_provider()
    platform_uuid.reset_id_provider()


@pytest.mark.parametrize("seed", [1, 2])
async def test_same_answers_as_adks_in_memory_service(
    service: SatchelSessionService, seed: int
) -> None:
    await run_script(service, seed, 120)
