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
