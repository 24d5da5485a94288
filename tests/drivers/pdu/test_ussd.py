from __future__ import annotations

import pytest

from drivers.pdu import decode_gsm7_packed, decode_ussd
from tests.drivers.pdu.bits import naive_pack


def test_packed_septets_decode() -> None:
    # "*100#" = 2A 31 30 30 23: 2A|(31&1)<<7 = AA, 31>>1|(30&3)<<6 = 18, 30>>2 = 0C,
    # 30>>3|(23&F)<<4 = 36, 23>>4 = 02.
    assert decode_gsm7_packed(bytes.fromhex("AA180C3602")) == "*100#"


def test_cr_padding_in_seven_spare_bits_is_dropped() -> None:
    # 7 characters leave 7 spare bits in 7 octets; 23.038 fills them with CR.
    assert decode_gsm7_packed(naive_pack(b"1234567\r")) == "1234567"
    # A CR that is not in the padding position is text.
    assert decode_gsm7_packed(naive_pack(b"12\r")) == "12\r"


def test_extension_characters_in_packed_text() -> None:
    assert decode_gsm7_packed(naive_pack(b"\x1be5")) == "€5"


@pytest.mark.parametrize(
    ("text", "dcs", "packed", "expected"),
    [
        ("Balance 5.00", 15, False, "Balance 5.00"),
        ("1234", 15, False, "1234"),  # hex-looking plain text stays plain
        ("AA180C3602", 15, True, "*100#"),  # Huawei: packed septets as hex
        ("0414043B044F", 72, False, "Для"),
        ("0414043b044f", 0x48, False, "Для"),
        ("D83DDE00", 72, False, "😀"),
        ("48656C6C6F", 0x44, False, "Hello"),
        ("Not hex", 72, False, "Not hex"),  # not in the announced form: as is
        ("AA180C3602", 0xF0, True, "*100#"),
        ("656E0414", 0x11, False, "Д"),  # two language octets, then UCS-2
    ],
)
def test_decode_ussd(text: str, dcs: int, packed: bool, expected: str) -> None:
    assert decode_ussd(text, dcs, packed=packed) == expected
