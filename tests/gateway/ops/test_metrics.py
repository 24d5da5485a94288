"""``/metrics`` on a live server: content, Prometheus conventions (promtool), no PHI in labels."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drivers.engine import EngineStats
from gateway.metrics import OTHER, Metrics, safe_label
from gateway.store.base import Priority, QueueItem
from tests.gateway.ops.fakes import PROMTOOL, READ_TOKEN, Served

PATIENT_NUMBER = "+15557654321"
PATIENT_DIGITS = "5557654321"
PATIENT_TEXT = "Your biopsy results are ready, call Dr Quill"

needs_promtool = pytest.mark.skipif(
    not os.access(PROMTOOL, os.X_OK), reason=f"promtool not found at {PROMTOOL}"
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


async def scrape(served: Served) -> str:
    status, content_type, body = await served.get("/metrics", token=None)
    assert status == 200
    assert content_type.startswith("text/plain")
    return body


def _installed_version() -> str:
    return importlib.metadata.version("smsgw")


def exercise_counters(metrics: Metrics) -> None:
    """One of each event the runtime reports, so every family has a sample."""
    metrics.segment_sent("front-desk", 1.2)
    metrics.segment_failed("front-desk", "retry_other", 30.0)
    metrics.segment_failed("back-office", "modem_fault")
    metrics.modem_reset("front-desk", "timeouts")
    metrics.inbound_received("back-office")
    metrics.delivery_report("front-desk", "delivered")
    metrics.delivery_report("front-desk", "failed")
    metrics.webhook_delivery("delivered")
    metrics.webhook_delivery("failed")
    metrics.watch_modem_counters("front-desk", EngineStats(noise_bytes=3, noise_lines=1))


async def test_scrape_reports_modems_queue_and_store(served: Served) -> None:
    served.service.store.queue = [
        QueueItem("msg_a", Priority.NORMAL, time.time() - 120.0, None, None, b"h", 0),
        QueueItem("msg_b", Priority.NORMAL, time.time() + 3600.0, None, None, b"h", 0),
    ]
    exercise_counters(served.metrics)
    text = await scrape(served)

    assert value(text, "smsgw_modem_up", modem="front-desk") == 1.0
    assert value(text, "smsgw_modem_state", modem="front-desk", state="ready") == 1.0
    assert value(text, "smsgw_modem_state", modem="front-desk", state="down") == 0.0
    assert value(text, "smsgw_modem_signal_dbm", modem="front-desk") == -71.0
    assert value(text, "smsgw_modem_registration", modem="front-desk", registration="home") == 1.0
    assert value(text, "smsgw_modem_registered", modem="back-office") == 1.0
    assert value(text, "smsgw_queue_depth", priority="normal") == 3.0
    assert value(text, "smsgw_messages", state="delivered") == 30.0
    assert value(text, "smsgw_store_size_bytes") == 65536.0
    assert value(text, "smsgw_inbound_parts_waiting") == 2.0
    assert value(text, "smsgw_store_up") == 1.0
    assert value(text, "smsgw_build_info", version=_installed_version()) == 1.0
    assert (value(text, "process_cpu_seconds_total") or 0.0) > 0.0
    # Only the message already due counts; the one scheduled for later is not "stuck".
    oldest = value(text, "smsgw_queue_oldest_age_seconds")
    assert oldest is not None
    assert 119.0 <= oldest <= 130.0
    assert value(text, "smsgw_segments_sent_total", modem="front-desk") == 1.0
    assert value(text, "smsgw_segments_failed_total", modem="front-desk",
                 error_class="retry_other") == 1.0  # fmt: skip
    assert value(text, "smsgw_send_duration_seconds_count", modem="front-desk") == 2.0
    assert value(text, "smsgw_send_duration_seconds_bucket", modem="front-desk", le="2.0") == 1.0
    assert value(text, "smsgw_modem_resets_total", modem="front-desk", reason="timeouts") == 1.0
    assert value(text, "smsgw_delivery_reports_total", modem="front-desk", outcome="failed") == 1.0
    assert value(text, "smsgw_webhook_deliveries_total", outcome="abandoned") == 0.0
    last = value(text, "smsgw_modem_last_send_success_timestamp_seconds", modem="front-desk")
    assert last is not None
    assert abs(last - time.time()) < 60
    never = value(text, "smsgw_modem_last_send_success_timestamp_seconds", modem="back-office")
    assert never is None
    info = [k for k in samples(text) if k[0] == "smsgw_modem_info"]
    assert len(info) == 2
    assert all("351234567890123" not in str(labels) for _, labels in info)  # no IMEI


async def test_a_modem_going_down_shows_at_the_next_scrape(served: Served) -> None:
    served.service.set_state("back-office", "down", "unplugged")
    text = await scrape(served)
    assert value(text, "smsgw_modem_up", modem="back-office") == 0.0
    assert value(text, "smsgw_modem_state", modem="back-office", state="down") == 1.0
    assert value(text, "smsgw_modem_state", modem="back-office", state="ready") == 0.0
    assert value(text, "smsgw_modem_up", modem="front-desk") == 1.0


async def test_a_failing_store_still_gives_modem_metrics(served: Served) -> None:
    served.service.store.fail_stats = True
    text = await scrape(served)
    assert value(text, "smsgw_store_up") == 0.0
    assert value(text, "smsgw_modem_up", modem="front-desk") == 1.0


async def test_http_requests_are_counted_by_route_pattern_and_status(served: Served) -> None:
    assert (await served.get("/v1/messages/msg_x"))[0] == 404  # the fake store has none
    assert (await served.get("/v1/events", token=None))[0] == 401
    assert (await served.get("/v1/events", token=READ_TOKEN))[0] == 403
    assert (await served.get("/v1/modems"))[0] == 200
    assert (await served.get("/no/such/path"))[0] == 404
    text = await scrape(served)
    assert value(text, "smsgw_http_requests_total", route="/v1/messages/{id}", method="get",
                 status="404") == 1.0  # fmt: skip
    assert value(text, "smsgw_http_requests_total", route="/v1/events", method="get",
                 status="401") == 1.0  # fmt: skip
    assert value(text, "smsgw_http_requests_total", route="/v1/events", method="get",
                 status="403") == 1.0  # fmt: skip
    assert value(text, "smsgw_http_requests_total", route="unmatched", method="get",
                 status="404") == 1.0  # fmt: skip
    assert value(text, "smsgw_http_request_duration_seconds_count", route="/v1/modems",
                 method="get") == 1.0  # fmt: skip


async def test_no_number_or_text_reaches_a_label(served: Served) -> None:
    """Traffic carrying a known number and text, in every place a client could put them."""
    body = {"to": PATIENT_NUMBER, "body": PATIENT_TEXT}
    headers = {"Authorization": "Bearer sgw_test_admin_token"}
    async with served.session.post(served.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 202
    for path in (
        f"/v1/messages/{PATIENT_NUMBER}",
        f"/v1/messages?to={PATIENT_NUMBER}",
        f"/v1/inbound?from={PATIENT_NUMBER}",
        f"/{PATIENT_NUMBER}",
        f"/v1/modems/{PATIENT_NUMBER}/reset",
    ):
        await served.get(path)
    # A careless call site that hands PHI where a label belongs:
    served.metrics.segment_failed("front-desk", PATIENT_NUMBER)
    served.metrics.modem_reset("front-desk", PATIENT_TEXT)
    served.metrics.delivery_report(PATIENT_NUMBER, PATIENT_TEXT)
    served.metrics.webhook_delivery(PATIENT_TEXT)
    served.metrics.http_request(f"/v1/messages/{PATIENT_NUMBER}", "GET", 200, 0.01)

    text = await scrape(served)
    assert served.service.submitted[0].to == PATIENT_NUMBER  # the traffic did carry them
    assert PATIENT_DIGITS not in text
    assert "Quill" not in text
    assert "biopsy" not in text
    assert value(text, "smsgw_segments_failed_total", modem="front-desk", error_class=OTHER) == 1.0
    assert value(text, "smsgw_http_requests_total", route="/v1/messages", method="post",
                 status="202") == 1.0  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("retry_other", "retry_other"),
        ("CMS_500", "cms_500"),
        ("+15551234567", OTHER),
        ("555-123-4567", OTHER),
        ("call 5551234", OTHER),
        ("Hello there", OTHER),
        ("", OTHER),
        (None, OTHER),
        ("x" * 49, OTHER),
    ],
)
def test_safe_label(raw: str | None, label: str) -> None:
    assert safe_label(raw) == label


@needs_promtool
async def test_promtool_accepts_a_live_scrape(served: Served) -> None:
    exercise_counters(served.metrics)
    await served.get("/v1/modems")
    text = await scrape(served)
    proc = await asyncio.create_subprocess_exec(
        PROMTOOL, "check", "metrics",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate(text.encode())
    assert proc.returncode == 0, out.decode()
    assert out.decode().strip() == ""  # no lint remarks either
