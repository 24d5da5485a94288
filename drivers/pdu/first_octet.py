"""Bits of the TPDU first octet (TS 23.040 §9.2.2), shared by the encoder and decoder."""

from __future__ import annotations

from typing import Final

MTI_MASK: Final = 0x03
MTI_DELIVER: Final = 0x00
MTI_SUBMIT: Final = 0x01
MTI_STATUS_REPORT: Final = 0x02
MMS_NO_MORE: Final = 0x04  # DELIVER/STATUS-REPORT: no more messages waiting
RD: Final = 0x04  # SUBMIT: reject duplicates
VPF_SHIFT: Final = 3  # SUBMIT: validity period format, two bits
VPF_ENHANCED: Final = 0x01
VPF_RELATIVE: Final = 0x02
VPF_ABSOLUTE: Final = 0x03
SRR: Final = 0x20
UDHI: Final = 0x40
