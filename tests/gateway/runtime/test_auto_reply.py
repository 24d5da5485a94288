"""The after-hours auto-reply end to end: a patient texts a simulated modem at night, the
daemon answers once per conversation and night, as a message the API shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drivers.pdu import encode_deliver
from gateway.config import AutoReplyConfig, ClinicConfig, DailyWindow
from tests.gateway.runtime.clinic import PATIENT, ZONE_NAME, call, local, token
from tests.gateway.runtime.conftest import Rig, RigFactory, poll_until, text_handled
from tests.support import SteppedClock

REPLY = "Maple Street Clinic is closed. We open at 8:00; for an emergency call 911."
DAY = (DailyWindow(8 * 60, 17 * 60),)
CLINIC = ClinicConfig(
    name="Maple Street Clinic",
    timezone=ZONE_NAME,
    office_hours=(DAY, DAY, DAY, DAY, DAY, (), ()),
    auto_reply=AutoReplyConfig(enabled=True, text=REPLY),
)
OTHER = "+15551230088"


async def text_in(rig: Rig, sender: str, text: str) -> None:
    """The patient's text arrives and the modem's consumer is done with it (reply or not)."""
    await text_handled(rig.daemon, rig.sims["alpha"], "alpha", sender, text)


async def auto_replies(rig: Rig, secret: str) -> list[dict[str, Any]]:
    status, page = await call(rig, secret, "GET", "/v1/messages?tag=auto-reply")
    assert status == 200
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_a_text_at_22_gets_one_reply_and_a_second_that_night_none(
    make_rig: RigFactory,
) -> None:
    clock = SteppedClock(local(2026, 6, 10, 22, 0))  # Wednesday, closed since 17:00
    rig = await make_rig(serve_http=True, clock=clock, clinic=CLINIC)
    secret = await token(rig)
    await text_in(rig, PATIENT, "Can I come in tomorrow?")
    [reply] = await auto_replies(rig, secret)
    assert reply["to"] == PATIENT
    assert reply["category"] == "care"
    assert reply["tags"] == ["auto-reply"]
    assert reply["body"] == REPLY
    [sent] = await rig.sims["alpha"].wait_sent(1, timeout=10)
    assert sent.submit.recipient == PATIENT
    assert sent.submit.text == REPLY

    clock.set(local(2026, 6, 10, 23, 30))
    await text_in(rig, PATIENT, "Hello? Anyone?")
    clock.set(local(2026, 6, 11, 6, 45))
    await text_in(rig, PATIENT, "Still there?")
    assert len(await auto_replies(rig, secret)) == 1
    status, inbound = await call(rig, secret, "GET", "/v1/inbound")
    assert status == 200
    assert len(inbound["items"]) == 3

    await text_in(rig, OTHER, "Is the lab open?")  # another conversation, the same night
    assert len(await auto_replies(rig, secret)) == 2

    clock.set(local(2026, 6, 11, 10, 0))  # Thursday, open
    await text_in(rig, PATIENT, "Calling now")
    assert len(await auto_replies(rig, secret)) == 2

    clock.set(local(2026, 6, 11, 21, 0))  # Thursday night: a new closed period
    await text_in(rig, PATIENT, "Forgot to ask about parking")
    replies = await auto_replies(rig, secret)
    assert [r["to"] for r in replies] == [PATIENT, OTHER, PATIENT]


async def test_an_opt_out_keyword_gets_no_auto_reply(make_rig: RigFactory) -> None:
    clock = SteppedClock(local(2026, 6, 13, 11, 0))  # Saturday: closed all day

    def is_keyword(text: str) -> bool:
        return text.strip().upper() == "STOP"

    rig = await make_rig(serve_http=True, clock=clock, clinic=CLINIC, is_consent_keyword=is_keyword)
    secret = await token(rig)
    await text_in(rig, PATIENT, " stop ")
    assert await auto_replies(rig, secret) == []
    await text_in(rig, PATIENT, "Actually, a question")
    [reply] = await auto_replies(rig, secret)
    assert reply["to"] == PATIENT


async def test_no_reply_when_disabled(make_rig: RigFactory) -> None:
    clock = SteppedClock(local(2026, 6, 10, 22, 0))
    rig = await make_rig(serve_http=True, clock=clock, clinic=ClinicConfig(timezone=ZONE_NAME))
    secret = await token(rig)
    await text_in(rig, PATIENT, "Hello")
    assert await auto_replies(rig, secret) == []


async def test_a_long_text_released_with_parts_missing_gets_the_reply_too(
    make_rig: RigFactory,
) -> None:
    clock = SteppedClock(local(2026, 6, 10, 22, 0))
    rig = await make_rig(serve_http=True, clock=clock, clinic=CLINIC, reassembly_timeout=0.2)
    secret = await token(rig)
    text = "My prescription ran out and the pharmacy says it needs a new one from you. " * 3
    parts = encode_deliver(PATIENT, text, timestamp=datetime.now(UTC), reference=41)
    assert len(parts) == 2
    rig.sims["alpha"].deliver_pdu(parts[0])  # the second part never comes

    async def replied() -> list[dict[str, Any]]:
        return await auto_replies(rig, secret)

    [reply] = await poll_until(replied, "the auto-reply to the released text")
    assert reply["to"] == PATIENT
