"""Request -> message: normalisation, segment counts, limits, times, fingerprints."""

from __future__ import annotations

import random

import pytest

from drivers.pdu import encode
from gateway.config import ModemConfig, RouteConfig
from gateway.core.routing import Router
from gateway.core.service import SendRequest
from gateway.core.submission import (
    ConcatReferences,
    SubmissionRules,
    prepare_message,
    request_fingerprint,
)
from gateway.errors import EmptyText, InvalidNumber, InvalidTime, TextTooLong
from gateway.store.base import Priority

NOW = 1_800_000_000.0
ROUTER = Router(
    (RouteConfig(name="uk", prefixes=("+44",)),), (ModemConfig(name="m1", port="/dev/x"),)
)
RULES = SubmissionRules(default_country="1", max_segments=3, router=ROUTER)


def test_fields_are_filled() -> None:
    m = prepare_message(
        SendRequest(to="(555) 123-4567", body="hi", priority=Priority.URGENT, ttl=60),
        RULES,
        now=NOW,
        api_key=None,
        references=ConcatReferences(random.Random(1)),
    )
    assert m.to == "+15551234567"
    assert m.send_at == NOW
    assert m.expires_at == NOW + 60
    assert m.segment_count == 1
    assert m.encoding == "gsm7"
    assert m.route is None
    assert m.id.startswith("msg_")
    assert 0 <= m.concat_ref <= 0xFF
    uk = prepare_message(
        SendRequest(to="+447700900123", body="hi"), RULES, now=NOW, api_key=None,
        references=ConcatReferences(random.Random(1)),
    )  # fmt: skip
    assert uk.route == "uk"


def test_segment_count_matches_what_will_be_sent() -> None:
    body = "x" * 306  # two segments with the 8-bit reference, three with a 16-bit one
    for seed in range(20):
        m = prepare_message(
            SendRequest(to="+15551234567", body=body), RULES, now=NOW, api_key=None,
            references=ConcatReferences(random.Random(seed)),
        )  # fmt: skip
        assert m.segment_count == len(encode(m.to, body, reference=m.concat_ref))


def test_past_send_at_is_now_and_ttl_counts_from_send_at() -> None:
    past = prepare_message(
        SendRequest(to="+15551234567", body="x", send_at=NOW - 100), RULES, now=NOW,
        api_key=None, references=ConcatReferences(random.Random(1)),
    )  # fmt: skip
    assert past.send_at == NOW
    later = prepare_message(
        SendRequest(to="+15551234567", body="x", send_at=NOW + 100, ttl=10), RULES, now=NOW,
        api_key=None, references=ConcatReferences(random.Random(1)),
    )  # fmt: skip
    assert later.expires_at == NOW + 110


@pytest.mark.parametrize(
    ("request_", "error", "field"),
    [
        (SendRequest(to="+15551234567", body="", field_prefix="m[2]."), EmptyText, "m[2].body"),
        (SendRequest(to="12", body="x"), InvalidNumber, "to"),
        (SendRequest(to="+15551234567", body="y" * 600), TextTooLong, "body"),
        (SendRequest(to="+15551234567", body="x", ttl=0), InvalidTime, "ttl"),
    ],
)
def test_invalid_requests_name_the_field(
    request_: SendRequest, error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as raised:
        prepare_message(
            request_, RULES, now=NOW, api_key=None, references=ConcatReferences(random.Random(1))
        )
    assert getattr(raised.value, "field", None) == field
    assert "+1555" not in str(raised.value)


def test_fingerprint_is_stable_and_sensitive() -> None:
    a = SendRequest(to="+15551234567", body="hi", metadata={"b": 1, "a": 2})
    b = SendRequest(to="+15551234567", body="hi", metadata={"a": 2, "b": 1})
    c = SendRequest(to="+15551234567", body="hi!", metadata={"a": 2, "b": 1})
    assert request_fingerprint("+15551234567", a) == request_fingerprint("+15551234567", b)
    assert request_fingerprint("+15551234567", a) != request_fingerprint("+15551234567", c)


def test_a_long_text_has_153_gsm7_or_67_ucs2_characters_per_segment() -> None:
    """8-bit concatenation references, as handsets use: 1,530 characters are ten segments."""
    rules = SubmissionRules(default_country="1", max_segments=10, router=ROUTER)
    for body, encoding in (("x" * 1530, "gsm7"), ("ж" * 670, "ucs2")):
        m = prepare_message(
            SendRequest(to="+15551234567", body=body), rules, now=NOW, api_key=None,
            references=ConcatReferences(random.Random(1)),
        )  # fmt: skip
        assert (m.encoding, m.segment_count) == (encoding, 10)
        assert 0 <= m.concat_ref <= 0xFF
        assert len(encode(m.to, body, reference=m.concat_ref)) == 10


def test_references_rotate_so_consecutive_long_texts_differ() -> None:
    references = ConcatReferences(random.Random(7))
    taken = [references.next() for _ in range(256)]
    assert sorted(taken) == list(range(256))  # every value once before any repeats
    assert references.next() == taken[0]
