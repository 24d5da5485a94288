"""Which files a secure message may carry: PDF, JPEG and PNG, recognised by their first
bytes (never by name or declared type), each and all together under a size limit."""

from __future__ import annotations

import base64
import binascii
from typing import Final

from gateway.errors import AttachmentTooLarge, AttachmentTypeRefused, ValidationError

MAX_ATTACHMENT_BYTES: Final = 5 * 1024 * 1024
MAX_TOTAL_BYTES: Final = 10 * 1024 * 1024
MAX_ATTACHMENTS: Final = 5
MAX_FILENAME_CHARS: Final = 120

# Leading bytes -> the content type the page serves it as.
SIGNATURES: Final = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def sniff(content: bytes) -> str | None:
    """The content type the bytes are, or None when they are none of the allowed ones."""
    for magic, content_type in SIGNATURES:
        if content.startswith(magic):
            return content_type
    return None


def decode_attachment(content_base64: object, field: str) -> tuple[bytes, str]:
    """The bytes and their type; the size limit is checked on the base64 text first, so
    an oversized upload is refused before it is decoded."""
    if not isinstance(content_base64, str) or not content_base64:
        raise ValidationError("content_base64 must be a non-empty string", field=field)
    if len(content_base64) > (MAX_ATTACHMENT_BYTES + 2) // 3 * 4 + 4:
        raise AttachmentTooLarge(
            f"an attachment holds at most {MAX_ATTACHMENT_BYTES} bytes", field=field
        )
    try:
        content = base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("content_base64 is not base64", field=field) from None
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(
            f"an attachment holds at most {MAX_ATTACHMENT_BYTES} bytes", field=field
        )
    content_type = sniff(content)
    if content_type is None:
        raise AttachmentTypeRefused(
            "an attachment must be a PDF, JPEG or PNG file (checked by its content)", field=field
        )
    return content, content_type


def safe_filename(value: object, field: str) -> str:
    """A plain file name: no path, no control characters, bounded length."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("filename must be a non-empty string", field=field)
    name = value.strip()
    if (
        len(name) > MAX_FILENAME_CHARS
        or any(c in name for c in '/\\"')
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise ValidationError(
            f"filename is a plain name of at most {MAX_FILENAME_CHARS} characters, without "
            "slashes, quotes or control characters",
            field=field,
        )
    return name
