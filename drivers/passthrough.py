"""The rule for technician passthrough commands, in one place for the driver and the gateway.

Only the driver's own send may open a ``> `` text entry: a passthrough command that opens
one (AT+CMGS, AT+CMGW, AT+CMGC, also chained after ``;``) would leave the modem taking the
next command as message text, and could send an SMS nobody queued or audited. A
passthrough command is also one line of printable ASCII that starts with ``AT``, so
nothing else can be smuggled onto the wire after it. ``command_name`` gives the part of a
command that is safe to log (no arguments: PINs, numbers).
"""

from __future__ import annotations

import re
from typing import Final

from drivers.engine import command_name
from drivers.errors import DriverError

__all__ = ["MAX_COMMAND_CHARS", "PassthroughRefused", "check_passthrough", "command_name",
           "passthrough_refusal"]  # fmt: skip

MAX_COMMAND_CHARS: Final = 512

_PROMPTING: Final = re.compile(r"\+CMG[SWC]", re.IGNORECASE)
_LINE: Final = re.compile(r"AT[\x20-\x7e]*", re.IGNORECASE)


class PassthroughRefused(DriverError, ValueError):
    """A technician command the driver will not write (a ValueError for older callers)."""

    code = "command_refused"


def passthrough_refusal(line: str) -> str | None:
    """Why ``line`` may not be sent as a passthrough command, or None when it may."""
    if len(line) > MAX_COMMAND_CHARS:
        return f"a command is at most {MAX_COMMAND_CHARS} characters"
    if not _LINE.fullmatch(line):
        return (
            "a command is one line of printable ASCII starting with AT "
            "(no line breaks or control characters)"
        )
    if _PROMPTING.search(line):
        return (
            "AT+CMGS, AT+CMGW and AT+CMGC open a text prompt: "
            "not available as a passthrough (only for sending)"
        )
    return None


def check_passthrough(line: str) -> str:
    """``line`` unchanged when it may be sent; PassthroughRefused (code "command_refused")."""
    reason = passthrough_refusal(line)
    if reason is not None:
        raise PassthroughRefused(reason)
    return line
