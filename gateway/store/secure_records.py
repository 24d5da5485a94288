"""What the store keeps of a secure message: the record staff read, and the content the
patient reads once verified (sealed at rest, erased at expiry, revocation or retention).

The record outlives its content so the audit trail and the state stay readable: a
secure message whose content is gone still says when it was sent, opened and read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

DOB: Final = "dob"
CODE: Final = "code"
VERIFY_METHODS: Final = (DOB, CODE)
SECURE_PAGE: Final = "secure_page"  # the channel of an answer typed on the page
SMS: Final = "sms"  # the channel of every other inbound text


class SecureState(enum.StrEnum):
    QUEUED = "queued"  # the SMS carrying the link has not gone out yet
    SENT = "sent"
    OPENED = "opened"
    VERIFIED = "verified"
    READ = "read"
    ANSWERED = "answered"
    LOCKED = "locked"
    EXPIRED = "expired"
    REVOKED = "revoked"


# The states a link no longer opens in: the patient sees the same plain page for each.
CLOSED_STATES: Final = frozenset({SecureState.LOCKED, SecureState.EXPIRED, SecureState.REVOKED})


@dataclass(frozen=True, slots=True)
class SecureAttachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """An attachment as the page lists it (no content)."""

    seq: int  # 1-based
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class NewSecureMessage:
    """A validated secure message ready to persist; the token exists only as its hash."""

    id: str
    token_hash: bytes
    to: str  # E.164
    text: str
    attachments: tuple[SecureAttachment, ...]
    method: str  # DOB or CODE
    dob_hash: bytes | None  # keyed hash of the date of birth (method DOB)
    expires_at: float
    category: str
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    api_key_id: str | None = None


@dataclass(frozen=True, slots=True)
class SecureMessage:
    """The record: who it is for, how the patient verifies, and what happened when."""

    id: str
    to: str
    message_id: str | None  # the SMS that carries the link
    sms_sent_at: float | None
    api_key_id: str | None
    method: str
    category: str
    tags: tuple[str, ...]
    metadata: dict[str, Any]
    created_at: float
    expires_at: float
    failures: int
    opened_at: float | None = None
    verified_at: float | None = None
    read_at: float | None = None
    answered_at: float | None = None
    locked_at: float | None = None
    revoked_at: float | None = None
    erased_at: float | None = None  # when the content was erased (expiry, revocation, retention)

    def state(self, now: float) -> SecureState:
        """The furthest point it reached; a closed link says why it is closed."""
        if self.revoked_at is not None:
            return SecureState.REVOKED
        if self.locked_at is not None:
            return SecureState.LOCKED
        if now >= self.expires_at or self.erased_at is not None:
            return SecureState.EXPIRED
        for state, at in (
            (SecureState.ANSWERED, self.answered_at),
            (SecureState.READ, self.read_at),
            (SecureState.VERIFIED, self.verified_at),
            (SecureState.OPENED, self.opened_at),
            (SecureState.SENT, self.sms_sent_at),
        ):
            if at is not None:
                return state
        return SecureState.QUEUED


@dataclass(frozen=True, slots=True)
class SecureContent:
    text: str
    attachments: tuple[AttachmentInfo, ...]


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    """One verification attempt: whether it passed, and the record after it."""

    ok: bool
    record: SecureMessage
