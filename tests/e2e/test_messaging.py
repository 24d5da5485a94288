"""End to end over HTTP: sending, reports, inbound, hand-over between modems."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Gateway
from tests.support import poll_until

SETTLE = 30.0  # seconds for a message to reach a final-ish state


async def message_in_state(gw: Gateway, message_id: str, states: set[str]) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status, body = await gw.request("GET", f"/v1/messages/{message_id}")
        assert status == 200, body
        return body if body["state"] in states else None

    result: dict[str, Any] = await poll_until(check, f"{message_id} in {states}", SETTLE)
    return result


def sent_records(gw: Gateway) -> list[tuple[str, str, Any]]:
    """(modem, recipient, submit) for everything the simulated network accepted."""
    return [(name, s.submit.recipient, s.submit) for name, sim in gw.sims.items() for s in sim.sent]


async def test_single_multipart_and_unicode_reach_the_network(gateway: Gateway) -> None:
    long_text = "Your results are ready. " * 12  # 288 chars: 2 GSM-7 segments
    texts = {
        "+15551230001": "Reminder: appointment tomorrow 9:30 at the clinic.",
        "+15551230002": long_text,
        "+15551230003": "Привет! Ваш приём завтра 😀",
    }
    ids = {}
    for to, body in texts.items():
        status, msg = await gateway.request("POST", "/v1/messages", json={"to": to, "body": body})
        assert status == 202, msg
        assert msg["state"] in {"queued", "sending", "sent", "delivered"}
        ids[to] = msg["id"]

    for to, message_id in ids.items():
        msg = await message_in_state(gateway, message_id, {"delivered"})
        assert msg["to"] == to
        assert all(seg["state"] == "delivered" for seg in msg["segments"])

    by_recipient: dict[str, list[Any]] = {}
    for _, recipient, submit in sent_records(gateway):
        by_recipient.setdefault(recipient, []).append(submit)
    for to, body in texts.items():
        parts = sorted(by_recipient[to], key=lambda s: s.concat.sequence if s.concat else 1)
        assert "".join(p.text for p in parts) == body
    assert len(by_recipient["+15551230002"]) == 2
    assert by_recipient["+15551230003"][0].encoding == "ucs2"


async def test_inbound_message_is_stored_then_deleted_from_the_modem(gateway: Gateway) -> None:
    sim = gateway.sims["bravo"]
    sim.deliver("+15557654321", "Yes, I will be there. Thank you!")

    async def inbound() -> list[dict[str, Any]] | None:
        status, page = await gateway.request("GET", "/v1/inbound")
        assert status == 200, page
        return page["items"] or None

    items = await poll_until(inbound, "the inbound message", SETTLE)
    assert items[0]["from"] == "+15557654321"
    assert items[0]["text"] == "Yes, I will be there. Thank you!"
    assert items[0]["modem"] == "bravo"
    await sim.wait_command("AT+CMGD", timeout=SETTLE)


async def test_a_hung_modem_hands_its_messages_to_another_sent_once(gateway: Gateway) -> None:
    gateway.sims["alpha"].hang()
    gateway.sims["bravo"].hang()
    ids = []
    for i in range(6):
        status, msg = await gateway.request(
            "POST", "/v1/messages", json={"to": f"+1555777000{i}", "body": f"hand-over {i}"}
        )
        assert status == 202, msg
        ids.append(msg["id"])
    for message_id in ids:
        await message_in_state(gateway, message_id, {"sent", "delivered"})
    recipients = [r for _, r, _ in sent_records(gateway)]
    for i in range(6):
        assert recipients.count(f"+1555777000{i}") == 1
    assert {m for m, _, _ in sent_records(gateway)} == {"charlie"}


async def test_a_ten_segment_text_of_1530_characters_goes_out_as_handsets_send_it(
    gateway: Gateway,
) -> None:
    """153 GSM-7 characters a segment (an 8-bit concatenation reference), as documented."""
    to, body = "+15551230009", "".join(chr(ord("a") + n % 26) for n in range(1530))
    status, msg = await gateway.request("POST", "/v1/messages", json={"to": to, "body": body})
    assert status == 202, msg
    assert msg["segment_count"] == 10
    await message_in_state(gateway, msg["id"], {"sent", "delivered"})
    parts = [submit for _, recipient, submit in sent_records(gateway) if recipient == to]
    assert len(parts) == 10
    assert {p.concat.bits for p in parts if p.concat} == {8}
    assert len({p.concat.reference for p in parts if p.concat}) == 1
    ordered = sorted(parts, key=lambda s: s.concat.sequence if s.concat else 1)
    assert "".join(p.text for p in ordered) == body
