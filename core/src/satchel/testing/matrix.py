"""The backends a test suite of an integration runs on, as ``satchel.open`` arguments or as
the ``SATCHEL_*`` environment a deployed program is configured by.

Each name maps to the server fixture of its plugin's test fixtures (``redis_url``,
``redis_cluster_url`` and ``redis_sentinel`` of :mod:`satchel_redis.testing.fixtures`,
``mongodb_uri`` of :mod:`satchel_mongodb.testing.fixtures`), which the suite's
``conftest.py`` imports; a server is started only when a test asks for its backend::

    from satchel.testing.matrix import open_arguments

    @pytest.fixture(params=["memory", "redis", "redis-cluster", "mongodb"])
    async def store(request):
        async with satchel.open(**open_arguments(request, request.param)) as handle:
            yield handle

Every call gives a namespace of its own (``t`` and 12 random hex digits), so tests that
share a server never see each other's records.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = ["BACKEND_NAMES", "backend_environ", "open_arguments", "parametrize_backends"]

#: The names :func:`open_arguments` and :func:`backend_environ` know.
BACKEND_NAMES = ("memory", "redis", "redis-cluster", "redis-sentinel", "mongodb")


class _Request(Protocol):
    def getfixturevalue(self, argname: str) -> Any: ...


def _namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def _check(backend: str) -> None:
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend: {backend!r} is not one of {', '.join(BACKEND_NAMES)}")


def open_arguments(request: _Request, backend: str) -> dict[str, Any]:
    """``satchel.open`` keyword arguments that select ``backend``, in a namespace of the
    caller's own."""
    _check(backend)
    arguments: dict[str, Any] = {"namespace": _namespace()}
    if backend == "memory":
        arguments["backend"] = "memory"
    elif backend == "redis":
        arguments["backend"] = "redis"
        arguments["backend_settings"] = {"url": request.getfixturevalue("redis_url")}
    elif backend == "redis-cluster":
        arguments["backend"] = "redis"
        arguments["backend_settings"] = {
            "url": request.getfixturevalue("redis_cluster_url"),
            "cluster": True,
        }
    elif backend == "redis-sentinel":
        setup = request.getfixturevalue("redis_sentinel")
        arguments["backend"] = "redis"
        arguments["backend_settings"] = {
            "sentinels": setup.sentinels,
            "sentinel_service": setup.service_name,
        }
    else:
        arguments["backend"] = "mongodb"
        arguments["backend_settings"] = {"uri": request.getfixturevalue("mongodb_uri")}
    return arguments


def backend_environ(request: _Request, backend: str) -> dict[str, str]:
    """The ``SATCHEL_*`` variables that select ``backend``, in a namespace of the caller's
    own: what a program started in another process is configured by."""
    _check(backend)
    environ = {
        "SATCHEL_BACKEND": "redis" if backend.startswith("redis") else backend,
        "SATCHEL_NAMESPACE": _namespace(),
    }
    if backend == "redis":
        environ["SATCHEL_REDIS_URL"] = request.getfixturevalue("redis_url")
    elif backend == "redis-cluster":
        environ["SATCHEL_REDIS_URL"] = request.getfixturevalue("redis_cluster_url")
        environ["SATCHEL_REDIS_CLUSTER"] = "true"
    elif backend == "redis-sentinel":
        setup = request.getfixturevalue("redis_sentinel")
        environ["SATCHEL_REDIS_SENTINELS"] = setup.sentinels
        environ["SATCHEL_REDIS_SENTINEL_SERVICE"] = setup.service_name
    elif backend == "mongodb":
        environ["SATCHEL_MONGODB_URI"] = request.getfixturevalue("mongodb_uri")
    return environ


def parametrize_backends(
    metafunc: Any, backends: Sequence[str], *, sentinel_modules: Collection[str] = ()
) -> None:
    """For ``pytest_generate_tests``: a test that takes a ``backend`` fixture and does not
    parametrize it itself runs on each of ``backends`` (indirectly, through the fixture),
    and, in a module whose name is in ``sentinel_modules``, on ``redis-sentinel`` too."""
    if "backend" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        if "backend" in names:
            return  # the test chooses its own
    chosen = list(backends)
    for name in chosen:
        _check(name)
    if Path(str(metafunc.module.__file__)).stem in sentinel_modules and "redis" in chosen:
        chosen.insert(chosen.index("redis") + 1, "redis-sentinel")
    metafunc.parametrize("backend", chosen, indirect=True)
