"""The daemon, killed by itself (SIGKILL) right after the first commit that leaves a
message sent: a crash point a test can hit every time instead of by luck.

Test harness only: ``python -m tests.e2e.crash_after_commit run --config ...`` runs
the ordinary CLI with the store's group-commit step wrapped.
"""

from __future__ import annotations

from gateway.cli.main import main
from tests.e2e.crash_points import crash_after_commit, rows

SENT_OR_LATER = "SELECT count(*) FROM messages WHERE state IN ('sent', 'delivered')"


if __name__ == "__main__":
    crash_after_commit(rows(SENT_OR_LATER))
    raise SystemExit(main())
