"""The complete programs of ``docs/adk.md`` run (the blocks that call ``asyncio.run``): the
conversation on memory and on Redis, the conflict program on memory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "adk.md"
BLOCKS = [
    b
    for b in re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    if "asyncio.run(" in b
]


def run(block: str, environ: dict[str, str], cwd: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ
    result = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    assert result.returncode == 0, f"this program failed:\n{block}\n{result.stderr}"
    return result.stdout.splitlines()


def test_the_page_has_its_programs() -> None:
    assert len(BLOCKS) == 2


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
def test_the_conversation_program(environ: dict[str, str], tmp_path: Path) -> None:
    assert run(BLOCKS[0], environ, tmp_path) == [
        "You said 3 things, last: What is my favourite colour?",
        "['user', 'assistant']",
        "Ann colours",
        "1 None",
    ]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_the_conflict_program(environ: dict[str, str], tmp_path: Path) -> None:
    assert run(BLOCKS[1], environ, tmp_path) == ["['tracker', 'user'] True", "3"]
