"""Decoding SMS-DELIVER, SMS-SUBMIT and SMS-STATUS-REPORT PDUs (TS 23.040 §9.2.2).

Lengths are trusted only as far as the octets go: a field or user data that runs past
the end of the PDU is a ``PduError``. Octets after the user data (or after TP-ST, where
optional status report fields may follow) are ignored. Any other oddity (a reserved
DCS, an unknown escape, a non-BCD time stamp nibble) decodes to the nearest sensible
value, so that a real message is never lost to a modem's quirk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from drivers.errors import PduError
from drivers.pdu import gsm7, septets, udh
from drivers.pdu.address import decode_address, decode_smsc
from drivers.pdu.cursor import Cursor
from drivers.pdu.dcs import DECODED
from drivers.pdu.first_octet import (
    MTI_DELIVER,
    MTI_MASK,
    MTI_STATUS_REPORT,
    MTI_SUBMIT,
    RD,
    SRR,
    UDHI,
    VPF_ABSOLUTE,
    VPF_ENHANCED,
    VPF_RELATIVE,
    VPF_SHIFT,
)
from drivers.pdu.timestamps import decode_enhanced_vp, decode_relative_vp, decode_scts
from drivers.pdu.types import Concat, Deliver, Encoding, StatusReport, Submit

_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_SCTS_OCTETS: Final = 7


@dataclass(frozen=True, slots=True)
class _UserData:
    text: str
    data: bytes
    encoding: Encoding
    concat: Concat | None


def decode_utf16(payload: bytes) -> str:
    """UTF-16BE with pairs combined; a lone surrogate or odd last octet becomes U+FFFD."""
    text = payload[: len(payload) & ~1].decode("utf-16-be", "surrogatepass")
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return text + "\ufffd" if len(payload) % 2 else text


def _user_data(cursor: Cursor, first: int, dcs: int) -> _UserData:
    encoding = DECODED[dcs][0]
    udl = cursor.octet("user data length")
    octets = (udl * 7 + 7) // 8 if encoding is Encoding.GSM7 else udl
    body = cursor.take(octets, "user data")
    header = udh.Header()
    header_octets = 0
    if first & UDHI and body:  # a UDHI bit over empty user data has nothing to describe
        if body[0] + 1 > len(body):
            raise PduError("user data header longer than the user data")
        header_octets = body[0] + 1
        header = udh.parse(body[1:header_octets])
    payload = body[header_octets:]
    if encoding is Encoding.GSM7:
        header_septets, fill = septets.after_header(header_octets)
        count = udl - header_septets
        if count < 0:
            raise PduError("user data length shorter than its header")
        unpacked = septets.unpack(payload, count, fill)
        text = gsm7.from_septets(unpacked, header.locking, header.single)
        return _UserData(text, b"", encoding, header.concat)
    if encoding is Encoding.UCS2:
        return _UserData(decode_utf16(payload), b"", encoding, header.concat)
    return _UserData("", payload, encoding, header.concat)


def _validity(cursor: Cursor, first: int) -> timedelta | datetime | None:
    form = (first >> VPF_SHIFT) & 0x03
    if form == VPF_RELATIVE:
        return decode_relative_vp(cursor.octet("validity period"))
    if form == VPF_ABSOLUTE:
        return decode_scts(cursor.take(_SCTS_OCTETS, "validity period"))
    if form == VPF_ENHANCED:
        return decode_enhanced_vp(cursor.take(7, "validity period"))
    return None


def _deliver(cursor: Cursor, smsc: str | None, first: int) -> Deliver:
    sender = decode_address(cursor)
    pid = cursor.octet("TP-PID")
    dcs = cursor.octet("TP-DCS")
    timestamp = decode_scts(cursor.take(_SCTS_OCTETS, "TP-SCTS"))
    ud = _user_data(cursor, first, dcs)
    return Deliver(
        kind="deliver",
        smsc=smsc,
        sender=sender,
        text=ud.text,
        data=ud.data,
        encoding=ud.encoding,
        concat=ud.concat,
        timestamp=timestamp,
        message_class=DECODED[dcs][1],
        pid=pid,
        dcs=dcs,
    )


def _submit(cursor: Cursor, smsc: str | None, first: int) -> Submit:
    reference = cursor.octet("TP-MR")
    recipient = decode_address(cursor)
    pid = cursor.octet("TP-PID")
    dcs = cursor.octet("TP-DCS")
    validity = _validity(cursor, first)
    ud = _user_data(cursor, first, dcs)
    return Submit(
        kind="submit",
        smsc=smsc,
        reference=reference,
        recipient=recipient,
        text=ud.text,
        data=ud.data,
        encoding=ud.encoding,
        concat=ud.concat,
        validity=validity,
        request_report=bool(first & SRR),
        reject_duplicates=bool(first & RD),
        message_class=DECODED[dcs][1],
        pid=pid,
        dcs=dcs,
    )


def _status_report(cursor: Cursor, smsc: str | None) -> StatusReport:
    reference = cursor.octet("TP-MR")
    recipient = decode_address(cursor)
    timestamp = decode_scts(cursor.take(_SCTS_OCTETS, "TP-SCTS"))
    discharge = decode_scts(cursor.take(_SCTS_OCTETS, "TP-DT"))
    status = cursor.octet("TP-ST")
    return StatusReport(
        kind="status_report",
        smsc=smsc,
        reference=reference,
        recipient=recipient,
        status=status,
        timestamp=timestamp,
        discharge=discharge,
    )


def decode(hex_pdu: str, *, smsc: bool = True) -> Deliver | StatusReport | Submit:
    """One PDU as hex (``smsc``: it starts with the SMSC field, as in +CMGR/+CMT/+CDS).

    The message type is read as the modem stores it: TP-MTI 00 DELIVER, 01 SUBMIT
    (a stored outgoing message), 10 STATUS-REPORT. Raises ``PduError`` only.
    """
    try:
        data = bytes.fromhex(hex_pdu)
    except (ValueError, TypeError):
        raise PduError("PDU is not hexadecimal") from None
    cursor = Cursor(data)
    try:
        centre = decode_smsc(cursor) if smsc else None
        first = cursor.octet("first octet")
        kind = first & MTI_MASK
        if kind == MTI_DELIVER:
            return _deliver(cursor, centre, first)
        if kind == MTI_SUBMIT:
            return _submit(cursor, centre, first)
        if kind == MTI_STATUS_REPORT:
            return _status_report(cursor, centre)
    except (ValueError, IndexError, KeyError, OverflowError) as exc:
        # Never expected (tests assert no PduError carries a cause); a last guard so
        # that a bad PDU cannot take down the caller with an unexpected exception type.
        raise PduError(f"PDU could not be decoded: {type(exc).__name__}") from exc
    raise PduError("reserved message type (TP-MTI 11)")
