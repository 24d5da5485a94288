"""The IMEI a ``[[modems]]`` table expects, checked each time its modem comes up.

Ports are found by path or by glob, so a stick swapped into the same socket, or a
glob that matches a stick nobody configured, would otherwise send from a SIM the
clinic did not choose. When another IMEI answers (or none), the modem stays out of
rotation, shown ``down`` with the reason ``identity_mismatch``, and one
``modem.identity_mismatch`` event is recorded; when the expected modem answers
again it rejoins by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from gateway.fleet.handle import ModemHandle

log = logging.getLogger(__name__)

IDENTITY_MISMATCH_EVENT: Final = "modem.identity_mismatch"
IDENTITY_MISMATCH: Final = "identity_mismatch"  # the reason a held modem shows


@dataclass(frozen=True, slots=True)
class Mismatch:
    """What to record: the IMEI configured and the one that answered (not PHI)."""

    expected: str
    found: str | None

    def detail(self) -> dict[str, str | None]:
        return {
            "reason": IDENTITY_MISMATCH,
            "expected_imei": self.expected,
            "found_imei": self.found,
        }


def check_identity(handle: ModemHandle) -> Mismatch | None:
    """After bring-up: hold or release ``handle``; a Mismatch when it was newly held."""
    expected = handle.config.imei
    identity = handle.modem.identity
    if expected is None or identity is None:
        return None
    if identity.imei == expected:
        if handle.mismatch is not None:
            log.info("modem %s: the configured device answers again", handle.name)
        handle.mismatch = None
        return None
    if handle.mismatch is not None:
        return None
    handle.mismatch = IDENTITY_MISMATCH
    log.warning(
        "modem %s: another device answers on %s (IMEI differs from the configured one);"
        " kept out of rotation",
        handle.name,
        handle.port,
    )
    return Mismatch(expected, identity.imei)
