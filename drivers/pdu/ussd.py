"""USSD reply text from ``+CUSD: <m>,"<str>",<dcs>`` (TS 27.007 §7.15, TS 23.038 §5).

The USSD DCS uses the cell broadcast coding groups. Modems hand ``<str>`` over as plain
text, as UCS-2 hex (DCS 72), as 8-bit hex, or (Huawei) as packed GSM 7-bit hex; the
last cannot be told from plain text that happens to be hex, so the caller says
``packed=True`` for modems known to do it.
"""

from __future__ import annotations

import re
from typing import Final

from drivers.pdu import gsm7, septets
from drivers.pdu.decode import decode_utf16
from drivers.pdu.types import Encoding

_HEX: Final = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_CR: Final = 0x0D


def decode_gsm7_packed(data: bytes) -> str:
    """Unpack septets and map them through the default alphabet.

    23.038 §6.1.2.3.1: when 7 bits are left spare in the last octet, a CR fills them,
    so a CR in that last position is padding and is dropped.
    """
    count = len(data) * 8 // 7
    unpacked = septets.unpack(data, count)
    if len(data) % 7 == 0 and unpacked.endswith(b"\x0d"):
        unpacked = unpacked[:-1]
    return gsm7.from_septets(unpacked, None, None)


def ussd_alphabet(dcs: int) -> Encoding:
    """Alphabet of a USSD/CBS data coding scheme (23.038 §5)."""
    group = dcs >> 4
    if group == 0x01:  # language indication precedes the text
        return Encoding.UCS2 if dcs & 0x0F == 0x01 else Encoding.GSM7
    if group in (0x04, 0x05, 0x06, 0x07, 0x09):  # general data coding; 1001 with a UDH
        return (Encoding.GSM7, Encoding.BIT8, Encoding.UCS2, Encoding.GSM7)[(dcs >> 2) & 0x03]
    if group == 0x0F:
        return Encoding.BIT8 if dcs & 0x04 else Encoding.GSM7
    return Encoding.GSM7  # 0000, 0010, 0011 languages in GSM 7-bit; reserved groups


def decode_ussd(text: str, dcs: int, *, packed: bool = False) -> str:
    """The human-readable USSD reply; text that is not in the announced form comes back as is.

    ``packed``: the modem passes GSM 7-bit replies as packed-septet hex (Huawei).
    """
    alphabet = ussd_alphabet(dcs)
    if alphabet is Encoding.GSM7 and not packed:
        return text
    if not _HEX.fullmatch(text):
        return text
    data = bytes.fromhex(text)
    if alphabet is Encoding.UCS2:
        if dcs == 0x11:  # 23.038 §5: two GSM 7-bit language characters precede the UCS-2
            data = data[2:]
        return decode_utf16(data)
    if alphabet is Encoding.BIT8:
        return data.decode("latin-1")
    return decode_gsm7_packed(data)
