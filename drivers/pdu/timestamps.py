"""Service centre time stamps and validity periods (TS 23.040 §9.2.3.11, §9.2.3.12).

Decoding is lenient: a modem that writes a non-BCD nibble or an impossible date still
delivers its message, so fields are read as nibble values and clamped into range rather
than rejected. Years are 2000 + yy.
"""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from drivers.errors import EncodeError

_MAX_TZ_QUARTERS: Final = 79  # two BCD digits, the tens digit has 3 bits


def _swapped(value: int) -> int:
    return ((value % 10) << 4) | (value // 10)


def encode_scts(moment: datetime) -> bytes:
    """Seven semi-octet fields in ``moment``'s own wall-clock time; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 2000 <= moment.year <= 2099:
        raise EncodeError("time stamps must fall in 2000-2099")
    offset = moment.utcoffset() or timedelta()
    quarters = round(offset.total_seconds() / 900)
    if abs(quarters) > _MAX_TZ_QUARTERS:
        raise EncodeError("time zone offset out of range")
    fields = (
        moment.year - 2000,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )
    zone = _swapped(abs(quarters)) | (0x08 if quarters < 0 else 0)
    return bytes([_swapped(v) for v in fields] + [zone])


def _field(octet: int) -> int:
    return (octet & 0x0F) * 10 + (octet >> 4)


def decode_scts(raw: bytes) -> datetime:
    """Seven octets -> an aware datetime (clamped fields, sign bit in the zone octet)."""
    year = 2000 + _field(raw[0])
    month = min(max(_field(raw[1]), 1), 12)
    day = min(max(_field(raw[2]), 1), calendar.monthrange(year, month)[1])
    zone = raw[6]
    quarters = (zone & 0x07) * 10 + (zone >> 4)
    offset = timedelta(minutes=15 * quarters)
    return datetime(
        year,
        month,
        day,
        min(_field(raw[3]), 23),
        min(_field(raw[4]), 59),
        min(_field(raw[5]), 59),
        tzinfo=timezone(-offset if zone & 0x08 else offset),
    )


def encode_relative_vp(validity: timedelta) -> int:
    """The smallest TP-VP (§9.2.3.12.1) not shorter than ``validity``, capped at 63 weeks."""
    if validity <= timedelta():
        raise EncodeError("validity must be positive")
    minutes = math.ceil(validity.total_seconds() / 60)
    if minutes <= 12 * 60:
        return max(math.ceil(minutes / 5) - 1, 0)
    if minutes <= 24 * 60:
        return 143 + math.ceil((minutes - 12 * 60) / 30)
    days = math.ceil(minutes / (24 * 60))
    if days <= 30:
        return 166 + days
    return min(192 + max(math.ceil(days / 7), 5), 255)


def decode_relative_vp(value: int) -> timedelta:
    if value <= 143:
        return timedelta(minutes=5 * (value + 1))
    if value <= 167:
        return timedelta(hours=12, minutes=30 * (value - 143))
    if value <= 196:
        return timedelta(days=value - 166)
    return timedelta(weeks=value - 192)


def decode_enhanced_vp(raw: bytes) -> timedelta | None:
    """§9.2.3.12.3: functionality indicator(s), then the period in one of three formats."""
    pos = 1
    extended = raw[0] & 0x80
    while extended:
        if pos >= len(raw):
            return None
        extended = raw[pos] & 0x80
        pos += 1
    form = raw[0] & 0x07
    if form == 1 and pos < len(raw):
        return decode_relative_vp(raw[pos])
    if form == 2 and pos < len(raw):
        return timedelta(seconds=raw[pos])
    if form == 3 and pos + 3 <= len(raw):
        hours, minutes, seconds = (_field(b) for b in raw[pos : pos + 3])
        return timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return None
