"""Secure messages: the content waits behind an unguessable link; the SMS carries only
the link, and goes out through the normal send path (consent, quiet hours, routing).

The desk holds the rules both listeners share: the staff API creates and revokes, the
patient's pages open, verify, read and answer. An answer, once committed, goes through the
hook a text does (``on_inbound``: an expected reply's follow-up or nudge, the after-hours
auto-reply). Every patient action is audited with the source address and never the
content; wrong answers are counted per message (the store locks it at ``max_failures``)
and per address (refused for a while).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from gateway.core.auth_failures import AuthFailures
from gateway.core.clock_guard import ClockGuard
from gateway.core.numbers import normalize
from gateway.core.secure_tokens import (
    code_hash,
    dob_hash,
    new_code,
    new_token,
    token_hash,
)
from gateway.core.service import GatewayService, SendRequest
from gateway.errors import AuthThrottled, GatewayError, NotFound, Unavailable, ValidationError
from gateway.ids import new_id
from gateway.store.base import ApiKey, Inbound, InboundPart, Priority, Store
from gateway.store.secure_records import (
    CLOSED_STATES,
    CODE,
    DOB,
    SECURE_PAGE,
    NewSecureMessage,
    SecureAttachment,
    SecureContent,
    SecureMessage,
    VerifyOutcome,
)

log = logging.getLogger(__name__)

DEFAULT_SMS_TEXT: Final = "{clinic} has a message for you: {link}"
LINK_PATH: Final = "/s/"
PATIENT_ACTOR: Final = "patient"  # the audit trail's actor for what happens on the pages
OPEN_ACTION: Final = "secure.open"
VERIFY_ACTION: Final = "secure.verify"
CODE_ACTION: Final = "secure.code"
READ_ACTION: Final = "secure.read"
ANSWER_ACTION: Final = "secure.answer"
REVOKE_ACTION: Final = "secure.revoke"
CREATE_ACTION: Final = "secure.create"
MIN_BODY_ECHO: Final = 8  # a body this long or more must not appear in the SMS
MAX_ANSWER_CHARS: Final = 1000
MAX_TRACKED: Final = 10_000  # messages whose code sends are remembered at once

# After an answer's commit, what follows any patient's text (follow-ups, auto-reply).
InboundHook = Callable[[Inbound], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SecureSettings:
    """Limits and times (seconds) of secure messages; tests shrink the sweep."""

    max_failures: int = 5  # wrong answers that lock a message
    address_failures: int = 20  # wrong answers from one address within the window
    address_window: float = 900.0
    code_ttl: float = 600.0
    codes_per_window: int = 3  # codes texted for one message within address_window
    default_expiry: float = 7 * 86400.0
    min_expiry: float = 60.0
    max_expiry: float = 90 * 86400.0
    sweep_interval: float = 60.0  # how often expired content is looked for


@dataclass(frozen=True, slots=True)
class SecureRequest:
    """A secure message as the API took it (shape checked; meaning checked here)."""

    to: str
    body_text: str
    attachments: tuple[SecureAttachment, ...] = ()
    method: str = DOB
    dob: str | None = None
    sms_text: str = DEFAULT_SMS_TEXT
    expires_in: float | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


def parse_dob(value: object, field_name: str) -> str:
    """A date of birth as YYYY-MM-DD, a real date in the past; returned normalised."""
    if not isinstance(value, str):
        raise ValidationError("dob must be a date, YYYY-MM-DD", field=field_name)
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("dob must be a date, YYYY-MM-DD", field=field_name) from None
    if parsed > date.today() or parsed.year < 1900:
        raise ValidationError("dob must be a date between 1900 and today", field=field_name)
    return parsed.isoformat()


class SecureDesk:
    def __init__(
        self,
        service: GatewayService,
        *,
        clinic: str,
        default_country: str,
        link_base: Callable[[], str | None],
        settings: SecureSettings | None = None,
        clock: Callable[[], float] = time.time,
        on_inbound: InboundHook | None = None,
    ) -> None:
        self._service = service
        self._on_inbound = on_inbound
        self._clinic = clinic
        self._country = default_country
        self._link_base = link_base
        self.settings = settings or SecureSettings()
        self._clock = clock
        self._addresses = AuthFailures(self.settings.address_failures, self.settings.address_window)
        # When codes were texted, per message: a page posted in a loop must not flood a phone.
        self._codes_sent: dict[str, list[float]] = {}

    @property
    def _store(self) -> Store:
        return self._service.store

    def now(self) -> float:
        return self._clock()

    # staff side ----------------------------------------------------------------------

    async def create(self, request: SecureRequest, api_key: ApiKey | None) -> SecureMessage:
        """Store the content, then send the SMS with its link; when the SMS is refused
        (opted out, a bad field) nothing of the secure message is kept."""
        base = self._link_base()
        if base is None:
            raise Unavailable(
                "secure messages need the public listener ([server.public]) and a public_url"
            )
        to = normalize(request.to, self._country, field="to")
        expires_in = self._expiry(request.expires_in)
        token = new_token()
        sms = self._sms_text(request, f"{base}{LINK_PATH}{token}")
        secure_id = new_id("sec")
        store = self._store
        hasher = store.number_hash
        # The SMS's category, as the send path would pick it (the key's default when absent).
        category = request.category or (api_key.default_category if api_key else "care")
        dob = None
        if request.method == DOB:
            dob = dob_hash(hasher, secure_id, parse_dob(request.dob, "verify.dob"))
        new = NewSecureMessage(
            id=secure_id,
            token_hash=token_hash(hasher, token),
            to=to,
            text=request.body_text,
            attachments=request.attachments,
            method=request.method,
            dob_hash=dob,
            expires_at=self._clock() + expires_in,
            category=category,
            tags=request.tags,
            metadata=dict(request.metadata),
            api_key_id=None if api_key is None else api_key.id,
        )
        await store.add_secure_message(new)
        send = SendRequest(
            to=to,
            body=sms,
            ttl=expires_in,
            tags=request.tags,
            metadata={**request.metadata, "secure_message_id": secure_id},
            category=category,
        )
        try:
            [result] = await self._service.submit([send], api_key, refuse_opted_out=True)
        except BaseException:
            await store.drop_secure_message(secure_id)
            raise
        await store.link_secure_message(secure_id, result.message.id)
        actor = "daemon" if api_key is None else api_key.id
        await store.audit(
            actor, CREATE_ACTION, {"message_id": result.message.id}, subject=secure_id
        )
        found = await store.get_secure_message(secure_id)
        assert found is not None
        return found

    def _expiry(self, expires_in: float | None) -> float:
        s = self.settings
        value = s.default_expiry if expires_in is None else expires_in
        if not s.min_expiry <= value <= s.max_expiry:
            raise ValidationError(
                f"expires_in must be {s.min_expiry:g} to {s.max_expiry:g} seconds",
                field="expires_in",
            )
        return value

    def _sms_text(self, request: SecureRequest, link: str) -> str:
        if "{link}" not in request.sms_text:
            raise ValidationError("text must hold {link}, where the link goes", field="text")
        body = request.body_text.strip()
        if len(body) >= MIN_BODY_ECHO and body in request.sms_text:
            raise ValidationError("text must not hold the protected body", field="text")
        return request.sms_text.replace("{clinic}", self._clinic).replace("{link}", link)

    async def revoke(self, secure_id: str, *, owner: str | None, actor: str) -> SecureMessage:
        record: SecureMessage = await self._store.revoke_secure(secure_id, owner=owner)
        await self._store.audit(actor, REVOKE_ACTION, {}, subject=secure_id)
        return record

    async def get(self, secure_id: str, *, owner: str | None) -> SecureMessage:
        found: SecureMessage | None = await self._store.get_secure_message(secure_id, owner=owner)
        if found is None:
            raise NotFound("no such secure message")
        return found

    # patient side --------------------------------------------------------------------

    async def lookup(self, token: str) -> SecureMessage | None:
        """The message a link names while it can be read, else None: unknown, expired,
        revoked and locked links all look alike to the patient."""
        store = self._store
        record = await store.find_secure_message(token_hash(store.number_hash, token))
        if record is None or record.state(self._clock()) in CLOSED_STATES:
            return None
        return record

    async def open(self, token: str, address: str) -> SecureMessage | None:
        """:meth:`lookup` for a page view: the first view is kept, every one audited."""
        store = self._store
        record = await store.find_secure_message(token_hash(store.number_hash, token))
        if record is None:
            return None
        now = self._clock()
        state = record.state(now)
        if record.opened_at is None and state not in CLOSED_STATES:
            await store.secure_opened(record.id, now)
        detail = {"address": address, "state": state.value}
        await store.audit(PATIENT_ACTOR, OPEN_ACTION, detail, subject=record.id)
        return None if state in CLOSED_STATES else record

    def check_address(self, address: str) -> None:
        """Raises AuthThrottled while ``address`` has given too many wrong answers."""
        self._addresses.check(address)

    async def send_code(self, record: SecureMessage, address: str) -> None:
        """A new one-time code by SMS to the message's number (the last one sent counts);
        AuthThrottled past ``codes_per_window`` for the message."""
        if record.method != CODE:
            raise ValidationError("this message is verified by date of birth", field="method")
        self.check_address(address)
        self._count_code(record.id)
        code = new_code()
        store = self._store
        expires_at = self._clock() + self.settings.code_ttl
        await store.set_secure_code(
            record.id, code_hash(store.number_hash, record.id, code), expires_at
        )
        minutes = max(1, round(self.settings.code_ttl / 60))
        text = f"{self._clinic}: your code is {code}. It expires in {minutes} minutes."
        send = SendRequest(
            to=record.to,
            body=text,
            priority=Priority.URGENT,
            ttl=self.settings.code_ttl,
            category=record.category,
            metadata={"secure_message_id": record.id},
        )
        await self._service.submit([send], None)
        await store.audit(PATIENT_ACTOR, CODE_ACTION, {"address": address}, subject=record.id)

    def _count_code(self, secure_id: str) -> None:
        window, limit = self.settings.address_window, self.settings.codes_per_window
        now = time.monotonic()
        if len(self._codes_sent) > MAX_TRACKED:
            self._codes_sent = {
                k: v for k, v in self._codes_sent.items() if v and now - v[-1] < window
            }
        recent = [t for t in self._codes_sent.get(secure_id, []) if now - t < window]
        if len(recent) >= limit:
            raise AuthThrottled(
                "too many codes for this message; try again later",
                retry_after=recent[0] + window - now,
            )
        self._codes_sent[secure_id] = [*recent, now]

    async def verify(self, record: SecureMessage, answer: str, address: str) -> VerifyOutcome:
        """One attempt with a date of birth or a code; audited with its outcome."""
        self.check_address(address)
        store = self._store
        hasher = store.number_hash
        if record.method == DOB:
            try:
                value = parse_dob(answer, "dob")
            except ValidationError:
                value = "invalid"
            answer_hash = dob_hash(hasher, record.id, value)
        else:
            answer_hash = code_hash(hasher, record.id, answer.strip())
        outcome: VerifyOutcome = await store.verify_secure(
            record.id, answer_hash, self._clock(), self.settings.max_failures
        )
        if not outcome.ok:
            self._addresses.failed(address)
        detail = {
            "address": address,
            "method": record.method,
            "outcome": "ok" if outcome.ok else "wrong",
            "failures": outcome.record.failures,
            "locked": outcome.record.locked_at is not None,
        }
        await store.audit(PATIENT_ACTOR, VERIFY_ACTION, detail, subject=record.id)
        return outcome

    async def read(self, record: SecureMessage, address: str) -> SecureContent | None:
        content: SecureContent | None = await self._store.read_secure(record.id, self._clock())
        await self._store.audit(PATIENT_ACTOR, READ_ACTION, {"address": address}, subject=record.id)
        return content

    async def attachment(
        self, record: SecureMessage, seq: int, address: str
    ) -> SecureAttachment | None:
        found: SecureAttachment | None = await self._store.secure_attachment(record.id, seq)
        if found is not None:
            detail = {"address": address, "attachment": seq}
            await self._store.audit(PATIENT_ACTOR, READ_ACTION, detail, subject=record.id)
        return found

    async def answer(self, record: SecureMessage, text: str, address: str) -> Inbound:
        """The patient's answer, stored as an inbound text of the secure-page channel in the
        patient's conversation (by the number's keyed hash, as their SMS texts are)."""
        body = text.strip()
        if not body or len(body) > MAX_ANSWER_CHARS:
            raise ValidationError(
                f"an answer holds 1 to {MAX_ANSWER_CHARS} characters", field="text"
            )
        store = self._store
        modem = await self._modem_for(record)
        now = self._clock()
        part = InboundPart(
            modem=modem,
            sender=record.to,
            text=body,
            encoding="ucs2",
            received_at=now,
            sent_at=None,
            dedupe_key=f"secure-answer:{new_id('sa')}",
            dedupe_window=0.0,
            channel=SECURE_PAGE,
        )
        result = await store.answer_secure(record.id, part)
        await store.audit(PATIENT_ACTOR, ANSWER_ACTION, {"address": address}, subject=record.id)
        assert result.inbound is not None
        inbound: Inbound = result.inbound
        if self._on_inbound is not None:
            await self._answered(inbound)
        return inbound

    async def _answered(self, inbound: Inbound) -> None:
        """The answer is committed and the page says so whatever follows: a fault in what
        the gateway texts back is logged, not shown to the patient."""
        assert self._on_inbound is not None
        try:
            await self._on_inbound(inbound)
        except Exception:
            log.exception("after secure answer %s: its follow-up failed", inbound.id)

    async def _modem_for(self, record: SecureMessage) -> str:
        """The modem the link went out on, so the conversation keeps its sticky modem."""
        if record.message_id is not None:
            message = await self._store.get_message(record.message_id)
            if message is not None and message.modem is not None:
                return str(message.modem)
        sticky = await self._store.conversation_modem(self._store.number_hash(record.to))
        return str(sticky) if sticky is not None else SECURE_PAGE

    # retention -----------------------------------------------------------------------

    async def sweep_loop(self, guard: ClockGuard | None = None) -> None:
        """Erase the content of expired messages as they expire (records stay); like the
        retention purge, not while the clock is in doubt (a step forward would erase
        content that has time left)."""
        while True:
            if guard is not None and guard.hold("secure message expiry"):
                await asyncio.sleep(self.settings.sweep_interval)  # a modelled period
                continue
            with contextlib.suppress(GatewayError):
                erased = await self._store.erase_secure(self._clock())
                if erased:
                    log.info("secure messages: content of %d expired message(s) erased", erased)
            await asyncio.sleep(self.settings.sweep_interval)  # a modelled period
