"""How to reach and drive one modem: the settings the gateway's configuration maps onto."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.quirks import get_profile

# Two "unresponsive" endings within this many seconds: the re-initialise between them did
# not cure the modem, so the next step is a hard reset (AT+CFUN=1,1), at most once per window.
UNRESPONSIVE_WINDOW = 600.0


@dataclass(frozen=True, slots=True)
class ModemSettings:
    """How to reach and drive one modem. All durations in seconds."""

    port: str  # device path (prefer /dev/serial/by-id/...) or pyserial URL (socket://h:p)
    profile: str = "generic"  # quirks profile name, or "auto" (from AT+CGMI/AT+CGMM)
    pin: str | None = field(default=None, repr=False)
    smsc: str | None = None  # set AT+CSCA when the SIM's differs; None: keep the SIM's
    baudrate: int = 115200
    command_timeout: float = 10.0
    boot_timeout: float = 30.0  # open -> answering AT (and SIM/SMS ready)
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    cmgs_timeout: float | None = None  # None: the profile's (60 s SIM800, 120 s Quectel)
    prompt_timeout: float | None = None  # None: the profile's
    max_consecutive_timeouts: int = 3  # then close and reopen ("unresponsive")
    unresponsive_window: float = UNRESPONSIVE_WINDOW  # see UNRESPONSIVE_WINDOW
    sweep_interval: float = 300.0  # AT+CMGL=4 while READY, for missed indications
    # Under AT+CSMS=1 with routed +CMT/+CDS: how often AT+CNMI? checks that the modem has
    # not switched routing off for an acknowledgement an earlier open never sent.
    routing_check_interval: float = 30.0
    ussd_timeout: float = 30.0  # AT+CUSD request -> +CUSD answer
    boot_poll_interval: float = 1.0  # deadline of each AT probe while booting
    path_poll_interval: float = 1.0  # how often to look for a vanished device path
    # AT+CSMS=<n> at init. None: 1 where the modem takes it, so a routed +CMT/+CDS waits
    # for our AT+CNMA (sent after the gateway's commit) and the network delivers it again
    # if a crash comes first; under service 0 the modem acknowledges on arrival.
    message_service: int | None = None
    registration_urcs: bool = True  # AT+CREG=2 for unsolicited registration changes
    # After a missed deadline or an ESC: silence that ends the drain of answers still owed.
    resync_quiet: float = 0.2

    def __post_init__(self) -> None:
        for name in (
            "command_timeout",
            "boot_timeout",
            "reconnect_min",
            "reconnect_max",
            "sweep_interval",
            "routing_check_interval",
            "ussd_timeout",
            "boot_poll_interval",
            "path_poll_interval",
            "unresponsive_window",
            "resync_quiet",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must be >= reconnect_min")
        if self.max_consecutive_timeouts < 1:
            raise ValueError("max_consecutive_timeouts must be >= 1")
        get_profile(self.profile)  # raises ValueError for an unknown name
