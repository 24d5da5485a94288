"""Twilio-style SIDs for our ids, reversible without a table.

An id from :func:`gateway.ids.new_id` holds 128 bits (48-bit milliseconds, 80
random) in 26 base32 characters; the SID is the same 128 bits as 32 hex digits
after a two-letter prefix (``SM`` for messages).
"""

from __future__ import annotations

import re
from typing import Final

from gateway.ids import encode_crockford

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SID: Final = re.compile(r"SM[0-9a-f]{32}")
_BITS: Final = 128


def to_sid(identifier: str, prefix: str = "SM") -> str:
    value = 0
    for char in identifier.rpartition("_")[2]:
        value = (value << 5) | _ALPHABET.index(char)
    return f"{prefix}{value:032x}"


def from_sid(sid: str, id_prefix: str = "msg") -> str | None:
    """The id behind a message SID, or None when ``sid`` is not one of ours."""
    if not _SID.fullmatch(sid):
        return None
    value = int(sid[2:], 16)
    if value >> _BITS:
        return None
    return f"{id_prefix}_{encode_crockford(value)}"
