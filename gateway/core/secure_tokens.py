"""The secrets of a secure message: its link's token, the one-time code, and the page's
session cookie and form token.

Tokens and codes come from :mod:`secrets`; the store keeps only keyed hashes of them
(made with the store's lookup key, each under its own domain so a hash of one kind can
never stand for another). A session is a signed, short-lived value naming one message:
signed with a key made at start, so a restart ends every session (the patient verifies
again) and nothing of it is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Final

TOKEN_BYTES: Final = 32  # 256 bits; the link carries it base64url-encoded (43 characters)
CODE_DIGITS: Final = 6
SESSION_SECONDS: Final = 15 * 60.0
TOKEN_DOMAIN: Final = "smsgw.secure.token\x00"  # noqa: S105 - a hash domain, not a secret
DOB_DOMAIN: Final = "smsgw.secure.dob\x00"
CODE_DOMAIN: Final = "smsgw.secure.code\x00"

Hasher = Callable[[str], bytes]  # the store's keyed hash (``Store.number_hash``)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def token_hash(hasher: Hasher, token: str) -> bytes:
    return hasher(TOKEN_DOMAIN + token)


def dob_hash(hasher: Hasher, secure_id: str, dob: str) -> bytes:
    """Bound to the message, so equal dates of birth hash apart."""
    return hasher(f"{DOB_DOMAIN}{secure_id}\x00{dob}")


def code_hash(hasher: Hasher, secure_id: str, code: str) -> bytes:
    return hasher(f"{CODE_DOMAIN}{secure_id}\x00{code}")


class SessionSigner:
    """Session cookies and form tokens for the patient's pages, signed with a key that
    lives as long as the process."""

    def __init__(
        self, lifetime: float = SESSION_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = secrets.token_bytes(32)
        self.lifetime = lifetime
        self._clock = clock

    def _mac(self, *parts: str) -> str:
        message = "\x00".join(parts).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def session(self, secure_id: str) -> str:
        """A cookie value: its expiry, a nonce, and their signature with the message id."""
        expires = str(int(self._clock() + self.lifetime))
        nonce = secrets.token_urlsafe(12)
        return f"{expires}.{nonce}.{self._mac('session', secure_id, expires, nonce)}"

    def valid(self, secure_id: str, cookie: str | None) -> bool:
        if not cookie:
            return False
        parts = cookie.split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            return False
        expires, nonce, mac = parts
        good = hmac.compare_digest(mac, self._mac("session", secure_id, expires, nonce))
        return good and int(expires) > self._clock()

    def form_token(self, secure_id: str, cookie: str) -> str:
        """What each form of a session carries: tied to its cookie, so a page elsewhere
        cannot post one (the cookie is SameSite=Strict too)."""
        return self._mac("form", secure_id, cookie)

    def form_valid(self, secure_id: str, cookie: str, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.form_token(secure_id, cookie))
