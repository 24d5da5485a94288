"""The secrets of a secure message: sizes, domains, and the signed session."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from gateway.core.secure_tokens import (
    SessionSigner,
    code_hash,
    dob_hash,
    new_code,
    new_token,
    token_hash,
)
from gateway.store.secure_records import SecureMessage, SecureState


def keyed(value: str) -> bytes:
    return hmac.new(b"k" * 32, value.encode(), hashlib.sha256).digest()


def test_tokens_carry_256_bits_and_codes_six_digits() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 43 for t in tokens)  # 32 bytes, base64url without padding
    codes = [new_code() for _ in range(200)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(set(codes)) > 150


def test_hashes_of_one_value_differ_by_kind_and_message() -> None:
    value = "123456"
    assert len({token_hash(keyed, value), code_hash(keyed, "sec_a", value)}) == 2
    assert code_hash(keyed, "sec_a", value) != code_hash(keyed, "sec_b", value)
    assert dob_hash(keyed, "sec_a", "1984-03-09") != dob_hash(keyed, "sec_b", "1984-03-09")


def test_a_session_is_valid_for_its_message_until_it_expires() -> None:
    now = [1000.0]
    signer = SessionSigner(lifetime=60, clock=lambda: now[0])
    cookie = signer.session("sec_a")
    assert signer.valid("sec_a", cookie)
    assert not signer.valid("sec_b", cookie)
    expires, nonce, mac = cookie.split(".")
    assert not signer.valid("sec_a", f"{int(expires) + 3600}.{nonce}.{mac}")
    assert not signer.valid("sec_a", f"{expires}.{nonce}.{'0' * len(mac)}")
    assert not signer.valid("sec_a", "")
    assert not signer.valid("sec_a", None)
    assert not SessionSigner(clock=lambda: now[0]).valid("sec_a", cookie)  # another start
    now[0] += 61
    assert not signer.valid("sec_a", cookie)


def test_form_tokens_belong_to_their_cookie() -> None:
    signer = SessionSigner()
    one, two = signer.session("sec_a"), signer.session("sec_a")
    token = signer.form_token("sec_a", one)
    assert signer.form_valid("sec_a", one, token)
    assert not signer.form_valid("sec_a", two, token)
    assert not signer.form_valid("sec_a", one, None)


def test_the_state_says_why_a_link_is_closed_first() -> None:
    base = SecureMessage(
        id="sec_a",
        to="+15551230077",
        message_id="msg_a",
        sms_sent_at=None,
        api_key_id=None,
        method="dob",
        category="care",
        tags=(),
        metadata={},
        created_at=0.0,
        expires_at=100.0,
        failures=0,
    )
    assert base.state(1.0) is SecureState.QUEUED
    read = replace(base, sms_sent_at=1.0, opened_at=2.0, read_at=3.0)
    assert read.state(4.0) is SecureState.READ
    assert read.state(100.0) is SecureState.EXPIRED
    assert replace(read, locked_at=5.0).state(6.0) is SecureState.LOCKED
    assert replace(read, locked_at=5.0, revoked_at=6.0).state(7.0) is SecureState.REVOKED
    assert replace(read, erased_at=5.0).state(6.0) is SecureState.EXPIRED
