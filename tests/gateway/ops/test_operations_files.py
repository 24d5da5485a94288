"""config/alerts.yml and config/grafana-dashboard.json: valid, firing when they should, and
naming only metrics the daemon exports."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest

from tests.gateway.ops.fakes import PROMTOOL, REPO_ROOT, Served
from tests.gateway.ops.test_metrics import exercise_counters, samples, scrape

ALERTS = REPO_ROOT / "config" / "alerts.yml"
DASHBOARD = REPO_ROOT / "config" / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\b(?:smsgw|process)_[a-z_]+\b")

needs_promtool = pytest.mark.skipif(
    not os.access(PROMTOOL, os.X_OK), reason=f"promtool not found at {PROMTOOL}"
)

# promtool unit tests: each alert fires on the series that should raise it, after its `for:`,
# and stays quiet on healthy ones.
RULE_TESTS = """
rule_files:
  - {alerts}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'smsgw_modem_up{{modem="front-desk"}}'
        values: '1 1 0 0 0 0 0 0 0 0'
      - series: 'smsgw_modem_up{{modem="back-office"}}'
        values: '1x9'
      - series: 'smsgw_modem_signal_dbm{{modem="front-desk"}}'
        values: '-71x30'
      - series: 'smsgw_modem_signal_dbm{{modem="back-office"}}'
        values: '-109x30'
    alert_rule_test:
      - eval_time: 5m
        alertname: SmsgwModemDown
        exp_alerts: []
      - eval_time: 8m
        alertname: SmsgwModemDown
        exp_alerts:
          - exp_labels: {{severity: warning, modem: front-desk}}
            exp_annotations:
              summary: "Modem front-desk has been down for 5 minutes"
              description: >-
                The gateway cannot send through front-desk; its messages go to the other modems.
                Check the USB cable and the SIM, and the modem's last error on the status page.
      - eval_time: 8m
        alertname: SmsgwNoModemUp
        exp_alerts: []
      - eval_time: 20m
        alertname: SmsgwWeakSignal
        exp_alerts:
          - exp_labels: {{severity: warning, modem: back-office}}
            exp_annotations:
              summary: "Weak signal on back-office (-109 dBm)"
              description: >-
                back-office has received below -105 dBm for 15 minutes; sends may fail or time out.
                Move the modem or its antenna, or add an external antenna.
  - interval: 1m
    input_series:
      - series: 'smsgw_queue_oldest_age_seconds'
        values: '0+60x40'
      - series: 'smsgw_queue_depth{{priority="normal"}}'
        values: '3x40'
      - series: 'smsgw_segments_sent_total{{modem="front-desk"}}'
        values: '5x40'
    alert_rule_test:
      - eval_time: 20m
        alertname: SmsgwQueueStuck
        exp_alerts: []
      - eval_time: 30m
        alertname: SmsgwQueueStuck
        exp_alerts:
          - exp_labels: {{severity: critical}}
            exp_annotations:
              summary: "A message has waited 30m 0s past its send time"
              description: >-
                The oldest due message in the queue has not gone out for over 15 minutes. Modems may
                all be down or rate-limited, or routes may match no modem that is up.
  - interval: 1m
    input_series:
      - series: 'smsgw_delivery_reports_total{{modem="front-desk",outcome="delivered"}}'
        values: '0+6x150'
      - series: 'smsgw_delivery_reports_total{{modem="front-desk",outcome="failed"}}'
        values: '0+4x150'
      - series: 'smsgw_delivery_reports_total{{modem="back-office",outcome="delivered"}}'
        values: '0+10x150'
      - series: 'smsgw_delivery_reports_total{{modem="back-office",outcome="failed"}}'
        values: '0x150'
      - series: 'smsgw_webhook_deliveries_total{{outcome="delivered"}}'
        values: '0+1x60'
      - series: 'smsgw_webhook_deliveries_total{{outcome="failed"}}'
        values: '0+1x60'
      - series: 'smsgw_webhook_deliveries_total{{outcome="abandoned"}}'
        values: '0x60'
    alert_rule_test:
      - eval_time: 2h
        alertname: SmsgwDeliveryRatioFalling
        exp_alerts:
          - exp_labels: {{severity: warning, modem: front-desk}}
            exp_annotations:
              summary: "Only 60% of reports from front-desk say delivered"
              description: >-
                Over the last hour fewer than 80 % of the delivery reports for front-desk were
                positive. The operator may be filtering this SIM's messages, or the numbers sent to
                are bad.
      - eval_time: 45m
        alertname: SmsgwWebhookFailures
        exp_alerts:
          - exp_labels: {{severity: warning}}
            exp_annotations:
              summary: "50% of webhook deliveries fail"
              description: >-
                Subscribers are not accepting webhooks; events wait in the outbox and are retried.
                Check the subscriber's URL and that it answers 2xx.
      - eval_time: 45m
        alertname: SmsgwWebhookAbandoned
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: 'smsgw_modem_sim_state{{modem="front-desk",state="ready"}}'
        values: '1 1 0x20'
      - series: 'smsgw_modem_sim_state{{modem="front-desk",state="pin"}}'
        values: '0 0 1x20'
      - series: 'smsgw_modem_sim_state{{modem="back-office",state="ready"}}'
        values: '1x22'
      - series: 'smsgw_modem_storage_used_messages{{modem="front-desk"}}'
        values: '29x22'
      - series: 'smsgw_modem_storage_capacity_messages{{modem="front-desk"}}'
        values: '30x22'
      - series: 'smsgw_modem_storage_used_messages{{modem="back-office"}}'
        values: '3x22'
      - series: 'smsgw_modem_storage_capacity_messages{{modem="back-office"}}'
        values: '30x22'
    alert_rule_test:
      - eval_time: 5m
        alertname: SmsgwSimNotReady
        exp_alerts: []
      - eval_time: 8m
        alertname: SmsgwSimNotReady
        exp_alerts:
          - exp_labels: {{severity: warning, modem: front-desk, state: pin}}
            exp_annotations:
              summary: "The SIM in front-desk is not ready (pin)"
              description: >-
                front-desk has reported its SIM as pin for 5 minutes: pin means it waits for a
                PIN or PUK, missing that no SIM is seated, error that the SIM does not answer. The
                modem stays out of rotation until the SIM is ready.
      - eval_time: 20m
        alertname: SmsgwModemStorageFull
        exp_alerts:
          - exp_labels: {{severity: warning, modem: front-desk}}
            exp_annotations:
              summary: "Message storage of front-desk is 96.67% full"
              description: >-
                front-desk keeps received texts and delivery reports in its storage until the
                gateway has stored and deleted them. When it is full the network holds new ones
                back. Check the daemon's log for messages it could not read.
"""


async def promtool(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        PROMTOOL, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


@needs_promtool
async def test_promtool_accepts_the_rules() -> None:
    code, out = await promtool("check", "rules", str(ALERTS))
    assert code == 0, out
    assert "SUCCESS" in out


@needs_promtool
async def test_alerts_fire_on_the_series_that_should_raise_them(tmp_path: Path) -> None:
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(RULE_TESTS.format(alerts=ALERTS))
    code, out = await promtool("test", "rules", str(tests))
    assert code == 0, out


def test_every_alert_has_severity_summary_and_description() -> None:
    text = ALERTS.read_text()
    alerts = re.findall(r"^\s+- alert: (\w+)$", text, re.MULTILINE)
    assert {
        "SmsgwModemDown", "SmsgwWeakSignal", "SmsgwQueueStuck", "SmsgwDeliveryRatioFalling",
        "SmsgwWebhookFailures",
    } <= set(alerts)  # fmt: skip
    for keyword in ("severity:", "summary:", "description:"):
        assert text.count(keyword) == len(alerts), keyword


def test_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("modem state", "signal", "sent", "failures", "queue depth", "oldest",
                  "delivery ratio", "http latency p99"):  # fmt: skip
        assert topic in titles, topic
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"])


async def test_rules_and_dashboard_name_only_exported_metrics(served: Served) -> None:
    exercise_counters(served.metrics)
    await served.get("/v1/modems")
    exported = {name for name, _ in samples(await scrape(served))}
    for path in (ALERTS, DASHBOARD):
        used = set(METRIC_NAME.findall(path.read_text()))
        assert used, path
        assert used <= exported, (path.name, sorted(used - exported))
