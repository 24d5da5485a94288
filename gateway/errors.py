"""Typed gateway errors with stable codes.

``code`` is the contract (HTTP error bodies, CLI exit paths, tests); ``status``
is the HTTP status the API answers with when the error reaches a client.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConfigError(GatewayError):
    """Bad configuration: ``field`` names the dotted key (``modems[1].port``)."""

    code = "config_invalid"


class KeyFileError(GatewayError):
    """Missing, unreadable, too-permissive or wrong key file."""

    code = "key_file"


class StoreError(GatewayError):
    code = "store_error"


class ValidationError(GatewayError):
    code = "invalid_request"
    status = 400


class InvalidNumber(ValidationError):
    code = "invalid_number"


class TextTooLong(ValidationError):
    code = "text_too_long"


class NotFound(GatewayError):
    code = "not_found"
    status = 404


class Conflict(GatewayError):
    code = "conflict"
    status = 409


class NotCancellable(Conflict):
    code = "not_cancellable"


class IdempotencyConflict(Conflict):
    """The idempotency key was used before with a different request."""

    code = "idempotency_conflict"


class Unauthorized(GatewayError):
    code = "unauthorized"
    status = 401


class Forbidden(GatewayError):
    code = "forbidden"
    status = 403


class Unavailable(GatewayError):
    code = "unavailable"
    status = 503


class StoreUnavailable(Unavailable):
    """The database file was deleted or replaced under the daemon, or writes to it fail
    (a full disk): nothing more is accepted until it is back."""


class StoreDamaged(StoreError):
    """The database is not one the gateway can trust: not a database, missing a table,
    or failing its integrity check. Found at start; the daemon refuses to run."""

    code = "store_damaged"


class StoreMissing(StoreDamaged):
    """The database is missing (or empty) though one was created here before: starting
    on a fresh one would silently drop every accepted message."""

    code = "store_missing"


class InvalidJson(ValidationError):
    """The request body is not JSON (or not UTF-8)."""

    code = "invalid_json"


class UnknownField(ValidationError):
    """A field the API does not define: refused rather than ignored, so typos surface."""

    code = "unknown_field"


class EmptyText(ValidationError):
    code = "empty_text"


class InvalidText(ValidationError):
    """A text holding a control character no handset shows (NUL would go out as "@")."""

    code = "invalid_text"


class InvalidPriority(ValidationError):
    code = "invalid_priority"


class InvalidTime(ValidationError):
    """Not an RFC 3339 date-time with an offset, or a duration out of range."""

    code = "invalid_time"


class TemplateInvalid(ValidationError):
    """A template body that cannot be rendered: an unbalanced brace, a bad variable name,
    an unknown filter; the message names the problem and its position."""

    code = "template_invalid"


class TemplateVariableMissing(ValidationError):
    """A send names a template but not one of the variables it uses (``field`` names it)."""

    code = "template_variable_missing"


class BatchTooLarge(ValidationError):
    code = "batch_too_large"


class PayloadTooLarge(GatewayError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(GatewayError):
    code = "unsupported_media_type"
    status = 415


class MethodNotAllowed(GatewayError):
    code = "method_not_allowed"
    status = 405


class DaemonUnreachable(Unavailable):
    """A client (the CLI) could not reach the daemon's API at all."""

    code = "daemon_unreachable"


class UnknownKey(KeyFileError):
    """A stored value was sealed with a key id the key ring does not hold (yet)."""


class DataDirInUse(Conflict):
    """Another smsgw process (a daemon, or rotate-key) holds the data directory's lock.

    Never served by the API, so it keeps ``conflict`` as its code (exit 1 in the CLI)."""


class ModemNotReady(Unavailable):
    """The named modem exists but is not open and ready (down, starting, resetting)."""

    code = "modem_not_ready"


class CommandRefused(ValidationError):
    """A technician command the gateway will not pass to a modem: one that opens a text
    prompt (AT+CMGS, AT+CMGW, AT+CMGC), spans lines, or is not a valid USSD code."""

    code = "command_refused"


class ModemCommandFailed(GatewayError):
    """The modem answered a technician command with ERROR, +CME ERROR or +CMS ERROR;
    the message carries the final result as the modem gave it (``+CME ERROR: 30``)."""

    code = "modem_error"
    status = 502


class ModemTimeout(GatewayError):
    """The modem gave no final result to a technician command within its deadline."""

    code = "modem_timeout"
    status = 504


class UssdFailed(GatewayError):
    """The network refused or dropped a USSD request, or did not answer in time."""

    code = "ussd_failed"
    status = 502


class AuditBroken(StoreError):
    """The audit trail's hash chain does not verify: a row was altered, removed or added."""

    code = "audit_broken"


class CallbackNotAllowed(ValidationError):
    """A callback or webhook URL names a host not in ``[server] callback_hosts``."""

    code = "callback_not_allowed"


class RequestTimeout(GatewayError):
    """A request's body did not arrive within the listener's ``body_timeout``."""

    code = "request_timeout"
    status = 408


class TooManyConnections(GatewayError):
    """The listener holds ``max_connections`` already; a new one is answered and closed."""

    code = "too_many_connections"
    status = 503


class OptedOut(GatewayError):
    """The number is on the opt-out list for this message's category (a single send)."""

    code = "opted_out"
    status = 422


class NoSimulatedNetwork(Unavailable):
    """``smsgw simulate text`` or the status page's patient form, with no simulator to
    reach: the daemon is not running, or none of its modems is simulated."""

    code = "no_simulated_network"


class NotSimulated(NotFound):
    """A text in as a patient for a modem that is not simulated (or does not exist)."""

    code = "not_simulated"


class MalformedRequest(ValidationError):
    """Bytes the HTTP parser could not read as a request (request line or header)."""

    code = "malformed_request"


class HeaderTooLarge(MalformedRequest):
    """A request line or header field longer than the parser accepts."""

    code = "header_too_large"


class TooManyRequests(GatewayError):
    """A limit that clears with time: ``retry_after`` seconds say when (``Retry-After``)."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(retry_after, 0.0)


class RateLimited(TooManyRequests):
    """The key made more requests than its ``requests per minute`` allow."""

    code = "rate_limited"


class QuotaExceeded(TooManyRequests):
    """The key's ``messages per day`` (a rolling 24 hours) would be exceeded."""

    code = "quota_exceeded"


class AuthThrottled(TooManyRequests):
    """Too many failed authentications from one address: it is refused for a while."""

    code = "too_many_auth_failures"


class KeyExpired(Unauthorized):
    """The key's expiry time has passed (it is refused as a revoked one is)."""

    code = "key_expired"


class NetworkNotAllowed(Forbidden):
    """The request came from an address outside the key's allowed networks."""

    code = "network_not_allowed"


class AttachmentTooLarge(PayloadTooLarge):
    """A secure message's attachment (or all of them together) above the size limit."""

    code = "attachment_too_large"


class AttachmentTypeRefused(ValidationError):
    """An attachment whose content is not a PDF, JPEG or PNG (checked by its bytes)."""

    code = "attachment_type_refused"
