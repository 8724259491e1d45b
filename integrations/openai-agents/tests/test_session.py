"""SatchelSession's construction, its checks, and copy_session."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from agents import SQLiteSession
from agents.memory import Session, SessionSettings
from items import SAMPLES

import satchel
from satchel import AlreadyExists, InvalidArgument, Satchel
from satchel_openai_agents import SatchelSession, close_shared_store, copy_session, shared_store


def test_it_is_a_session() -> None:
    session = SatchelSession("s")
    assert isinstance(session, Session)
    assert session.session_id == "s"
    assert session.session_settings is None
    assert SatchelSession("s", session_settings={"limit": 2}).session_settings == SessionSettings(
        limit=2
    )


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"session_id": ""}, "session_id"),
        ({"session_id": 3}, "session_id"),
        ({"session_id": "s", "store": object()}, "store"),
        ({"session_id": "s", "ttl": -1}, "ttl"),
        ({"session_id": "s", "session_settings": 5}, "session_settings"),
        ({"session_id": "s", "session_settings": {"limit": "x"}}, "session_settings"),
        ({"session_id": "s", "log_name": ""}, "log_name"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^{named}"):
        SatchelSession(**kwargs)


async def test_bad_items_and_limits_write_nothing(store: Satchel) -> None:
    session = SatchelSession("s", store=store)
    for items, named in [
        ("abc", "items"),
        ([SAMPLES[0], "text"], r"items\[1\]"),
        ([SAMPLES[0], {"x": float("nan")}], r"items\[1\]"),
        ([SAMPLES[0], {"x": {1, 2}}], r"items\[1\]"),
        ([SAMPLES[0]] * 10_001, "items"),
    ]:
        with pytest.raises(InvalidArgument, match=f"^{named}"):
            await session.add_items(items)
    assert await session.get_items() == []
    for limit in ("2", 2.0, True):
        with pytest.raises(InvalidArgument, match=r"^limit"):
            await session.get_items(limit)  # type: ignore[arg-type]


async def test_a_limit_above_one_page_reads_the_tail(store: Satchel) -> None:
    session = SatchelSession(f"s-{uuid.uuid4().hex}", store=store)
    items = [{"n": n} for n in range(10_003)]
    await session.add_items(items[:10_000])
    await session.add_items(items[10_000:])
    assert await session.get_items(10_002) == items[1:]
    assert await session.get_items(20_000) == items


async def test_history_expires_after_its_ttl(store: Satchel) -> None:
    session = SatchelSession(f"s-{uuid.uuid4().hex}", store=store, ttl=2.0)
    await session.add_items([SAMPLES[0]])
    assert await session.get_items() == [SAMPLES[0]]  # within its TTL, even on a slow machine
    await _sleep(3.0)
    assert await session.get_items() == []
    assert await session.pop_item() is None


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_configured_by_the_environment(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, store: Satchel
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    await close_shared_store()
    try:
        session = SatchelSession("env")
        await session.add_items([SAMPLES[0]])
        assert shared_store() is shared_store()
        assert shared_store().raw_backend.name == "redis"
        await session.close()  # the shared handle stays open: other sessions use it
        assert await SatchelSession("env").get_items() == [SAMPLES[0]]
        # the same data, seen through the test's own handle on the same server
        assert await SatchelSession("env", store=store).get_items() == [SAMPLES[0]]
    finally:
        await close_shared_store()


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_open_owns_its_handle(environ: dict[str, str]) -> None:
    settings = {"url": environ["SATCHEL_REDIS_URL"]}
    async with SatchelSession.open(
        "own", backend="redis", backend_settings=settings, namespace=environ["SATCHEL_NAMESPACE"]
    ) as session:
        await session.add_items([SAMPLES[1]])
        handle = session._owned
        assert handle is not None
    assert handle._closed
    async with satchel.open(environ=environ) as store:
        assert await SatchelSession("own", store=store).get_items() == [SAMPLES[1]]


async def test_copy_from_sqlite_session(store: Satchel, tmp_path: Path) -> None:
    source = SQLiteSession("old", db_path=tmp_path / "history.db")
    await source.add_items(SAMPLES)
    target = SatchelSession(f"s-{uuid.uuid4().hex}", store=store)
    assert await copy_session(source, target) == len(SAMPLES)
    assert await target.get_items() == SAMPLES
    assert await source.get_items() == SAMPLES
    with pytest.raises(AlreadyExists, match=r"^target"):
        await copy_session(source, target)
    source.close()


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_copy_from_redis_session(environ: dict[str, str], store: Satchel) -> None:
    from agents.extensions.memory import RedisSession

    source = RedisSession.from_url("old", url=environ["SATCHEL_REDIS_URL"])
    try:
        await source.clear_session()
        await source.add_items(SAMPLES)
        target = SatchelSession(f"s-{uuid.uuid4().hex}", store=store)
        assert await copy_session(source, target) == len(SAMPLES)
        assert await target.get_items() == SAMPLES
    finally:
        await source.clear_session()
        await source.close()
