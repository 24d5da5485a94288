"""Bad input that Python's JSON parser turns into an unusual exception still gets a 400."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidJson
from gateway.http.validation import parse_json_object


def test_an_integer_too_long_to_convert_is_invalid_json_not_a_crash() -> None:
    # json.loads raises a plain ValueError (int max str digits), not JSONDecodeError.
    raw = b'{"to": "+15551234567", "body": "x", "ttl": ' + b"9" * 5000 + b"}"
    with pytest.raises(InvalidJson):
        parse_json_object(raw)
