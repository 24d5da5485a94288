"""The daemon, killed by itself (SIGKILL) right after the first commit that leaves a
segment `sending`: a crash in the middle of a send, hit every time instead of by luck.

Test harness only: ``python -m tests.e2e.crash_mid_send run --config ...`` runs the
ordinary CLI with the store's group-commit step wrapped.
"""

from __future__ import annotations

from gateway.cli.main import main
from tests.e2e.crash_points import crash_after_commit, rows

IN_FLIGHT = "SELECT count(*) FROM segments WHERE state = 'sending'"


if __name__ == "__main__":
    crash_after_commit(rows(IN_FLIGHT))
    raise SystemExit(main())
