"""Failures and races half way through a call: a call retried after a failure applies
everything once, an attempt that lost the race for the head leaves an entry that is never
read, an append racing ``delete_session`` leaves no log behind and never writes over a
session created again under the same id, and ``create_session`` / ``delete_session`` that
fail half way leave nothing a retry cannot finish."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any

import pytest
from events import event, texts
from google.adk.sessions import Session
from google.adk.sessions.base_session_service import GetSessionConfig

import satchel
from satchel import BackendUnavailable, hookimpl
from satchel.instrument import Operation
from satchel_adk import SatchelSessionService, SessionNotFound, StaleSession

APP, USER = "app", "ann"


class Interpose:
    """Once armed, the next backend operation ``match`` accepts first runs ``before``
    (another caller's work, done while this one is half way), or fails as an unreachable
    server would, without running."""

    def __init__(self) -> None:
        self.match: Callable[[Operation], bool] | None = None
        self.before: Callable[[], Awaitable[Any]] | None = None
        self.fail = False

    def arm(
        self,
        match: Callable[[Operation], bool],
        *,
        before: Callable[[], Awaitable[Any]] | None = None,
        fail: bool = False,
    ) -> None:
        self.match, self.before, self.fail = match, before, fail

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        hit = self.match is not None and self.match(operation)
        before, fail = (self.before, self.fail) if hit else (None, False)
        if hit:
            self.match = None

        async def run() -> Any:
            if before is not None:
                await before()
            if fail:
                close = getattr(inner, "close", None)
                if close is not None:
                    close()  # the operation never runs
                raise BackendUnavailable("injected: the server went away")
            return await inner

        return run()


def on(name: str, store: str) -> Callable[[Operation], bool]:
    return lambda op: op.name == name and str(op.collection).endswith(store)


@pytest.fixture
async def hooked(
    environ: dict[str, str],
) -> AsyncIterator[tuple[SatchelSessionService, Interpose]]:
    hooks = Interpose()
    async with satchel.open(environ=environ, plugins=[("interpose", hooks)]) as store:
        yield SatchelSessionService(store=store), hooks


async def reload(service: SatchelSessionService, session_id: str = "s1") -> Session:
    fresh = await service.get_session(app_name=APP, user_id=USER, session_id=session_id)
    assert fresh is not None
    return fresh


async def log_of(service: SatchelSessionService, session_id: str = "s1") -> str:
    head = await service.sessions_store.get(f"{APP}/{USER}/{session_id}")
    assert isinstance(head, dict)
    log = head["log"]
    assert isinstance(log, str)
    return log


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_the_same_call_retried_after_its_scope_write_failed_applies_it_all_once(
    hooked: tuple[SatchelSessionService, Interpose],
) -> None:
    service, hooks = hooked
    session = await service.create_session(app_name=APP, user_id=USER, session_id="s1")
    sent = event("hi", delta={"user:k": 1, "app:a": 2, "own": 3, "temp:t": 4})
    hooks.arm(on("put", "adk-user-state"), fail=True)
    with pytest.raises(BackendUnavailable):
        await service.append_event(session, sent)
    # committed, but the caller's object is left as it was: the call did not finish
    assert session.events == [] and "own" not in session.state
    assert texts((await reload(service)).events) == ["hi"]
    returned = await service.append_event(session, sent)
    assert "temp:t" not in returned.actions.state_delta
    assert texts(session.events) == ["hi"]
    assert {k: session.state[k] for k in ("user:k", "app:a", "own", "temp:t")} == {
        "user:k": 1,
        "app:a": 2,
        "own": 3,
        "temp:t": 4,
    }
    stored = await reload(service)
    assert texts(stored.events) == ["hi"]
    assert stored.state["user:k"] == 1 and stored.state["app:a"] == 2 and stored.state["own"] == 3
    await service.append_event(session, sent)  # delivered once more: nothing changes
    assert texts((await reload(service)).events) == ["hi"]


async def test_an_attempt_that_lost_the_race_leaves_an_entry_that_is_never_read(
    hooked: tuple[SatchelSessionService, Interpose],
) -> None:
    service, hooks = hooked
    session = await service.create_session(app_name=APP, user_id=USER, session_id="s1")
    other = copy.deepcopy(session)

    async def rival() -> None:
        await service.append_event(other, event(delta={"progress": 1}, author="bg"))

    # the rival commits between this call's log append and its head write
    hooks.arm(on("put", "adk-sessions"), before=rival)
    await service.append_event(session, event("mine"))
    assert await service.events_store.length(await log_of(service)) == 3  # one lost
    for config, authors in [
        (None, ["bg", "user"]),
        (GetSessionConfig(num_recent_events=1), ["user"]),
        (GetSessionConfig(num_recent_events=5), ["bg", "user"]),
    ]:
        stored = await service.get_session(
            app_name=APP, user_id=USER, session_id="s1", config=config
        )
        assert stored is not None and [e.author for e in stored.events] == authors
    assert [e.author for e in session.events] == ["bg", "user"]
    # an attempt that loses and then conflicts raises, and its entry is never read either
    behind = copy.deepcopy(session)

    async def turn() -> None:
        await service.append_event(session, event("a turn"))

    hooks.arm(on("put", "adk-sessions"), before=turn)
    with pytest.raises(StaleSession):
        await service.append_event(behind, event("refused"))
    assert texts((await reload(service)).events) == ["mine", "a turn"]


async def test_an_append_racing_delete_session_leaves_no_log_behind(
    hooked: tuple[SatchelSessionService, Interpose],
) -> None:
    service, hooks = hooked
    session = await service.create_session(app_name=APP, user_id=USER, session_id="s1")
    await service.append_event(session, event("one"))

    async def delete() -> None:
        await service.delete_session(app_name=APP, user_id=USER, session_id="s1")

    # the session is deleted after this call read its head, before it appends to the log
    hooks.arm(on("log_append", "adk-events"), before=delete)
    with pytest.raises(SessionNotFound):
        await service.append_event(session, event("late"))
    assert await service.events_store.keys() == []
    assert await service.ranks_store.keys("[au]/*") == []
    # created again under the same id: nothing of the old one in its history
    again = await service.create_session(app_name=APP, user_id=USER, session_id="s1")
    assert (await reload(service)).events == []
    await service.append_event(again, event("new"))
    assert texts((await reload(service)).events) == ["new"]


async def test_an_append_that_read_a_deleted_session_never_writes_over_a_new_one(
    hooked: tuple[SatchelSessionService, Interpose],
) -> None:
    service, hooks = hooked
    session = await service.create_session(app_name=APP, user_id=USER, session_id="s1")

    async def replace() -> None:
        await service.delete_session(app_name=APP, user_id=USER, session_id="s1")
        await service.create_session(
            app_name=APP, user_id=USER, session_id="s1", state={"new": True}
        )

    hooks.arm(on("log_append", "adk-events"), before=replace)
    with pytest.raises(StaleSession):
        await service.append_event(session, event("late", delta={"old": True}))
    fresh = await reload(service)
    assert fresh.events == [] and fresh.state == {"new": True}
    assert await service.events_store.keys() == []
    listed = await service.list_sessions(app_name=APP)
    assert [(s.id, s.state) for s in listed.sessions] == [("s1", {"new": True})]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_create_session_that_fails_half_way_is_undone(
    hooked: tuple[SatchelSessionService, Interpose],
) -> None:
    service, hooks = hooked
    hooks.arm(on("put", "adk-user-state"), fail=True)
    with pytest.raises(BackendUnavailable):
        await service.create_session(
            app_name=APP, user_id=USER, session_id="s1", state={"user:k": 1, "own": 2}
        )
    assert await service.get_session(app_name=APP, user_id=USER, session_id="s1") is None
    assert (await service.list_sessions(app_name=APP)).sessions == []
    created = await service.create_session(
        app_name=APP, user_id=USER, session_id="s1", state={"user:k": 1, "own": 2}
    )
    assert created.state == {"user:k": 1, "own": 2}
    assert [s.id for s in (await service.list_sessions(app_name=APP)).sessions] == ["s1"]


@pytest.mark.parametrize("failing", [("log_delete", "adk-events"), ("delete", "adk-ranks")])
async def test_delete_session_that_fails_half_way_is_finished_by_a_retry(
    hooked: tuple[SatchelSessionService, Interpose], failing: tuple[str, str]
) -> None:
    service, hooks = hooked
    session = await service.create_session(app_name=APP, user_id=USER, session_id="s1")
    await service.append_event(session, event("one"))
    hooks.arm(on(*failing), fail=True)
    with pytest.raises(BackendUnavailable):
        await service.delete_session(app_name=APP, user_id=USER, session_id="s1")
    # deleted from the first write on: not read, not listed, not appended to
    assert await service.get_session(app_name=APP, user_id=USER, session_id="s1") is None
    assert (await service.list_sessions(app_name=APP)).sessions == []
    with pytest.raises(SessionNotFound):
        await service.append_event(session, event("two"))
    if failing[1] == "adk-events":
        assert len(await service.events_store.keys()) == 1  # its log is left, unread
    await service.delete_session(app_name=APP, user_id=USER, session_id="s1")
    assert await service.events_store.keys() == []
    # the tombstone names the entries' places: the retry removes every one
    assert await service.ranks_store.keys() == ["ready"]
