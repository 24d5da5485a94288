"""Who read what: reads of messages and inbound texts go to the audit trail (key id and
object ids, never contents), and the access log names each request's API key id."""

from __future__ import annotations

import json
import logging
import time

import pytest

from gateway.store.base import AuditEntry, InboundPart, Store
from tests.gateway.api.conftest import Api

NUMBER = "+15551230000"
BODY = "Your appointment is at 9:30."


async def _trail(store: Store) -> list[AuditEntry]:
    return list(reversed((await store.list_audit(cursor=None, limit=100)).items))


async def _key_id(store: Store, name: str) -> str:
    [key] = [k for k in await store.list_api_keys() if k.name == name]
    return key.id


async def test_message_reads_are_audited_without_contents(api: Api, store: Store) -> None:
    sent = await api.send()
    message_id = sent.body["id"]
    before = len(await _trail(store))
    assert (await api.call("GET", f"/v1/messages/{message_id}", key="read_all")).status == 200
    assert (await api.call("GET", "/v1/messages?limit=5", key="read_all")).status == 200
    reads = (await _trail(store))[before:]
    reader = await _key_id(store, "read_all")
    assert [(e.actor, e.action, e.subject) for e in reads] == [
        (reader, "message.read", message_id),
        (reader, "message.read", None),
    ]
    assert [e.detail for e in reads] == [{"ids": [message_id]}, {"ids": [message_id]}]
    text = json.dumps([e.detail for e in reads])
    assert NUMBER not in text
    assert BODY not in text


async def test_inbound_reads_are_audited_without_contents(api: Api, store: Store) -> None:
    result = await store.add_inbound(
        InboundPart(
            modem="modem-a",
            sender="+15551230010",
            text="Chest pain since Tuesday",
            encoding="gsm7",
            received_at=time.time(),
            sent_at=time.time() - 5,
            dedupe_key="modem-a-1",
        )
    )
    assert result.inbound is not None
    inbound_id = result.inbound.id
    before = len(await _trail(store))
    assert (await api.call("GET", f"/v1/inbound/{inbound_id}", key="read_all")).status == 200
    assert (await api.call("GET", "/v1/inbound", key="read_all")).status == 200
    reads = (await _trail(store))[before:]
    reader = await _key_id(store, "read_all")
    assert [(e.actor, e.action, e.subject, e.detail) for e in reads] == [
        (reader, "inbound.read", inbound_id, {"ids": [inbound_id]}),
        (reader, "inbound.read", None, {"ids": [inbound_id]}),
    ]
    assert "Chest pain" not in json.dumps([e.detail for e in reads])


async def test_the_access_log_names_the_api_key(
    api: Api, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    assert (await api.call("GET", "/v1/messages", key="read")).status == 200
    assert (await api.call("GET", "/v1/messages", key=None)).status == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    reader = await _key_id(store, "read")
    assert any(reader in line and "/v1/messages" in line for line in lines), lines
    assert any(" 401 " in line and "key=-" in line for line in lines), lines
