"""7-bit packing (TS 23.038 §6.1.2.1.1) done on whole integers instead of bit by bit.

Septets are laid out least significant bit first. Packing squeezes every 8-byte lane of
unpacked septets into 7 bytes with three mask-and-shift steps over one big integer; the
``fill`` bits that align text after a user data header are a final shift (§9.2.3.24).
"""

from __future__ import annotations

from functools import cache

_LANE_STEPS = (
    # (low mask per 64-bit lane, high mask per lane, shift): septet pairs, then quads, then 8.
    (0x007F007F007F007F, 0x7F007F007F007F00, 1),
    (0x00003FFF00003FFF, 0x3FFF00003FFF0000, 2),
    (0x000000000FFFFFFF, 0x0FFFFFFF00000000, 4),
)


@cache
def _masks(lanes: int) -> tuple[tuple[int, int, int], ...]:
    def repeat(mask: int) -> int:
        return int.from_bytes(mask.to_bytes(8, "little") * lanes, "little")

    return tuple((repeat(low), repeat(high), shift) for low, high, shift in _LANE_STEPS)


def pack(septets: bytes, fill: int = 0) -> bytes:
    """Pack septet values (each < 128) into octets, after ``fill`` zero bits."""
    count = len(septets)
    lanes = (count + 7) // 8
    value = int.from_bytes(septets, "little")
    for low, high, shift in _masks(lanes):
        value = (value & low) | ((value & high) >> shift)
    lane_bytes = bytearray(value.to_bytes(lanes * 8, "little"))
    del lane_bytes[7::8]
    value = int.from_bytes(lane_bytes, "little") << fill
    return value.to_bytes((count * 7 + fill + 7) // 8, "little")


def unpack(data: bytes, count: int, fill: int = 0) -> bytes:
    """The first ``count`` septets after ``fill`` bits; ``data`` must hold enough bits."""
    lanes = (count + 7) // 8
    value = (int.from_bytes(data, "little") >> fill) & ((1 << (count * 7)) - 1)
    packed = value.to_bytes(lanes * 7, "little")
    spread = bytearray(lanes * 8)
    for j in range(7):
        spread[j::8] = packed[j : lanes * 7 : 7]
    value = int.from_bytes(spread, "little")
    for low, high, shift in reversed(_masks(lanes)):
        value = (value & low) | ((value & (high >> shift)) << shift)
    return value.to_bytes(lanes * 8, "little")[:count]


def after_header(header_octets: int) -> tuple[int, int]:
    """(septets the header occupies, fill bits) so text starts on a septet boundary."""
    septet_count = (header_octets * 8 + 6) // 7
    return septet_count, septet_count * 7 - header_octets * 8
