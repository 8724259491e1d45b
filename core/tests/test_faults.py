"""satchel.testing.faults: a paused process is stopped when pause_process returns."""

from __future__ import annotations

import subprocess
import sys

import pytest

from satchel.testing.faults import pause_process, process_state, resume_process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_pause_returns_once_the_process_is_stopped_and_resume_lets_it_go_on() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for _ in range(20):
            pause_process(busy.pid)
            assert process_state(busy.pid) in ("T", "t")
            resume_process(busy.pid)
            assert process_state(busy.pid) not in ("T", "t", None)
    finally:
        busy.kill()
        busy.wait()
    assert process_state(busy.pid) is None
    with pytest.raises(ProcessLookupError):
        pause_process(busy.pid)
    resume_process(busy.pid)  # a process that is gone is left alone
