"""satchel-redis beyond the conformance kit: settings and their Teal Agents aliases, the key
layout, the Lua scripts, contention across processes, faults and bad input. Every test talks
to a real redis-server that conftest.py starts."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import re
import subprocess
import sys
import time
import traceback
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from contention_worker import Counter, increment
from redis.asyncio import Redis
from redis.crc import key_slot

import satchel
from satchel.backend import Record, utcnow
from satchel.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConfigError,
    Conflict,
    CorruptRecord,
    InvalidArgument,
    InvalidQuery,
    ValueTooLarge,
)
from satchel.query import Query, compile_glob
from satchel.settings import (
    describe_variables,
    load_settings,
    settings_from_code,
    settings_summary,
)
from satchel.toolkit import unix_ms
from satchel_redis import RedisBackend, RedisSettings
from satchel_redis.layout import Layout, decode_tag, encode_tag, server_pattern
from satchel_redis.scripts import SCRIPTS
from satchel_redis.testing.servers import RedisSentinelSetup, RedisServerFactory

SECRET = "s3cret-pa$$word"


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    made = RedisBackend.from_url(redis_url, key_prefix="satchel-unit:")
    try:
        yield made
    finally:
        for name in await made.collections():
            await made.drop(name)
        await made.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def keys_under(raw: Redis, prefix: str) -> list[str]:
    """The keys under ``prefix``, but the outcome log's hashes, which expire by themselves
    (that they do is checked here)."""
    found = sorted([k.decode() async for k in raw.scan_iter(match=f"{prefix}*", count=1000)])
    for key in found:
        if ":o:" in key:
            ttl = await raw.pttl(key)
            assert 0 < ttl <= 10 * 60 * 1000, (key, ttl)
    return [k for k in found if ":o:" not in k]


# -- settings -------------------------------------------------------------------------------


def test_teal_variables_are_read_as_aliases() -> None:
    settings = load_settings(
        RedisSettings,
        environ={
            "TA_REDIS_HOST": "redis.example",
            "TA_REDIS_PORT": "6380",
            "TA_REDIS_DB": "2",
            "TA_REDIS_PWD": SECRET,
            "TA_REDIS_SSL": "true",
            "TA_REDIS_TTL": "3600",
        },
    )
    assert (settings.host, settings.port, settings.db, settings.ssl, settings.ttl) == (
        "redis.example",
        6380,
        2,
        True,
        3600,
    )
    assert settings.password is not None and settings.password.get_secret_value() == SECRET
    backend = RedisBackend(settings)
    assert "rediss://redis.example:6380/2" in backend.describe()
    assert SECRET not in repr(backend) and SECRET not in repr(settings)
    assert SECRET not in json.dumps(settings_summary(settings))


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("false", False), ("0", False)])
def test_ta_redis_ssl_means_what_it_says(text: str, expected: bool) -> None:
    assert load_settings(RedisSettings, environ={"TA_REDIS_SSL": text}).ssl is expected


def test_satchel_variables_win_over_teal_ones() -> None:
    settings = load_settings(
        RedisSettings, environ={"SATCHEL_REDIS_HOST": "a", "TA_REDIS_HOST": "b"}
    )
    assert settings.host == "a"


def test_a_url_and_separate_variables_are_refused_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            RedisSettings,
            environ={"SATCHEL_REDIS_URL": f"redis://:{SECRET}@h:1/0", "TA_REDIS_HOST": "h"},
        )
    assert "SATCHEL_REDIS_URL" in str(info.value) and "TA_REDIS_HOST" in str(info.value)
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings(
            RedisSettings,
            environ={"SATCHEL_REDIS_URL": "redis://h:1/0", "SATCHEL_REDIS_SSL": "true"},
        )
    assert "SATCHEL_REDIS_SSL" in str(info.value)


def test_an_ssl_setting_that_agrees_with_the_url_is_no_clash() -> None:
    for url, ssl in (("redis://h:1/0", "false"), ("rediss://h:1/0", "true")):
        settings = load_settings(
            RedisSettings, environ={"SATCHEL_REDIS_URL": url, "TA_REDIS_SSL": ssl}
        )
        assert settings.ssl is (ssl == "true")


# REDIS_URL, which many hosting platforms set: an alias of SATCHEL_REDIS_URL at the lowest
# precedence, ignored when anything else names the server

PLATFORM_URL = f"redis://ann:{SECRET}@platform.example:6390/3"


def _url_source(environ: dict[str, str]) -> str | None:
    return {v.name: v.source for v in describe_variables(RedisSettings, environ)}[
        "SATCHEL_REDIS_URL"
    ]


def test_redis_url_is_read_when_nothing_else_names_the_server() -> None:
    environ = {"REDIS_URL": PLATFORM_URL, "SATCHEL_REDIS_CLUSTER": "false", "TA_REDIS_TTL": "60"}
    settings = load_settings(RedisSettings, environ=environ)
    assert settings.url is not None and settings.url.get_secret_value() == PLATFORM_URL
    assert settings.database() == 3
    assert settings.database_source() == "REDIS_URL"
    assert settings.credentials_sent() == "the user 'ann' and the password in REDIS_URL"
    assert _url_source(environ) == "REDIS_URL"
    described = {v.name: v for v in describe_variables(RedisSettings)}
    assert described["SATCHEL_REDIS_URL"].aliases == ("REDIS_URL",)
    assert described["SATCHEL_REDIS_URL"].secret
    # never shown: not in a summary, a repr, a listing or a backend's description
    assert settings_summary(settings)["SATCHEL_REDIS_URL"] == "***"
    backend = RedisBackend(settings)
    shown = [
        repr(settings),
        json.dumps(settings_summary(settings)),
        repr(describe_variables(RedisSettings, environ)),
        repr(backend),
        backend.describe(),
    ]
    assert all(SECRET not in text for text in shown), shown
    assert "platform.example:6390/3" in backend.describe()


@pytest.mark.parametrize(
    ("rival", "source"),
    [
        ({"SATCHEL_REDIS_URL": "redis://main.example:6379/0"}, "SATCHEL_REDIS_URL"),
        ({"SATCHEL_REDIS_HOST": "main.example"}, None),
        ({"TA_REDIS_HOST": "main.example"}, None),
        ({"TA_REDIS_PORT": "6380"}, None),
        ({"TA_REDIS_DB": "1"}, None),
        ({"SATCHEL_REDIS_USERNAME": "bob"}, None),
        ({"TA_REDIS_PWD": "pw"}, None),
        ({"TA_REDIS_SSL": "true"}, None),
        ({"SATCHEL_REDIS_SENTINELS": "s1:26379"}, None),
    ],
)
def test_redis_url_gives_way_to_whatever_else_names_the_server(
    rival: dict[str, str], source: str | None
) -> None:
    environ = {"REDIS_URL": PLATFORM_URL, **rival}
    settings = load_settings(RedisSettings, environ=environ)  # no clash: REDIS_URL is unused
    if source is None:
        assert settings.url is None
    else:
        assert settings.url is not None
        assert settings.url.get_secret_value() == rival["SATCHEL_REDIS_URL"]
    assert _url_source(environ) == source
    # an unused REDIS_URL is not read at all: a bad one is no error either
    load_settings(RedisSettings, environ={**environ, "REDIS_URL": "http://nonsense"})


def test_redis_url_gives_way_to_the_server_given_in_code() -> None:
    settings = settings_from_code(
        RedisSettings, {"host": "code.example"}, argument="x", environ={"REDIS_URL": PLATFORM_URL}
    )
    assert (settings.url, settings.host) == (None, "code.example")
    settings = settings_from_code(
        RedisSettings, {"max_connections": 3}, argument="x", environ={"REDIS_URL": PLATFORM_URL}
    )
    assert settings.url is not None and settings.database_source() == "REDIS_URL"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"http://ann:{SECRET}@h/0", "REDIS_URL: must start with redis://"),
        (f"redis://ann:{SECRET}@h:1/x", "REDIS_URL: the database (the path after host:port)"),
        (
            f"redis://ann:{SECRET}@h:1/0?decode_responses=true",
            "REDIS_URL: the option decode_responses=",
        ),
        (f"redis://ann:{SECRET}@h1:1,h2:2/3", "REDIS_URL: a Cluster has only database 0"),
    ],
)
def test_a_bad_redis_url_names_redis_url_and_never_shows_it(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        RedisBackend(load_settings(RedisSettings, environ={"REDIS_URL": url}))
    assert str(info.value).startswith(message), str(info.value)
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError) as info:
        satchel.open(environ={"KV_STORE_BACKEND": "redis", "REDIS_URL": url})
    assert str(info.value).startswith(message), str(info.value)
    assert SECRET not in str(info.value)


async def test_the_platform_variables_alone_reach_the_server(redis_url: str) -> None:
    environ = {"KV_STORE_BACKEND": "redis", "REDIS_URL": redis_url, "KV_STORE_TTL": "120"}
    async with satchel.open(environ=environ) as handle:
        assert "redis standalone" in repr(handle.backend)
        kv = handle.kv("platform-test")
        await kv.set("k", {"v": 1})
        entry = await kv.get_entry("k")
        assert entry is not None and entry.value == {"v": 1}
        assert entry.expires_at is not None  # KV_STORE_TTL, the default TTL
        assert 119 < (entry.expires_at - entry.updated_at).total_seconds() <= 120  # type: ignore[operator]
        await kv.clear()


async def test_cluster_by_host_and_port_and_by_a_list_of_nodes(redis_cluster_url: str) -> None:
    host, port = redis_cluster_url.split("//")[1].split("/")[0].split(":")
    by_host = RedisBackend(
        load_settings(
            RedisSettings,
            environ={
                "SATCHEL_REDIS_HOST": host,
                "SATCHEL_REDIS_PORT": port,
                "SATCHEL_REDIS_CLUSTER": "true",
                "SATCHEL_REDIS_KEY_PREFIX": "satchel-cluster:",
            },
        )
    )
    try:
        assert by_host.describe().startswith("redis cluster at redis://")
        await by_host.put(Record("by-host", "k", 1))
        nodes = [f"{n.host}:{n.port}" for n in by_host._client.get_nodes()]
        assert len(nodes) == 3
    finally:
        await by_host.close()
    listed = RedisBackend.from_url(
        "redis://" + ",".join(nodes) + "/0", key_prefix="satchel-cluster:"
    )
    try:
        assert (await listed.stats())["mode"] == "cluster"
        got = await listed.get("by-host", "k")
        assert got is not None and got.value == 1
        assert await listed.drop("by-host") == 1
    finally:
        await listed.close()


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SATCHEL_REDIS_URL": f"http://:{SECRET}@h/0"}, "SATCHEL_REDIS_URL"),
        ({"SATCHEL_REDIS_PORT": "99999"}, "SATCHEL_REDIS_PORT"),
        ({"TA_REDIS_PORT": "six"}, "TA_REDIS_PORT"),
        ({"SATCHEL_REDIS_KEY_PREFIX": "app{1}:"}, "SATCHEL_REDIS_KEY_PREFIX"),
        ({"SATCHEL_REDIS_TTL": "-5"}, "SATCHEL_REDIS_TTL"),
        ({"SATCHEL_REDIS_SENTINELS": "host-without-port"}, "SATCHEL_REDIS_SENTINELS"),
        ({"SATCHEL_REDIS_RETRIES": "-1"}, "SATCHEL_REDIS_RETRIES"),
    ],
)
def test_bad_settings_name_their_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, environ=environ)
    assert variable in str(info.value)
    assert SECRET not in str(info.value)


def test_a_malformed_cluster_url_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        RedisBackend.from_url(f"redis://:{SECRET}@h1:7000,:7001/0")
    assert "SATCHEL_REDIS_URL" in str(info.value)
    assert SECRET not in str(info.value)


def test_several_nodes_in_the_url_mean_cluster() -> None:
    backend = RedisBackend.from_url(f"redis://user:{SECRET}@h1:7000,h2:7001")
    assert backend.describe().startswith("redis cluster at redis://h1:7000,h2:7001")
    assert SECRET not in repr(backend)


def test_loading_the_plugin_does_not_import_the_driver() -> None:
    code = (
        "import sys, satchel.plugins as p; loaded = p.load_plugins(); "
        "assert 'redis' in loaded.backends, loaded.backends; "
        "assert 'redis' not in sys.modules and 'satchel_redis.backend' not in sys.modules, "
        "sorted(m for m in sys.modules if 'redis' in m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_open_selects_redis_from_the_environment(redis_url: str) -> None:
    async with satchel.open(
        environ={"SATCHEL_BACKEND": "redis", "SATCHEL_REDIS_URL": redis_url}
    ) as handle:
        assert "redis standalone" in repr(handle.backend)
        kv = handle.kv("open-test")
        await kv.set("k", {"v": 1})
        assert await kv.get("k") == {"v": 1}
        await kv.clear()


async def test_teal_host_and_port_reach_the_server(redis_url: str) -> None:
    host, port = redis_url.split("//")[1].split("/")[0].split(":")
    environ = {"SATCHEL_BACKEND": "redis", "TA_REDIS_HOST": host, "TA_REDIS_PORT": port}
    async with satchel.open(environ=environ) as handle:
        await handle.ping()
        kv = handle.kv("teal-test")
        await kv.set("k", 1)
        assert await kv.get("k") == 1
        await kv.clear()


async def test_the_ttl_setting_applies_to_records_written_without_one(redis_url: str) -> None:
    backend = RedisBackend.from_url(redis_url, key_prefix="satchel-ttl:", ttl=3600)
    try:
        before = utcnow()
        stored = await backend.put(Record("ttl-test", "k", 1))
        assert stored.expires_at is not None
        assert 3599 <= (stored.expires_at - before).total_seconds() <= 3601
        explicit = await backend.put(
            Record("ttl-test", "j", 1, expires_at=before.replace(year=before.year + 1))
        )
        assert explicit.expires_at is not None and explicit.expires_at.year == before.year + 1
        await backend.drop("ttl-test")
    finally:
        await backend.close()


# -- layout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["plain", "a{b}c", "}{", "100%", "%7B", "{", "ns:kv:x{y"])
def test_tags_are_reversible_and_never_close_early(name: str) -> None:
    tag = encode_tag(name)
    assert "}" not in tag and "{" not in tag
    assert decode_tag(tag) == name
    layout = Layout("p:")
    assert layout.collection_of(f"{layout.base(name)}k") == name


def test_layout_refuses_a_prefix_with_braces() -> None:
    with pytest.raises(ConfigError):
        Layout("a{b")


@pytest.mark.parametrize(
    "pattern", ["a?", "a*", "[ab]?", "a\\*", "[^a]x", "x[!]", "*[\\]]*", "??", "é?"]
)
def test_the_server_pattern_is_a_superset(pattern: str) -> None:
    keys = ["a", "ab", "a*", "a🎒", "é🎒", "bx", "ax", "x]", "]", "é", "a\\", "🎒x", "ab]c"]
    superset = compile_glob(server_pattern(pattern))
    exact = compile_glob(pattern)
    for key in keys:
        if exact.fullmatch(key):
            assert superset.fullmatch(key), (pattern, server_pattern(pattern), key)


async def test_every_key_of_a_collection_is_in_one_slot(backend: RedisBackend, raw: Redis) -> None:
    collection = "ns:kv:we{ird}"
    later = utcnow().replace(year=utcnow().year + 1)
    await backend.put(Record(collection, "a", 1, index={"by": ("x", "y")}))
    await backend.put(Record(collection, "b}", 2, expires_at=later, index={"by": ("x",)}))
    keys = await keys_under(raw, "satchel-unit:")
    assert len(keys) >= 6  # two records, k, x, xi, two index sets
    assert {key_slot(k.encode()) for k in keys} == {key_slot(b"{ns:kv:we%7Bird%7D}")}


async def test_expired_records_leave_nothing_behind(backend: RedisBackend, raw: Redis) -> None:
    soon = utcnow() + timedelta(milliseconds=300)
    for i in range(5):
        await backend.put(Record("exp", f"k{i}", i, expires_at=soon, index={"ix": (f"v{i}",)}))
    await backend.put(Record("exp", "stays", 1, index={"ix": ("v0",)}))
    await asyncio.sleep(0.5)
    assert [r.key for r in await backend.find("exp", "ix", "v0")] == ["stays"]
    assert await backend.purge_expired() >= 5
    base = "satchel-unit:{exp}:"
    assert await keys_under(raw, base) == sorted(
        [f"{base}r:stays", f"{base}k", f"{base}f", Layout.index_key(base, "ix", "v0")]
    )
    assert await backend.drop("exp") == 1
    assert await keys_under(raw, base) == [f"{base}f"]  # the version floor stays


async def test_a_write_clears_some_expired_records_of_its_collection(
    backend: RedisBackend, raw: Redis
) -> None:
    soon = utcnow() + timedelta(milliseconds=200)
    await backend.put(Record("sweep", "old", 1, expires_at=soon, index={"ix": ("v",)}))
    await asyncio.sleep(0.3)
    await backend.put(Record("sweep", "new", 1))
    base = "satchel-unit:{sweep}:"
    assert await keys_under(raw, base) == sorted([f"{base}r:new", f"{base}k", f"{base}f"])


async def test_the_listing_and_expiry_entries_follow_every_write_and_delete(
    backend: RedisBackend, raw: Redis
) -> None:
    """The key listing ``k`` holds exactly the stored keys, and the expiry entries ``x`` and
    ``xi`` exactly those stored with an expiry, whatever the order of writes with and
    without one (the write script skips what a record's own fields show is already so)."""
    later = utcnow() + timedelta(hours=1)
    c = "books"
    await backend.put(Record(c, "a", 1, expires_at=later))
    await backend.put(Record(c, "a", 2))  # the expiry is dropped
    await backend.put(Record(c, "b", 1))
    await backend.put(Record(c, "b", 2, expires_at=later))  # an expiry is added
    await backend.put(Record(c, "c", 1, expires_at=later))
    await backend.put(Record(c, "c", 2, expires_at=later + timedelta(hours=1)))
    await backend.put(Record(c, "d", 1))
    await backend.put(Record(c, "d", 2))
    await backend.put(Record(c, "e", 1, expires_at=later))
    assert await backend.delete(c, "e")
    await backend.put(Record(c, "f", 1))
    assert await backend.delete(c, "f")
    assert not await backend.delete(c, "f")
    base = f"satchel-unit:{{{c}}}:"
    listed = {k.decode() for k in await raw.zrange(f"{base}k", 0, -1)} - {""}
    expiring = {k.decode() for k in await raw.zrange(f"{base}x", 0, -1)}
    kept = {k.decode() for k in await raw.hkeys(f"{base}xi")}
    assert listed == {"a", "b", "c", "d"}
    assert expiring == kept == {"b", "c"}
    assert [r.expires_at is not None for r in await backend.get_many(c, ["a", "b", "c", "d"])] == [
        False,
        True,
        True,
        False,
    ]
    assert int(await raw.zscore(f"{base}x", "c")) == unix_ms(later + timedelta(hours=1))


async def test_the_listing_heals_and_a_stale_expiry_entry_never_removes_a_live_record(
    backend: RedisBackend, raw: Redis
) -> None:
    """Damage from outside (a key dropped from the listing, a record's expiry field
    removed) does not last: the next write lists the key again, and the sweep drops an
    expiry entry whose record says it is live instead of removing the record."""
    c = "healing"
    base = f"satchel-unit:{{{c}}}:"
    await backend.put(Record(c, "b", 1))
    await raw.zrem(f"{base}k", "b")
    await backend.put(Record(c, "b", 2))
    assert [k async for k in backend.iter_keys(c)] == ["b"]

    soon = utcnow() + timedelta(milliseconds=300)
    await backend.put(Record(c, "a", 1, expires_at=soon))
    await raw.hdel(f"{base}r:a", "e")  # the record's own expiry, removed from outside
    await backend.put(Record(c, "a", 2))  # stored without an expiry
    await asyncio.sleep(0.4)
    assert await backend.purge_expired() == 0  # the stale entry goes; no record does
    got = await backend.get(c, "a")
    assert got is not None and got.value == 2
    assert await raw.zscore(f"{base}x", "a") is None
    assert await raw.hget(f"{base}xi", "a") is None
    assert await raw.pttl(f"{base}r:a") == -1  # nor will Redis drop it by itself

    await backend.put(Record(c, "d", 1, expires_at=utcnow() + timedelta(milliseconds=300)))
    await raw.hdel(f"{base}r:d", "e")
    await backend.put(Record(c, "d", 2))
    await asyncio.sleep(0.4)
    await backend.put(Record(c, "other", 1))  # a write sweeps the stale entry as well
    assert (await backend.get(c, "d")) is not None
    assert await backend.count(c) == 4
    assert await raw.zscore(f"{base}x", "d") is None


async def test_a_high_version_survives_redis_dropping_the_hash(
    backend: RedisBackend, raw: Redis
) -> None:
    """The version kept beside an expiring record (``xi``) is written in full digits: when
    Redis drops the record's hash by itself, the key's next version is still above it."""
    from satchel.backend import MAX_RESTORED_VERSION

    c = "high"
    base = f"satchel-unit:{{{c}}}:"
    later = utcnow() + timedelta(hours=1)
    now = utcnow()
    await backend.restore_many(
        [Record(c, "k", 1, MAX_RESTORED_VERSION, now, now, later, {"by": ("x",)})]
    )
    written = await backend.put(
        Record(c, "k", 2, expires_at=later), if_version=MAX_RESTORED_VERSION
    )
    assert written.version == MAX_RESTORED_VERSION + 1
    assert await raw.hget(f"{base}xi", "k") == f"{MAX_RESTORED_VERSION + 1}:".encode()
    await raw.delete(f"{base}r:k")  # what Redis does by itself after the expiry
    again = await backend.put(Record(c, "k", 3))
    assert again.version == MAX_RESTORED_VERSION + 2


# -- scripts ----------------------------------------------------------------------------------


async def test_scripts_are_sent_again_after_the_server_forgets_them(
    backend: RedisBackend, raw: Redis
) -> None:
    await backend.put(Record("noscript", "a", 1))
    await raw.script_flush()
    assert (await backend.put(Record("noscript", "a", 2))).version == 2
    await raw.script_flush()
    stored = await backend.put_many([Record("noscript", "b", 1), Record("other", "c", 1)])
    assert [r.version for r in stored] == [1, 1]
    assert (await raw.script_exists(SCRIPTS["put_many"].sha)) == [True]


async def test_a_retried_write_is_applied_once(backend: RedisBackend, redis_url: str) -> None:
    """The put script finds its own write id in the outcome log: a retry returns the first
    attempt's outcome instead of writing again (or raising Conflict/AlreadyExists)."""
    client = Redis.from_url(redis_url)
    try:
        base = "satchel-unit:{retry}:"
        args = [base, 1_700_000_000_000, "k", '{"n":1}', "", "", "a", "token-1", 60_000]
        first = await SCRIPTS["put"](client, [f"{base}r:k"], list(args))
        again = await SCRIPTS["put"](client, [f"{base}r:k"], list(args))
        assert first == again == [b"ok", 1, b"1700000000000"]
        other = await SCRIPTS["put"](client, [f"{base}r:k"], [*args[:-2], "token-2", 60_000])
        assert other == [b"exists", 1]
        assert await SCRIPTS["put"](client, [f"{base}r:k"], list(args)) == first
        log = f"{base}o:{1_700_000_000_000 // 10_000}"
        assert sorted(await client.hkeys(log)) == [b"token-1", b"token-2"]
        assert 60_000 < await client.pttl(log) <= 70_000
    finally:
        await client.aclose()
    assert (await backend.get("retry", "k")) is not None


async def test_an_outcome_kept_as_json_by_an_earlier_release_is_recalled(
    redis_url: str,
) -> None:
    """Outcomes are kept in MessagePack; a retry that finds one an earlier release kept as
    JSON still answers it (and writes nothing), and numbers beyond JSON's 14 digits in Lua
    come back exact."""
    client = Redis.from_url(redis_url)
    try:
        base = "satchel-unit:{oldoutcome}:"
        log = f"{base}o:{1_700_000_000_000 // 10_000}"
        await client.hset(log, "token-json", '["conflict",7]')
        args = [base, 1_700_000_000_000, "k", '{"n":1}', "", "", "", "token-json", 60_000]
        assert await SCRIPTS["put"](client, [f"{base}r:k"], args) == [b"conflict", 7]
        assert await client.exists(f"{base}r:k") == 0  # recalled: nothing was written
        first = await SCRIPTS["put"](client, [f"{base}r:k"], [*args[:-2], "token-new", 60_000])
        assert first == [b"ok", 1, b"1700000000000"]
        kept = await client.hget(log, "token-new")
        assert kept is not None and kept[:1] not in (b"[", b"{")
        # a version beyond 10**14 (restored so), recalled exactly
        await client.hset(f"{base}r:big", mapping={"v": "1", "n": 123_456_789_012_345, "c": 1})
        await client.zadd(f"{base}k", {"big": 0})
        big = [base, 1_700_000_000_000, "big", "2", "", "", "", "token-big", 60_000]
        answered = await SCRIPTS["put"](client, [f"{base}r:big"], big)
        assert answered[:2] == [b"ok", 123_456_789_012_346]
        assert await SCRIPTS["put"](client, [f"{base}r:big"], big) == answered
    finally:
        await client.delete(*[k async for k in client.scan_iter(match=f"{base}*")])
        await client.aclose()


async def test_without_retries_no_outcome_is_recorded(redis_url: str, raw: Redis) -> None:
    backend = RedisBackend.from_url(redis_url, key_prefix="satchel-noretry:", retries=0)
    try:
        await backend.put(Record("c", "k", 1))
        await backend.put_many([Record("c", "j", 1)])
        assert await backend.delete("c", "k") is True
        assert await keys_under(raw, "satchel-noretry:") == [
            "satchel-noretry:{c}:f",
            "satchel-noretry:{c}:k",
            "satchel-noretry:{c}:r:j",
        ]
        assert [k async for k in raw.scan_iter(match="satchel-noretry:*:o:*")] == []
        await backend.drop("c")
    finally:
        await backend.close()


async def test_put_many_is_one_script_call_per_collection(
    backend: RedisBackend, raw: Redis
) -> None:
    async def evalsha_calls() -> int:
        stats = await raw.info("commandstats")
        return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))

    await backend.put(Record("batch", "warm", 0))  # the script is loaded
    before = await evalsha_calls()
    records = [Record("batch", f"k{i}", {"i": i}) for i in range(100)]
    stored = await backend.put_many([*records, Record("batch2", "x", 1)])
    assert [r.key for r in stored] == [*(f"k{i}" for i in range(100)), "x"]
    assert await evalsha_calls() - before == 2
    got = await backend.get_many("batch", [f"k{i}" for i in range(100)])
    assert [r.value["i"] for r in got if r is not None] == list(range(100))


async def test_queries_page_through_a_large_collection(backend: RedisBackend) -> None:
    """More records than one scan page: limits, cursors and ordering across pages."""
    await backend.put_many([Record("big", f"k{i:04d}", {"n": i % 7}) for i in range(700)])
    page = await backend.query("big", Query.build(where=[("n", "eq", 3)], limit=50))
    assert len(page.items) == 50 and page.next_cursor is not None
    seen, cursor = [], None
    while True:
        page = await backend.query(
            "big", Query.build(order_by=[("n", "desc")], limit=128, cursor=cursor)
        )
        seen += [(r.value["n"], r.key) for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(seen, key=lambda p: (-p[0], p[1])) and len(seen) == 700
    assert await backend.count("big", Query.build(where=[("n", "lt", 2)]).where) == 200
    keys = await backend.query("big", Query.build(where=[("key", "startswith", "k06")]))
    assert len(keys.items) == 100


async def test_a_bad_pattern_is_refused(backend: RedisBackend) -> None:
    with pytest.raises(InvalidQuery):
        [k async for k in backend.iter_keys("c", "[unclosed")]


# -- bad input ----------------------------------------------------------------------------------


async def test_a_planted_value_of_another_type_is_a_corrupt_record(
    redis_url: str, raw: Redis
) -> None:
    async with satchel.open(
        environ={"SATCHEL_BACKEND": "redis", "SATCHEL_REDIS_URL": redis_url}
    ) as handle:
        kv = handle.kv("planted")
        await kv.set("victim", {"ok": True})
        await kv.set("neighbour", 1)
        [key] = [k for k in await keys_under(raw, "satchel:") if k.endswith(":r:victim")]
        await raw.delete(key)
        await raw.rpush(key, "a", "b")
        with pytest.raises(CorruptRecord) as info:
            await kv.get("victim")
        assert "'victim'" in str(info.value)
        assert await kv.get("neighbour") == 1
        with pytest.raises(CorruptRecord):
            await kv.get_many(["neighbour", "victim"])
        await raw.delete(key)
        await raw.hset(key, mapping={"v": "{not json", "n": "1", "c": "1", "u": "1"})
        with pytest.raises(CorruptRecord) as info:
            await kv.get("victim")
        assert "'victim'" in str(info.value)
        await kv.set("victim", "repaired")
        assert await kv.get("victim") == "repaired"
        await kv.clear()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"n": "1", "c": "1", "u": "1", "e": "1"}, None),  # expired: gone, damaged or not
        ({"v": "1", "n": "1", "c": "1", "u": "1", "e": ""}, CorruptRecord),  # bad expiry
        ({"n": "1", "c": "1", "u": "1"}, CorruptRecord),  # live, with no value
        ({"v": "1", "c": "1", "u": "1"}, CorruptRecord),  # no version
        ({"v": "7", "n": "2", "c": "1", "u": "1", "e": "99999999999999"}, 7),
        ({"v": "8", "n": "1", "c": "1", "u": "1"}, 8),
    ],
)
async def test_get_and_get_many_read_a_hash_alike(
    backend: RedisBackend, raw: Redis, fields: dict[str, str], expected: Any
) -> None:
    """get reads a record from its hash, get_many from the packed replies of a script: a
    damaged or expired record means the same to both."""
    await backend.put(Record("alike", "k", 0))
    await raw.delete("satchel-unit:{alike}:r:k")
    await raw.hset("satchel-unit:{alike}:r:k", mapping=fields)
    if expected is CorruptRecord:
        with pytest.raises(CorruptRecord):
            await backend.get("alike", "k")
        with pytest.raises(CorruptRecord):
            await backend.get_many("alike", ["k"])
        return
    one = await backend.get("alike", "k")
    [many] = await backend.get_many("alike", ["k"])
    if expected is None:
        assert one is None and many is None
    else:
        assert one is not None and many is not None
        assert one.value == many.value == expected
        assert (one.version, one.expires_at) == (many.version, many.expires_at)


async def test_a_value_over_the_limit_is_refused_before_anything_is_written(
    redis_url: str,
) -> None:
    backend = RedisBackend.from_url(redis_url, key_prefix="satchel-size:", max_value_bytes=1000)
    try:
        with pytest.raises(ValueTooLarge) as info:
            await backend.put(Record("size", "big", "x" * 1001))
        assert "SATCHEL_REDIS_MAX_VALUE_BYTES" in str(info.value)
        with pytest.raises(ValueTooLarge):
            await backend.put_many([Record("size", "small", 1), Record("size", "big", "é" * 600)])
        assert await backend.get("size", "small") is None
        assert await backend.collections() == []
    finally:
        await backend.close()


async def test_a_value_json_cannot_hold_is_refused(backend: RedisBackend) -> None:
    with pytest.raises(InvalidArgument):
        await backend.put(Record("bad", "k", {"x": float("nan")}))
    assert await backend.get("bad", "k") is None


async def test_a_wrong_password_is_a_config_error(redis_server_factory: RedisServerFactory) -> None:
    server = redis_server_factory(password=SECRET)
    url = f"redis://:wrong-{SECRET}@127.0.0.1:{server.port}/0"
    backend = RedisBackend.from_url(url)
    try:
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            await backend.get("c", "k")
        assert time.monotonic() - started < 2, "credentials are not retried"
        message = str(info.value)
        assert f"127.0.0.1:{server.port}" in message and "password" in message
        assert SECRET not in message
    finally:
        await backend.close()
    no_password = RedisBackend.from_url(f"redis://127.0.0.1:{server.port}/0")
    try:
        with pytest.raises(ConfigError):
            await no_password.ping()
    finally:
        await no_password.close()
    right = RedisBackend.from_url(server.url)
    try:
        await right.put(Record("c", "k", 1))
        assert (await right.get("c", "k")) is not None
    finally:
        await right.close()


async def test_a_wrong_port_is_unavailable_naming_the_host() -> None:
    from satchel_redis.testing.servers import free_port

    port = free_port()
    backend = RedisBackend.from_url(
        f"redis://:{SECRET}@127.0.0.1:{port}/0", retries=2, retry_backoff=0.01
    )
    try:
        with pytest.raises(BackendUnavailable) as info:
            await backend.get("c", "k")
        message = str(info.value)
        assert f"127.0.0.1:{port}" in message and "3 attempts" in message
        assert SECRET not in message
    finally:
        await backend.close()


async def test_a_tls_url_to_a_plain_server_says_so(redis_url: str) -> None:
    tls_url = redis_url.replace("redis://", "rediss://")
    backend = RedisBackend.from_url(tls_url, retries=0, connect_timeout=2, socket_timeout=2)
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as info:
            await backend.ping()
        assert time.monotonic() - started < 5
        assert "TLS" in str(info.value)
    finally:
        await backend.close()


async def test_conditional_writes_over_a_corrupt_record_are_refused(
    backend: RedisBackend, raw: Redis
) -> None:
    await backend.put(Record("cw", "k", 1))
    await raw.set("satchel-unit:{cw}:r:k", "garbage")
    with pytest.raises(CorruptRecord):
        await backend.put(Record("cw", "k", 2), if_version=1)
    with pytest.raises(CorruptRecord):
        await backend.put(Record("cw", "k", 2), if_absent=True)
    with pytest.raises(CorruptRecord):
        await backend.delete("cw", "k", if_version=1)
    assert await backend.delete("cw", "k") is True
    assert (await backend.put(Record("cw", "k", 3), if_absent=True)).version == 1
    with pytest.raises(AlreadyExists):
        await backend.put(Record("cw", "k", 3), if_absent=True)
    with pytest.raises(Conflict):
        await backend.put(Record("cw", "k", 3), if_version=7)


# -- faults -----------------------------------------------------------------------------------


async def test_a_stopped_server_is_unavailable_and_acknowledged_writes_survive_a_restart(
    redis_server_factory: RedisServerFactory,
) -> None:
    server = redis_server_factory(appendonly=True)  # appendfsync always
    timeouts = {"connect_timeout": 0.5, "socket_timeout": 0.5}
    backend = RedisBackend.from_url(
        server.url, retries=2, retry_backoff=0.05, retry_backoff_max=0.2, **timeouts
    )
    # each attempt waits at most one timeout; the backoffs add at most 0.05 + 0.1
    bound = 3 * 0.5 + 0.15 + 0.5  # + scheduling slack on a loaded machine
    acknowledged: dict[str, int] = {}
    failures: list[float] = []
    messages: list[str] = []
    try:
        for i in range(60):
            if i == 30:
                server.stop(kill=True)
            started = time.monotonic()
            try:
                await backend.put(Record("faults", f"k{i}", {"i": i}))
            except BackendUnavailable as exc:
                failures.append(time.monotonic() - started)
                messages.append(str(exc))
            else:
                acknowledged[f"k{i}"] = i
        assert len(failures) == 30 and len(acknowledged) == 30
        assert max(failures) <= bound, failures
        assert all(f"127.0.0.1:{server.port}" in m for m in messages), messages[0]
        server.restart()
        await backend.put(Record("faults", "after", 1))
        got = await backend.get_many("faults", sorted(acknowledged))
        assert {r.key: r.value["i"] for r in got if r is not None} == acknowledged
        assert await backend.count("faults") == len(acknowledged) + 1
    finally:
        await backend.close()


# -- sentinel --------------------------------------------------------------------------------


async def test_sentinel_finds_the_master(redis_sentinel: RedisSentinelSetup) -> None:
    settings = load_settings(
        RedisSettings,
        environ={
            "SATCHEL_REDIS_SENTINELS": redis_sentinel.sentinels,
            "SATCHEL_REDIS_SENTINEL_SERVICE": redis_sentinel.service_name,
            "SATCHEL_REDIS_KEY_PREFIX": "satchel-sentinel:",
        },
    )
    backend = RedisBackend(settings)
    try:
        assert "sentinel service 'satchel-test'" in backend.describe()
        await backend.put(Record("s", "k", {"via": "sentinel"}))
        assert (await backend.get("s", "k")).value == {"via": "sentinel"}  # type: ignore[union-attr]
        assert (await backend.stats())["mode"] == "sentinel"
        assert await backend.drop("s") == 1
    finally:
        await backend.close()
    master = Redis.from_url(redis_sentinel.master.url)
    try:
        assert await master.exists("satchel-sentinel:{s}:k") == 0
    finally:
        await master.aclose()


# -- contention across processes ---------------------------------------------------------------


async def test_eight_processes_lose_no_increment(redis_url: str) -> None:
    namespace = f"contention-{time.time_ns()}"
    environ = {
        "SATCHEL_BACKEND": "redis",
        "SATCHEL_REDIS_URL": redis_url,
        "SATCHEL_NAMESPACE": namespace,
    }
    async with satchel.open(environ=environ) as handle:
        tasks = handle.tasks(Counter)
        await tasks.create(Counter(task_id="counter"))
        context = multiprocessing.get_context("spawn")
        conflicts = context.Queue()
        workers = [
            context.Process(target=increment, args=(redis_url, namespace, 200, conflicts))
            for _ in range(8)
        ]
        for worker in workers:
            worker.start()
        loop = asyncio.get_running_loop()
        for worker in workers:
            await loop.run_in_executor(None, worker.join, 120)
        assert [w.exitcode for w in workers] == [0] * 8
        retried = [conflicts.get(timeout=5) for _ in workers]
        conflicts.close()
        final = await tasks.load_versioned("counter")
        assert final is not None
        assert final.value.n == 1600, f"lost updates ({sum(retried)} conflicts retried)"
        assert final.version == 1601
        assert sum(retried) > 0, "the processes never raced; the test proved nothing"
        await tasks.delete("counter")


# -- found in review ------------------------------------------------------------------------


async def test_a_server_out_of_memory_refuses_the_write_before_changing_anything(
    redis_server_factory: RedisServerFactory,
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url)
    raw = Redis.from_url(server.url)
    try:
        await backend.put(Record("oom", "a", {"v": 1}, index={"ix": ("x",)}))
        await raw.config_set("maxmemory", 1)  # noeviction: every allocating write is refused
        with pytest.raises(BackendUnavailable) as info:
            await backend.put(Record("oom", "a", {"v": 2}, index={"ix": ("y",)}))
        assert "out of memory" in str(info.value)
        with pytest.raises(BackendUnavailable):
            await backend.put_many([Record("oom", "b", 1)])
        await raw.config_set("maxmemory", 0)
        got = await backend.get("oom", "a")
        assert got is not None and got.value == {"v": 1} and got.version == 1
        assert [r.key for r in await backend.find("oom", "ix", "x")] == ["a"]
        assert await backend.get("oom", "b") is None
    finally:
        await raw.config_set("maxmemory", 0)
        await raw.aclose()
        await backend.close()


async def test_a_retried_batch_is_applied_once(backend: RedisBackend, redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        base = "satchel-unit:{batch-retry}:"
        # ARGV: base, now, token, keep, then (key, value, expires, index) per record
        head = [base, 1_700_000_000_000, "batch-1", 60_000]
        records = ["k", "1", "", "", "k", "2", "", "", "j", "3", "", ""]
        first = await SCRIPTS["put_many"](client, [f"{base}k"], [*head, *records])
        again = await SCRIPTS["put_many"](client, [f"{base}k"], [*head, *records])
        assert first == again == [1, b"1700000000000", 2, b"1700000000000", 1, b"1700000000000"]
    finally:
        await client.aclose()
    got = await backend.get("batch-retry", "k")
    assert got is not None and got.value == 2 and got.version == 2


async def test_ca_certs_without_tls_are_not_used(redis_url: str) -> None:
    backend = RedisBackend.from_url(redis_url, ssl_ca_certs="/nonexistent/ca.pem")
    try:
        await backend.ping()
    finally:
        await backend.close()


def test_a_cluster_url_with_a_database_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        RedisBackend.from_url("redis://h1:7000,h2:7001/3")
    assert "database 0" in str(info.value)


async def test_a_lone_surrogate_is_invalid_not_a_crash(backend: RedisBackend) -> None:
    with pytest.raises(InvalidArgument):
        await backend.put(Record("surrogate", "k\ud800", 1))
    with pytest.raises(InvalidArgument):
        await backend.get("surrogate", "k\ud800")


async def test_a_unix_socket_url(redis_server_factory: RedisServerFactory, tmp_path: Path) -> None:
    path = tmp_path / "redis.sock"
    server = redis_server_factory(extra_args=["--unixsocket", str(path), "--unixsocketperm", "700"])
    environ = {"SATCHEL_BACKEND": "redis", "SATCHEL_REDIS_URL": f"unix://{path}?db=2"}
    async with satchel.open(environ=environ) as handle:
        assert f"unix://{path}" in repr(handle.backend)
        kv = handle.kv("unix")
        await kv.set("k", {"over": "a socket"})
        assert await kv.get("k") == {"over": "a socket"}
    raw = Redis.from_url(f"redis://127.0.0.1:{server.port}/2")
    try:
        assert [k async for k in raw.scan_iter(match="satchel:*")]  # db 2 of that server
    finally:
        await raw.aclose()


# -- URLs mean what they say ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/abc",
        "redis://127.0.0.1:6379/0/1",
        "redis://127.0.0.1:6379/-1",
        "redis://127.0.0.1:6379/1.5",
        "rediss://127.0.0.1:6379/%31x",
        "redis://127.0.0.1:6379/?db=abc",
        "unix:///tmp/redis.sock?db=x",
    ],
)
def test_a_database_that_is_not_a_number_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, environ={"SATCHEL_REDIS_URL": url})
    assert "SATCHEL_REDIS_URL" in str(info.value) and "database" in str(info.value)


def test_a_url_database_is_read_as_written() -> None:
    for url, db in (
        ("redis://h:1", 0),
        ("redis://h:1/", 0),
        ("redis://h:1/7", 7),
        ("redis://h:1/?db=3", 3),
        ("unix:///tmp/s?db=2", 2),
    ):
        backend = RedisBackend.from_url(url)
        assert backend._client.connection_pool.connection_kwargs.get("db", 0) == db, url


def test_a_bad_database_does_not_show_a_password() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, environ={"SATCHEL_REDIS_URL": f"redis://:{SECRET}@h:1/x"})
    assert "SATCHEL_REDIS_URL" in str(info.value) and SECRET not in str(info.value)
    # an unescaped '/' in a password makes its tail look like the database: never shown
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, environ={"SATCHEL_REDIS_URL": "redis://:p@ss/w0rd@h:1/0"})
    assert "w0rd" not in str(info.value) and "percent-encode" in str(info.value)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SATCHEL_REDIS_URL": "redis://127.0.0.1:{port}/99"}, "SATCHEL_REDIS_URL"),
        ({"SATCHEL_REDIS_PORT": "{port}", "SATCHEL_REDIS_DB": "99"}, "SATCHEL_REDIS_DB"),
        ({"SATCHEL_REDIS_PORT": "{port}", "TA_REDIS_DB": "99"}, "TA_REDIS_DB"),
    ],
)
async def test_a_database_the_server_does_not_have_is_a_config_error(
    redis_url: str, environ: dict[str, str], variable: str
) -> None:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    env = {name: value.format(port=port) for name, value in environ.items()}
    env.setdefault("SATCHEL_REDIS_HOST", "127.0.0.1") if "SATCHEL_REDIS_URL" not in env else None
    backend = RedisBackend(load_settings(RedisSettings, environ=env))
    try:
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            await backend.put(Record("c", "k", 1))
        assert time.monotonic() - started < 2, "a configuration error is not retried"
        message = str(info.value)
        assert variable in message and "99" in message and "database" in message
    finally:
        await backend.close()


@pytest.mark.parametrize("path", ["99", "abc"])
def test_a_bad_database_exits_3_in_the_cli(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """A configuration error (exit 3), plain and --json, not 'any other error' (exit 5)."""
    from click.testing import CliRunner

    from satchel.cli import cli

    base = redis_url.rsplit("/", 1)[0]
    monkeypatch.setenv("SATCHEL_BACKEND", "redis")
    monkeypatch.setenv("SATCHEL_REDIS_URL", f"{base}/{path}")
    for args in (["doctor"], ["doctor", "--json"], ["kv", "set", "ns", "k", "1"]):
        result = CliRunner().invoke(cli, args, prog_name="satchel")
        assert result.exit_code == 3, (args, result.output)
        assert "SATCHEL_REDIS_URL" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("environ", "sent"),
    [
        ({"SATCHEL_REDIS_URL": "redis://127.0.0.1:{port}/0"}, "no password"),
        (
            {"SATCHEL_REDIS_URL": "redis://:wrong@127.0.0.1:{port}/0"},
            "the password in SATCHEL_REDIS_URL",
        ),
        (
            {"SATCHEL_REDIS_URL": "redis://ann:wrong@127.0.0.1:{port}/0"},
            "the user 'ann' and the password in SATCHEL_REDIS_URL",
        ),
        (
            {"SATCHEL_REDIS_PORT": "{port}", "SATCHEL_REDIS_PASSWORD": "wrong"},
            "the password in SATCHEL_REDIS_PASSWORD",
        ),
        ({"SATCHEL_REDIS_PORT": "{port}", "TA_REDIS_PWD": "wrong"}, "the password in TA_REDIS_PWD"),
        (
            {"SATCHEL_REDIS_PORT": "{port}", "SATCHEL_REDIS_USERNAME": "bob"},
            "the user 'bob' (SATCHEL_REDIS_USERNAME) and no password",
        ),
        ({"SATCHEL_REDIS_PORT": "{port}"}, "no password"),
        (  # redis-py reads credentials from the URL's options too
            {"SATCHEL_REDIS_URL": "redis://127.0.0.1:{port}/0?password=wrong"},
            "the password in SATCHEL_REDIS_URL",
        ),
        (
            {"SATCHEL_REDIS_URL": "redis://127.0.0.1:{port}/0?username=bob&password=wrong"},
            "the user 'bob' and the password in SATCHEL_REDIS_URL",
        ),
        (
            {"SATCHEL_REDIS_URL": "redis://127.0.0.1:{port}/0?username=bob"},
            "the user 'bob' in SATCHEL_REDIS_URL and no password",
        ),
    ],
)
async def test_refused_credentials_say_which_were_sent_and_from_where(
    redis_server_factory: RedisServerFactory, environ: dict[str, str], sent: str
) -> None:
    server = redis_server_factory(password=SECRET)
    env = {name: value.format(port=server.port) for name, value in environ.items()}
    if "SATCHEL_REDIS_URL" not in env:
        env["SATCHEL_REDIS_HOST"] = "127.0.0.1"
    backend = RedisBackend(load_settings(RedisSettings, environ=env))
    try:
        with pytest.raises(ConfigError) as info:
            await backend.ping()
        message = str(info.value)
        assert f"sent {sent}" in message, message
        assert f"127.0.0.1:{server.port}" in message
        assert SECRET not in message and "wrong" not in message
    finally:
        await backend.close()


def _debug_records() -> tuple[list[str], logging.Handler]:
    """Every log record of the root logger at DEBUG (drivers included), and the handler
    to remove."""
    lines: list[str] = []

    class Records(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())
            if record.exc_info:
                lines.append("".join(traceback.format_exception(*record.exc_info)))

    handler = Records(logging.DEBUG)
    return lines, handler


@pytest.mark.parametrize("right", [True, False], ids=["right-password", "wrong-password"])
def test_no_part_of_a_password_against_a_live_server(
    redis_server_factory: RedisServerFactory, monkeypatch: pytest.MonkeyPatch, right: bool
) -> None:
    """Against a server that needs a password (the tests elsewhere use a port where nothing
    listens): with the right password and with a wrong one, nothing of either shows up in
    the error chain, the CLI's output (plain and --json) or a DEBUG log record."""
    from click.testing import CliRunner

    from satchel.cli import cli

    password = "Pq@Sv:Wk/Rd#?Xz"
    server = redis_server_factory(password=password)
    sent = password if right else "Jq@Hv:Bn/Gm#?Cy"
    escaped = "".join(f"%{ord(c):02X}" if c in "@:/#?" else c for c in sent)
    url = f"redis://:{escaped}@127.0.0.1:{server.port}/0"
    monkeypatch.setenv("SATCHEL_BACKEND", "redis")
    monkeypatch.setenv("SATCHEL_REDIS_URL", url)
    lines, handler = _debug_records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    shown: list[str] = []
    try:

        async def use() -> None:
            async with satchel.open() as store:
                kv = store.kv("ns")
                await kv.set("k", {"a": 1})
                assert await kv.get("k") == {"a": 1}
                await store.stats()

        error: ConfigError | None = None
        try:
            asyncio.run(use())
        except ConfigError as exc:
            error = exc
        assert (error is None) == right, error
        if error is not None:
            assert "refused the credentials" in str(error)
            link: BaseException | None = error
            while link is not None:
                shown += [str(link), repr(link)]
                link = link.__cause__ or link.__context__
            shown.append("".join(traceback.format_exception(error)))
        for args in (["doctor"], ["doctor", "--json"], ["kv", "get", "ns", "k", "--json"]):
            result = CliRunner().invoke(cli, args, prog_name="satchel")
            assert result.exit_code == (0 if right else 3), result.output
            shown.append(result.output)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert lines, "the drivers logged nothing at DEBUG: the test would see nothing"
    for text in shown + lines:
        for secret in (password, sent, escaped):
            for part in filter(None, re.split(r"[@:/#?%]", secret)):
                if len(part) >= 2 and not part.isdigit():
                    assert part not in text, f"{part!r} of a password in {text!r}"


REFUSED_USERINFO = (
    "SATCHEL_REDIS_URL: a '/', '?' or '#' comes before the last '@': a password (or user "
    "name) holding '/', '?', '#' or '@' must be percent-encoded (%2F, %3F, %23, %40), and so "
    "must an '@' in the path or an option"
)


@pytest.mark.parametrize(
    "password",
    ["p@ss:w/rd#?x", "#Zy@Jx", "Qz?Wq", "a/b", ":#?Vk", "Yq#"],
)
async def test_a_password_with_an_unescaped_slash_question_mark_or_hash_is_refused(
    redis_url: str, password: str
) -> None:
    """redis-py ends the host at the first '/', '?' or '#': such a password made it connect
    to the password's tail as a host (or to localhost:6379), name that host in its errors,
    or read the tail as options. The URL is refused, and its password never quoted."""
    hostport = redis_url.split("//", 1)[1].split("/", 1)[0]
    for url in (
        f"redis://:{password}@{hostport}/0",
        f"redis://ann:{password}@{hostport}",
        f"unix://:{password}@/tmp/satchel-none.sock",
    ):
        with pytest.raises(ConfigError) as info:
            RedisBackend.from_url(url)
        assert str(info.value) == REFUSED_USERINFO, url  # nothing of the URL quoted
    escaped = "".join(f"%{ord(c):02X}" if c in "@:/#?" else c for c in password)
    backend = RedisBackend.from_url(f"redis://:{escaped}@{hostport}/0", key_prefix="pw:")
    try:
        await backend.put(Record("c", "k", 1))  # a server without a password takes any
        assert (await backend.get("c", "k")) is not None
    finally:
        await backend.drop("c")
        await backend.close()


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("foo=1", "the option foo=: redis-py's redis:// connections do not take it"),
        ("connection_class=x", "the option connection_class=: redis-py's"),
        ("ssl_cert_reqs=none", "(TLS options need rediss://)"),
        ("socket_timeout=60", "satchel sets it from SATCHEL_REDIS_SOCKET_TIMEOUT"),
        ("socket_connect_timeout=9", "satchel sets it from SATCHEL_REDIS_CONNECT_TIMEOUT"),
        ("max_connections=3", "satchel sets it from SATCHEL_REDIS_MAX_CONNECTIONS"),
        ("retry_on_timeout=true", "satchel sets it from SATCHEL_REDIS_RETRIES"),
        ("decode_responses=true", "satchel reads and writes the bytes of its records itself"),
        ("encoding=latin-1", "satchel reads and writes the bytes of its records itself"),
        ("password=&Jx=Vk", "an option after a password parameter"),
    ],
)
def test_a_url_option_satchel_would_not_honour_is_a_config_error(
    redis_url: str, query: str, shown: str
) -> None:
    """Such options failed at the first command (a TypeError wrapped in a SatchelError),
    silently moved the documented time bound, or made every record read as corrupt."""
    with pytest.raises(ConfigError) as info:
        RedisBackend.from_url(f"{redis_url}?{query}")
    message = str(info.value)
    assert message.startswith("SATCHEL_REDIS_URL: ") and shown in message, message
    assert "Jx" not in message


def test_a_url_naming_several_nodes_carries_no_options() -> None:
    """redis-py reads nothing from the query of such a URL: it was silently ignored."""
    with pytest.raises(ConfigError, match="carries no options"):
        RedisBackend.from_url("redis://127.0.0.1:1,127.0.0.1:2?ssl_cert_reqs=none")
    with pytest.raises(ConfigError, match="a Cluster has only database 0"):
        RedisBackend.from_url("redis://127.0.0.1:1,127.0.0.1:2/?db=1")
    RedisBackend.from_url("redis://127.0.0.1:1,127.0.0.1:2/?db=0")


async def test_url_options_redis_py_takes_are_honoured(redis_url: str) -> None:
    backend = RedisBackend.from_url(
        f"{redis_url}?client_name=satchel-test&health_check_interval=5&protocol=3",
        key_prefix="opts:",
    )
    try:
        await backend.put(Record("c", "k", {"a": "é"}))
        got = await backend.get("c", "k")
        assert got is not None and got.value == {"a": "é"}
        names = await backend._client.client_list()
        assert any(entry.get("name") == "satchel-test" for entry in names)
    finally:
        await backend.drop("c")
        await backend.close()


# -- incarnations ---------------------------------------------------------------------------------


async def test_a_key_expired_by_redis_itself_is_never_reborn_at_an_old_version(
    backend: RedisBackend, raw: Redis, redis_url: str
) -> None:
    """Redis drops an expired record's hash by itself (no script sees it): the version kept
    beside its expiry still raises the collection's floor, and a second backend instance
    that recreates the key writes above it."""
    soon = utcnow() + timedelta(milliseconds=200)
    await backend.put(Record("inc", "k", 1))
    await backend.put(Record("inc", "k", 2, expires_at=soon, index={"ix": ("a",)}))
    await asyncio.sleep(0.3)
    await raw.delete("satchel-unit:{inc}:r:k")  # what Redis's own expiry does, a minute later
    other = RedisBackend.from_url(redis_url, key_prefix="satchel-unit:")
    try:
        again = await other.put(Record("inc", "k", "again"), if_absent=True)
        assert again.version == 3
        for stale in (1, 2):
            with pytest.raises(Conflict):
                await backend.put(Record("inc", "k", "stale"), if_version=stale)
            with pytest.raises(Conflict):
                await backend.delete("inc", "k", if_version=stale)
        got = await other.get("inc", "k")
        assert got is not None and (got.value, got.version) == ("again", 3)
        assert await backend.find("inc", "ix", "a") == []
    finally:
        await other.close()


async def test_the_version_floor_outlives_drop_and_sweeps(
    backend: RedisBackend, raw: Redis
) -> None:
    for n in range(4):
        await backend.put(Record("floor", "k", n))
    assert await backend.drop("floor") == 1
    assert await raw.get("satchel-unit:{floor}:f") == b"4"
    assert (await backend.put(Record("floor", "j", 1))).version == 5  # any new key
    soon = utcnow() + timedelta(milliseconds=100)
    await backend.put(Record("floor", "j", 2, expires_at=soon))  # version 6
    await asyncio.sleep(0.2)
    assert await backend.purge_expired() == 1
    assert await raw.get("satchel-unit:{floor}:f") == b"6"
    assert (await backend.put(Record("floor", "j", 3))).version == 7


async def test_with_persistence_the_floor_survives_a_restart(
    redis_server_factory: RedisServerFactory,
) -> None:
    server = redis_server_factory(appendonly=True)  # appendfsync always
    backend = RedisBackend.from_url(server.url, retries=3, retry_backoff=0.05)
    try:
        await backend.put(Record("aof", "k", 1))
        await backend.put(Record("aof", "k", 2))
        assert await backend.delete("aof", "k", if_version=2)
        server.restart()
        again = await backend.put(Record("aof", "k", 3), if_absent=True)
        assert again.version == 3
        with pytest.raises(Conflict):
            await backend.put(Record("aof", "k", "stale"), if_version=2)
    finally:
        await backend.close()


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ({"host": "ann:hunter2SECRET@127.0.0.1"}, "host"),
        ({"host": "redis://ann:hunter2SECRET@127.0.0.1"}, "host"),
        ({"sentinels": "127.0.0.1:26379,ann:hunter2SECRET@127.0.0.1:26380"}, "sentinels"),
    ],
)
def test_credentials_in_a_host_or_sentinel_are_refused_and_never_shown(
    values: dict[str, str], shown: str
) -> None:
    """A host or sentinel list given with user:password@ would reach every repr and error
    (they are built from the parts): it is refused, naming the setting, not its value."""
    with pytest.raises(ConfigError) as info:
        satchel.open(backend="redis", backend_settings=values)
    assert f"backend_settings[{shown!r}]" in str(info.value)
    assert "hunter2SECRET" not in str(info.value)
    environ = {"SATCHEL_BACKEND": "redis"} | {
        f"SATCHEL_REDIS_{k.upper()}": v for k, v in values.items()
    }
    with pytest.raises(ConfigError) as info:
        satchel.open(environ=environ)
    assert f"SATCHEL_REDIS_{shown.upper()}" in str(info.value)
    assert "hunter2SECRET" not in str(info.value)


async def _outcome(read: Any) -> Any:
    try:
        return await read
    except CorruptRecord:
        return CorruptRecord


@pytest.mark.parametrize(
    ("damage", "expired"),
    [
        (("hdel", "v"), False),
        (("hdel", "v"), True),
        (("hdel", "n"), False),
        (("hdel", "n"), True),
        (("hdel", "c"), False),
        (("hdel", "u"), False),
        (("hset", "n", "seven"), False),
        (("hset", "c", "noon"), False),
        (("hset", "c", "1 2"), True),
        (("hset", "e", "soon"), False),
        (("hset", "i", "[not an index"), False),
        (("hset", "i", "{not json"), True),
        (("only", "x"), False),
        (("only", "v"), False),
    ],
)
async def test_exists_and_get_many_answer_as_get_on_a_hash_damaged_from_outside(
    backend: RedisBackend, raw: Redis, damage: tuple[str, ...], expired: bool
) -> None:
    """``exists`` reads no value, yet says what ``get`` says of a record's hash damaged from
    outside: ``CorruptRecord`` while the record is live (also for a missing value field),
    gone once its expiry has passed; ``get_many``, which reads the hash in another form,
    says the same."""
    c = "damaged"
    rk = f"satchel-unit:{{{c}}}:r:k"
    expires = utcnow() + timedelta(milliseconds=200) if expired else None
    await backend.put(Record(c, "k", {"big": "x" * 1000}, expires_at=expires))
    match damage:
        case ("hdel", field):
            await raw.hdel(rk, field)
        case ("hset", field, text):
            await raw.hset(rk, field, text)
        case ("only", field):
            await raw.delete(rk)
            await raw.hset(rk, field, "1")
    if expired:
        await asyncio.sleep(0.3)
    got = await _outcome(backend.get(c, "k"))
    there = await _outcome(backend.exists(c, "k"))
    assert there == (got if got is CorruptRecord else got is not None)
    assert there == (False if expired else CorruptRecord)
    many = await _outcome(backend.get_many(c, ["k"]))
    assert many == (got if got is CorruptRecord else [got]), "get_many answers as get"
