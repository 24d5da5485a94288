"""Reception as 27.005 describes it: each message from the network is routed to the
client (``+CMT``/``+CDS``), stored with an indication (``+CMTI``/``+CDSI``), or held by
the network while the modem is away or its memory is full.

With ``AT+CSMS=1`` a routed message must be acknowledged with ``AT+CNMA``; if an ack
timeout is set and the ack is late, the modem stops routing (CNMI <mt>/<ds> set to 0)
and tells the network it was not taken (RP-ERROR). The network then keeps the message
and tries again after ``redelivery_delay``, as an SMSC retries an unacknowledged one; an
unplug with acks outstanding does the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from drivers.simulator import codec
from drivers.simulator.profiles import Profile
from drivers.simulator.settings import AtSettings
from drivers.simulator.storage import Memory, StoredSms

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Arrival:
    kind: Literal["deliver", "report"]
    pdu_hex: str  # with the SMSC part
    direct: bool = False  # route as +CMT whatever CNMI says


@dataclass(slots=True)
class _Unacked:
    item: Arrival
    timer: asyncio.TimerHandle | None  # the ack deadline, when one is set


REDELIVERY_DELAY = 30.0  # seconds before the network retries a message nobody acked


class Host(Protocol):
    """What reception needs from the modem."""

    settings: AtSettings
    memories: dict[str, Memory]
    profile: Profile

    def accepting(self) -> bool: ...
    def urc(self, line: str) -> None: ...
    def urc_with_pdu(self, header: str, pdu_hex: str) -> None: ...
    def network_timer(self, delay: float, callback: Callable[[], None]) -> None: ...


class Reception:
    def __init__(self, host: Host) -> None:
        self._host = host
        self._held: deque[Arrival] = deque()
        self._acks: deque[_Unacked] = deque()
        self.ack_timeout: float | None = None  # seconds; None: wait for AT+CNMA forever
        self.redelivery_delay = REDELIVERY_DELAY
        self.redelivered = 0  # routed messages the network had to hand over again

    @property
    def held(self) -> int:
        return len(self._held)

    def arrive(self, item: Arrival) -> None:
        """A message from the network; order is kept behind anything already held."""
        self._held.append(item)
        self.flush()

    def hold(self, item: Arrival) -> None:
        self._held.append(item)

    def flush(self) -> None:
        """Hand over what the network holds, in order, while the modem takes it."""
        while self._held and self._host.accepting():
            if not self._route_or_store(self._held[0]):
                return
            self._held.popleft()

    def _route_or_store(self, item: Arrival) -> bool:
        """Hand one message to the client as CNMI says; False when its memory is full."""
        host = self._host
        cnmi = host.settings.cnmi
        length = codec.tpdu_length(item.pdu_hex)
        if item.kind == "deliver":
            if item.direct or cnmi[1] == 2:
                self._route(f"+CMT: ,{length}", item)
                return True
            mem_name = host.settings.mem3
            index = host.memories[mem_name].store(StoredSms(item.pdu_hex, length))
            if index is None:
                return False
            if cnmi[1] in (1, 3):
                host.urc(f'+CMTI: "{mem_name}",{index}')
            return True
        if cnmi[3] == 1:
            self._route(f"+CDS: {length}", item)
        elif cnmi[3] == 2:
            mem_name = host.profile.report_memory
            index = host.memories[mem_name].store(StoredSms(item.pdu_hex, length))
            if index is None:
                return False
            host.urc(f'+CDSI: "{mem_name}",{index}')
        # <ds>=0: the report is not routed to the client (27.005); it is dropped.
        return True

    def _route(self, header: str, item: Arrival) -> None:
        self._host.urc_with_pdu(header, item.pdu_hex)
        if self._host.settings.csms == 1:
            handle = None
            if self.ack_timeout is not None:
                loop = asyncio.get_running_loop()
                handle = loop.call_later(self.ack_timeout, self._ack_missed)
            self._acks.append(_Unacked(item, handle))

    def _ack_missed(self) -> None:
        if self._acks:
            self._redeliver(self._acks.popleft().item)
        cnmi = self._host.settings.cnmi
        cnmi[1] = 0
        cnmi[3] = 0
        LOGGER.debug("simulated modem: +CNMA missing, routing stopped")

    def _redeliver(self, item: Arrival) -> None:
        """Not acknowledged: the network still has it and tries again later."""

        def again() -> None:
            self.redelivered += 1
            self.arrive(item)

        self._host.network_timer(self.redelivery_delay, again)

    @property
    def awaiting_acks(self) -> int:
        return len(self._acks)

    def take_ack(self) -> bool:
        """AT+CNMA: True when an acknowledgement was expected."""
        if not self._acks:
            return False
        handle = self._acks.popleft().timer
        if handle is not None:
            handle.cancel()
        return True

    def forget_acks(self) -> None:
        """The modem went away: nothing routed earlier can be acknowledged any more, so
        the network hands each over again later."""
        while self._acks:
            unacked = self._acks.popleft()
            if unacked.timer is not None:
                unacked.timer.cancel()
            self._redeliver(unacked.item)
