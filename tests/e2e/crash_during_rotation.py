"""The daemon, killed by itself (SIGKILL) at one phase of a key rotation, so a test can
restart it from every intermediate state instead of by luck.

Test harness only: ``SMSGW_TEST_CRASH_AT=<phase> python -m tests.e2e.crash_during_rotation
run --config ...`` runs the ordinary CLI with these points wrapped:

- ``adopted``: the ring has just reloaded the key file's new current key;
- ``batch``: the first batch of re-sealed values has committed (batches of 2, so
  values under both keys are on disk);
- ``canary``: the canary re-sealed with the new key has committed;
- ``retired``: the old key has just left the key file (before the event and audit entry).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Final

from gateway.cli.main import main
from gateway.crypto import KeyRing
from gateway.store import housekeeping
from tests.e2e.crash_points import crash_after_commit, die

PHASES: Final = ("adopted", "batch", "canary", "retired")
ENV: Final = "SMSGW_TEST_CRASH_AT"
BATCH: Final = 2  # values per re-sealing batch: several batches even for a few messages


def _install(phase: str) -> None:
    armed: list[bool] = []  # set inside a transaction, acted on once it has committed
    crash_after_commit(lambda _conn: bool(armed))

    if phase == "adopted":
        reload = KeyRing.reload

        def reload_then_crash(self: KeyRing) -> bool:
            changed = reload(self)
            if changed:
                die()
            return changed

        KeyRing.reload = reload_then_crash  # type: ignore[method-assign]
    elif phase == "batch":
        rotate_batch = housekeeping.rotate_batch

        def small_batch(
            conn: sqlite3.Connection, keyring: KeyRing, limit: int, after: dict[str, str | int]
        ) -> int:
            done = rotate_batch(conn, keyring, min(limit, BATCH), after)
            if done:
                armed.append(True)
            return done

        housekeeping.rotate_batch = small_batch
    elif phase == "canary":
        reseal_canary = housekeeping.reseal_canary

        def reseal_then_arm(conn: sqlite3.Connection, keyring: KeyRing) -> bool:
            resealed = reseal_canary(conn, keyring)
            if resealed:
                armed.append(True)
            return resealed

        housekeeping.reseal_canary = reseal_then_arm
    elif phase == "retired":
        retire = KeyRing.retire

        def retire_then_crash(self: KeyRing, path: Path) -> list[str]:
            retired = retire(self, path)
            if retired:
                die()
            return retired

        KeyRing.retire = retire_then_crash  # type: ignore[method-assign]
    else:
        raise SystemExit(f"{ENV} must be one of {', '.join(PHASES)}")


if __name__ == "__main__":
    _install(os.environ.get(ENV, ""))
    raise SystemExit(main())
