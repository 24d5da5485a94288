"""Why a modem takes no work now, in the words of ``gateway.core.waiting``.

Read from what its supervisor wrote on the handle (state, fault hold, identity,
registration) and from its rate limiter; the dispatcher hands the answer to the
scheduler, which derives from it why each queued message waits.
"""

from __future__ import annotations

from typing import Final

from drivers.types import ModemState, Registration
from gateway.core.waiting import Waiting, WaitReason
from gateway.fleet.handle import REGISTRATION_HOLD, ModemHandle

_UNREGISTERED: Final = frozenset(
    {Registration.NOT_REGISTERED, Registration.SEARCHING, Registration.DENIED}
)


def modem_waiting(handle: ModemHandle, now: float) -> Waiting | None:
    """None when the modem would take a message now."""
    name = handle.name
    if handle.stopping or handle.mismatch is not None or handle.state is not ModemState.READY:
        return Waiting(WaitReason.MODEM_DOWN, name)
    if handle.hold_reason is not None or now < handle.held_until:
        lost_network = (handle.hold_reason or "").startswith(REGISTRATION_HOLD)
        reason = WaitReason.NOT_REGISTERED if lost_network else WaitReason.MODEM_HELD
        return Waiting(reason, name, handle.held_until if handle.held_until > now else None)
    health = handle.health
    if health is not None and health.registration in _UNREGISTERED:
        return Waiting(WaitReason.NOT_REGISTERED, name)
    if not handle.usable(now):
        return Waiting(WaitReason.MODEM_DOWN, name)
    holdup = handle.limiter.holdup()
    if holdup is not None:
        return Waiting(holdup[0], name, holdup[1])
    return None
