"""Parsers for the information lines of AT answers and URC bodies (sans-IO, no raising).

Each takes text the engine already split and returns plain values, or None when the
line does not have the expected shape: firmwares differ in spacing, quoting and
whether a prefix is repeated (modem-protocol.md §3.2, §3.10, gammu test dumps).
"""

from __future__ import annotations

import re

from drivers.types import Registration

_GROUP = re.compile(r"\(([^()]*)\)")
_QUOTED = re.compile(r'"([^"]*)"')
_INT = re.compile(r"[0-9]+")
_CMGL = re.compile(r"\+CMGL:\s*([0-9]+)\s*,\s*([0-9]*)")
_INDICATION = re.compile(r'"?([A-Za-z]{2})"?\s*,\s*([0-9]+)')
_CUSD = re.compile(r'\s*([0-9]+)\s*(?:,\s*"((?:[^"]*))"\s*(?:,\s*([0-9]+))?)?\s*')
_ECHOED_PREFIX = re.compile(r"^[+^][A-Z0-9]+:\s*", re.IGNORECASE)
_SIGNED = re.compile(r"-?[0-9]+")
_HEX = re.compile(r"[0-9A-Fa-f]+")
# A range in a test answer lists a parameter's values (0-3, 0-255): a wider one is
# noise or nonsense, and spelled out it could fill the memory.
MAX_RANGE_VALUES = 256

REGISTRATION_BY_STAT: dict[int, Registration] = {
    0: Registration.NOT_REGISTERED,
    1: Registration.HOME,
    2: Registration.SEARCHING,
    3: Registration.DENIED,
    4: Registration.UNKNOWN,
    5: Registration.ROAMING,
    6: Registration.HOME,  # SMS only, home (Rel-8)
    7: Registration.ROAMING,  # SMS only, roaming
    8: Registration.NOT_REGISTERED,  # emergency services only
    9: Registration.HOME,  # CSFB not preferred, home
    10: Registration.ROAMING,
}

# Ranked for "best of CREG/CGREG/CEREG": registered beats trying beats refused.
REGISTRATION_RANK: dict[Registration, int] = {
    Registration.HOME: 5,
    Registration.ROAMING: 4,
    Registration.SEARCHING: 3,
    Registration.DENIED: 2,
    Registration.UNKNOWN: 1,
    Registration.NOT_REGISTERED: 0,
}

TECHNOLOGY_BY_ACT: dict[int, str] = {
    0: "gsm",
    1: "gsm",
    2: "umts",
    3: "gsm",
    4: "umts",
    5: "umts",
    6: "umts",
    7: "lte",
    8: "gsm",
    9: "lte",
    10: "lte",
    11: "nr",
    12: "nr",
    13: "nr",
}

CPIN_STATES: dict[str, str] = {
    "READY": "ready",
    "SIM PIN": "pin",
    "SIM PUK": "puk",
    "PH-SIM PIN": "pin",
    "SIM PIN2": "ready",  # PIN2 guards phonebook functions only
    "SIM PUK2": "ready",
    "NOT INSERTED": "absent",
    "NOT READY": "unknown",
}


def body(line: str, prefix: str) -> str | None:
    """The text after ``prefix`` (with or without a space), or None."""
    if not line.upper().startswith(prefix.upper()):
        return None
    return line[len(prefix) :].strip()


def find_body(lines: list[str], prefix: str) -> str | None:
    for line in lines:
        value = body(line, prefix)
        if value is not None:
            return value
    return None


def ranges(text: str) -> list[frozenset[int]]:
    """``(0-3),(0,2),(0)`` -> one set per parenthesised group (a bare number is a group)."""
    groups = _GROUP.findall(text)
    if not groups:
        groups = [g for g in text.split(",") if g.strip()]
    return [_range_set(group) for group in groups]


def _range_set(group: str) -> frozenset[int]:
    values: set[int] = set()
    for part in group.split(","):
        low, dash, high = part.strip().partition("-")
        if not _digits(low.strip()):
            continue
        if dash and _digits(high.strip()):
            first = int(low)
            values.update(range(first, min(int(high), first + MAX_RANGE_VALUES - 1) + 1))
        else:
            values.add(int(low))
    return frozenset(values)


def cnmi_routing(text: str) -> tuple[int, int] | None:
    """``2,1,0,1,0`` (the AT+CNMI? answer) -> (<mt>, <ds>); None when unreadable."""
    fields = [f.strip() for f in text.split(",")]
    if len(fields) < 4 or not (_digits(fields[1]) and _digits(fields[3])):
        return None
    return int(fields[1]), int(fields[3])


def _digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def memory_lists(text: str) -> list[tuple[str, ...]]:
    """``("SM","ME"),("SM","ME"),("SM")`` and Wavecom's ``(("SM","BM"),("SM"))``."""
    text = text.strip()
    if text.startswith("((") and text.endswith("))"):
        text = text[1:-1]
    return [tuple(_QUOTED.findall(group)) for group in _GROUP.findall(text)]


def storage_counts(text: str) -> list[tuple[int, int]]:
    """``+CPMS:`` body (query or set form) -> [(used, total), ...] per memory."""
    numbers = [int(n) for n in _INT.findall(_QUOTED.sub("", text))]
    return [(numbers[i], numbers[i + 1]) for i in range(0, len(numbers) - 1, 2)]


def registration(text: str, *, query: bool) -> tuple[Registration, int | None] | None:
    """``+CREG:`` body -> (registration, AcT). Query answers start with ``<n>``."""
    fields = [f.strip().strip('"') for f in text.split(",")]
    if query:
        fields = fields[1:]
    if not fields or not _digits(fields[0]):
        return None
    reg = REGISTRATION_BY_STAT.get(int(fields[0]), Registration.UNKNOWN)
    act: int | None = None
    if len(fields) >= 4 and _digits(fields[3]):
        act = int(fields[3])
    return reg, act


def signal(text: str) -> int | None:
    """``+CSQ:`` body -> rssi 0..31, None for 99 (not known)."""
    match = _INT.match(text.strip())
    if match is None:
        return None
    rssi = int(match.group())
    return None if rssi == 99 or rssi > 31 else rssi


def rssi_to_dbm(rssi: int | None) -> int | None:
    return None if rssi is None else -113 + 2 * rssi


def operator(text: str) -> tuple[str | None, int | None]:
    """``+COPS:`` body -> (operator name, AcT)."""
    name_match = _QUOTED.search(text)
    name = name_match.group(1) if name_match else None
    tail = text[name_match.end() :] if name_match else ""
    act_match = _INT.search(tail)
    return (name or None), (int(act_match.group()) if act_match else None)


def sim_state(text: str) -> str:
    return CPIN_STATES.get(text.strip().upper(), "unknown")


def first_int(text: str) -> int | None:
    match = _INT.search(text)
    return int(match.group()) if match else None


def indication(text: str) -> tuple[str, int] | None:
    """``"SM",3`` (from +CMTI/+CDSI) -> ("SM", 3)."""
    match = _INDICATION.match(text.strip())
    if match is None:
        return None
    return match.group(1).upper(), int(match.group(2))


def listed(lines: list[str]) -> list[tuple[int, int | None, str]]:
    """``+CMGL: <index>,<stat>,...`` + PDU line pairs -> [(index, stat, pdu_hex)].

    Only a hex line is a PDU: anything else between a header and its PDU (what line
    noise leaves) is skipped, and a header followed by the next header has lost its PDU.
    """
    out: list[tuple[int, int | None, str]] = []
    header: tuple[int, int | None] | None = None
    for line in lines:
        match = _CMGL.match(line)
        if match:
            stat = match.group(2)
            header = (int(match.group(1)), int(stat) if stat else None)
            continue
        if header is not None and (pdu := pdu_line(line)) is not None:
            out.append((header[0], header[1], pdu))
            header = None
    return out


def pdu_line(line: str) -> str | None:
    """``line`` as a PDU (hex, quotes some firmwares add removed), or None."""
    text = line.strip().strip('"')
    return text if _HEX.fullmatch(text) else None


def read_pdu(lines: list[str]) -> str | None:
    """The first hex line after ``+CMGR:`` (noise between them skipped); None for an
    empty slot (``OK`` only)."""
    header_seen = False
    for line in lines:
        if line.upper().startswith("+CMGR:"):
            header_seen = True
        elif header_seen and (pdu := pdu_line(line)) is not None:
            return pdu
    return None


def ussd(text: str) -> tuple[int, str | None, int | None] | None:
    """``+CUSD:`` body -> (m, string, dcs)."""
    match = _CUSD.fullmatch(text)
    if match is None:
        return None
    dcs = match.group(3)
    return int(match.group(1)), match.group(2), int(dcs) if dcs is not None else None


def identity_value(lines: list[str]) -> str | None:
    """A free-text identity answer; an echoed ``+CGMI:``-style prefix and quotes removed.

    Firmwares answer ``AT+CCID`` with ``+CCID: 89...``, ``+ICCID: 89...``, ``^ICCID: ...``
    or a bare value, and AT+CGMI sometimes with a leading space (Wavecom).
    """
    for line in lines:
        text = _ECHOED_PREFIX.sub("", line.strip()).strip().strip('"').strip()
        if text:
            return text
    return None


def rssi_urc(text: str) -> int | None:
    """Huawei ``^RSSI:n`` body -> rssi (same scale as +CSQ)."""
    match = _SIGNED.match(text.strip())
    if match is None:
        return None
    value = int(match.group())
    return None if value == 99 or not 0 <= value <= 31 else value


_CNUM = re.compile(r'^\+CNUM:\s*(?:"[^"]*"|[^,]*),\s*"?(\+?[0-9]{3,20})"?\s*,\s*([0-9]+)')
_INTERNATIONAL_TYPE = 145  # 3GPP TS 24.008 type of number: international, ISDN plan


def own_number(lines: list[str]) -> str | None:
    """The first number of an AT+CNUM answer (3GPP TS 27.007 §7.1:
    ``+CNUM: [<alpha>],<number>,<type>[,...]``, one line per number). Of type 145 it is
    international, given with or without its ``+``; otherwise as the SIM holds it.
    Most SIMs hold no number and the answer is a bare OK: None."""
    for line in lines:
        match = _CNUM.match(line.strip())
        if match is None:
            continue
        number, kind = match.group(1), int(match.group(2))
        if kind == _INTERNATIONAL_TYPE and not number.startswith("+"):
            number = "+" + number
        return number
    return None


_ICCID = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{18,22}(?![0-9A-Za-z])")


def iccid(lines: list[str]) -> str | None:
    """The ICCID from an AT+CCID-style answer, without any prefix or quotes.

    Firmwares answer ``+CCID: 89...``, ``CCID: "89..."``, ``+ICCID:``, ``^ICCID:``,
    ``+QCCID:`` or the bare digits (19-20 of them, some padded with ``F``).
    """
    for line in lines:
        match = _ICCID.search(line)
        if match is not None:
            return match.group().upper()
    return None
