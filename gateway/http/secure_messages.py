"""``/v1/secure-messages``: content kept off the SMS, behind a link to the patient's page.

Creating needs ``send`` (it sends an SMS); reading the state needs ``read`` and shows
times and state, never the content; ``DELETE`` revokes (the content is erased at once).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.core.attachments import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    MAX_FILENAME_CHARS,
    MAX_TOTAL_BYTES,
    decode_attachment,
    safe_filename,
)
from gateway.core.secure_desk import DEFAULT_SMS_TEXT, SecureDesk, SecureRequest
from gateway.errors import AttachmentTooLarge, EmptyText, NotFound, ValidationError
from gateway.http.context import API_KEY, canceller, reader
from gateway.http.feature import Feature, Route
from gateway.http.messages import read_json_object
from gateway.http.openapi_builders import (
    INT,
    STR,
    STR_OR_NULL,
    TIME,
    TIME_OR_NULL,
    Schema,
    error_responses,
    json_body,
    json_content,
    object_schema,
    param,
    secured,
)
from gateway.http.resources import json_response
from gateway.http.validation import (
    MAX_ID_CHARS,
    _metadata,
    _tags,
    category_name,
)
from gateway.store.base import Scope
from gateway.store.secure_records import (
    CODE,
    DOB,
    VERIFY_METHODS,
    SecureAttachment,
    SecureMessage,
    SecureState,
)
from gateway.timefmt import rfc3339

SECURE_PATH: Final = "/v1/secure-messages"
SECURE_ITEM_PATH: Final = "/v1/secure-messages/{id}"
FIELDS: Final = frozenset(
    {"to", "text", "body", "verify", "expires_in", "category", "tags", "metadata"}
)
MAX_BODY_CHARS: Final = 20_000
MAX_SMS_TEXT_CHARS: Final = 300


def secure_json(record: SecureMessage, now: float) -> dict[str, Any]:
    return {
        "id": record.id,
        "to": record.to,
        "message_id": record.message_id,
        "state": record.state(now).value,
        "verify_method": record.method,
        "category": record.category,
        "tags": list(record.tags),
        "metadata": record.metadata,
        "failures": record.failures,
        "content_erased": record.erased_at is not None,
        "created_at": rfc3339(record.created_at),
        "expires_at": rfc3339(record.expires_at),
        "sent_at": rfc3339(record.sms_sent_at),
        "opened_at": rfc3339(record.opened_at),
        "verified_at": rfc3339(record.verified_at),
        "read_at": rfc3339(record.read_at),
        "answered_at": rfc3339(record.answered_at),
        "locked_at": rfc3339(record.locked_at),
        "revoked_at": rfc3339(record.revoked_at),
        "erased_at": rfc3339(record.erased_at),
    }


def _string(obj: dict[str, Any], name: str, limit: int, default: str | None = None) -> str:
    value = obj.get(name, default)
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    if not value.strip():
        raise EmptyText(f"{name} must not be empty", field=name)
    if len(value) > limit:
        raise ValidationError(f"{name} holds at most {limit} characters", field=name)
    return value


def _attachments(value: object) -> tuple[SecureAttachment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise ValidationError(
            f"attachments must be an array of at most {MAX_ATTACHMENTS}", field="body.attachments"
        )
    found: list[SecureAttachment] = []
    total = 0
    for i, item in enumerate(value):
        prefix = f"body.attachments[{i}]"
        if not isinstance(item, dict) or set(item) - {"filename", "content_base64"}:
            raise ValidationError(
                "an attachment is an object of filename and content_base64", field=prefix
            )
        name = safe_filename(item.get("filename"), f"{prefix}.filename")
        content, content_type = decode_attachment(
            item.get("content_base64"), f"{prefix}.content_base64"
        )
        total += len(content)
        if total > MAX_TOTAL_BYTES:
            raise AttachmentTooLarge(
                f"attachments hold at most {MAX_TOTAL_BYTES} bytes together", field=prefix
            )
        found.append(SecureAttachment(name, content_type, content))
    return tuple(found)


def _verify(value: object) -> tuple[str, str | None]:
    if not isinstance(value, dict) or value.get("method") not in VERIFY_METHODS:
        raise ValidationError(
            'verify must be {"method": "dob", "dob": "YYYY-MM-DD"} or {"method": "code"}',
            field="verify",
        )
    method = str(value["method"])
    allowed = {"method", "dob"} if method == DOB else {"method"}
    if set(value) - allowed:
        raise ValidationError("unknown field", field=f"verify.{sorted(set(value) - allowed)[0]}")
    if method == DOB and "dob" not in value:
        raise ValidationError("dob is required with the dob method", field="verify.dob")
    dob = value.get("dob")
    return method, dob if isinstance(dob, str) else (None if dob is None else str(dob))


def parse_secure(obj: dict[str, Any]) -> SecureRequest:
    for name in obj:
        if name not in FIELDS:
            raise ValidationError("unknown field", field=name[:64])
    to = _string(obj, "to", 32)
    body = obj.get("body")
    if not isinstance(body, dict) or set(body) - {"text", "attachments"}:
        raise ValidationError("body must be an object of text and attachments", field="body")
    text = _string(body, "text", MAX_BODY_CHARS)
    method, dob = _verify(obj.get("verify"))
    expires_in = obj.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int | float)
    ):
        raise ValidationError("expires_in must be a number of seconds", field="expires_in")
    category = obj.get("category")
    return SecureRequest(
        to=to,
        body_text=text,
        attachments=_attachments(body.get("attachments")),
        method=method,
        dob=dob,
        sms_text=_string(obj, "text", MAX_SMS_TEXT_CHARS, DEFAULT_SMS_TEXT),
        expires_in=None if expires_in is None else float(expires_in),
        category=None if category is None else category_name(category, "category"),
        tags=_tags(obj.get("tags"), ""),
        metadata=_metadata(obj.get("metadata"), ""),
    )


class SecureMessagesApi:
    def __init__(self, desk: SecureDesk) -> None:
        self._desk = desk

    async def create(self, request: web.Request) -> web.Response:
        secure = parse_secure(await read_json_object(request))
        record = await self._desk.create(secure, request[API_KEY])
        return json_response(
            secure_json(record, self._desk.now()),
            status=201,
            headers={"Location": f"{SECURE_PATH}/{record.id}"},
        )

    def _id(self, request: web.Request) -> str:
        secure_id = request.match_info["id"]
        if len(secure_id) > MAX_ID_CHARS:
            raise NotFound("no such secure message")
        return secure_id

    async def get(self, request: web.Request) -> web.Response:
        record = await self._desk.get(self._id(request), owner=reader(request[API_KEY]))
        return json_response(secure_json(record, self._desk.now()))

    async def delete(self, request: web.Request) -> web.Response:
        key = request[API_KEY]
        record = await self._desk.revoke(self._id(request), owner=canceller(key), actor=key.id)
        return json_response(secure_json(record, self._desk.now()))


# OpenAPI -------------------------------------------------------------------------------


def _schemas() -> dict[str, Schema]:
    attachment = object_schema(
        {
            "filename": {"type": "string", "minLength": 1, "maxLength": MAX_FILENAME_CHARS},
            "content_base64": {
                "type": "string",
                "description": f"PDF, JPEG or PNG (checked by content), at most "
                f"{MAX_ATTACHMENT_BYTES} bytes decoded; {MAX_TOTAL_BYTES} bytes together. "
                "Too large: 413 attachment_too_large; another type: 400 "
                "attachment_type_refused",
            },
        }
    )
    times = {
        name: TIME_OR_NULL
        for name in (
            "sent_at",
            "opened_at",
            "verified_at",
            "read_at",
            "answered_at",
            "locked_at",
            "revoked_at",
            "erased_at",
        )
    }
    return {
        "SecureMessageRequest": object_schema(
            {
                "to": STR,
                "text": {
                    "type": "string",
                    "maxLength": MAX_SMS_TEXT_CHARS,
                    "description": "the SMS; must hold {link}, may hold {clinic}; must not "
                    f"hold the body. Default: {DEFAULT_SMS_TEXT}",
                },
                "body": object_schema(
                    {
                        "text": {"type": "string", "minLength": 1, "maxLength": MAX_BODY_CHARS},
                        "attachments": {
                            "type": "array",
                            "items": attachment,
                            "maxItems": MAX_ATTACHMENTS,
                        },
                    },
                    optional=("attachments",),
                ),
                "verify": {
                    "type": "object",
                    "properties": {
                        "method": {"type": "string", "enum": [DOB, CODE]},
                        "dob": {"type": "string", "format": "date"},
                    },
                    "required": ["method"],
                    "additionalProperties": False,
                    "description": "dob: the patient types their date of birth; code: a "
                    "one-time code is texted when they ask for it on the page",
                },
                "expires_in": {
                    "type": "number",
                    "description": "seconds; default 7 days; 60 s to 90 days",
                },
                "category": STR,
                "tags": {"type": "array", "items": STR},
                "metadata": {"type": "object"},
            },
            optional=("text", "expires_in", "category", "tags", "metadata"),
        ),
        "SecureMessage": object_schema(
            {
                "id": STR,
                "to": STR,
                "message_id": {**STR_OR_NULL, "description": "the SMS carrying the link"},
                "state": {"type": "string", "enum": [s.value for s in SecureState]},
                "verify_method": {"type": "string", "enum": [DOB, CODE]},
                "category": STR,
                "tags": {"type": "array", "items": STR},
                "metadata": {"type": "object"},
                "failures": INT,
                "content_erased": {"type": "boolean"},
                "created_at": TIME,
                "expires_at": TIME,
                **times,
            }
        ),
    }


def _paths() -> dict[str, Any]:
    secure_id = param("id", "path", STR, "secure message id", required=True)
    return {
        SECURE_PATH: {
            "post": secured(
                {
                    "operationId": "create_secure_message",
                    "summary": "Send a secure message: an SMS with a link to the content",
                    "requestBody": json_body("SecureMessageRequest"),
                    "responses": {
                        "201": json_content(
                            "SecureMessage",
                            "stored and its SMS queued",
                            headers={"Location": {"schema": STR}},
                        ),
                        **error_responses("400", "401", "403", "413", "415", "422"),
                    },
                },
                Scope.SEND,
            )
        },
        SECURE_ITEM_PATH: {
            "get": secured(
                {
                    "operationId": "get_secure_message",
                    "summary": "A secure message's state and times (never its content)",
                    "parameters": [secure_id],
                    "responses": {
                        "200": json_content("SecureMessage", "the record"),
                        **error_responses("401", "403", "404"),
                    },
                },
                Scope.READ,
            ),
            "delete": secured(
                {
                    "operationId": "revoke_secure_message",
                    "summary": "Revoke: the link closes and the content is erased (audited)",
                    "parameters": [secure_id],
                    "responses": {
                        "200": json_content("SecureMessage", "revoked"),
                        **error_responses("401", "403", "404"),
                    },
                },
                Scope.SEND,
            ),
        },
    }


def feature(desk: SecureDesk) -> Feature:
    api = SecureMessagesApi(desk)
    return Feature(
        "secure_messages",
        routes=(
            Route("POST", SECURE_PATH, api.create, Scope.SEND),
            Route("GET", SECURE_ITEM_PATH, api.get, Scope.READ),
            Route("DELETE", SECURE_ITEM_PATH, api.delete, Scope.SEND),
        ),
        paths=_paths(),
        schemas=_schemas(),
    )
