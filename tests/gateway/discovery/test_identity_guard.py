"""The configured IMEI: held out of rotation on a mismatch, reported once, released on a match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from drivers.types import Identity, ModemState
from gateway.config import ModemConfig, RateConfig
from gateway.core.ratelimit import RateLimiter
from gateway.fleet.handle import ModemHandle
from gateway.fleet.identity import IDENTITY_MISMATCH, check_identity

EXPECTED = "350000000000011"
OTHER = "350000000000022"


@dataclass
class Answering:
    identity: Identity | None


def identity(imei: str | None) -> Identity:
    return Identity("Quectel", "EC25", "R1", imei, None, None)


def handle(expected: str | None, modem: Answering) -> ModemHandle:
    config = ModemConfig(name="desk", port="/dev/x", imei=expected)
    return ModemHandle(
        config=config,
        modem=cast(Any, modem),
        port="/dev/x",
        limiter=RateLimiter(RateConfig(per_minute=0)),
        state=ModemState.READY,
    )


def test_mismatch_holds_reports_once_and_a_match_releases() -> None:
    modem = Answering(identity(OTHER))
    h = handle(EXPECTED, modem)
    found = check_identity(h)
    assert found is not None
    assert found.detail() == {
        "reason": IDENTITY_MISMATCH,
        "expected_imei": EXPECTED,
        "found_imei": OTHER,
    }
    assert not h.usable()
    status = h.status()
    assert (status.state, status.reason) == ("down", IDENTITY_MISMATCH)
    assert check_identity(h) is None  # the same episode is reported once
    assert not h.usable()
    modem.identity = identity(EXPECTED)
    assert check_identity(h) is None
    assert h.usable()
    modem.identity = identity(None)  # a modem that does not tell its IMEI is not trusted
    assert check_identity(h) is not None
    assert not h.usable()


def test_without_a_configured_imei_any_modem_is_fine() -> None:
    h = handle(None, Answering(identity(OTHER)))
    assert check_identity(h) is None
    assert h.usable()
