"""Where sealed values live (associated data), and the JSON and cursor encodings the tables share.

Every sealed value is bound to ``<table>.<column>.<row id>`` so that it cannot be
moved to another row or column without failing to open.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from gateway.errors import ValidationError


def aad(table: str, column: str, row_id: str | int) -> bytes:
    return f"{table}.{column}.{row_id}".encode()


def dump_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode_cursor(last_id: str | int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise ValidationError("invalid cursor", field="cursor") from None
