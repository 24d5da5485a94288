"""Crash points for the harness modules (``python -m tests.e2e.crash_*``): the daemon
kills itself (SIGKILL) at a moment a test names, so a crash lands there every time
instead of by luck. Test harness only."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from typing import Any

from gateway.store import writer


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_after_commit(when: Callable[[sqlite3.Connection], bool]) -> None:
    """Wrap the store's group commit: the first commit after which ``when`` holds is the
    daemon's last."""
    run_group = writer._run_group

    def run_group_then_crash(conn: sqlite3.Connection, jobs: Any) -> Any:
        outcomes = run_group(conn, jobs)  # committed when it returns
        if when(conn):
            die()
        return outcomes

    writer._run_group = run_group_then_crash


def rows(query: str) -> Callable[[sqlite3.Connection], bool]:
    """True once ``query`` (a ``SELECT count(*)``) counts anything."""
    return lambda conn: bool(conn.execute(query).fetchone()[0])
