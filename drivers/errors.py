"""Typed driver errors, each with a stable ``code`` that callers and tests match on.

The gateway classes errors for its retry policy from ``code`` plus, for modem
errors, the numeric ``cms``/``cme`` value the modem returned (3GPP TS 27.005 §3.2.5,
TS 27.007 §9.2). Messages are for people; codes are the contract.
"""

from __future__ import annotations

from typing import ClassVar


class DriverError(Exception):
    """Base of every error raised by ``drivers``."""

    code: ClassVar[str] = "driver_error"


class PduError(DriverError):
    """A PDU that cannot be decoded (truncated, bad lengths, bad hex)."""

    code = "pdu_invalid"


class EncodeError(DriverError):
    """Input that cannot be encoded as an SMS (bad number, empty text...)."""

    code = "encode_invalid"


class ModemUnavailable(DriverError):
    """The modem is not open and ready (unplugged, resetting, closed)."""

    code = "modem_unavailable"


class ModemDisconnected(ModemUnavailable):
    """The port went away while a command was in flight (unplug, EIO, EOF)."""

    code = "modem_disconnected"


class CommandTimeout(DriverError):
    """The modem missed a command's deadline."""

    code = "at_timeout"

    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"{command} got no final result within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class CommandError(DriverError):
    """A plain ``ERROR`` (or Huawei's ``COMMAND NOT SUPPORT``) final result."""

    code = "at_error"

    def __init__(self, command: str, final: str = "ERROR") -> None:
        super().__init__(f"{command}: {final}")
        self.command = command
        self.final = final


class CmeError(CommandError):
    """``+CME ERROR: n``: an equipment (ME) error; ``number`` is None for unknown text."""

    code = "cme_error"

    def __init__(self, command: str, number: int | None, text: str = "") -> None:
        super().__init__(command, f"+CME ERROR: {number if number is not None else text}")
        self.number = number
        self.text = text


class CmsError(CommandError):
    """``+CMS ERROR: n``: a message service error; ``number`` is None for unknown text."""

    code = "cms_error"

    def __init__(self, command: str, number: int | None, text: str = "") -> None:
        super().__init__(command, f"+CMS ERROR: {number if number is not None else text}")
        self.number = number
        self.text = text


class SendUnknown(DriverError):
    """AT+CMGS was written but its answer was lost (timeout or unplug after the PDU).

    The segment may or may not have left the modem: never resend it blindly.
    """

    code = "send_unknown"


class SimPinError(DriverError):
    """The SIM needs a PIN/PUK we do not have, or rejected the configured PIN."""

    code = "sim_pin"


class UssdError(DriverError):
    """USSD request refused, not supported, or timed out at the network."""

    code = "ussd_failed"
