"""Error classification (codes -> actions) and bounded retry decisions."""

from __future__ import annotations

import random

import pytest

from drivers.errors import (
    CmeError,
    CmsError,
    CommandTimeout,
    EncodeError,
    ModemDisconnected,
    ModemUnavailable,
    SendUnknown,
)
from gateway.config import RetryConfig
from gateway.core.policy import Action, Outcome, RetryPolicy, classify

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("exc", "action", "code"),
    [
        (CmsError("AT+CMGS", 1), Action.PERMANENT, "cms_1"),
        (CmsError("AT+CMGS", 42), Action.RETRY_SAME, "cms_42"),
        (CmsError("AT+CMGS", 331), Action.MODEM_FAULT, "cms_331"),
        (CmsError("AT+CMGS", 21), Action.PERMANENT, "cms_21"),
        (CmsError("AT+CMGS", 50), Action.MODEM_FAULT, "cms_50"),
        (CmsError("AT+CMGS", 332), Action.UNKNOWN, "cms_332"),
        (CmsError("AT+CMGS", 304), Action.PERMANENT, "cms_304"),
        (CmsError("AT+CMGS", 0x85), Action.PERMANENT, "cms_133"),
        (CmsError("AT+CMGS", 777), Action.RETRY_OTHER, "cms_777"),
        (CmsError("AT+CMGS", None, "weird"), Action.RETRY_OTHER, "cms_error"),
        (CmeError("AT+CMGS", 14), Action.RETRY_SAME, "cme_14"),
        (CmeError("AT+CMGS", 10), Action.MODEM_FAULT, "cme_10"),
        (SendUnknown("lost"), Action.UNKNOWN, "send_unknown"),
        (CommandTimeout("AT+CMGS", 5), Action.MODEM_FAULT, "at_timeout"),
        (ModemDisconnected("gone"), Action.RETRY_OTHER, "modem_disconnected"),
        (ModemUnavailable("down"), Action.RETRY_OTHER, "modem_unavailable"),
        (EncodeError("bad"), Action.PERMANENT, "encode_invalid"),
        (RuntimeError("bug"), Action.RETRY_OTHER, "internal_error"),
    ],
)
def test_classify(exc: BaseException, action: Action, code: str) -> None:
    got = classify(exc)
    assert got.action is action
    assert got.code == code
    assert got.text


def test_what_the_modem_never_sent_uses_no_attempt() -> None:
    assert classify(ModemUnavailable("down")).counts_attempt is False
    assert classify(CmsError("AT+CMGS", 50)).counts_attempt is False
    timeout = classify(CommandTimeout("AT+CMGS", 5))  # before the PDU was written
    assert timeout.counts_attempt is False
    assert timeout.holds_modem is True
    assert classify(ModemDisconnected("gone")).counts_attempt is True


def test_network_errors_hold_the_modem_without_an_attempt() -> None:
    for number in (331, 332):
        got = classify(CmsError("AT+CMGS", number))
        assert got.holds_modem is True
        assert got.counts_attempt is False
    assert classify(CmsError("AT+CMGS", 42)).holds_modem is False


def policy(**kw: object) -> RetryPolicy:
    cfg = RetryConfig(
        **{"max_attempts": 3, "backoff_initial": 10.0, "backoff_max": 25.0, **kw}  # type: ignore[arg-type]
    )
    return RetryPolicy(cfg, rng=random.Random(7))


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    p = policy()
    for failures, (lo, hi) in {1: (5, 10), 2: (10, 20), 3: (12.5, 25), 9: (12.5, 25)}.items():
        for _ in range(50):
            assert lo <= p.backoff(failures) <= hi


def test_retry_same_backs_off_then_fails_after_max_attempts() -> None:
    p = policy()
    err = classify(CmsError("AT+CMGS", 42))
    first = p.decide(err, attempts=0, switches=0, now=NOW, alternative=True)
    assert first.outcome is Outcome.REQUEUE
    assert NOW + 5 <= first.send_at <= NOW + 10
    assert not first.exclude_modem
    last = p.decide(err, attempts=2, switches=0, now=NOW, alternative=True)
    assert last.outcome is Outcome.FAIL
    assert last.code == "cms_42"
    assert "3 attempts" in last.text


def test_retry_other_moves_at_once_while_switches_remain() -> None:
    p = policy(max_modem_switches=1)
    err = classify(ModemDisconnected("gone"))
    moved = p.decide(err, attempts=0, switches=0, now=NOW, alternative=True)
    assert moved.outcome is Outcome.REQUEUE
    assert moved.send_at == NOW
    assert moved.exclude_modem
    assert moved.switched
    stay = p.decide(err, attempts=1, switches=1, now=NOW, alternative=True)
    assert stay.outcome is Outcome.REQUEUE
    assert stay.send_at > NOW
    assert not stay.switched


def test_retry_other_without_an_alternative_backs_off() -> None:
    p = policy()
    d = p.decide(
        classify(ModemUnavailable("down")), attempts=0, switches=0, now=NOW, alternative=False
    )
    assert d.outcome is Outcome.REQUEUE
    assert d.send_at > NOW


def test_permanent_and_unknown_are_final() -> None:
    p = policy()
    fail = p.decide(classify(CmsError("AT+CMGS", 1)), attempts=0, switches=0, now=NOW,
                    alternative=True)  # fmt: skip
    assert fail.outcome is Outcome.FAIL
    assert fail.code == "cms_1"
    unknown = p.decide(classify(SendUnknown("x")), attempts=0, switches=0, now=NOW,
                       alternative=True)  # fmt: skip
    assert unknown.outcome is Outcome.UNKNOWN


def test_modem_fault_never_exhausts_attempts() -> None:
    p = policy(max_attempts=1)
    d = p.decide(classify(CmsError("AT+CMGS", 50)), attempts=5, switches=0, now=NOW,
                 alternative=True)  # fmt: skip
    assert d.outcome is Outcome.REQUEUE
    assert d.exclude_modem
