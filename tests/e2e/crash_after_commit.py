"""The daemon, killed by itself (SIGKILL) right after the first commit that leaves a
message sent: a crash point a test can hit every time instead of by luck.

Test harness only: ``python -m tests.e2e.crash_after_commit run --config ...`` runs
the ordinary CLI with the store's group-commit step wrapped.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from typing import Any

from gateway.cli.main import main
from gateway.store import writer

SENT_OR_LATER = "SELECT count(*) FROM messages WHERE state IN ('sent', 'delivered')"


def _install() -> None:
    run_group = writer._run_group

    def run_group_then_crash(conn: sqlite3.Connection, jobs: Any) -> Any:
        outcomes = run_group(conn, jobs)  # committed when it returns
        if conn.execute(SENT_OR_LATER).fetchone()[0]:
            os.kill(os.getpid(), signal.SIGKILL)
        return outcomes

    writer._run_group = run_group_then_crash


if __name__ == "__main__":
    _install()
    raise SystemExit(main())
