"""Faults a backend's own tests inject into a server process: stop it (SIGSTOP) so that it
keeps its port open but answers nothing, and let it go on (SIGCONT).

``os.kill`` returns as soon as the signal is queued; the process may run on for a moment
(long enough, on a loaded machine, to answer one more request). :func:`pause_process`
returns only once the kernel reports the process stopped, so that a test's next call is
certain to meet a silent server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

__all__ = ["pause_process", "process_state", "resume_process"]


def process_state(pid: int) -> str | None:
    """The state letter Linux reports for ``pid`` (``R``, ``S``, ``T``, ...), or ``None``
    where ``/proc`` does not say (another system, or the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name, in parentheses, may itself hold spaces or parentheses
    return stat.rpartition(")")[2].split()[0]


def pause_process(pid: int, timeout: float = 10.0) -> None:
    """Send SIGSTOP to ``pid`` and return once it is stopped (state ``T``).

    Raises ``TimeoutError`` if it is not stopped within ``timeout`` seconds. Where
    ``/proc`` is not available, waits a fixed tenth of a second instead."""
    os.kill(pid, signal.SIGSTOP)
    if not sys.platform.startswith("linux"):
        time.sleep(0.1)
        return
    deadline = time.monotonic() + timeout
    while (state := process_state(pid)) not in ("T", "t"):
        if state is None:
            raise ProcessLookupError(f"process {pid} is gone")
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not stop within {timeout} s (state {state})")
        time.sleep(0.001)


def resume_process(pid: int) -> None:
    """Send SIGCONT to ``pid`` (a process that is gone is left alone)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
