"""Listings in the order kept beside the sessions (``adk-ranks``), on every backend: the
documented order (by the latest time each session has had, ties by user id then id), a
session that never moves back, cursors that page across concurrent appends, entries a
writer left half way or lost and deleted sessions never listed, entries that live as long
as their heads, and sessions stored before the order existed still listed (damaged heads
skipped)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pytest
from events import event
from google.adk.sessions import Session

import satchel
from satchel import Satchel, hookimpl
from satchel.instrument import Operation
from satchel_adk import SatchelSessionService, StaleSession, listing
from satchel_adk.listing import head_places, places

APP = "app"


def order(session: Session) -> tuple[float, str, str]:
    return (session.last_update_time, session.user_id, session.id)


async def everything(
    service: SatchelSessionService, user_id: str | None, limit: int
) -> list[Session]:
    listed: list[Session] = []
    cursor: str | None = None
    while True:
        page = await service.list_sessions_page(
            app_name=APP, user_id=user_id, limit=limit, cursor=cursor
        )
        assert len(page.sessions) == limit or page.next_cursor is None
        listed += page.sessions
        if page.next_cursor is None:
            return listed
        cursor = page.next_cursor


async def test_listing_order_and_paging_across_concurrent_appends(
    service: SatchelSessionService,
) -> None:
    sessions = {}
    for i in range(24):
        s = await service.create_session(app_name=APP, user_id=f"u{i % 3}", session_id=f"s{i:02}")
        sessions[s.id] = s
    # equal times: ties go by user id, then id
    for sid in ["s23", "s01", "s04", "s00"]:
        await service.append_event(sessions[sid], event(sid, timestamp=2e9))
    first = (await service.list_sessions(app_name=APP)).sessions
    assert [s.id for s in first[-4:]] == ["s00", "s01", "s04", "s23"]
    assert [s.last_update_time for s in first[-4:]] == [2e9] * 4
    listed: list[Session] = []
    moved: list[str] = []
    cursor: str | None = None
    step = 0
    while True:
        page = await service.list_sessions_page(app_name=APP, limit=5, cursor=cursor)
        listed += page.sessions
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        # between pages: one session already listed and one not yet listed move to the end
        seen = [s.id for s in listed]
        for sid in (seen[step], next(k for k in sorted(sessions) if k not in seen)):
            step += 1
            await service.append_event(sessions[sid], event(sid, timestamp=3e9 + step))
            moved.append(sid)
    keys = [order(s) for s in listed]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    ids = [s.id for s in listed]
    assert set(ids) == set(sessions)
    for sid in sessions:
        assert ids.count(sid) == 1 or sid in moved, sid
    assert ids[-1] == moved[-1]  # the last one moved is the last one listed
    # a listing from the start now shows every session once, in the stored order
    stored = [
        await service.get_session(app_name=APP, user_id=s.user_id, session_id=s.id)
        for s in sessions.values()
    ]
    expected = sorted(order(s) for s in stored if s is not None)
    whole = await service.list_sessions(app_name=APP)
    assert [order(s) for s in whole.sessions] == expected
    assert [order(s) for s in await everything(service, None, 7)] == expected
    mine = [k for k in expected if k[1] == "u1"]
    assert [order(s) for s in await everything(service, "u1", 3)] == mine


async def test_entries_left_half_way_and_deleted_sessions_are_not_listed(
    service: SatchelSessionService,
) -> None:
    for i in range(6):
        await service.create_session(app_name=APP, user_id="ann", session_id=f"s{i}")
    ranking = service.ranking
    # a writer stopped between placing its entries and writing the head: s2 "at" 1e9
    for group, rank, value in places(APP, "ann", "s2", 1.0e9):
        await ranking.place(group, rank, value)
    # one of a session that never was
    for group, rank, value in places(APP, "ann", "ghost", 1.0):
        await ranking.place(group, rank, value)
    await service.delete_session(app_name=APP, user_id="ann", session_id="s4")
    # a delete that stopped after the head: its entries are still there
    gone = await service.create_session(app_name=APP, user_id="ann", session_id="s5b")
    placed = places(APP, "ann", "s5b", gone.last_update_time)
    await service.delete_session(app_name=APP, user_id="ann", session_id="s5b")
    for group, rank, value in placed:
        await ranking.place(group, rank, value)
    expected = ["s0", "s1", "s2", "s3", "s5"]
    for user_id in (None, "ann"):
        for limit in (1, 2, 50):
            assert [s.id for s in await everything(service, user_id, limit)] == expected
    listed = await service.list_sessions(app_name=APP, user_id="ann")
    assert [s.id for s in listed.sessions] == expected


async def test_sessions_stored_before_the_order_existed_are_listed(
    store: Satchel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "REBUILD_BATCH", 3)  # the heads are read in pages
    old = SatchelSessionService(store=store)
    for i in range(7):
        await old.create_session(app_name=APP, user_id=f"u{i % 2}", session_id=f"s{i}")
    await old.ranks_store.clear()  # as a version without the order stored them
    fresh = SatchelSessionService(store=store)
    assert [s.id for s in (await fresh.list_sessions(app_name=APP)).sessions] == [
        f"s{i}" for i in range(7)
    ]
    # it ran once: the order is kept from here on
    assert await fresh.ranks_store.get("ready") == {"sessions": 7}
    page = await fresh.list_sessions_page(app_name=APP, user_id="u1", limit=2)
    assert [s.id for s in page.sessions] == ["s1", "s3"]
    assert await fresh.rebuild_listing() == 7


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_the_order_lives_as_long_as_the_sessions(store: Satchel) -> None:
    forever = SatchelSessionService(store=store, prefix="forever")
    assert forever.ranks_store.default_ttl is None
    service = SatchelSessionService(store=store, ttl=60, prefix="brief")
    assert service.ranks_store.default_ttl == 60 + 300
    session = await service.create_session(app_name=APP, user_id="ann", session_id="s1")
    await service.append_event(session, event("one"))
    head = await service.sessions_store.get_entry("app/ann/s1")
    assert head is not None and head.expires_at is not None
    assert head.value["last_update_time"] == session.last_update_time
    for group, rank, _ in head_places(head.value):
        entry = await service.ranks_store.get_entry(f"{group}/{rank}")
        assert entry is not None and entry.expires_at is not None
        # placed before the head was written, it outlives it by the margin
        assert 290 < (entry.expires_at - head.expires_at).total_seconds() <= 300


class PauseOldPlaceRemoval:
    """Runs ``meanwhile`` when a writer is about to remove a session's old places, before
    the removal goes on (once)."""

    def __init__(self) -> None:
        self.meanwhile: Callable[[], Awaitable[None]] | None = None

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        meanwhile = None
        if operation.name == "delete" and "ranks" in str(operation.collection):
            meanwhile, self.meanwhile = self.meanwhile, None

        async def run() -> Any:
            if meanwhile is not None:
                await meanwhile()
            return await inner

        return run()


async def test_a_later_writer_at_the_old_time_keeps_its_place_in_the_listing(
    environ: dict[str, str],
) -> None:
    """Writer A moves a session from t0 to t1; before A removes the t0 places, writer B
    (which read A's head) commits an event at t0 again. The session's places are B's, and
    A's removal of the head it replaced must leave them."""
    pause = PauseOldPlaceRemoval()
    async with satchel.open(environ=environ, plugins=[("pause", pause)]) as store:
        service = SatchelSessionService(store=store)
        created = await service.create_session(app_name=APP, user_id="u", session_id="s")
        t0 = created.last_update_time
        await service.list_sessions(app_name=APP)  # the order is known complete: no rebuild

        async def writer_b() -> None:
            fresh = await service.get_session(app_name=APP, user_id="u", session_id="s")
            assert fresh is not None and fresh.last_update_time == t0 + 1
            await service.append_event(fresh, event("b", timestamp=t0))

        pause.meanwhile = writer_b
        await service.append_event(created, event("a", timestamp=t0 + 1))
        assert pause.meanwhile is None  # B ran in between
        stored = await service.get_session(app_name=APP, user_id="u", session_id="s")
        assert stored is not None and stored.last_update_time == t0
        for user_id in (None, "u"):
            listed = (await service.list_sessions(app_name=APP, user_id=user_id)).sessions
            assert [(s.id, s.last_update_time) for s in listed] == [("s", t0)]


async def test_an_event_older_than_the_last_never_moves_a_session_back_past_a_cursor(
    service: SatchelSessionService,
) -> None:
    """Events carry the time they were created: one appended after a later one has an
    earlier timestamp. The session keeps the latest time it has had, so that a client
    paging meanwhile still lists it."""
    sessions = {}
    for i, sid in enumerate(["s1", "s2", "s3"]):
        s = await service.create_session(app_name=APP, user_id="u", session_id=sid)
        await service.append_event(s, event(sid, timestamp=2e9 + i))
        sessions[sid] = s
    first = await service.list_sessions_page(app_name=APP, user_id="u", limit=2)
    assert [s.id for s in first.sessions] == ["s1", "s2"]
    # created before s1's event, appended now: last_update_time goes back, the place not
    await service.append_event(sessions["s3"], event("late", timestamp=2e9 - 1))
    second = await service.list_sessions_page(
        app_name=APP, user_id="u", limit=2, cursor=first.next_cursor
    )
    assert [(s.id, s.last_update_time) for s in second.sessions] == [("s3", 2e9 - 1)]
    for user_id in (None, "u"):
        listed = (await service.list_sessions(app_name=APP, user_id=user_id)).sessions
        assert [s.id for s in listed] == ["s1", "s2", "s3"]
    # a later event moves it on from the latest time, not from the last one
    await service.append_event(sessions["s1"], event("next", timestamp=2e9 + 1.5))
    listed = (await service.list_sessions(app_name=APP)).sessions
    assert [s.id for s in listed] == ["s2", "s1", "s3"]


async def test_a_damaged_head_is_skipped_by_the_first_listing(
    service: SatchelSessionService, caplog: pytest.LogCaptureFixture
) -> None:
    await service.create_session(app_name=APP, user_id="u", session_id="s1")
    damaged = {
        "app/bob/s7": {"app_name": APP, "id": "s7", "last_update_time": 1.0},
        "app/bob/s8": {"app_name": APP, "user_id": "bob", "id": "s8", "last_update_time": "x"},
        "app/bob/s9": ["not", "a", "head"],
    }
    for key, value in damaged.items():
        await service.sessions_store.set(key, value)
    for _ in range(2):
        with caplog.at_level("WARNING", logger="satchel_adk.listing"):
            listed = (await service.list_sessions(app_name=APP)).sessions
        assert [s.id for s in listed] == ["s1"]
    assert await service.ranks_store.get("ready") == {"sessions": 1}
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert all(repr(key) in warned for key in damaged)


async def test_the_first_listings_rebuild_once_and_each_entry_lives_as_long_as_its_head(
    store: Satchel,
) -> None:
    old = SatchelSessionService(store=store, ttl=60)
    for i in range(3):
        await old.create_session(app_name=APP, user_id="u", session_id=f"s{i}")
    # heads of their own expiry (as a store with another ttl, or none, wrote them)
    lives = {"s0": 1000.0, "s1": None, "s2": 60.0}
    for sid, ttl in lives.items():
        head = await old.sessions_store.get(f"app/u/{sid}")
        assert head is not None
        await old.sessions_store.set(f"app/u/{sid}", head, ttl=ttl)
    await old.ranks_store.clear()  # as a version without the order stored them
    fresh = SatchelSessionService(store=store, ttl=60)
    order = fresh._order()
    rebuilds = 0
    rebuild = order.rebuild

    async def counted() -> int:
        nonlocal rebuilds
        rebuilds += 1
        await asyncio.sleep(0.01)  # the other listings go on meanwhile
        return await rebuild()

    order.rebuild = counted  # type: ignore[method-assign]
    pages = await asyncio.gather(*[fresh.list_sessions(app_name=APP) for _ in range(6)])
    assert rebuilds == 1
    assert all([s.id for s in page.sessions] == ["s0", "s1", "s2"] for page in pages)
    for sid in lives:
        head = await fresh.sessions_store.get_entry(f"app/u/{sid}")
        assert head is not None
        for group, rank, _ in head_places(head.value):
            entry = await fresh.ranks_store.get_entry(f"{group}/{rank}")
            assert entry is not None
            if head.expires_at is None:
                assert entry.expires_at is None, sid
            else:
                assert entry.expires_at is not None, sid
                margin = (entry.expires_at - head.expires_at).total_seconds()
                assert 299 <= margin <= 301.5, (sid, margin)


async def test_an_append_at_the_same_time_renews_the_entries_with_the_head(
    store: Satchel,
) -> None:
    service = SatchelSessionService(store=store, ttl=60)
    session = await service.create_session(app_name=APP, user_id="u", session_id="s")
    await service.append_event(session, event("one", timestamp=2e9))
    head = await service.sessions_store.get("app/u/s")
    assert head is not None
    keys = [f"{g}/{r}" for g, r, _ in head_places(head)]
    for key in keys:  # as if the session had kept this time for a long while
        value = await service.ranks_store.get(key)
        assert value is not None
        await service.ranks_store.set(key, value, ttl=5)
    await service.append_event(session, event("two", timestamp=2e9))
    entry_head = await service.sessions_store.get_entry("app/u/s")
    assert entry_head is not None and entry_head.expires_at is not None
    for key in keys:
        entry = await service.ranks_store.get_entry(key)
        assert entry is not None and entry.expires_at is not None
        assert (entry.expires_at - entry_head.expires_at).total_seconds() > 290


class Meanwhile:
    """Runs ``before`` once, just before the first backend operation ``match`` accepts."""

    def __init__(self) -> None:
        self.match: Callable[[Operation], bool] | None = None
        self.before: Callable[[], Awaitable[Any]] | None = None

    @hookimpl(wrapper=True)
    def satchel_backend_operation(
        self, operation: Operation
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        inner = yield
        before = None
        if self.match is not None and self.match(operation):
            before, self.before, self.match = self.before, None, None

        async def run() -> Any:
            if before is not None:
                await before()
            return await inner

        return run()


@pytest.mark.parametrize("store_of_op", ["adk-ranks", "adk-sessions"])
async def test_a_writer_that_lost_at_the_same_time_leaves_the_winners_entries(
    environ: dict[str, str], store_of_op: str
) -> None:
    """A and B append at the session's time to a session whose entries are missing; B
    commits while A is half way (before A places its entries, or before A writes its
    head). A loses, and must leave the entries B's head names."""
    meanwhile = Meanwhile()
    async with satchel.open(environ=environ, plugins=[("meanwhile", meanwhile)]) as store:
        service = SatchelSessionService(store=store)
        a = await service.create_session(app_name=APP, user_id="u", session_id="s")
        await service.append_event(a, event("zero", timestamp=2e9))
        await service.list_sessions(app_name=APP)  # the order is known complete
        b = await service.get_session(app_name=APP, user_id="u", session_id="s")
        assert b is not None
        for key in await service.ranks_store.keys():
            if key != "ready":
                await service.ranks_store.delete(key)

        async def writer_b() -> None:
            await service.append_event(b, event("b", timestamp=2e9))

        meanwhile.before = writer_b
        meanwhile.match = lambda op: op.name == "put" and str(op.collection).endswith(store_of_op)
        with pytest.raises(StaleSession):
            await service.append_event(a, event("a", timestamp=2e9))
        assert meanwhile.before is None  # B ran in between
        for user_id in (None, "u"):
            listed = (await service.list_sessions(app_name=APP, user_id=user_id)).sessions
            assert [s.id for s in listed] == ["s"]
