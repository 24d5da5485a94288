"""The daemon, killed by itself (SIGKILL) right after the first commit that leaves a
segment `sending`: a crash in the middle of a send, hit every time instead of by luck.

Test harness only: ``python -m tests.e2e.crash_mid_send run --config ...`` runs the
ordinary CLI with the store's group-commit step wrapped.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from typing import Any

from gateway.cli.main import main
from gateway.store import writer

IN_FLIGHT = "SELECT count(*) FROM segments WHERE state = 'sending'"


def _install() -> None:
    run_group = writer._run_group

    def run_group_then_crash(conn: sqlite3.Connection, jobs: Any) -> Any:
        outcomes = run_group(conn, jobs)  # committed when it returns
        if conn.execute(IN_FLIGHT).fetchone()[0]:
            os.kill(os.getpid(), signal.SIGKILL)
        return outcomes

    writer._run_group = run_group_then_crash


if __name__ == "__main__":
    _install()
    raise SystemExit(main())
