"""Fixtures for the cross-distribution tests: a clean environment, and fake installed
distributions (real ``.dist-info`` folders on ``sys.path``) to exercise plugin discovery."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable satchel reads (SATCHEL_*, TA_*, KV_STORE_*, REDIS_URL) leaks into a test
    from the caller's environment."""
    for name in list(os.environ):
        if name.upper().startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL")):
            monkeypatch.delenv(name)


InstallDist = Callable[..., Path]


@pytest.fixture
def install_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallDist]:
    """Install a fake distribution: ``install_dist("acme-redis", {"redis": "acme:plugin"},
    {"acme": "source"})`` writes its modules and a dist-info with the entry points."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    added: list[str] = []

    def install(
        dist: str, entry_points: dict[str, str], modules: dict[str, str], version: str = "1.0"
    ) -> Path:
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            added.append(module)
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "\n".join(f"{name} = {value}" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[satchel]\n{lines}\n")
        return site

    yield install
    for module in added:
        sys.modules.pop(module, None)
