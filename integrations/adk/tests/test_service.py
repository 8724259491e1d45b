"""The service's own guarantees, on every backend: exact conflicts (no false ones, no
missed ones, never an interleaved history), a retried append applied once, reads of only
the events asked for, paging on the server, and typed errors."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Generator
from typing import Any

import pytest
from events import event, texts
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.sessions import Session
from google.adk.sessions.base_session_service import GetSessionConfig

import satchel
from satchel import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    CorruptRecord,
    NotFound,
    Satchel,
    hookimpl,
)
from satchel.instrument import Operation
from satchel.query import MAX_COUNT
from satchel_adk import SatchelSessionService, StaleSession

APP, USER = "app", "ann"


async def reload(service: SatchelSessionService, session: Session) -> Session:
    fresh = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert fresh is not None
    return fresh


@pytest.fixture
async def session(service: SatchelSessionService) -> Session:
    return await service.create_session(
        app_name=APP, user_id=USER, session_id="s1", state={"seed": 1, "app:a": 1, "user:u": 1}
    )


# -- conflicts ------------------------------------------------------------------------------


async def test_a_turn_after_another_writers_turn_is_refused_and_nothing_is_written(
    service: SatchelSessionService, session: Session
) -> None:
    other = copy.deepcopy(session)
    await service.append_event(session, event("first writer"))
    with pytest.raises(StaleSession) as caught:
        await service.append_event(other, event("second writer", delta={"x": 1}))
    assert isinstance(caught.value, StaleSessionError)  # what ADK's Runner catches
    assert isinstance(caught.value, Conflict)
    assert "session" in str(caught.value)
    stored = await reload(service, session)
    assert texts(stored.events) == ["first writer"]
    assert "x" not in stored.state
    assert texts(other.events) == []  # the caller's copy is left as it was


async def test_writers_of_different_state_keys_do_not_conflict(
    service: SatchelSessionService, session: Session
) -> None:
    # a state-only event from one writer, then a turn from a writer that had not seen it
    other = copy.deepcopy(session)
    await service.append_event(session, event(delta={"progress": 1}, author="tracker"))
    await service.append_event(other, event("a turn", delta={"answer": 42}))
    # the second writer's copy now holds the first writer's event and state, in order
    assert [e.author for e in other.events] == ["tracker", "user"]
    assert other.state["progress"] == 1 and other.state["answer"] == 42
    stored = await reload(service, session)
    assert [e.id for e in stored.events] == [e.id for e in other.events]
    assert stored.state["progress"] == 1 and stored.state["answer"] == 42
    # and the second writer's copy is current: its next event needs no merge
    await service.append_event(other, event("next turn"))
    assert len((await reload(service, session)).events) == 3


async def test_writers_of_the_same_state_key_conflict(
    service: SatchelSessionService, session: Session
) -> None:
    other = copy.deepcopy(session)
    await service.append_event(session, event(delta={"counter": 1}, author="a"))
    with pytest.raises(StaleSession, match="'counter'"):
        await service.append_event(other, event(delta={"counter": 2}, author="b"))
    assert (await reload(service, session)).state["counter"] == 1


async def test_a_state_only_event_after_an_unseen_turn_is_merged(
    service: SatchelSessionService, session: Session
) -> None:
    other = copy.deepcopy(session)
    await service.append_event(session, event("a turn"))
    await service.append_event(other, event(delta={"flag": True}, author="bg"))
    stored = await reload(service, session)
    assert [e.author for e in stored.events] == ["user", "bg"]
    assert stored.state["flag"] is True


async def test_a_copy_of_a_deleted_and_recreated_session_is_stale(
    service: SatchelSessionService, session: Session
) -> None:
    await service.delete_session(app_name=APP, user_id=USER, session_id="s1")
    with pytest.raises(SessionNotFoundError):
        await service.append_event(session, event("to nowhere"))
    await service.create_session(app_name=APP, user_id=USER, session_id="s1")
    with pytest.raises(StaleSession):
        await service.append_event(session, event("into the new session"))
    assert (await reload(service, session)).events == []


async def test_equal_timestamps_and_clock_steps_back_never_conflict(
    service: SatchelSessionService, session: Session
) -> None:
    # timestamps play no part: each writer reloads, then appends events stamped alike or
    # earlier than the session's last update
    for i in range(6):
        current = await reload(service, session)
        await service.append_event(current, event(f"turn {i}", timestamp=100.0 - (i % 2)))
    assert len((await reload(service, session)).events) == 6


async def test_an_append_retried_after_a_lost_reply_is_applied_once(
    service: SatchelSessionService, session: Session
) -> None:
    before = copy.deepcopy(session)
    sent = event("once", delta={"n": 1})
    await service.append_event(session, copy.deepcopy(sent))
    # the reply was lost: the caller retries with its copy from before the call
    returned = await service.append_event(before, copy.deepcopy(sent))
    assert returned.id == sent.id
    stored = await reload(service, session)
    assert texts(stored.events) == ["once"]
    assert texts(before.events) == ["once"] and before.state["n"] == 1
    # and the same object delivered twice is applied once (as ADK's in-memory service)
    again = event("twice")
    await service.append_event(session, again)
    await service.append_event(session, again)
    assert texts((await reload(service, session)).events) == ["once", "twice"]


async def test_a_copy_without_a_marker_is_placed_by_its_last_event(
    service: SatchelSessionService, session: Session
) -> None:
    await service.append_event(session, event("one"))
    plain = Session.model_validate((await reload(service, session)).model_dump())
    assert plain._storage_update_marker is None
    await service.append_event(plain, event("two"))
    behind = Session.model_validate(plain.model_dump())
    behind.events = behind.events[:1]  # a copy that missed "two"
    with pytest.raises(StaleSession):
        await service.append_event(behind, event("three"))
    assert texts((await reload(service, session)).events) == ["one", "two"]


# -- scopes ---------------------------------------------------------------------------------


async def test_app_and_user_keys_of_concurrent_sessions_are_merged_key_by_key(
    service: SatchelSessionService,
) -> None:
    first = await service.create_session(app_name=APP, user_id=USER, state={"user:a": 1})
    second = await service.create_session(app_name=APP, user_id=USER)
    # neither session saw the other's change
    await service.append_event(first, event(delta={"user:b": 2, "app:x": 1}))
    await service.append_event(second, event(delta={"user:c": 3, "app:y": 2}))
    assert await service.get_user_state(app_name=APP, user_id=USER) == {"a": 1, "b": 2, "c": 3}
    merged = await reload(service, first)
    assert merged.state["app:x"] == 1 and merged.state["app:y"] == 2


async def test_temp_keys_reach_the_callers_object_only(
    service: SatchelSessionService, session: Session
) -> None:
    sent = event(delta={"temp:scratch": 1, "kept": 2})
    returned = await service.append_event(session, sent)
    assert session.state["temp:scratch"] == 1
    assert "temp:scratch" not in returned.actions.state_delta
    stored = await reload(service, session)
    assert "temp:scratch" not in stored.state and stored.state["kept"] == 2
    assert "temp:scratch" not in stored.events[-1].actions.state_delta


# -- reads --------------------------------------------------------------------------------


class EntryCounter:
    """Counts the log entries and records the backend reads return."""

    def __init__(self) -> None:
        self.entries = 0
        self.records = 0
        self.fetched = 0
        self.calls: list[str] = []

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield

        async def counted() -> Any:
            result = await inner
            self.calls.append(operation.name)
            if operation.name == "log_range":
                self.entries += len(result)
            elif operation.name == "query":
                self.records += len(result.items)
            elif operation.name == "get_many":
                self.fetched += sum(r is not None for r in result)
            return result

        return counted()


@pytest.fixture
async def counted(environ: dict[str, str]) -> AsyncIterator[tuple[Satchel, EntryCounter]]:
    counter = EntryCounter()
    async with satchel.open(environ=environ, plugins=[("counter", counter)]) as handle:
        yield handle, counter


async def test_get_session_reads_only_the_events_asked_for(
    counted: tuple[Satchel, EntryCounter],
) -> None:
    store, counter = counted
    service = SatchelSessionService(store=store)
    session = await service.create_session(app_name=APP, user_id=USER)
    for i in range(200):
        await service.append_event(session, event(f"m{i}", timestamp=float(i)))
    counter.entries = 0
    recent = await service.get_session(
        app_name=APP,
        user_id=USER,
        session_id=session.id,
        config=GetSessionConfig(num_recent_events=10),
    )
    assert recent is not None and texts(recent.events) == [f"m{i}" for i in range(190, 200)]
    assert counter.entries <= 11  # the ten, and one to tell there are more
    counter.entries = 0
    newer = await service.get_session(
        app_name=APP,
        user_id=USER,
        session_id=session.id,
        config=GetSessionConfig(after_timestamp=195.0),
    )
    assert newer is not None and texts(newer.events) == [f"m{i}" for i in range(195, 200)]
    assert counter.entries <= 33  # one small page, from the end
    counter.entries = 0
    whole = await service.get_session(app_name=APP, user_id=USER, session_id=session.id)
    assert whole is not None and len(whole.events) == 200
    counter.entries = 0
    none = await service.get_session(
        app_name=APP,
        user_id=USER,
        session_id=session.id,
        config=GetSessionConfig(num_recent_events=0),
    )
    assert none is not None and none.events == [] and counter.entries == 0


async def test_list_sessions_pages_on_the_server(
    counted: tuple[Satchel, EntryCounter],
) -> None:
    store, counter = counted
    service = SatchelSessionService(store=store)
    for i in range(120):
        await service.create_session(
            app_name=APP, user_id=f"user{i % 3}", session_id=f"s{i:03}", state={"i": i}
        )
    await service.create_session(app_name="other", user_id="user0", session_id="x")
    # the first listing through a store looks for sessions stored without a place (once)
    await service.list_sessions_page(app_name="other")
    counter.records, counter.fetched, counter.calls = 0, 0, []
    page = await service.list_sessions_page(app_name=APP, user_id="user1", limit=15)
    assert [s.id for s in page.sessions] == [f"s{i:03}" for i in range(1, 46, 3)]
    # 15 entries of the order, then their 15 heads and the user's state
    assert counter.records <= 16 and counter.fetched <= 16 and "log_range" not in counter.calls
    counter.records, counter.fetched = 0, 0
    whole = await service.list_sessions_page(app_name=APP, limit=15)
    assert [s.id for s in whole.sessions] == [f"s{i:03}" for i in range(15)]
    assert counter.records <= 16 and counter.fetched <= 18  # the heads and 3 users' state
    seen = [s.id for s in page.sessions]
    while page.next_cursor is not None:
        page = await service.list_sessions_page(
            app_name=APP, user_id="user1", limit=15, cursor=page.next_cursor
        )
        seen += [s.id for s in page.sessions]
    listed = await service.list_sessions(app_name=APP, user_id="user1")
    assert seen == [s.id for s in listed.sessions] == [f"s{i:03}" for i in range(1, 120, 3)]
    assert all(s.events == [] and s.state["i"] == int(s.id[1:]) for s in listed.sessions)
    everyone = await service.list_sessions(app_name=APP)
    assert len(everyone.sessions) == 120


async def test_the_largest_page_size_is_taken(service: SatchelSessionService) -> None:
    # the documented bound of limit: a page of everything on every backend (on MongoDB it
    # once overflowed the server's 64-bit limit)
    for i in range(3):
        await service.create_session(app_name=APP, user_id="ann", session_id=f"s{i}")
    for user_id in (None, "ann"):
        page = await service.list_sessions_page(app_name=APP, user_id=user_id, limit=MAX_COUNT)
        assert ([s.id for s in page.sessions], page.next_cursor) == (["s0", "s1", "s2"], None)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_bad_input_is_an_invalid_argument_naming_it_and_writes_nothing(
    service: SatchelSessionService, session: Session
) -> None:
    from satchel import InvalidArgument

    cases: list[tuple[str, Any]] = [
        ("app_name", service.create_session(app_name=1, user_id=USER)),  # type: ignore[arg-type]
        ("user_id", service.create_session(app_name=APP, user_id="")),
        ("state", service.create_session(app_name=APP, user_id=USER, state=[1])),  # type: ignore[arg-type]
        (
            "state['bad']",
            service.create_session(
                app_name=APP, user_id=USER, session_id="nan", state={"bad": float("nan")}
            ),
        ),
        ("session_id", service.create_session(app_name=APP, user_id=USER, session_id=7)),  # type: ignore[arg-type]
        ("config", service.get_session(app_name=APP, user_id=USER, session_id="s1", config={})),  # type: ignore[arg-type]
        ("limit", service.list_sessions_page(app_name=APP, limit=0)),
        ("cursor", service.list_sessions_page(app_name=APP, cursor="nonsense")),
        ("session", service.append_event("s1", event("x"))),  # type: ignore[arg-type]
        ("event", service.append_event(session, {"text": "x"})),  # type: ignore[arg-type]
        (
            "event.actions.state_delta['bad']",
            service.append_event(session, event("x", delta={"bad": float("inf")})),
        ),
    ]
    for argument, call in cases:
        with pytest.raises(InvalidArgument) as caught:
            await call
        assert str(caught.value).startswith(argument), (argument, str(caught.value))
    assert await service.get_session(app_name=APP, user_id=USER, session_id="nan") is None
    stored = await reload(service, session)
    assert stored.events == [] and session.events == [] and "bad" not in session.state
    for argument, build in [
        ("store", lambda: SatchelSessionService(store=object())),  # type: ignore[arg-type]
        ("ttl", lambda: SatchelSessionService(ttl=-1)),
        ("prefix", lambda: SatchelSessionService(prefix="")),
    ]:
        with pytest.raises(InvalidArgument, match=f"^{argument}"):
            build()


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_errors_are_both_satchels_and_adks(
    service: SatchelSessionService, session: Session
) -> None:
    with pytest.raises(AlreadyExistsError) as exists:
        await service.create_session(app_name=APP, user_id=USER, session_id="s1")
    assert isinstance(exists.value, AlreadyExists) and "session_id" in str(exists.value)
    await service.delete_session(app_name=APP, user_id=USER, session_id="s1")
    with pytest.raises(SessionNotFoundError) as missing:
        await service.append_event(session, event("x"))
    assert isinstance(missing.value, NotFound)


class FailUserStateWrites:
    """Makes the next write of the user scope fail, as an unreachable server would."""

    armed = False

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        fail = self.armed and operation.name == "put" and "user-state" in str(operation.collection)

        async def run() -> Any:
            if fail:
                self.armed = False
                close = getattr(inner, "close", None)
                if close is not None:
                    close()  # the write never runs
                raise BackendUnavailable("injected: the server went away")
            return await inner

        return run()


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_a_retried_append_writes_the_user_keys_a_failed_one_did_not(
    environ: dict[str, str],
) -> None:
    failing = FailUserStateWrites()
    async with satchel.open(environ=environ, plugins=[("failing", failing)]) as store:
        service = SatchelSessionService(store=store)
        session = await service.create_session(app_name=APP, user_id=USER, session_id="s1")
        before = copy.deepcopy(session)
        sent = event("hi", delta={"user:k": 1, "own": 2})
        failing.armed = True
        with pytest.raises(BackendUnavailable):
            await service.append_event(session, copy.deepcopy(sent))
        stored = await reload(service, session)
        assert texts(stored.events) == ["hi"] and stored.state["own"] == 2
        assert "user:k" not in stored.state  # committed without its user: key
        await service.append_event(before, copy.deepcopy(sent))
        stored = await reload(service, session)
        assert texts(stored.events) == ["hi"] and stored.state["user:k"] == 1


async def test_an_entry_whose_head_write_lost_is_never_read(
    service: SatchelSessionService, session: Session
) -> None:
    # a writer appended its entry, then lost the race for the head (or died): the entry is
    # in the log but not in the history
    await service.append_event(session, event("one"))
    head = await service.sessions_store.get("app/ann/s1")
    assert isinstance(head, dict)
    key = head["log"]
    lost = event("lost").model_dump(mode="json", exclude_none=True)
    await service.events_store.append(key, {"prev": 1, "event": lost})
    await service.append_event(session, event("two"))
    assert await service.events_store.length(key) == 3
    for config in (None, GetSessionConfig(num_recent_events=1)):
        stored = await service.get_session(
            app_name=APP, user_id=USER, session_id="s1", config=config
        )
        assert stored is not None
        assert texts(stored.events) == (["one", "two"] if config is None else ["two"])
    # and a copy from before "two" sees "two" as the only event it missed
    behind = copy.deepcopy(session)
    behind.events.pop()
    behind._storage_update_marker = None
    with pytest.raises(StaleSession):
        await service.append_event(behind, event("three"))


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_a_log_entry_that_names_itself_as_its_predecessor_is_corrupt(
    service: SatchelSessionService, session: Session
) -> None:
    # a damaged log whose newest entry names itself as the entry before it: reading the
    # history is a CorruptRecord naming the entry, not that entry over and over (a walk
    # without num_recent_events never ended)
    head = await service.sessions_store.get_entry("app/ann/s1")
    assert head is not None
    value = dict(head.value)
    damaged = event("one").model_dump(mode="json", exclude_none=True)
    [seq] = await service.events_store.append(value["log"], {"prev": 1, "event": damaged})
    assert seq == 1
    value["tip"] = seq
    await service.sessions_store.set("app/ann/s1", value, expected_version=head.version)
    for config in (
        GetSessionConfig(num_recent_events=2),
        None,
        GetSessionConfig(after_timestamp=0.0),
    ):
        with pytest.raises(CorruptRecord, match="entry 1 names entry 1"):
            await service.get_session(app_name=APP, user_id=USER, session_id="s1", config=config)


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_a_stored_event_that_is_not_an_event_is_corrupt(
    service: SatchelSessionService, session: Session
) -> None:
    # a committed entry whose event ADK cannot read: a CorruptRecord naming the log (not
    # pydantic's ValidationError quoting the stored input), for readers and for a writer
    # that would catch up with it (which then writes nothing)
    stale = copy.deepcopy(session)
    head = await service.sessions_store.get_entry("app/ann/s1")
    assert head is not None
    value = dict(head.value)
    damaged = {"id": "bad", "author": 5, "content": {"parts": [{"text": "private words"}]}}
    [seq] = await service.events_store.append(value["log"], {"prev": 0, "event": damaged})
    value["tip"] = seq
    await service.sessions_store.set("app/ann/s1", value, expected_version=head.version)
    with pytest.raises(CorruptRecord, match="event 'bad' is not an ADK Event") as caught:
        await service.get_session(app_name=APP, user_id=USER, session_id="s1")
    assert "private words" not in str(caught.value)
    with pytest.raises(CorruptRecord, match="event 'bad'"):
        await service.append_event(stale, event(delta={"k": 1}))
    assert stale.events == [] and "k" not in stale.state
    assert await service.events_store.length(value["log"]) == 1


async def test_a_service_with_a_handle_of_its_own() -> None:
    async with SatchelSessionService.open(backend="memory", prefix="own") as service:
        created = await service.create_session(app_name=APP, user_id=USER, state={"k": 1})
        fresh = await service.get_session(app_name=APP, user_id=USER, session_id=created.id)
        assert fresh is not None and fresh.state == {"k": 1}
        assert service.sessions_store.name == "own-sessions"
        assert "own" in repr(service)
