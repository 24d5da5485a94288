"""A patient's answer on a secure page is answered as a text would be: the after-hours
auto-reply, and the follow-up of an expected reply it matches, go out by SMS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gateway.config import AutoReplyConfig, ClinicConfig, DailyWindow, RepliesConfig
from gateway.store.secure_records import SECURE_PAGE
from tests.gateway.runtime.clinic import ZONE_NAME, local
from tests.gateway.secure.conftest import CLINIC, DOB, PATIENT, SecureRig, running_secure_rig
from tests.gateway.secure.test_secure_links import browser_like, page
from tests.support import SteppedClock

CLOSED_TEXT = "Maple Street Clinic is closed. We open at 8:00; for an emergency call 911."
DAY = (DailyWindow(8 * 60, 17 * 60),)
AFTER_HOURS = ClinicConfig(
    name=CLINIC.name,
    phone=CLINIC.phone,
    timezone=ZONE_NAME,
    office_hours=(DAY, DAY, DAY, DAY, DAY, (), ()),
    auto_reply=AutoReplyConfig(enabled=True, text=CLOSED_TEXT),
)
FOLLOW_UP = "Thank you, see you Tuesday."


async def answer_on_page(rig: SecureRig, link: str, *texts: str) -> None:
    """The patient verifies on the page and sends each text from its reply box."""
    async with browser_like() as session:
        status, body = await page(session, rig.public + link + "/verify", dob=DOB)
        assert status == 200, body
        for text in texts:
            form = re.search(r'name=form value="([^"]+)"', body)
            assert form is not None
            status, body = await page(
                session, rig.public + link + "/reply", text=text, form=form.group(1)
            )
            assert status == 200
            assert "Your answer was sent." in body


async def tagged(rig: SecureRig, tag: str) -> list[dict[str, Any]]:
    status, found = await rig.call("GET", f"/v1/messages?tag={tag}")
    assert status == 200, found
    items: list[dict[str, Any]] = found["items"]
    return items


async def test_an_answer_after_hours_gets_the_auto_reply_by_sms_once(tmp_path: Path) -> None:
    clock = SteppedClock(local(2026, 6, 10, 22, 0))  # Wednesday, closed since 17:00
    async with running_secure_rig(tmp_path, clinic=AFTER_HOURS, clock=clock) as rig:
        await rig.create()
        link = await rig.link(1)
        # The page answers once the answer is handled: the reply is queued by then.
        await answer_on_page(rig, link, "Can I come Monday?", "And bring my son?")
        [reply] = await tagged(rig, "auto-reply")
        assert reply["to"] == PATIENT
        assert reply["body"] == CLOSED_TEXT
        sms = (await rig.next_sms(2)).submit
        assert (sms.recipient, sms.text) == (PATIENT, CLOSED_TEXT)
        status, inbound = await rig.call("GET", "/v1/inbound")
        assert status == 200
        assert [i["channel"] for i in inbound["items"]] == [SECURE_PAGE, SECURE_PAGE]
        assert reply["metadata"]["in_reply_to"] in {i["id"] for i in inbound["items"]}


async def test_an_answer_matching_an_expected_reply_gets_its_follow_up(tmp_path: Path) -> None:
    replies = RepliesConfig(follow_ups={"confirmed": FOLLOW_UP})
    async with running_secure_rig(tmp_path, replies=replies) as rig:
        reminder = {
            "to": PATIENT,
            "body": "Your visit is on Tuesday. Reply C to confirm.",
            "replies": {"C": "confirmed"},
        }
        status, sent = await rig.call("POST", "/v1/messages", json=reminder)
        assert status == 202, sent
        await rig.next_sms(1)  # the reminder first, so the texts come in a known order
        await rig.create()
        link = await rig.link(2)
        await answer_on_page(rig, link, " c ")
        [follow_up] = await tagged(rig, "reply-follow-up")
        assert follow_up["to"] == PATIENT
        assert follow_up["body"] == FOLLOW_UP
        assert follow_up["metadata"]["answers_message"] == sent["id"]
        sms = (await rig.next_sms(3)).submit
        assert (sms.recipient, sms.text) == (PATIENT, FOLLOW_UP)
        status, message = await rig.call("GET", f"/v1/messages/{sent['id']}")
        assert status == 200
        assert message["reply"]["value"] == "confirmed"
        assert await tagged(rig, "auto-reply") == []
