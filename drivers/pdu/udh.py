"""User data header (TS 23.040 §9.2.3.24): concatenation and national language shifts.

Other information elements (ports, EMS formatting, ...) are skipped when decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.errors import PduError
from drivers.pdu import gsm7
from drivers.pdu.gsm7 import Language, TablePair
from drivers.pdu.types import Concat

IEI_CONCAT_8: Final = 0x00
IEI_CONCAT_16: Final = 0x08
IEI_SINGLE_SHIFT: Final = 0x24
IEI_LOCKING_SHIFT: Final = 0x25


def concat_ie_octets(bits: int) -> int:
    """Octets of the concatenation IE (its IEI and length included) for 8 or 16 bits."""
    return 5 if bits == 8 else 6


def national_ies(pair: TablePair) -> bytes:
    locking, single = pair
    out = b""
    if single is not None:
        out += bytes((IEI_SINGLE_SHIFT, 1, gsm7.LANGUAGE_IDS[single]))
    if locking is not None:
        out += bytes((IEI_LOCKING_SHIFT, 1, gsm7.LANGUAGE_IDS[locking]))
    return out


def concat_ie(reference: int, total: int, sequence: int, bits: int = 8) -> bytes:
    if bits == 8:
        return bytes((IEI_CONCAT_8, 3, reference, total, sequence))
    return bytes((IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, sequence))


@dataclass(frozen=True, slots=True)
class Header:
    concat: Concat | None = None
    locking: Language | None = None
    single: Language | None = None


def parse(header: bytes) -> Header:
    """IEs after the UDHL octet; an IE running past the header is an error."""
    concat: Concat | None = None
    locking: Language | None = None
    single: Language | None = None
    pos = 0
    while pos < len(header):
        if pos + 2 > len(header):
            raise PduError("user data header ends inside an information element")
        iei, length = header[pos], header[pos + 1]
        data = header[pos + 2 : pos + 2 + length]
        if len(data) != length:
            raise PduError("information element runs past the user data header")
        pos += 2 + length
        if iei == IEI_CONCAT_8 and length == 3:
            concat = _concat(data[0], data[1], data[2], 8) or concat
        elif iei == IEI_CONCAT_16 and length == 4:
            concat = _concat((data[0] << 8) | data[1], data[2], data[3], 16) or concat
        elif iei == IEI_SINGLE_SHIFT and length == 1:
            single = gsm7.LANGUAGES_BY_ID.get(data[0])
        elif iei == IEI_LOCKING_SHIFT and length == 1:
            locking = gsm7.LANGUAGES_BY_ID.get(data[0])
            locking = locking if locking in gsm7.LOCKING_LANGUAGES else None
    return Header(concat, locking, single)


def _concat(reference: int, total: int, sequence: int, bits: int) -> Concat | None:
    # §9.2.3.24.1: a zero count or a sequence number past it means "ignore the IE".
    if total == 0 or not 1 <= sequence <= total:
        return None
    return Concat(reference, total, sequence, 8 if bits == 8 else 16)
