"""Why a queued message, or a modem, is not sending now: what a technician reads when
the queue looks stuck.

A modem's reason says why it takes no work (``RATE_WINDOW``, ``DAILY_CAP``,
``MODEM_HELD``, ``NOT_REGISTERED``, ``MODEM_DOWN``); a message's reason is the one
of the modem that may take it soonest, or ``SCHEDULED`` (its ``send_at`` has not
come), ``QUIET_HOURS`` (its category's quiet hours hold it until ``until``),
``NO_ELIGIBLE_MODEM`` (no running modem may send it) or ``IN_LINE`` (a modem is free
for it: it waits behind other messages or the one being sent).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class WaitReason(enum.StrEnum):
    SCHEDULED = "scheduled"
    QUIET_HOURS = "quiet_hours"
    RATE_WINDOW = "rate_window"
    DAILY_CAP = "daily_cap"
    MODEM_HELD = "modem_held"
    NOT_REGISTERED = "not_registered"
    MODEM_DOWN = "modem_down"
    NO_ELIGIBLE_MODEM = "no_eligible_modem"
    IN_LINE = "in_line"


MODEM_REASONS: Final = (
    WaitReason.RATE_WINDOW,
    WaitReason.DAILY_CAP,
    WaitReason.MODEM_HELD,
    WaitReason.NOT_REGISTERED,
    WaitReason.MODEM_DOWN,
)


@dataclass(frozen=True, slots=True)
class Waiting:
    reason: WaitReason
    modem: str | None = None
    until: float | None = None  # POSIX seconds when the reason ends, when that is known
