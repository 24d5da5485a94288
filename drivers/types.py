"""Values the driver hands to its users: identity, health, stored locations, events.

These are the whole vocabulary between ``drivers`` and ``gateway``; the gateway
never sees an AT line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from drivers.pdu import Deliver, StatusReport


class ModemState(enum.Enum):
    STARTING = "starting"  # opening the port, waiting for boot, initialising
    READY = "ready"  # initialised; send() is accepted
    DOWN = "down"  # port gone or init failed; reopening with backoff
    CLOSED = "closed"  # stop() was called


@dataclass(frozen=True, slots=True)
class Identity:
    manufacturer: str | None
    model: str | None
    revision: str | None
    imei: str | None
    imsi: str | None
    iccid: str | None
    number: str | None = None  # the SIM's own number (AT+CNUM), when it holds one


class Registration(enum.Enum):
    NOT_REGISTERED = "not_registered"
    HOME = "home"
    SEARCHING = "searching"
    DENIED = "denied"
    UNKNOWN = "unknown"
    ROAMING = "roaming"

    @property
    def registered(self) -> bool:
        """Attached to a network (home or roaming): sends can go out."""
        return self in (Registration.HOME, Registration.ROAMING)


@dataclass(frozen=True, slots=True)
class Health:
    signal_dbm: int | None  # from AT+CSQ: -113 + 2*rssi; None when rssi is 99
    csq: int | None  # raw rssi 0..31, None for 99
    registration: Registration  # best of CREG/CGREG/CEREG
    technology: str | None  # "gsm", "umts", "lte", ... from the AcT field when given
    operator: str | None
    sim: str  # "ready", "pin", "puk", "absent", "unknown"
    storage_used: int | None
    storage_total: int | None
    # Line noise since the Modem was made (stray 0x80-0xFF bytes ahead of lines): a rising
    # figure means a bad cable, hub or UART setting (also on Modem.stats, without a poll).
    noise_bytes: int = 0
    noise_lines: int = 0


@dataclass(frozen=True, slots=True)
class StoredLocation:
    """Where the modem keeps a message: memory ("SM", "ME", "SR", "MT") and index."""

    memory: str
    index: int
    # Which open of the port handed it out: after a reopen (or another stick on the same
    # path) the same slot may hold another message, so an old location never matches.
    generation: int = 0


@dataclass(frozen=True, slots=True)
class RoutedAck:
    """A routed ``+CMT``/``+CDS`` the network waits to hear was taken (CSMS service 1).

    Hand it to ``Modem.acknowledge`` once the message is committed: AT+CNMA goes out
    only then, so a crash before the commit leaves it unacknowledged and the network
    delivers it again. Only the open of the port that received it can acknowledge it.
    """

    generation: int  # the open of the port (see StoredLocation)
    number: int  # its place among that open's routed messages


@dataclass(frozen=True, slots=True)
class UssdReply:
    status: int  # +CUSD <m>: 0 done, 1 more action, 2 terminated, 4 unsupported, 5 timeout
    text: str  # decoded (plain, UCS-2 hex or packed 7-bit as the DCS says)
    dcs: int | None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One received SMS-DELIVER segment (multipart is reassembled by the gateway).

    ``location`` is set when the modem stored it: call ``Modem.delete(location)``
    only after the message is committed (invariant 2). None for routed (+CMT) ones,
    which carry ``ack`` when the network waits for an acknowledgement after the commit.
    """

    pdu_hex: str
    deliver: Deliver
    location: StoredLocation | None
    ack: RoutedAck | None = None


@dataclass(frozen=True, slots=True)
class StatusReportReceived:
    """A status report; ``location`` and ``ack`` as for ``InboundMessage``."""

    pdu_hex: str
    report: StatusReport
    location: StoredLocation | None
    ack: RoutedAck | None = None


@dataclass(frozen=True, slots=True)
class UndecodablePdu:
    """A received PDU that does not decode, even read a second time from storage.

    The bytes may still hold a patient's text: keep them sealed, then delete the slot
    (``location``) or acknowledge (``ack``) as for an ``InboundMessage``; never log them.
    """

    pdu_hex: str
    location: StoredLocation | None
    ack: RoutedAck | None = None


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: ModemState
    reason: str  # stable text: "initialised", "unplugged", "unresponsive", "hard_reset", ...


@dataclass(frozen=True, slots=True)
class NetworkChanged:
    """A registration or signal change.

    ``registration`` is the best of the CS, GPRS and EPS domains (+CREG/+CGREG/+CEREG,
    from URCs or a health poll; an LTE-only modem may be "searching" in CS while EPS
    carries its SMS), sent only when that best changes after READY; None for a signal
    change alone (^RSSI). ``Modem.registration`` holds the current value.
    """

    registration: Registration | None
    signal_dbm: int | None


ModemEvent = InboundMessage | StatusReportReceived | UndecodablePdu | StateChanged | NetworkChanged
