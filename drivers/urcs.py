"""Unsolicited result codes: the prefix table and the final-result grammar.

Lines are classified by content, never by whether a command happens to be waiting.
The one exception is a URC-looking line whose prefix the in-flight command asked for
(``+CPIN:`` during ``AT+CPIN?``, ``+CREG:`` during ``AT+CREG?``): that is its answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.errors import CmeError, CmsError, CommandError, DriverError

# Prefix -> whether the URC carries a second (PDU) line. Exact words (no colon) match
# the whole line; prefixes ending in ":" match the start (3GPP TS 27.005 §3.4.1, 27.007,
# vendor manuals; see modem-protocol.md §3.1 and §5).
URC_PREFIXES: dict[str, bool] = {
    "+CMTI:": False,
    "+CMT:": True,
    "+CDSI:": False,
    "+CDS:": True,
    "+CBM:": True,
    "+CBMI:": False,
    "+CREG:": False,
    "+CGREG:": False,
    "+CEREG:": False,
    "+CUSD:": False,
    "+CPIN:": False,
    "+CFUN:": False,
    "+CRING:": False,
    "+CLIP:": False,
    "+CCWA:": False,
    "+QIND:": False,
    "+QUSIM:": False,
    "+ZUSIMR:": False,
    "+WIND:": False,  # Wavecom indications (SIM, boot, call progress)
    "^RSSI:": False,
    "^BOOT:": False,
    "^MODE:": False,
    "^HCSQ:": False,
    "^SRVST:": False,
    "^SIMST:": False,
    "^DSFLOWRPT:": False,
    "^CSNR:": False,
    "^STIN:": False,
    "^NWTIME:": False,
    "#STN:": False,
}

URC_WORDS: frozenset[str] = frozenset(
    {
        "RING",
        "RDY",
        "SMS Ready",
        "Call Ready",
        "SMS DONE",
        "PB DONE",
        "+ZEND",
        "^SYSSTART",
        "NORMAL POWER DOWN",
        "NO CARRIER",
        "BUSY",
        "NO ANSWER",
        "NO DIALTONE",
    }
)

# Finals of dial commands; the driver never dials, so elsewhere they are call URCs.
DIAL_FINALS: frozenset[str] = frozenset({"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"})

_HEX_LINE = re.compile(r"[0-9A-Fa-f]+")
_NUMERIC = re.compile(r"\d+")
_CME = re.compile(r"\+CME ERROR:\s*(.*)")
_CMS = re.compile(r"\+CMS ERROR:\s*(.*)")
_PLAIN_ERRORS = ("ERROR", "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS")


@dataclass(frozen=True, slots=True)
class Urc:
    """One unsolicited result: ``name`` is its table key, ``pdu`` the second line if any."""

    name: str
    line: str
    pdu: str | None = None

    @property
    def value(self) -> str:
        """The text after the prefix (``'"SM",3'`` for ``+CMTI: "SM",3``)."""
        if self.name.endswith(":"):
            return self.line[len(self.name) :].strip()
        return ""


def urc_prefix(line: str) -> str | None:
    """The table key a line belongs to, or None when it is no known URC."""
    if line in URC_WORDS:
        return line
    head, sep, _ = line.partition(":")
    if sep:
        key = head.rstrip() + ":"
        if key in URC_PREFIXES:
            return key
    return None


def has_pdu_line(prefix: str) -> bool:
    return URC_PREFIXES.get(prefix, False)


def is_hex_line(line: str) -> bool:
    return _HEX_LINE.fullmatch(line) is not None


def final_result(
    command: str, line: str, extra_errors: tuple[re.Pattern[str], ...] = ()
) -> DriverError | bool | None:
    """Classify ``line`` as a final result code of ``command``.

    Returns False when it is not a final result, None for ``OK``, or the error to raise.
    The whole line must match: a message line such as "OK thanks" is never a final.
    """
    if line == "OK":
        return None
    if line in _PLAIN_ERRORS:
        return CommandError(command, line)
    if match := _CME.fullmatch(line):
        number, text = _split_code(match.group(1))
        return CmeError(command, number, text)
    if match := _CMS.fullmatch(line):
        number, text = _split_code(match.group(1))
        return CmsError(command, number, text)
    for pattern in extra_errors:
        if pattern.fullmatch(line):
            return CommandError(command, line)
    if line in DIAL_FINALS and command.upper().startswith(("ATD", "ATA")):
        return CommandError(command, line)
    return False


def _split_code(raw: str) -> tuple[int | None, str]:
    raw = raw.strip()
    if _NUMERIC.fullmatch(raw):
        return int(raw), ""
    return None, raw
