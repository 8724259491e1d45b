"""The complete program of ``docs/langgraph.md`` (the block that calls ``asyncio.run``) runs,
on memory and on Redis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "langgraph.md"
BLOCKS = [
    b
    for b in re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    if "asyncio.run(" in b
]


def test_the_page_has_its_program() -> None:
    assert len(BLOCKS) == 1


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_the_program(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    environ = {"SATCHEL_BACKEND": backend, "SATCHEL_NAMESPACE": f"docs-{tmp_path.name}"}
    if backend == "redis":
        environ["SATCHEL_REDIS_URL"] = request.getfixturevalue("redis_url")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[0]],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['draft']", "('publish',)", "['draft', 'publish']"]
