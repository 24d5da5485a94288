"""``/v1/inbound``: listing, filters and single messages."""

from __future__ import annotations

import time

from gateway.store.base import InboundPart, Store
from tests.gateway.api.conftest import Api


async def _receive(store: Store, sender: str, text: str, modem: str, n: int) -> str:
    result = await store.add_inbound(
        InboundPart(
            modem=modem,
            sender=sender,
            text=text,
            encoding="gsm7",
            received_at=time.time(),
            sent_at=time.time() - 5,
            dedupe_key=f"{modem}-{n}",
        )
    )
    assert result.inbound is not None
    return result.inbound.id


async def test_inbound_list_get_and_filters(api: Api, store: Store) -> None:
    ids = [
        await _receive(store, "+15551230010", f"reply {n}", "modem-a" if n % 2 else "modem-b", n)
        for n in range(7)
    ]
    other = await _receive(store, "+15551230099", "other", "modem-a", 99)
    one = await api.call("GET", f"/v1/inbound/{ids[0]}", key="read_all")
    assert one.status == 200
    assert (one.body["from"], one.body["text"], one.body["modem"]) == (
        "+15551230010",
        "reply 0",
        "modem-b",
    )
    assert one.body["complete"] is True

    seen: list[str] = []
    cursor = ""
    while True:
        page = await api.call("GET", f"/v1/inbound?limit=3&cursor={cursor}", key="read_all")
        seen += [i["id"] for i in page.body["items"]]
        if page.body["next_cursor"] is None:
            break
        cursor = page.body["next_cursor"]
    assert sorted(seen) == sorted([*ids, other])
    assert len(seen) == len(set(seen))

    by_sender = await api.call("GET", "/v1/inbound?from=555-123-0099", key="read_all")
    assert [i["id"] for i in by_sender.body["items"]] == [other]
    named = await _receive(store, "CLINIC", "from a named sender", "modem-a", 100)
    by_name = await api.call("GET", "/v1/inbound?from=CLINIC", key="read_all")
    assert [i["id"] for i in by_name.body["items"]] == [named]
    by_modem = await api.call("GET", "/v1/inbound?modem=modem-b&limit=100", key="read_all")
    assert {i["modem"] for i in by_modem.body["items"]} == {"modem-b"}
    assert len(by_modem.body["items"]) == 4
