"""Broadcasts through the real daemon: CSV intake, counts, export, pause, cancel, crashes."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import time
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.cli_proc import CLI_DEADLINE
from tests.e2e.conftest import MODEMS, Gateway
from tests.support import poll_until

SETTLE = 300.0  # seconds: thousands of texts over three simulated modems, on a shared machine
ONE_MODEM = (("alpha", "quectel"),)  # one modem: what is due first is sent first
TEMPLATE = {
    "name": "flu",
    "body": "Hello {name|first}, flu shots are in at {place}. Reply STOP to opt out.",
    "category": "reminder",
}
OPTED_OUT = "+15553000001"


def number(i: int) -> str:
    return f"+1555{4000000 + i:07d}"


def csv_body(rows: list[tuple[str, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["to", "name", "place"])
    writer.writerows(rows)
    return out.getvalue().encode()


async def make_template(gw: Gateway) -> None:
    status, body = await gw.request("POST", "/v1/templates", json=TEMPLATE)
    assert status == 201, body


async def post_csv(gw: Gateway, rows: list[tuple[str, str, str]], **params: str) -> Any:
    query = {"name": "flu 2026", "template": "flu", **params}
    status, body = await gw.request(
        "POST",
        "/v1/broadcasts",
        params=query,
        data=csv_body(rows),
        headers={"Content-Type": "text/csv"},
    )
    return status, body


async def broadcast(gw: Gateway, broadcast_id: str) -> dict[str, Any]:
    status, body = await gw.request("GET", f"/v1/broadcasts/{broadcast_id}")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


async def until_state(gw: Gateway, broadcast_id: str, state: str, within: float) -> Any:
    async def check() -> dict[str, Any] | None:
        found = await broadcast(gw, broadcast_id)
        return found if found["state"] == state else None

    return await poll_until(check, f"broadcast {state}", within)


def sent_to(gw: Gateway) -> Counter[str]:
    return Counter(s.submit.recipient for sim in gw.sims.values() for s in sim.sent)


def good_rows(count: int) -> list[tuple[str, str, str]]:
    return [(number(i), f"Patient{i} Lastname", "Main St clinic") for i in range(count)]


@pytest.mark.timeout(420)
async def test_a_csv_of_5000_ends_with_exact_counts_and_the_export_matches(
    gateway: Gateway,
) -> None:
    for sim in gateway.sims.values():
        sim.report_delay = None  # no delivery reports: less work for the same counts
    await make_template(gateway)
    status, body = await gateway.request(
        "POST",
        "/v1/suppressions",
        json={"number": OPTED_OUT, "category": "reminder", "reason": "asked"},
    )
    assert status == 201, body
    rows = good_rows(4993)
    rows[10] = (OPTED_OUT, "Opted Out", "Main St clinic")  # opted out of reminders
    rows += [
        ("12", "Bad Number", "x"),  # row 4994
        ("not a number", "Bad Number", "x"),  # 4995
        (number(5001), "", "Main St clinic"),  # 4996: name missing
        (number(5002), "Long Text", "😀" * 400),  # 4997: far over ten segments
        (number(3), "Again", "Main St clinic"),  # 4998: a duplicate of row 4
        (number(5003), "Last One", "Main St clinic"),  # 4999
        (number(5004), "Very Last", "Main St clinic"),  # 5000
    ]
    assert len(rows) == 5000
    started = time.monotonic()
    status, body = await post_csv(gateway, rows)
    intake = time.monotonic() - started
    assert status == 202, body
    assert body["total"] == 5000
    assert body["state"] == "running"
    assert intake < 30, intake
    bid = body["id"]

    done = await until_state(gateway, bid, "done", SETTLE)
    counts = done["counts"]
    sent = counts["sent"] + counts["delivered"]
    assert counts | {"sent": 0, "delivered": 0} == {
        "total": 5000,
        "pending": 0,
        "queued": 0,
        "sent": 0,
        "delivered": 0,
        "failed": 0,
        "suppressed": 1,
        "invalid": 4,
        "duplicate": 1,
        "cancelled": 0,
        "replied": 0,
    }
    assert sent == 4994
    got = sent_to(gateway)
    assert len(got) == 4994
    assert set(got.values()) == {1}
    assert OPTED_OUT not in got

    status, text = await gateway.request(
        "GET", f"/v1/broadcasts/{bid}/recipients", headers={"Accept": "text/csv"}
    )
    assert status == 200
    export = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["row"]) for r in export] == list(range(1, 5001))
    assert [r["to"] for r in export] == [r[0] for r in rows]
    by_row = {int(r["row"]): r for r in export}
    assert by_row[11]["state"] == "suppressed"
    assert by_row[11]["error"] == "opted_out"
    assert (by_row[4994]["state"], by_row[4994]["error"]) == ("invalid", "invalid_number")
    assert (by_row[4995]["state"], by_row[4995]["error"]) == ("invalid", "invalid_number")
    assert by_row[4996]["error"] == "template_variable_missing"
    assert by_row[4997]["error"] == "text_too_long"
    assert by_row[4998]["state"] == "duplicate"
    assert by_row[4998]["message_id"] == ""
    states = Counter(r["state"] for r in export)
    assert states["sent"] + states["delivered"] == 4994
    ids = [r["message_id"] for r in export if r["message_id"]]
    assert len(ids) == len(set(ids)) == 4995  # the sent ones and the suppressed one
    assert by_row[1]["name"] == "Patient0 Lastname"

    status, page = await gateway.request(
        "GET", f"/v1/broadcasts/{bid}/recipients", params={"limit": "2", "cursor": ""}
    )
    assert status == 200, page
    assert [item["row"] for item in page["items"]] == [1, 2]
    status, page2 = await gateway.request(
        "GET", f"/v1/broadcasts/{bid}/recipients", params={"cursor": page["next_cursor"]}
    )
    assert status == 200
    assert page2["items"][0]["row"] == 3
    status, message = await gateway.request("GET", f"/v1/messages/{by_row[1]['message_id']}")
    assert status == 200, message
    assert message["priority"] == "bulk"
    assert message["category"] == "reminder"
    assert message["body"].startswith("Hello Patient0, flu shots")


@pytest.mark.parametrize("modems", [MODEMS, ONE_MODEM], ids=["three modems", "one modem"])
async def test_an_urgent_message_goes_out_within_one_segment_time_of_a_broadcast(
    gateway: Gateway,
) -> None:
    for sim in gateway.sims.values():
        sim.radio_time = 0.1  # each segment holds its modem this long
    await make_template(gateway)
    status, body = await post_csv(gateway, good_rows(10_000))
    assert status == 202, body
    bid = body["id"]

    async def bulk_flowing() -> bool:
        return all(len(sim.sent) >= 5 for sim in gateway.sims.values())

    await poll_until(bulk_flowing, "bulk sends on every modem", 60)
    urgent_to = "+15559990000"
    posted = time.time()
    status, body = await gateway.request(
        "POST", "/v1/messages", json={"to": urgent_to, "body": "urgent", "priority": "urgent"}
    )
    assert status == 202, body
    expanding = (await broadcast(gateway, bid))["counts"]["pending"]
    assert expanding > 0  # sent in the middle of the expansion, not after it

    async def urgent_sent() -> float | None:
        for sim in gateway.sims.values():
            for s in sim.sent:
                if s.submit.recipient == urgent_to:
                    return s.at
        return None

    accepted = time.time()  # the 202 is in: the urgent message is in the queue
    sent_at = await poll_until(urgent_sent, "the urgent message on the air", 30)
    # Counted, not timed: on the modem that sent it, the urgent message waited at most for
    # the bulk segment in the air when it came, never for another one after it (such as
    # the next bulk message, taken ahead while that segment was in the air).
    [carrier] = [
        sim
        for sim in gateway.sims.values()
        if any(s.submit.recipient == urgent_to for s in sim.sent)
    ]
    before_it = [
        s for s in carrier.sent if s.submit.recipient != urgent_to and accepted < s.at < sent_at
    ]
    assert len(before_it) <= 1, [s.at - accepted for s in before_it]
    print(f"urgent on the air {sent_at - posted:.3f} s after its POST")  # noqa: T201


async def test_pause_holds_queued_messages_and_resume_sends_the_rest(gateway: Gateway) -> None:
    for sim in gateway.sims.values():
        sim.radio_time = 0.03
    await make_template(gateway)
    status, body = await post_csv(gateway, good_rows(400))
    assert status == 202, body
    bid = body["id"]

    async def some_sent() -> bool:
        return sum(sent_to(gateway).values()) >= 30

    await poll_until(some_sent, "the first sends", 60)
    status, paused = await gateway.request("POST", f"/v1/broadcasts/{bid}/pause")
    assert status == 200, paused
    assert paused["state"] == "paused"
    at_pause = sum(sent_to(gateway).values())
    # Normal messages go out while it is paused; once they have, the modems were free
    # and took no bulk message but the ones in flight at the pause (one per modem).
    probes = [f"+1555999{i:04d}" for i in range(6)]
    for to in probes:
        status, _ = await gateway.request("POST", "/v1/messages", json={"to": to, "body": "hi"})
        assert status == 202

    async def probes_sent() -> bool:
        return all(to in sent_to(gateway) for to in probes)

    await poll_until(probes_sent, "the normal messages", 30)
    bulk_after = sum(sent_to(gateway).values()) - len(probes)
    assert bulk_after <= at_pause + len(gateway.sims)
    held = await broadcast(gateway, bid)
    assert held["state"] == "paused"
    assert held["counts"]["queued"] > 0
    assert held["counts"]["sent"] + held["counts"]["delivered"] == bulk_after

    # A restart keeps holding them: the queue is rebuilt without a paused broadcast's.
    await gateway.stop()
    await gateway.start()
    later = [f"+1555998{i:04d}" for i in range(6)]
    for to in later:
        status, _ = await gateway.request("POST", "/v1/messages", json={"to": to, "body": "hi"})
        assert status == 202

    async def later_sent() -> bool:
        return all(to in sent_to(gateway) for to in later)

    await poll_until(later_sent, "the normal messages after the restart", 30)
    assert sum(sent_to(gateway).values()) - len(probes) - len(later) == bulk_after
    status, resumed = await gateway.request("POST", f"/v1/broadcasts/{bid}/resume")
    assert status == 200, resumed
    assert resumed["state"] == "running"
    done = await until_state(gateway, bid, "done", SETTLE)
    assert done["counts"]["sent"] + done["counts"]["delivered"] == 400
    got = sent_to(gateway)
    assert all(got[number(i)] == 1 for i in range(400))


PROMPT_LATE = 2.0  # seconds the modem holds AT+CMGS before its prompt (the driver waits 5)


def seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339).timestamp()


@pytest.mark.parametrize("modems", [ONE_MODEM])
async def test_a_paused_broadcasts_message_whose_send_fails_waits_for_the_resume(
    gateway: Gateway,
) -> None:
    sim = gateway.sims["alpha"]
    await make_template(gateway)
    # The one message is on the modem when the pause comes, and its send fails after it.
    start = len(sim.commands)
    sim.answer_late("AT+CMGS", PROMPT_LATE)
    sim.fail_sends(42)  # congestion: retried after the backoff
    status, body = await post_csv(gateway, good_rows(1))
    assert status == 202, body
    bid = body["id"]
    await sim.wait_command("AT+CMGS", timeout=60, start=start)
    status, paused = await gateway.request("POST", f"/v1/broadcasts/{bid}/pause")
    assert status == 200, paused
    status, page = await gateway.request("GET", f"/v1/broadcasts/{bid}/recipients")
    assert status == 200, page
    message_id = page["items"][0]["message_id"]

    async def failed() -> dict[str, Any] | None:
        status, found = await gateway.request("GET", f"/v1/messages/{message_id}")
        assert status == 200, found
        return found if found["error"] is not None else None

    message = await poll_until(failed, "the first send's failure", 30)
    assert message["error"]["code"] == "cms_42"
    # A bulk message due after the retry: had the retry gone back to the queue, the one
    # modem would have sent it first.
    probe = "+15559997777"
    due = time.gmtime(seconds(message["send_at"]) + 1.5)
    request = {
        "to": probe,
        "body": "hi",
        "priority": "bulk",
        "send_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", due),
    }
    status, _ = await gateway.request("POST", "/v1/messages", json=request)
    assert status == 202

    async def probe_sent() -> bool:
        return probe in sent_to(gateway)

    await poll_until(probe_sent, "the later bulk message", 30)
    assert number(0) not in sent_to(gateway)
    held = await broadcast(gateway, bid)
    assert held["state"] == "paused"
    assert held["counts"]["queued"] == 1

    status, resumed = await gateway.request("POST", f"/v1/broadcasts/{bid}/resume")
    assert status == 200, resumed
    done = await until_state(gateway, bid, "done", 60)
    assert done["counts"]["sent"] + done["counts"]["delivered"] == 1
    assert sent_to(gateway)[number(0)] == 1


async def test_cancel_cancels_the_queued_messages(gateway: Gateway) -> None:
    for sim in gateway.sims.values():
        sim.radio_time = 0.03
    await make_template(gateway)
    status, body = await post_csv(gateway, good_rows(400))
    assert status == 202, body
    bid = body["id"]

    async def some_sent() -> bool:
        return sum(sent_to(gateway).values()) >= 20

    await poll_until(some_sent, "the first sends", 60)
    status, cancelled = await gateway.request("POST", f"/v1/broadcasts/{bid}/cancel")
    assert status == 200, cancelled
    assert cancelled["state"] == "cancelled"

    async def settled() -> dict[str, Any] | None:
        found = await broadcast(gateway, bid)
        return found if found["counts"]["queued"] == 0 else None

    counts = (await poll_until(settled, "the in-flight sends", 30))["counts"]
    sent = counts["sent"] + counts["delivered"]
    assert counts["cancelled"] > 0, counts
    assert sent + counts["cancelled"] == 400, counts
    assert sum(sent_to(gateway).values()) == sent
    status, again = await gateway.request("POST", f"/v1/broadcasts/{bid}/resume")
    assert status == 409, again
    status, audit = await gateway.request("GET", "/v1/audit", params={"limit": "50"})
    assert status == 200
    actions = {e["action"] for e in audit["items"] if e["subject"] == bid}
    assert {"broadcast.create", "broadcast.cancel", "message.send"} <= actions


async def test_strict_refuses_the_whole_upload_naming_the_rows(gateway: Gateway) -> None:
    await make_template(gateway)
    rows = good_rows(50)
    rows[6] = ("12", "Bad Number", "x")
    rows[20] = (number(99), "", "x")
    status, body = await post_csv(gateway, rows, strict="true")
    assert status == 400, body
    assert body["error"]["field"] == "recipients"
    assert "rows 7 (invalid_number), 21 (template_variable_missing)" in body["error"]["message"]
    too_long = csv_body([(number(1), "x" * 100_000, "y")])
    status, body = await gateway.request(
        "POST",
        "/v1/broadcasts",
        params={"name": "long", "template": "flu"},
        data=too_long,
        headers={"Content-Type": "text/csv"},
    )
    assert status == 413, body
    status, listing = await gateway.request("GET", "/v1/broadcasts")
    assert status == 200
    assert listing["items"] == []
    assert sum(sent_to(gateway).values()) == 0


async def test_json_broadcast_of_a_body(gateway: Gateway) -> None:
    request = {
        "name": "closure",
        "body": "The clinic is closed on Friday.",
        "category": "care",
        "recipients": [{"to": number(i)} for i in range(5)] + [{"to": 5}],
    }
    status, body = await gateway.request("POST", "/v1/broadcasts", json=request)
    assert status == 202, body
    done = await until_state(gateway, body["id"], "done", 60)
    assert done["counts"]["invalid"] == 1
    assert done["total"] == 6
    status, listing = await gateway.request("GET", "/v1/broadcasts")
    assert status == 200
    assert [b["id"] for b in listing["items"]] == [body["id"]]


async def test_kill_9_mid_expansion_then_restart_makes_one_message_per_recipient(
    gateway: Gateway,
) -> None:
    await make_template(gateway)
    total = 6000
    # Scheduled for later: the messages are made and held, so only the expansion is tested.
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    status, body = await post_csv(gateway, good_rows(total), send_at=later)
    assert status == 202, body
    bid = body["id"]

    async def expanding() -> bool:
        pending: int = (await broadcast(gateway, bid))["counts"]["pending"]
        return 0 < pending < total

    await poll_until(expanding, "the expansion under way", 60, interval=0.002)
    await gateway.kill()
    await gateway.start()
    found = await until_state(gateway, bid, "scheduled", 5)
    assert found["counts"]["total"] == total

    async def expanded() -> dict[str, Any] | None:
        counts: dict[str, Any] = (await broadcast(gateway, bid))["counts"]
        return counts if counts["pending"] == 0 else None

    counts = await poll_until(expanded, "the expansion to finish", 60)
    assert counts["queued"] == total, counts
    status, text = await gateway.request(
        "GET", f"/v1/broadcasts/{bid}/recipients", params={"format": "csv"}
    )
    export = list(csv.DictReader(io.StringIO(text)))
    ids = [r["message_id"] for r in export]
    assert len(export) == total
    assert "" not in ids
    assert len(set(ids)) == total
    made = 0
    cursor = ""
    while True:
        status, page = await gateway.request(
            "GET", "/v1/messages", params={"limit": "500", "cursor": cursor}
        )
        assert status == 200, page
        made += len(page["items"])
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert made == total  # no second message for any row
    assert sum(sent_to(gateway).values()) == 0


async def smsgw(gw: Gateway, *args: str) -> tuple[int, str]:
    """The command line beside the daemon, its key and address from the environment."""
    env = {**os.environ, "SMSGW_URL": gw.url, "SMSGW_API_KEY": gw.token}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(CLI_DEADLINE):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_the_cli_sends_a_csv_and_follows_it_to_done(gateway: Gateway) -> None:
    await make_template(gateway)
    path = gateway.root / "clinic list.csv"
    path.write_bytes(csv_body(good_rows(20)))
    code, out = await smsgw(gateway, "broadcast", "send", str(path), "--template", "flu")
    assert code == 0, out
    assert "20/20" in out
    assert "done" in out
    got = sent_to(gateway)
    assert len(got) == 20
    bid = out.split(":")[0].strip()
    code, out = await smsgw(gateway, "broadcast", "status", bid)
    assert code == 0, out
    assert f"{bid}\tdone\ttotal 20" in out


async def test_the_cli_returns_at_once_with_no_wait_and_cancels(gateway: Gateway) -> None:
    for sim in gateway.sims.values():
        sim.radio_time = 0.05
    await make_template(gateway)
    path = gateway.root / "many.csv"
    path.write_bytes(csv_body(good_rows(300)))
    code, out = await smsgw(
        gateway, "broadcast", "send", str(path), "--template", "flu", "--no-wait"
    )
    assert code == 0, out
    bid = out.strip()
    assert bid.startswith("bc_")
    code, out = await smsgw(gateway, "broadcast", "cancel", bid)
    assert code == 0, out
    assert f"{bid}\tcancelled" in out
    found = await broadcast(gateway, bid)
    assert found["name"] == "many"
    code, out = await smsgw(gateway, "broadcast", "pause", bid)
    assert code == 1, out  # a cancelled broadcast cannot be paused
    assert "cannot become paused" in out


async def test_a_reply_is_counted_and_exported_and_a_bom_and_quoted_lines_are_read(
    gateway: Gateway,
) -> None:
    template = {**TEMPLATE, "replies": {"C": "confirmed", "R": "reschedule"}}
    status, body = await gateway.request("POST", "/v1/templates", json=template)
    assert status == 201, body
    upload = (
        "\ufeffto,name,place\r\n"
        f'{number(1)},"Ana, Maria Lopez","Clinic\nsecond floor"\r\n'
        f"{number(2)},Ben Okafor,Main St\r\n"
    ).encode()
    status, body = await gateway.request(
        "POST",
        "/v1/broadcasts",
        params={"name": "with replies", "template": "flu"},
        data=upload,
        headers={"Content-Type": "text/csv"},
    )
    assert status == 202, body
    assert body["total"] == 2
    bid = body["id"]
    await until_state(gateway, bid, "done", 60)
    gateway.sims["alpha"].deliver(number(2), "c ")

    async def replied() -> dict[str, Any] | None:
        found = await broadcast(gateway, bid)
        return found if found["counts"]["replied"] == 1 else None

    await poll_until(replied, "the reply counted", 30)
    status, page = await gateway.request("GET", f"/v1/broadcasts/{bid}/recipients")
    assert status == 200, page
    first, second = page["items"]
    assert first["variables"] == {"name": "Ana, Maria Lopez", "place": "Clinic\nsecond floor"}
    assert first["reply"] is None
    assert second["reply"] == "confirmed"
    status, message = await gateway.request("GET", f"/v1/messages/{first['message_id']}")
    assert status == 200, message
    assert message["body"].startswith("Hello Ana,")
    assert message["replies"] == {"C": "confirmed", "R": "reschedule"}
