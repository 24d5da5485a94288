"""Identifiers that sort by creation time: ``msg_01JD…``.

A 48-bit millisecond timestamp followed by 80 random bits, written in Crockford
base32 (26 characters, no ambiguous letters, fixed width so text order is time
order). Cursor pagination and "newest first" listings therefore need no extra
column, and ids made on different hosts do not collide. Within one process ids
are strictly increasing even when the clock stands still or steps back: the
random part of the previous id is incremented instead of drawn again.
"""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1
_ENCODED_LENGTH = 26

_last_ms = 0
_last_random = 0
# Held while the counter advances: ids are also made on the store's worker thread.
_lock = threading.Lock()


def new_id(prefix: str) -> str:
    global _last_ms, _last_random
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms = now_ms
            _last_random = secrets.randbits(_RANDOM_BITS)
        else:
            # Same millisecond (or the clock stepped back): stay on the last timestamp
            # and count up, so ids keep their order within the process.
            _last_random += 1
            if _last_random > _RANDOM_MASK:
                _last_ms += 1
                _last_random = secrets.randbits(_RANDOM_BITS - 1)
        value = (_last_ms << _RANDOM_BITS) | _last_random
    return f"{prefix}_{encode_crockford(value)}"


def encode_crockford(value: int) -> str:
    chars = []
    for _ in range(_ENCODED_LENGTH):
        chars.append(_ALPHABET[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def id_time(identifier: str) -> float:
    """The creation time (POSIX seconds) encoded in an id made by :func:`new_id`."""
    encoded = identifier.rpartition("_")[2]
    value = 0
    for char in encoded:
        value = (value << 5) | _ALPHABET.index(char)
    return (value >> _RANDOM_BITS) / 1000.0
