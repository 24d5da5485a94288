"""The daemon's view of its modems: the driver surface it uses, and per-modem bookkeeping.

``ModemPort`` is the part of ``drivers.modem.Modem`` the runtime calls, so dispatch
and event handling can be exercised against the real driver or a stand-in.
``ModemHandle`` is what the daemon knows about one modem between events: its
last state, health and identity, counters, and whether it is held out of rotation
(a fault, or no network) until a probe finds it well. Its supervisor
(gateway.fleet.supervisor) is the one that writes it.
The scheduler hands work only to modems that are ``usable``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Final, Protocol

from drivers.engine import EngineStats
from drivers.pdu import SubmitPdu
from drivers.types import (
    Health,
    Identity,
    ModemEvent,
    ModemState,
    Registration,
    RoutedAck,
    StoredLocation,
    UssdReply,
)
from gateway.config import ModemConfig
from gateway.core.ratelimit import RateLimiter
from gateway.core.service import ModemStatus

REGISTRATION_HOLD: Final = "registration: "  # hold_reason's prefix for a lost network
WEAK_SIGNAL_DBM: Final = -100  # below this a ready modem is reported "degraded"
DEGRADED: Final = "degraded"


class ModemPort(Protocol):
    @property
    def state(self) -> ModemState: ...

    @property
    def events(self) -> asyncio.Queue[ModemEvent]: ...

    @property
    def identity(self) -> Identity | None: ...

    @property
    def registration(self) -> Registration: ...

    @property
    def stats(self) -> EngineStats: ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(self, pdu: SubmitPdu) -> int: ...
    async def delete(self, location: StoredLocation) -> bool: ...
    async def acknowledge(self, ack: RoutedAck) -> None: ...
    async def health(self) -> Health: ...
    async def reset(self) -> None: ...
    async def command(self, line: str, timeout: float | None = None) -> list[str]: ...  # noqa: ASYNC109
    async def ussd(self, code: str) -> UssdReply: ...


@dataclass(slots=True)
class ModemHandle:
    config: ModemConfig
    modem: ModemPort
    port: str  # the device path, URL or simulator link actually opened
    limiter: RateLimiter
    state: ModemState = ModemState.STARTING
    reason: str | None = None
    identity: Identity | None = None
    health: Health | None = None
    sent_total: int = 0  # segments the network accepted
    failed_total: int = 0  # failed send attempts (segments)
    last_error: str | None = None  # stable code, e.g. "cms_42"
    last_seen: float | None = None
    # Out of rotation at least until this time (POSIX s); while a hold lasts, the time of
    # the next probe, so a technician (and a waiting message) can see "until when".
    held_until: float = 0.0
    hold_reason: str | None = None  # set: out of rotation until a probe (or the network) clears it
    busy: bool = False
    stopping: bool = False
    balance: float | None = None  # from the last scheduled USSD balance check
    balance_text: str | None = None
    balance_at: float | None = None
    mismatch: str | None = None  # why the modem answering is not the one configured (imei)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def number(self) -> str | None:
        """The SIM's own number: as configured, else as the SIM answered AT+CNUM."""
        if self.config.number is not None:
            return self.config.number
        return self.identity.number if self.identity is not None else None

    def usable(self, now: float | None = None) -> bool:
        """Ready in the driver, not held (a fault, no network), the configured device, not
        shutting down."""
        at = time.time() if now is None else now
        return (
            self.state is ModemState.READY
            and self.hold_reason is None
            and at >= self.held_until
            and self.mismatch is None
            and not self.stopping
        )

    def seen(self, at: float | None = None) -> None:
        self.last_seen = time.time() if at is None else at

    def status(self, now: float | None = None) -> ModemStatus:
        at = time.time() if now is None else now
        state = self.state.value
        reason = self.reason
        if self.mismatch is not None and self.state is ModemState.READY:
            state, reason = ModemState.DOWN.value, self.mismatch
        elif self.hold_reason is not None or at < self.held_until:
            if self.state is ModemState.READY:
                state = ModemState.DOWN.value
            reason = self.hold_reason
        elif self.state is ModemState.READY and _degraded(self.health):
            state = DEGRADED
            reason = _degraded_reason(self.health)
        return ModemStatus(
            name=self.name,
            port=self.port,
            profile=self.config.profile if self.config.simulate is None else self.config.simulate,
            state=state,
            reason=reason,
            tags=self.config.tags,
            identity=self.identity,
            health=self.health,
            sent_total=self.sent_total,
            failed_total=self.failed_total,
            last_error=self.last_error,
            last_seen=self.last_seen,
            balance=self.balance,
            balance_text=self.balance_text,
            balance_at=self.balance_at,
            number=self.number,
        )


def _degraded(health: Health | None) -> bool:
    if health is None:
        return False
    weak = health.signal_dbm is not None and health.signal_dbm < WEAK_SIGNAL_DBM
    return weak or health.registration is Registration.ROAMING


def _degraded_reason(health: Health | None) -> str:
    if health is not None and health.registration is Registration.ROAMING:
        return "roaming"
    return "weak signal"
