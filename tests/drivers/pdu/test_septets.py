from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.pdu.septets import pack, unpack
from tests.drivers.pdu.bits import naive_pack

septet_strings = st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b))


def test_hellohello_packs_as_in_the_23038_style_example() -> None:
    # h=0x68 e=0x65 l=0x6C o=0x6F; first octet = h | (e & 1) << 7 = 0x68 | 0x80 = 0xE8,
    # second = e >> 1 | (l & 0b11) << 6 = 0x32, ... the classic E8 32 9B FD 46 97 D9 EC 37.
    assert pack(b"hellohello") == bytes.fromhex("E8329BFD4697D9EC37")
    assert unpack(bytes.fromhex("E8329BFD4697D9EC37"), 10) == b"hellohello"


def test_eight_septets_fill_seven_octets_exactly() -> None:
    # 8 x 7 = 56 bits: no spare bits, so no trailing octet.
    assert len(pack(b"\x7f" * 8)) == 7
    assert pack(b"\x7f" * 8) == b"\xff" * 7


def test_fill_bits_shift_the_first_septet() -> None:
    # One fill bit (after a 6-octet UDH): 'a' = 0x61 -> 0x61 << 1 = 0xC2, 8 bits, one octet.
    assert pack(b"a", 1) == b"\xc2"
    assert unpack(b"\xc2", 1, 1) == b"a"


@given(septet_strings, st.integers(0, 6))
def test_pack_matches_the_bitwise_reference(septets: bytes, fill: int) -> None:
    assert pack(septets, fill) == naive_pack(septets, fill)


@given(septet_strings, st.integers(0, 6), st.binary(max_size=3))
def test_unpack_inverts_pack_and_ignores_trailing_octets(
    septets: bytes, fill: int, tail: bytes
) -> None:
    assert unpack(pack(septets, fill) + tail, len(septets), fill) == septets
