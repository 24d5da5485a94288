"""The daemon, killed by itself (SIGKILL) at an inbound crash point a test names in
``SMSGW_TEST_CRASH``: "before_commit" (an inbound part reached the store and is not
committed yet) or "after_commit" (the first inbound text is committed, and not yet
deleted from the modem).

Test harness only: ``python -m tests.e2e.crash_inbound run --config ...`` runs the
ordinary CLI with the store wrapped at that point.
"""

from __future__ import annotations

import os

from gateway.cli.main import main
from gateway.store.base import InboundPart, InboundResult
from gateway.store.sqlite import SqliteStore
from tests.e2e.crash_points import crash_after_commit, die, rows

CRASH_ENV = "SMSGW_TEST_CRASH"
BEFORE_COMMIT = "before_commit"
AFTER_COMMIT = "after_commit"


def _install(point: str) -> None:
    if point == BEFORE_COMMIT:

        async def add_inbound_then_crash(self: SqliteStore, part: InboundPart) -> InboundResult:
            die()
            raise AssertionError("unreachable")

        SqliteStore.add_inbound = add_inbound_then_crash  # type: ignore[method-assign]
    elif point == AFTER_COMMIT:
        crash_after_commit(rows("SELECT count(*) FROM inbound"))
    else:
        raise SystemExit(f"unknown crash point {point!r}")


if __name__ == "__main__":
    _install(os.environ[CRASH_ENV])
    raise SystemExit(main())
