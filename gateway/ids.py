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
# Every two-character string in order: entry ``hi * 32 + lo`` is ALPHABET[hi] + ALPHABET[lo].
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_PAIR_MASK = len(_PAIRS) - 1

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
    """The low 130 bits of ``value`` as 26 characters, most significant first.

    Ten bits (two characters) a step from a table, written out step by step: every
    message gets an id, and this is several times faster than a character-at-a-time loop.
    """
    p, m = _PAIRS, _PAIR_MASK
    return "".join(
        (
            p[value >> 120 & m],
            p[value >> 110 & m],
            p[value >> 100 & m],
            p[value >> 90 & m],
            p[value >> 80 & m],
            p[value >> 70 & m],
            p[value >> 60 & m],
            p[value >> 50 & m],
            p[value >> 40 & m],
            p[value >> 30 & m],
            p[value >> 20 & m],
            p[value >> 10 & m],
            p[value & m],
        )
    )


def id_time(identifier: str) -> float:
    """The creation time (POSIX seconds) encoded in an id made by :func:`new_id`."""
    encoded = identifier.rpartition("_")[2]
    value = 0
    for char in encoded:
        value = (value << 5) | _ALPHABET.index(char)
    return (value >> _RANDOM_BITS) / 1000.0
