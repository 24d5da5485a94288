"""Twilio-style SIDs for our ids, reversible without a table.

An id from :func:`gateway.ids.new_id` holds 128 bits (48-bit milliseconds, 80
random) in 26 base32 characters; the SID is the same 128 bits as 32 hex digits
after a two-letter prefix (``SM`` for messages). An API key has two: ``AC…``, the
AccountSid Twilio's SDKs insist on (the Node client refuses any other shape), and
``SK…``, the sid of Twilio's API-key form of basic auth.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.ids import encode_crockford

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SID: Final = re.compile(r"[A-Z]{2}[0-9a-f]{32}")
_BITS: Final = 128
ACCOUNT: Final = "AC"
API_KEY: Final = "SK"
KEY_ID_PREFIX: Final = "key"


def to_sid(identifier: str, prefix: str = "SM") -> str:
    value = 0
    for char in identifier.rpartition("_")[2]:
        value = (value << 5) | _ALPHABET.index(char)
    return f"{prefix}{value:032x}"


def from_sid(sid: str, id_prefix: str = "msg", sid_prefix: str = "SM") -> str | None:
    """The id behind a SID, or None when ``sid`` is not one of ours."""
    if not _SID.fullmatch(sid) or not sid.startswith(sid_prefix):
        return None
    value = int(sid[2:], 16)
    if value >> _BITS:
        return None
    return f"{id_prefix}_{encode_crockford(value)}"


def account_sid(key_id: str) -> str:
    """The AccountSid of an API key: ``AC`` and the key id's 128 bits in hex."""
    return to_sid(key_id, ACCOUNT)


def key_id_of(user: str) -> str | None:
    """The key id a basic-auth user or command-line argument names: the id itself, its
    AccountSid or its ``SK`` sid; None when it names none."""
    if user.startswith(f"{KEY_ID_PREFIX}_"):
        return user
    for prefix in (ACCOUNT, API_KEY):
        found = from_sid(user, KEY_ID_PREFIX, prefix)
        if found is not None:
            return found
    return None
