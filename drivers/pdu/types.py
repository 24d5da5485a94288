"""Decoded and encoded PDU values (3GPP TS 23.040)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


class Encoding(enum.StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"
    BIT8 = "8bit"


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation IE: ``reference`` (8 or 16 bits), ``total`` parts, 1-based ``sequence``."""

    reference: int
    total: int
    sequence: int
    bits: Literal[8, 16]


@dataclass(frozen=True, slots=True)
class SubmitPdu:
    """One segment ready for AT+CMGS: ``hex`` includes the SMSC part, ``tpdu_length`` does not."""

    hex: str
    tpdu_length: int
    sequence: int  # 1-based
    total: int
    encoding: Encoding


@dataclass(frozen=True, slots=True)
class Deliver:
    kind: Literal["deliver"]
    smsc: str | None
    sender: str  # "+E164", national digits, or alphanumeric text
    text: str  # "" for 8-bit data
    data: bytes  # raw 8-bit payload (empty unless encoding is BIT8)
    encoding: Encoding
    concat: Concat | None
    timestamp: datetime  # SCTS, timezone-aware
    message_class: int | None
    pid: int
    dcs: int


@dataclass(frozen=True, slots=True)
class StatusReport:
    kind: Literal["status_report"]
    smsc: str | None
    reference: int  # TP-MR of the submitted segment
    recipient: str
    status: int  # raw TP-ST
    timestamp: datetime  # SCTS
    discharge: datetime  # DT

    @property
    def outcome(self) -> Literal["delivered", "pending", "failed"]:
        """TS 23.040 §9.2.3.15: 0x00-0x1F done, 0x20-0x3F still trying, else final failure."""
        if self.status < 0x20:
            return "delivered"
        if self.status < 0x40:
            return "pending"
        return "failed"


@dataclass(frozen=True, slots=True)
class Submit:
    kind: Literal["submit"]
    smsc: str | None
    reference: int  # TP-MR as written in the PDU
    recipient: str
    text: str
    data: bytes
    encoding: Encoding
    concat: Concat | None
    validity: timedelta | datetime | None
    request_report: bool
    reject_duplicates: bool
    message_class: int | None
    pid: int
    dcs: int


Decoded = Deliver | StatusReport | Submit
