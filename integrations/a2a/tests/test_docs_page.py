"""The complete program of ``docs/a2a.md`` runs (the block that calls ``asyncio.run``), on
Redis; and each test the page names exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PAGE = HERE.parents[2] / "docs" / "a2a.md"
TEXT = PAGE.read_text(encoding="utf-8")
BLOCKS = [b for b in re.findall(r"^```python\n(.*?)^```", TEXT, re.S | re.M) if "asyncio.run(" in b]


def test_the_page_has_its_program() -> None:
    assert len(BLOCKS) == 1


# on Redis only: the program takes seconds to import the SDK, and memory adds nothing here
@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_the_server_program(environ: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[0]],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, f"this program failed:\n{result.stderr}"
    assert result.stdout.splitlines() == ["echo: hello", "2 ['bye', 'hello']"]


def test_every_test_the_page_names_exists() -> None:
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", TEXT))
    assert len(named) >= 15
    defined = {
        name
        for path in HERE.glob("test_*.py")
        for name in re.findall(r"^(?:async )?def (test_[a-z0-9_]+)", path.read_text(), re.M)
    }
    assert named <= defined, sorted(named - defined)
