"""The same concurrency scenarios on ADK's own services (InMemorySessionService and
DatabaseSessionService on SQLite) and on SatchelSessionService: what docs/adk.md says
satchel guarantees and they do not. If a release of ADK changes its services' behaviour,
these tests say so, and the page must change with them."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import pytest
from events import event, texts
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.sessions import (
    BaseSessionService,
    DatabaseSessionService,
    InMemorySessionService,
    Session,
)

from satchel import Satchel
from satchel_adk import SatchelSessionService

APP, USER = "app", "ann"
KINDS = ["in-memory", "database", "satchel"]


@pytest.fixture
async def services(store: Satchel) -> AsyncIterator[dict[str, BaseSessionService]]:
    database = DatabaseSessionService("sqlite+aiosqlite:///:memory:")
    yield {
        "in-memory": InMemorySessionService(),
        "database": database,
        "satchel": SatchelSessionService(store=store),
    }
    await database.close()


async def two_copies(service: BaseSessionService) -> tuple[Session, Session]:
    session = await service.create_session(app_name=APP, user_id=USER, session_id="s")
    return session, copy.deepcopy(session)


async def history(service: BaseSessionService) -> list[str]:
    stored = await service.get_session(app_name=APP, user_id=USER, session_id="s")
    assert stored is not None
    return [e.author + (":" + texts([e])[0] if e.content else "") for e in stored.events]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_a_turn_over_an_unseen_turn(services: dict[str, BaseSessionService]) -> None:
    """Two runners answer in one session from the same copy: ADK's in-memory service
    interleaves their turns silently; the database service and satchel refuse the second."""
    outcome = {}
    for kind, service in services.items():
        first, second = await two_copies(service)
        await service.append_event(first, event("question A", invocation="a"))
        try:
            await service.append_event(second, event("question B", invocation="b"))
            await service.append_event(first, event("answer A", invocation="a", author="m"))
            outcome[kind] = await history(service)
        except StaleSessionError:
            outcome[kind] = ["refused", *await history(service)]
    assert outcome == {
        "in-memory": ["user:question A", "user:question B", "m:answer A"],  # interleaved
        "database": ["refused", "user:question A"],
        "satchel": ["refused", "user:question A"],
    }


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_a_turn_over_an_unseen_change_of_another_key(
    services: dict[str, BaseSessionService],
) -> None:
    """A background writer records a state change (no content, its own key) while a runner
    answers: the database service refuses the runner's next event, though nothing it wrote
    conflicts; satchel merges the two and brings the runner's copy up to date."""
    outcome = {}
    for kind, service in services.items():
        runner_copy, background_copy = await two_copies(service)
        await service.append_event(background_copy, event(delta={"seen": 1}, author="bg"))
        try:
            await service.append_event(runner_copy, event("an answer", delta={"n": 2}))
            outcome[kind] = await history(service)
        except StaleSessionError:
            outcome[kind] = ["refused", *await history(service)]
    assert outcome["database"] == ["refused", "bg"]
    assert outcome["satchel"] == ["bg", "user:an answer"]
    assert outcome["in-memory"] == ["bg", "user:an answer"]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_an_append_retried_after_a_lost_reply(
    services: dict[str, BaseSessionService],
) -> None:
    """The caller's append committed but its reply was lost; it retries with the copy it
    had: the database service refuses the retry as stale, satchel recognises the event
    and applies it once."""
    outcome = {}
    for kind, service in services.items():
        before, _ = await two_copies(service)
        sent = event("once")
        await service.append_event(copy.deepcopy(before), copy.deepcopy(sent))
        try:
            await service.append_event(before, copy.deepcopy(sent))
            outcome[kind] = await history(service)
        except StaleSessionError:
            outcome[kind] = ["refused", *await history(service)]
    assert outcome == {
        "in-memory": ["user:once"],
        "database": ["refused", "user:once"],
        "satchel": ["user:once"],
    }
