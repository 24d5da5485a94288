"""Building SMS-SUBMIT, SMS-DELIVER and SMS-STATUS-REPORT PDUs (TS 23.040 §9.2.2).

SUBMIT is what the gateway sends; DELIVER and STATUS-REPORT exist so the simulator can
play the network's side with the same code that the decoder is tested against.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Final

from drivers.errors import EncodeError
from drivers.pdu import address, septets, udh
from drivers.pdu.dcs import DCS_GSM7, DCS_UCS2
from drivers.pdu.first_octet import (
    MMS_NO_MORE,
    MTI_DELIVER,
    MTI_STATUS_REPORT,
    MTI_SUBMIT,
    SRR,
    UDHI,
    VPF_ABSOLUTE,
    VPF_RELATIVE,
    VPF_SHIFT,
)
from drivers.pdu.segmenting import Plan, concat_bits, plan
from drivers.pdu.timestamps import encode_relative_vp, encode_scts
from drivers.pdu.types import Encoding, SubmitPdu

_MAX_REFERENCE: Final = 0xFFFF


def _concat_reference(reference: int | None, bits: int = 8) -> int:
    if reference is None:
        return random.getrandbits(bits)
    if not 0 <= reference <= _MAX_REFERENCE:
        raise EncodeError("concatenation reference must be 0-65535")
    return reference


def _user_data(result: Plan, index: int, reference: int, bits: int) -> bytes:
    """UDL + UD for one segment: the header (concat, national shifts), then the payload."""
    chunk = result.chunks[index]
    total = len(result.chunks)
    ies = udh.national_ies(result.pair)
    if total > 1:
        ies = udh.concat_ie(reference, total, index + 1, bits) + ies
    header = bytes((len(ies),)) + ies if ies else b""
    if result.encoding is Encoding.GSM7:
        header_septets, fill = septets.after_header(len(header))
        udl = header_septets + len(chunk)
        return bytes((udl,)) + header + septets.pack(chunk, fill)
    return bytes((len(header) + len(chunk),)) + header + chunk


def _validity(validity: timedelta | datetime | None) -> tuple[int, bytes]:
    if validity is None:
        return 0, b""
    if isinstance(validity, datetime):
        return VPF_ABSOLUTE << VPF_SHIFT, encode_scts(validity)
    return VPF_RELATIVE << VPF_SHIFT, bytes((encode_relative_vp(validity),))


def _dcs(result: Plan) -> int:
    return DCS_GSM7 if result.encoding is Encoding.GSM7 else DCS_UCS2


def encode(
    number: str,
    text: str,
    *,
    request_report: bool = True,
    validity: timedelta | datetime | None = None,
    smsc: str | None = None,
    reference: int | None = None,
    national: str | None = None,
    reference_bits: int | None = None,
) -> list[SubmitPdu]:
    """SMS-SUBMIT segments for ``text`` to ``number``, ready for AT+CMGS.

    TP-MR is 0 (the modem assigns it and answers it in ``+CMGS: <mr>``). ``reference`` is
    the concatenation reference (random if None); ``reference_bits`` its width: 8 (the
    default, as handsets: 153 GSM-7 / 67 UCS-2 characters a part) or 16 (one fewer).
    Without ``reference_bits`` a reference above 255 still gets a 16-bit IE.
    ``validity``: relative (rounded up, 5 min to 63 weeks) or absolute.
    """
    destination = address.encode_number(number)
    prefix = address.encode_smsc(smsc)
    bits = concat_bits(reference, reference_bits)
    concat_reference = _concat_reference(reference, bits)
    result = plan(text, national, concat_reference, bits)
    vpf, vp = _validity(validity)
    first = MTI_SUBMIT | vpf | (SRR if request_report else 0) | (UDHI if result.has_header else 0)
    head = bytes((first, 0)) + destination + bytes((0, _dcs(result))) + vp
    total = len(result.chunks)
    out: list[SubmitPdu] = []
    for index in range(total):
        tpdu = head + _user_data(result, index, concat_reference, bits)
        out.append(
            SubmitPdu(
                hex=(prefix + tpdu).hex().upper(),
                tpdu_length=len(tpdu),
                sequence=index + 1,
                total=total,
                encoding=result.encoding,
            )
        )
    return out


def encode_deliver(
    sender: str,
    text: str,
    *,
    timestamp: datetime,
    smsc: str | None = None,
    reference: int | None = None,
    national: str | None = None,
) -> list[str]:
    """SMS-DELIVER segments as a modem shows them (hex with the SMSC field).

    ``sender``: "+E164", digits, or alphanumeric text of up to 11 GSM 7-bit characters.
    """
    origin = address.encode_sender(sender)
    prefix = address.encode_smsc(smsc)
    bits = concat_bits(reference, None)
    concat_reference = _concat_reference(reference, bits)
    result = plan(text, national, concat_reference, bits)
    first = MTI_DELIVER | MMS_NO_MORE | (UDHI if result.has_header else 0)
    head = prefix + bytes((first,)) + origin + bytes((0, _dcs(result))) + encode_scts(timestamp)
    return [
        (head + _user_data(result, index, concat_reference, bits)).hex().upper()
        for index in range(len(result.chunks))
    ]


def encode_status_report(
    reference: int,
    recipient: str,
    status: int,
    *,
    timestamp: datetime,
    discharge: datetime,
    smsc: str | None = None,
) -> str:
    """SMS-STATUS-REPORT for the segment sent with TP-MR ``reference`` (hex with SMSC)."""
    if not 0 <= reference <= 0xFF:
        raise EncodeError("message reference must be 0-255")
    if not 0 <= status <= 0xFF:
        raise EncodeError("status must be 0-255")
    pdu = (
        address.encode_smsc(smsc)
        + bytes((MTI_STATUS_REPORT | MMS_NO_MORE, reference))
        + address.encode_number(recipient)
        + encode_scts(timestamp)
        + encode_scts(discharge)
        + bytes((status,))
    )
    return pdu.hex().upper()
