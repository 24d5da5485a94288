"""The simulator's only door to the PDU codec (drivers.pdu).

Everything PDU-shaped the simulated network does (decode a submitted segment,
build SMS-DELIVER parts, build a status report) goes through these calls, so a
submitted PDU is decoded exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from drivers import pdu
from drivers.errors import PduError
from drivers.pdu import Submit, gsm7, septets

_CR = 0x0D


def decode_submit(pdu_hex: str) -> Submit:
    """Decode one AT+CMGS PDU (SMSC part included); PduError when it is not a SUBMIT."""
    decoded = pdu.decode(pdu_hex, smsc=True)
    if not isinstance(decoded, Submit):
        raise PduError("not an SMS-SUBMIT")
    return decoded


def deliver_pdus(
    sender: str, text: str, *, national: str | None, smsc: str, reference: int
) -> list[str]:
    """SMS-DELIVER parts (hex with SMSC part) for ``text`` from ``sender``."""
    return pdu.encode_deliver(
        sender,
        text,
        timestamp=datetime.now(UTC),
        smsc=smsc or None,
        reference=reference,
        national=national,
    )


def status_report_pdu(reference: int, recipient: str, status: int, *, smsc: str) -> str:
    """An SMS-STATUS-REPORT (hex with SMSC part) for the segment sent with TP-MR ``reference``."""
    now = datetime.now(UTC)
    return pdu.encode_status_report(
        reference, recipient, status, timestamp=now, discharge=now, smsc=smsc or None
    )


def tpdu_length(pdu_hex: str) -> int:
    """The AT ``<length>`` of a PDU that starts with its SMSC part (ValueError if not hex)."""
    smsc_octets = int(pdu_hex[0:2], 16)
    return len(pdu_hex) // 2 - smsc_octets - 1


def pack_ussd(text: str) -> str:
    """USSD text as packed GSM 7-bit hex (Huawei's form); characters outside it become '?'.

    23.038 §6.1.2.3.1: when the last octet would leave 7 spare bits, a CR fills them.
    """
    table = gsm7.charset(gsm7.DEFAULT_PAIR)
    clean = "".join(c if c in table else "?" for c in text)
    unpacked = gsm7.to_septets(clean) or b""
    if len(unpacked) % 8 == 7:
        unpacked += bytes((_CR,))
    return septets.pack(unpacked).hex().upper()
