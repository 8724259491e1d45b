"""satchel.testing.matrix: one name per backend, as open arguments and as environment."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import satchel
from satchel.testing.matrix import BACKEND_NAMES, backend_environ, open_arguments

SERVERS: dict[str, Any] = {
    "redis_url": "redis://127.0.0.1:7001/0",
    "redis_cluster_url": "redis://127.0.0.1:7101",
    "redis_sentinel": SimpleNamespace(sentinels="127.0.0.1:7201", service_name="m"),
    "mongodb_uri": "mongodb://127.0.0.1:7301",
}


class Request:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def getfixturevalue(self, name: str) -> Any:
        self.asked.append(name)
        return SERVERS[name]


@pytest.mark.parametrize(
    ("backend", "fixtures", "settings", "variables"),
    [
        ("memory", [], None, {"SATCHEL_BACKEND": "memory"}),
        (
            "redis",
            ["redis_url"],
            {"url": "redis://127.0.0.1:7001/0"},
            {"SATCHEL_BACKEND": "redis", "SATCHEL_REDIS_URL": "redis://127.0.0.1:7001/0"},
        ),
        (
            "redis-cluster",
            ["redis_cluster_url"],
            {"url": "redis://127.0.0.1:7101", "cluster": True},
            {
                "SATCHEL_BACKEND": "redis",
                "SATCHEL_REDIS_URL": "redis://127.0.0.1:7101",
                "SATCHEL_REDIS_CLUSTER": "true",
            },
        ),
        (
            "redis-sentinel",
            ["redis_sentinel"],
            {"sentinels": "127.0.0.1:7201", "sentinel_service": "m"},
            {
                "SATCHEL_BACKEND": "redis",
                "SATCHEL_REDIS_SENTINELS": "127.0.0.1:7201",
                "SATCHEL_REDIS_SENTINEL_SERVICE": "m",
            },
        ),
        (
            "mongodb",
            ["mongodb_uri"],
            {"uri": "mongodb://127.0.0.1:7301"},
            {"SATCHEL_BACKEND": "mongodb", "SATCHEL_MONGODB_URI": "mongodb://127.0.0.1:7301"},
        ),
    ],
)
def test_each_backend_asks_only_for_its_server(
    backend: str, fixtures: list[str], settings: Any, variables: dict[str, str]
) -> None:
    request = Request()
    arguments = open_arguments(request, backend)
    assert request.asked == fixtures
    assert arguments.pop("backend") == variables["SATCHEL_BACKEND"]
    assert arguments.pop("backend_settings", None) == settings
    namespace = arguments.pop("namespace")
    assert arguments == {}
    environ = backend_environ(request, backend)
    assert environ.pop("SATCHEL_NAMESPACE") != namespace
    assert environ == variables
    assert backend in BACKEND_NAMES


async def test_every_call_opens_a_namespace_of_its_own() -> None:
    request = Request()
    async with (
        satchel.open(**open_arguments(request, "memory")) as one,
        satchel.open(environ=backend_environ(request, "memory")) as two,
    ):
        assert one.namespace != two.namespace
        assert one.namespace.startswith("t") and len(one.namespace) == 13


def test_an_unknown_backend_is_named() -> None:
    with pytest.raises(ValueError, match="'redis-ha' is not one of memory, redis"):
        open_arguments(Request(), "redis-ha")
    with pytest.raises(ValueError, match="'Memory'"):
        backend_environ(Request(), "Memory")
