"""A bit-by-bit 7-bit packer, written the slow obvious way to check the fast one."""

from __future__ import annotations


def naive_pack(septets: bytes, fill: int = 0) -> bytes:
    # TS 23.038 §6.1.2.1.1: septet n occupies bits 7n..7n+6 of the stream, LSB first.
    bits = [0] * fill
    for septet in septets:
        bits.extend((septet >> i) & 1 for i in range(7))
    bits.extend([0] * (-len(bits) % 8))
    return bytes(
        sum(bit << i for i, bit in enumerate(bits[start : start + 8]))
        for start in range(0, len(bits), 8)
    )
