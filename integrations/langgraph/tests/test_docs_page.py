"""The complete programs of ``docs/langgraph.md`` (the blocks that call ``asyncio.run``: the
checkpointer's and the store's) run, on memory and on Redis, one after the other in one
interpreter."""

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


def test_the_page_has_its_programs() -> None:
    assert len(BLOCKS) == 2


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_the_programs(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    environ = {"SATCHEL_BACKEND": backend, "SATCHEL_NAMESPACE": f"docs-{tmp_path.name}"}
    if backend == "redis":
        environ["SATCHEL_REDIS_URL"] = request.getfixturevalue("redis_url")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")} | environ
    programs = []
    for n, block in enumerate(BLOCKS):
        programs.append(tmp_path / f"program{n}.py")
        programs[-1].write_text(block, encoding="utf-8")
    run_all = (
        "import runpy, sys\nfor path in sys.argv[1:]: runpy.run_path(path, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", run_all, *map(str, programs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['draft']",
        "('publish',)",
        "['draft', 'publish']",
        "['blues', 'jazz']",
        "[('users', 'ann')]",
        "None",
    ]
