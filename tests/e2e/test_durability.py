"""Crash safety and secrecy at rest, through the real daemon process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Gateway
from tests.support import poll_until

SETTLE = 40.0  # seconds


async def all_messages(gw: Gateway) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "200"} | ({"cursor": cursor} if cursor else {})
        status, page = await gw.request("GET", "/v1/messages", params=params)
        assert status == 200, page
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_kill_9_mid_batch_loses_nothing(gateway: Gateway) -> None:
    for sim in gateway.sims.values():
        sim.radio_time = 0.05  # a little radio time so the crash lands mid-batch
    batch = [{"to": f"+1555200{i:04d}", "body": f"batch message {i}"} for i in range(60)]
    status, body = await gateway.request("POST", "/v1/messages/batch", json={"messages": batch})
    assert status == 202, body
    accepted = {m["id"] for m in body["messages"]}
    assert len(accepted) == 60

    async def some_sent() -> bool:
        return sum(len(s.sent) for s in gateway.sims.values()) >= 10

    await poll_until(some_sent, "the first sends", SETTLE)
    await gateway.kill()
    sent_before_crash = sum(len(s.sent) for s in gateway.sims.values())
    assert sent_before_crash < 60, "the batch finished before the crash; nothing was tested"

    await gateway.start()

    async def settled() -> list[dict[str, Any]] | None:
        msgs = await all_messages(gateway)
        states = Counter(m["state"] for m in msgs)
        return msgs if states["queued"] + states["sending"] == 0 else None

    msgs = await poll_until(settled, "the batch to settle after restart", SETTLE)
    assert {m["id"] for m in msgs} == accepted
    states = Counter(m["state"] for m in msgs)
    # Every accepted message is sent/delivered; at most the segment in flight on each
    # modem at the moment of the crash is `unknown`.
    assert states["unknown"] <= len(gateway.sims), states
    assert states["sent"] + states["delivered"] + states["unknown"] == 60, states
    counts = Counter(s.submit.recipient for sim in gateway.sims.values() for s in sim.sent)
    duplicated = [to for to, n in counts.items() if n > 1]
    assert len(duplicated) <= states["unknown"], (duplicated, states)


async def test_no_number_or_text_in_clear_on_disk_or_in_logs(gateway: Gateway) -> None:
    number = "+15559876543"
    body = "Glucose 7.2 mmol/L - please call Dr Okafor"
    status, msg = await gateway.request("POST", "/v1/messages", json={"to": number, "body": body})
    assert status == 202, msg
    gateway.sims["alpha"].deliver("+15554443322", "Chest pain since Tuesday")
    # A request the HTTP parser refuses (a raw space in the query) must not reach the log.
    host, port = gateway.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /cgi-bin/sendsms?to=%2B15559876543&text=Glucose 7.2 mmol/L HTTP/1.1\r\n"
        b"Host: x\r\n\r\n"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), answer[:40]

    async def done() -> bool:
        _, m = await gateway.request("GET", f"/v1/messages/{msg['id']}")
        _, inbound = await gateway.request("GET", "/v1/inbound")
        return m["state"] == "delivered" and len(inbound["items"]) == 1

    await poll_until(done, "the send and the inbound message", SETTLE)
    secrets = [
        number.encode(),
        number[1:].encode(),
        body.encode(),
        b"Glucose",
        b"15554443322",
        b"Chest pain",
        body.encode("utf-16-be"),
    ]
    files = [p for p in gateway.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files) or files
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"{secret!r} found in {path.name}"
    await gateway.stop()
    for path in [p for p in gateway.data_dir.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"{secret!r} found in {path.name} after shutdown"
        if path.suffix in {".db", ".key"} or path.name.endswith(("-wal", "-shm")):
            assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
    log = gateway.log().encode()
    for secret in secrets:
        assert secret not in log, f"{secret!r} found in the daemon's log"


async def run_daemon(config: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(30):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_daemon_refuses_a_bad_key_file(gateway: Gateway) -> None:
    await gateway.stop()
    key = gateway.data_dir / "smsgw.key"
    original = key.read_bytes()

    os.chmod(key, 0o644)
    code, out = await run_daemon(gateway.config_path)
    assert code == 4, out
    assert "chmod 600" in out

    os.chmod(key, 0o600)
    key.unlink()
    code, out = await run_daemon(gateway.config_path)
    assert code == 4, out
    assert "key" in out.lower()

    other = gateway.root / "other.key"
    from gateway.crypto import KeyRing

    KeyRing.create(other)
    key.write_bytes(other.read_bytes())
    os.chmod(key, 0o600)
    code, out = await run_daemon(gateway.config_path)
    assert code == 4, out
    assert "does not match" in out

    key.write_bytes(original)
    await gateway.start()
    status, _ = await gateway.request("GET", "/v1/modems")
    assert status == 200


async def test_kill_9_right_after_a_state_change_keeps_its_event(gateway: Gateway) -> None:
    """The daemon kills itself just after the commit that makes the first message `sent`;
    that message's `message.sent` webhook event must be on disk all the same."""
    await gateway.stop()
    with gateway.config_path.open("a") as config:
        config.write(
            "\n[[webhooks]]\n"
            'name = "main"\n'
            'url = "http://127.0.0.1:9/hook"\n'  # nothing answers: rows stay in the outbox
            'events = ["message.sent"]\n'
            'secret = "whsec-crash-0123456789"\n'
        )
    await gateway.start(module="tests.e2e.crash_after_commit")
    sends = [{"to": f"+1555300{i:04d}", "body": f"crash point {i}"} for i in range(3)]
    status, body = await gateway.request("POST", "/v1/messages/batch", json={"messages": sends})
    assert status == 202, body
    assert gateway.proc is not None
    async with asyncio.timeout(SETTLE):
        await gateway.proc.wait()
    assert gateway.proc.returncode == -9, gateway.log()

    await gateway.start()

    async def settled() -> Counter[str] | None:
        states = Counter(m["state"] for m in await all_messages(gateway))
        return states if states["queued"] + states["sending"] == 0 else None

    # A message whose segment was in flight at the crash stays `unknown`: no event.
    states = await poll_until(settled, "the messages to settle after the restart", SETTLE)
    sent: int = states["sent"] + states["delivered"]
    assert sent >= 1, states

    async def sent_events() -> int:
        status, page = await gateway.request(
            "GET", "/v1/webhooks/cfg_main/deliveries", params={"limit": "100"}
        )
        assert status == 200, page
        return sum(1 for d in page["items"] if d["event"] == "message.sent")

    async def every_event() -> bool:
        return await sent_events() == sent

    try:
        await poll_until(every_event, "a message.sent event per sent message", 10.0)
    except AssertionError:
        raise AssertionError(
            f"{await sent_events()} message.sent event(s) for {sent} sent message(s)"
        ) from None
