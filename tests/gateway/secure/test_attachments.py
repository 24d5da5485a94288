"""Which files a secure message may carry: by content, within a size."""

from __future__ import annotations

import base64

import pytest

from gateway.core.attachments import (
    MAX_ATTACHMENT_BYTES,
    decode_attachment,
    safe_filename,
    sniff,
)
from gateway.errors import AttachmentTooLarge, AttachmentTypeRefused, ValidationError
from tests.gateway.secure.conftest import PDF, PNG


def test_types_are_known_by_their_first_bytes() -> None:
    assert sniff(PDF) == "application/pdf"
    assert sniff(PNG) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"
    assert sniff(b"<html><script>alert(1)</script>") is None
    assert sniff(b"GIF89a") is None


def test_a_renamed_file_is_refused_with_its_code() -> None:
    with pytest.raises(AttachmentTypeRefused) as caught:
        decode_attachment(base64.b64encode(b"MZ\x90\x00 a program").decode(), "f")
    assert caught.value.code == "attachment_type_refused"


def test_one_byte_over_the_limit_is_refused_before_and_after_decoding() -> None:
    fits = PDF + b"\0" * (MAX_ATTACHMENT_BYTES - len(PDF))
    content, content_type = decode_attachment(base64.b64encode(fits).decode(), "f")
    assert len(content) == MAX_ATTACHMENT_BYTES
    assert content_type == "application/pdf"
    with pytest.raises(AttachmentTooLarge) as caught:
        decode_attachment(base64.b64encode(fits + b"\0").decode(), "f")
    assert caught.value.code == "attachment_too_large"
    assert caught.value.status == 413


def test_not_base64_and_path_names_are_refused() -> None:
    with pytest.raises(ValidationError):
        decode_attachment("not base64!", "f")
    for name in ("../etc/passwd", 'a"b.pdf', "a\nb.pdf", ""):
        with pytest.raises(ValidationError):
            safe_filename(name, "f")
    assert safe_filename(" Résultat 3.pdf ", "f") == "Résultat 3.pdf"
