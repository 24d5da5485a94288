"""Inbound texts through the real daemon: never lost, never merged, never stuck on the modem."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers import pdu
from drivers.simulator.storage import StoredSms
from tests.e2e.conftest import Gateway
from tests.e2e.crash_inbound import AFTER_COMMIT, BEFORE_COMMIT, CRASH_ENV
from tests.support import poll_until

SETTLE = 30.0  # seconds
PATIENT = "+15554443322"


async def inbound_texts(gw: Gateway) -> list[str]:
    status, page = await gw.request("GET", "/v1/inbound", params={"limit": "100"})
    assert status == 200, page
    return [item["text"] for item in page["items"]]


async def crashed(gw: Gateway) -> None:
    assert gw.proc is not None
    async with asyncio.timeout(SETTLE):
        await gw.proc.wait()
    assert gw.proc.returncode == -9, gw.log()


def deliver_pdu(text: str, smsc: str) -> str:
    """One SMS-DELIVER from the patient: sending it twice is two texts in the same second."""
    (part,) = pdu.encode_deliver(PATIENT, text, timestamp=datetime.now(UTC), smsc=smsc, reference=1)
    return part


async def test_routed_text_not_committed_before_a_kill_9_comes_again(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledged only after the commit: the network redelivers what a crash cut off."""
    await gateway.stop()
    sim = gateway.sims["alpha"]
    sim.set_ack_timeout(1.0, redelivery=0.2)
    monkeypatch.setenv(CRASH_ENV, BEFORE_COMMIT)
    await gateway.start(module="tests.e2e.crash_inbound")
    sim.deliver(PATIENT, "Routed: yes, Thursday works", direct=True)  # +CMT, not stored
    await crashed(gateway)
    monkeypatch.delenv(CRASH_ENV)

    start = len(sim.commands)
    await gateway.start()

    async def stored_and_acknowledged() -> list[str] | None:
        texts = await inbound_texts(gateway)
        return texts if texts and sim.awaiting_acks == 0 else None

    texts = await poll_until(stored_and_acknowledged, "the redelivered text", SETTLE)
    assert texts == ["Routed: yes, Thursday works"]
    assert sim.redelivered >= 1
    assert sim.pending == 0
    assert "AT+CNMA" in sim.commands[start:]  # acknowledged, after the commit


async def test_two_identical_texts_are_two_messages(gateway: Gateway) -> None:
    sim = gateway.sims["charlie"]
    same = deliver_pdu("C", sim.smsc)
    sim.deliver_pdu(same)
    sim.deliver_pdu(same)  # another slot, the same bytes

    async def both() -> bool:
        return await inbound_texts(gateway) == ["C", "C"] and sim.memories["ME"].used == 0

    await poll_until(both, "two inbound texts and an empty memory", SETTLE)
    # The first slot, freed, takes the same bytes again: still a new text.
    sim.deliver_pdu(same)

    async def three() -> bool:
        return await inbound_texts(gateway) == ["C", "C", "C"] and sim.memories["ME"].used == 0

    await poll_until(three, "a third text in a reused slot", SETTLE)


async def test_a_text_read_again_after_a_crash_is_stored_once(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    await gateway.stop()
    sim = gateway.sims["charlie"]
    monkeypatch.setenv(CRASH_ENV, AFTER_COMMIT)
    await gateway.start(module="tests.e2e.crash_inbound")
    sim.deliver_pdu(deliver_pdu("C", sim.smsc))
    await crashed(gateway)
    assert sim.memories["ME"].used == 1, "deleted before the crash: nothing was tested"
    monkeypatch.delenv(CRASH_ENV)

    await gateway.start()

    async def swept() -> bool:
        return sim.memories["ME"].used == 0

    await poll_until(swept, "the re-read slot to be deleted", SETTLE)
    assert await inbound_texts(gateway) == ["C"]


async def test_an_undecodable_stored_pdu_is_kept_sealed_and_freed(gateway: Gateway) -> None:
    await gateway.stop()
    sim = gateway.sims["charlie"]
    whole = deliver_pdu("Pain 8/10 since the op", sim.smsc)
    cut = whole[:40]  # ends inside the timestamp: no decoder can read it
    sim.memories["ME"].store(StoredSms(cut, len(cut) // 2 - 8))
    await gateway.start()

    async def flagged() -> list[dict[str, Any]] | None:
        status, page = await gateway.request("GET", "/v1/events", params={"limit": "100"})
        assert status == 200, page
        found = [e for e in page["items"] if e["kind"] == "inbound.undecodable"]
        return found if found and sim.memories["ME"].used == 0 else None

    (event,) = await poll_until(flagged, "the undecodable PDU flagged and deleted", SETTLE)
    assert event["modem"] == "charlie"
    assert event["detail"]["chars"] == len(cut)
    assert cut not in str(event)
    status, metrics = await gateway.request("GET", "/metrics")
    assert status == 200
    assert 'smsgw_inbound_undecodable_total{modem="charlie"} 1.0' in metrics
    assert await inbound_texts(gateway) == []
    await gateway.stop()
    assert cut not in gateway.log()
    for path in gateway.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert cut.encode() not in data, path.name
            assert bytes.fromhex(cut) not in data, path.name
