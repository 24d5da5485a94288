"""The send schema says what the validation does: ``body`` or ``template``, never both,
and ``variables`` only with a template."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.api.conftest import SERVED_DOCUMENT
from tests.gateway.api.schema_check import errors

SEND = {"$ref": "#/components/schemas/SendRequest"}
TO = "+15551234567"


@pytest.mark.parametrize(
    ("request_body", "valid"),
    [
        ({"to": TO, "body": "hi"}, True),
        ({"to": TO, "template": "t", "variables": {"a": "x", "n": 2}}, True),
        ({"to": TO, "template": "t"}, True),
        ({"to": TO}, False),
        ({"to": TO, "body": "hi", "template": "t"}, False),
        ({"to": TO, "body": "hi", "variables": {"a": "x"}}, False),
    ],
)
def test_a_send_has_a_body_or_a_template(request_body: dict[str, Any], valid: bool) -> None:
    assert (errors(SERVED_DOCUMENT, SEND, request_body) == []) is valid
