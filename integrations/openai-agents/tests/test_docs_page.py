"""The complete programs of ``docs/openai-agents.md`` run (the blocks that call
``asyncio.run``), on memory and on Redis."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from agents import SQLiteSession

PAGE = Path(__file__).resolve().parents[3] / "docs" / "openai-agents.md"
BLOCKS = [
    b
    for b in re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    if "asyncio.run(" in b
]


def run(block: str, environ: dict[str, str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ
    result = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )
    assert result.returncode == 0, f"this program failed:\n{block}\n{result.stderr}"
    return result.stdout


def test_the_page_has_its_programs() -> None:
    assert len(BLOCKS) == 2


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
def test_the_conversation_program(environ: dict[str, str], tmp_path: Path) -> None:
    assert run(BLOCKS[0], environ, tmp_path).splitlines() == ["Blue.", "6"]


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_the_migration_program(environ: dict[str, str], tmp_path: Path) -> None:
    async def fill() -> None:
        for session_id, count in (("alice", 2), ("bob", 3)):
            session = SQLiteSession(session_id, tmp_path / "conversations.db")
            await session.add_items([{"role": "user", "content": str(n)} for n in range(count)])
            session.close()

    asyncio.run(fill())
    out = run(BLOCKS[1], environ, tmp_path)
    assert sorted(out.splitlines()) == ["alice: 2 items", "bob: 3 items"]
