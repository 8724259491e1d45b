"""The migration example of ``docs/langgraph.md`` ("Moving existing checkpoints") runs as it
is, given ``store``, on a SQLite file of LangGraph's ``SqliteSaver``, and the threads it
copies go on."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from review_graph import build

from satchel import Satchel
from satchel_langgraph import SatchelSaver

PAGE = Path(__file__).resolve().parents[3] / "docs" / "langgraph.md"
BLOCKS = [
    b
    for b in re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    if "copy_checkpoints(" in b
]


def fill(path: Path) -> list[str]:
    """Two threads in a SqliteSaver file: article-1 waits for its answer, article-2 is
    done. Returns the checkpoint ids of article-1, newest first."""
    with SqliteSaver.from_conn_string(str(path)) as saver:
        graph = build(saver)
        graph.invoke({"topic": "tides", "steps": []}, {"configurable": {"thread_id": "article-1"}})
        done = {"configurable": {"thread_id": "article-2"}}
        graph.invoke({"topic": "moss", "steps": []}, done)
        graph.invoke(Command(resume="yes"), done)
        return [
            t.checkpoint["id"] for t in saver.list({"configurable": {"thread_id": "article-1"}})
        ]


def test_the_page_has_its_example() -> None:
    assert len(BLOCKS) == 1


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_the_migration_example(
    store: Satchel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    ids = await asyncio.to_thread(fill, tmp_path / "checkpoints.db")
    await asyncio.to_thread(exec, BLOCKS[0], {"store": store})
    assert capsys.readouterr().out.splitlines() == ["8", "3"]  # 3 + 5 checkpoints, then 3

    saver = SatchelSaver(store=store)
    config = {"configurable": {"thread_id": "article-1"}}
    assert [t.checkpoint["id"] async for t in saver.alist(config)] == ids
    assert (await build(saver).ainvoke(Command(resume="no"), config))["outcome"] == (
        "shelved: A note on tides"
    )
