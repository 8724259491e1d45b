"""satchel-redis configured in code: ``satchel.open(backend="redis", backend_settings=...)``
reads no variable, names the arguments in its errors and masks the secrets given; and a
Redis handle beside a memory one in one process (a copy, as a migration does), neither
reaching the other. Every test talks to a real redis-server that conftest.py starts."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis_servers import RedisServerFactory

import satchel
from satchel import Codec, hookimpl
from satchel.errors import ConfigError
from satchel_redis import RedisBackend

SECRET = "s3cret-pa$$word"


class ZlibCodec:
    """Compresses every stored value."""

    @hookimpl
    def satchel_register_codecs(self, register: Callable[[Codec], None]) -> None:
        def encode(value: Any, collection: str, key: str) -> Any:
            return {"$zlib": base64.b64encode(zlib.compress(json.dumps(value).encode())).decode()}

        def decode(value: Any, collection: str, key: str) -> Any:
            return json.loads(zlib.decompress(base64.b64decode(value["$zlib"])))

        register(Codec("zlib", encode, decode))


@pytest.fixture
def hostile_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables that would break, or redirect, a handle that read them."""
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    monkeypatch.setenv("SATCHEL_NAMESPACE", "from-env")
    monkeypatch.setenv("SATCHEL_DEFAULT_TTL", "1")
    monkeypatch.setenv("SATCHEL_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SATCHEL_REDIS_KEY_PREFIX", "from-env:")
    monkeypatch.setenv("SATCHEL_REDIS_RETRIES", "oops")
    monkeypatch.setenv("TA_REDIS_PWD", "from-env")


async def test_redis_configured_in_code_reads_no_variable(
    redis_url: str, hostile_environment: None
) -> None:
    raw = Redis.from_url(redis_url)
    store = satchel.open(
        backend="redis",
        backend_settings={"url": redis_url, "key_prefix": "embed-a:"},
        namespace="t1",
    )
    try:
        assert isinstance(store.raw_backend, RedisBackend)
        assert store.namespace == "t1" and store.settings.default_ttl is None
        kv = store.kv("agents")
        await kv.set("k", {"step": 1})
        assert await kv.get("k") == {"step": 1}
        keys = [k.decode() async for k in raw.scan_iter(match="embed-a:*")]
        assert keys and all(k.startswith("embed-a:") for k in keys)
        assert [k async for k in raw.scan_iter(match="from-env:*")] == []
        stored = await store.raw_backend.get("t1:kv:agents", "k")
        assert stored is not None and stored.expires_at is None
        await kv.clear()
    finally:
        await store.close()
        await raw.aclose()


async def test_a_password_given_in_code_is_sent_and_never_shown(
    redis_server_factory: RedisServerFactory, hostile_environment: None
) -> None:
    server = redis_server_factory(password=SECRET)
    where = {"host": server.host, "port": server.port}
    async with satchel.open(
        backend="redis", backend_settings={**where, "password": SECRET}
    ) as store:
        await store.ping()
        assert SECRET not in repr(store)
    wrong = satchel.open(backend="redis", backend_settings={**where, "password": "wrong-pw"})
    try:
        with pytest.raises(ConfigError) as info:
            await wrong.ping()
        message = str(info.value)
        assert "sent the password given as password=" in message, message
        assert "wrong-pw" not in message and SECRET not in message
    finally:
        await wrong.close()


@pytest.mark.parametrize(
    ("settings", "shown"),
    [
        (
            {"url": f"http://ann:{SECRET}@127.0.0.1:1/0"},
            "backend_settings['url']: must start with redis://, rediss:// or unix://",
        ),
        ({"port": 0}, "backend_settings['port']=0: Input should be greater than or equal to 1"),
        (
            {"key_prefix": "a{b}"},
            "backend_settings['key_prefix']='a{b}': must not contain '{' or '}'",
        ),
        # the plugin's own check names the arguments; TA_REDIS_PWD in os.environ is not one
        (
            {"url": f"redis://ann:{SECRET}@127.0.0.1:1/0", "password": SECRET},
            "backend_settings['url'] is set, and so is backend_settings['password']",
        ),
    ],
)
def test_a_bad_setting_in_code_names_the_argument_and_hides_secrets(
    settings: dict[str, Any], shown: str, hostile_environment: None
) -> None:
    with pytest.raises(ConfigError) as info:
        satchel.open(backend="redis", backend_settings=settings)
    assert str(info.value).startswith(shown), str(info.value)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


async def test_memory_and_redis_handles_side_by_side_copy_without_leaking(
    redis_url: str, hostile_environment: None
) -> None:
    """A migration: records copied from a memory handle (compressed at rest by its codec,
    records with a default TTL) to a Redis handle that has neither."""
    memory = satchel.open(
        backend="memory", namespace="src", default_ttl=3600, plugins=[ZlibCodec()]
    )
    redis = satchel.open(
        backend="redis", backend_settings={"url": redis_url, "key_prefix": "embed-b:"}
    )
    async with memory, redis:
        source, target = memory.kv("agents"), redis.kv("agents")
        await source.set_many({f"a{i}": {"step": i} for i in range(20)})
        async for key, value in source.entries():
            await target.set(key, value)
        assert await target.count() == 20
        assert await target.get("a7") == {"step": 7}

        at_rest = await memory.raw_backend.get("src:kv:agents", "a7")
        assert at_rest is not None and set(at_rest.value) == {"$zlib"} and at_rest.expires_at
        in_redis = await redis.raw_backend.get("default:kv:agents", "a7")
        assert in_redis is not None and in_redis.value == {"step": 7}  # no codec here
        assert in_redis.expires_at is None  # nor the memory handle's default TTL

        memory_ops = (await memory.stats())["operations"]
        redis_ops = (await redis.stats())["operations"]
        assert memory_ops["put_many"]["calls"] == 1 and "put" not in memory_ops
        assert redis_ops["put"]["calls"] == 20 and "put_many" not in redis_ops
        assert redis.plugins.codecs == [] and [c.name for c in memory.plugins.codecs] == ["zlib"]
        await target.clear()
