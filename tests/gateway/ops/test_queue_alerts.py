"""The stuck-queue alerts of config/alerts.yml under ``promtool test rules``: unknown
outcomes, and a daily cap reached while the queue grows (with SIM not ready and storage
nearly full, whose cases are in test_operations_files.py)."""

from __future__ import annotations

from pathlib import Path

from tests.gateway.ops.test_operations_files import ALERTS, needs_promtool, promtool

RULE_TESTS = """
rule_files:
  - {alerts}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'smsgw_messages{{state="unknown"}}'
        values: '0x10 2x70'
    alert_rule_test:
      - eval_time: 9m
        alertname: SmsgwUnknownOutcomes
        exp_alerts: []
      - eval_time: 20m
        alertname: SmsgwUnknownOutcomes
        exp_alerts:
          - exp_labels: {{severity: warning, state: unknown}}
            exp_annotations:
              summary: "2 more messages have an unknown outcome than an hour ago"
              description: >-
                A modem took these messages but its answer was lost (a crash, a reset or an
                unplug mid-send): they may or may not have gone out. GET
                /v1/messages?state=unknown lists them; check the modems' resets and the daemon's
                log before sending them again.
      - eval_time: 75m
        alertname: SmsgwUnknownOutcomes
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: 'smsgw_modem_waiting{{modem="front-desk",reason="daily_cap"}}'
        values: '0x10 1x100'
      - series: 'smsgw_modem_waiting{{modem="back-office",reason="daily_cap"}}'
        values: '0x110'
      - series: 'smsgw_queue_depth{{priority="normal"}}'
        values: '0x10 0+2x40 80x60'
    alert_rule_test:
      - eval_time: 20m
        alertname: SmsgwDailyCapQueueGrowing
        exp_alerts: []
      - eval_time: 40m
        alertname: SmsgwDailyCapQueueGrowing
        exp_alerts:
          - exp_labels: {{severity: warning, modem: front-desk, reason: daily_cap}}
            exp_annotations:
              summary: "Modem front-desk reached its daily cap while the queue grows"
              description: >-
                front-desk sends nothing more until its [modems.rate] per_day window frees, and
                messages keep arriving: they wait (GET /v1/messages/{{id}} says daily_cap, and
                until when). Add a modem or a SIM, or raise per_day if the operator allows it.
      - eval_time: 100m
        alertname: SmsgwDailyCapQueueGrowing
        exp_alerts: []
"""


@needs_promtool
async def test_stuck_queue_alerts_fire_when_they_should(tmp_path: Path) -> None:
    tests = tmp_path / "queue_alerts_test.yml"
    tests.write_text(RULE_TESTS.format(alerts=ALERTS))
    code, out = await promtool("test", "rules", str(tests))
    assert code == 0, out
