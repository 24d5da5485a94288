"""TP data coding scheme (TS 23.038 §4): which alphabet, and which message class.

Compressed text (§4 bit 5) and the reserved groups carry octets we cannot render
reliably, so they decode as 8-bit data and the payload is kept, not guessed at.
"""

from __future__ import annotations

from typing import Final

from drivers.pdu.types import Encoding

DCS_GSM7: Final = 0x00
DCS_UCS2: Final = 0x08

_ALPHABETS: Final = (Encoding.GSM7, Encoding.BIT8, Encoding.UCS2, Encoding.BIT8)


def _decode(dcs: int) -> tuple[Encoding, int | None]:
    group = dcs >> 4
    if group < 0x08:  # 00xx general data coding, 01xx the same marked for automatic deletion
        message_class = dcs & 0x03 if dcs & 0x10 else None
        if dcs & 0x20:
            return Encoding.BIT8, message_class
        return _ALPHABETS[(dcs >> 2) & 0x03], message_class
    if group in (0x0C, 0x0D):  # message waiting indication, discard / store, GSM 7-bit
        return Encoding.GSM7, None
    if group == 0x0E:  # message waiting indication, store, UCS-2
        return Encoding.UCS2, None
    if group == 0x0F:  # data coding / message class
        return (Encoding.BIT8 if dcs & 0x04 else Encoding.GSM7), dcs & 0x03
    return Encoding.BIT8, None  # 1000-1011 reserved


DECODED: Final[tuple[tuple[Encoding, int | None], ...]] = tuple(_decode(d) for d in range(256))
