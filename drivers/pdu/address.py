"""Address fields (TS 23.040 §9.1.2.5) and the SMSC prefix (TS 27.005 §3: RP SC address).

Numbers are semi-octet BCD, low nibble first, padded with F. A TP address length counts
useful semi-octets; the SMSC length counts octets including the type-of-address octet.
Alphanumeric addresses (type of number 101, TOA 0xD0) are packed GSM 7-bit text.
"""

from __future__ import annotations

import re
from typing import Final

from drivers.errors import EncodeError
from drivers.pdu import gsm7, septets
from drivers.pdu.cursor import Cursor

TOA_INTERNATIONAL: Final = 0x91
TOA_UNKNOWN: Final = 0x81
TOA_ALPHANUMERIC: Final = 0xD0
MAX_ALPHANUMERIC_SEPTETS: Final = 11  # 10 octets of packed septets

_NUMBER = re.compile(r"(\+?)([0-9]{1,20})")
_NIBBLES: Final = "0123456789*#abcF"  # §9.1.2.3: A-E are * # a b c; F is the filler
_SEMI_OCTETS: Final = tuple(_NIBBLES[b & 0x0F] + _NIBBLES[b >> 4] for b in range(256))
_SWAP_NIBBLES: Final = bytes(((b & 0x0F) << 4) | (b >> 4) for b in range(256))


def parse_number(number: str) -> tuple[int, str]:
    """``"+E164"`` -> (0x91, digits); plain digits -> (0x81, digits); else EncodeError."""
    match = _NUMBER.fullmatch(number)
    if match is None:
        raise EncodeError("number must be '+' and digits, or digits only (1-20)")
    return (TOA_INTERNATIONAL if match[1] else TOA_UNKNOWN), match[2]


def _bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex(digits).translate(_SWAP_NIBBLES)


def encode_number(number: str) -> bytes:
    toa, digits = parse_number(number)
    return bytes((len(digits), toa)) + _bcd(digits)


def encode_sender(sender: str) -> bytes:
    """An originating address: a number as in ``encode_number``, or alphanumeric text."""
    if _NUMBER.fullmatch(sender):
        return encode_number(sender)
    packed_septets = gsm7.to_septets(sender)
    if not sender or packed_septets is None:
        raise EncodeError("alphanumeric sender must be GSM 7-bit text")
    if len(packed_septets) > MAX_ALPHANUMERIC_SEPTETS:
        raise EncodeError("alphanumeric sender is longer than 11 characters")
    semi_octets = (len(packed_septets) * 7 + 3) // 4
    return bytes((semi_octets, TOA_ALPHANUMERIC)) + septets.pack(packed_septets)


def encode_smsc(smsc: str | None) -> bytes:
    """``None`` -> ``00``: the modem uses its own SMSC (AT+CSCA)."""
    if smsc is None:
        return b"\x00"
    toa, digits = parse_number(smsc)
    value = _bcd(digits)
    return bytes((len(value) + 1, toa)) + value


def _digits(toa: int, value: bytes, count: int) -> str:
    text = "".join([_SEMI_OCTETS[b] for b in value])[:count].replace("F", "")
    return "+" + text if text and (toa >> 4) & 0x07 == 1 else text


def decode_address(cursor: Cursor) -> str:
    count = cursor.octet("address length")
    toa = cursor.octet("type of address")
    value = cursor.take((count + 1) // 2, "address")
    if (toa >> 4) & 0x07 == 5:
        septet_count = count * 4 // 7
        return gsm7.from_septets(septets.unpack(value, septet_count), None, None)
    return _digits(toa, value, count)


def decode_smsc(cursor: Cursor) -> str | None:
    length = cursor.octet("SMSC length")
    if length == 0:
        return None
    toa = cursor.octet("SMSC type of address")
    value = cursor.take(length - 1, "SMSC address")
    return _digits(toa, value, 2 * len(value)) or None
