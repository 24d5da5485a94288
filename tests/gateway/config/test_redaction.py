"""Numbers and texts never reach a log line in clear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway.logs import mask_phone_numbers, setup_logging
from gateway.redact import redact_number, redact_text

NUMBER = "+15551234567"
BODY = "Your test results are ready, call Dr Smith"


def _capture(fmt: str) -> tuple[io.StringIO, logging.Logger]:
    stream = io.StringIO()
    setup_logging("debug", fmt, stream=stream)
    return stream, logging.getLogger("smsgw.test")


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_redact_number_keeps_head_and_tail_only() -> None:
    masked = redact_number(NUMBER)
    assert masked.startswith("+1")
    assert masked.endswith("67")
    assert len(masked) == len(NUMBER)
    assert "5551234" not in masked
    assert redact_number(None) == "<none>"
    short = redact_number("12345")
    assert short.startswith("1")
    assert "2345" not in short


def test_redact_text_keeps_only_the_length() -> None:
    assert redact_text(BODY) == f"<text {len(BODY)} chars>"
    assert "Smith" not in redact_text(BODY)


@pytest.mark.parametrize(
    "raw",
    [NUMBER, "15551234567", "+44 20 7946 0958", "(555) 123-4567", "555-123-4567", "5551234"],
)
def test_backstop_masks_number_shapes(raw: str) -> None:
    masked = mask_phone_numbers(f"to={raw} done")
    digits = "".join(c for c in raw if c.isdigit())
    assert digits not in "".join(c for c in masked if c.isdigit())
    assert masked.startswith("to=")
    assert masked.endswith(" done")


def test_backstop_leaves_ids_and_short_numbers() -> None:
    text = "msg_0123456789abc attempt 3 of 5 port 8080 took 12.5 ms"
    assert mask_phone_numbers(text) == text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_raw_number_passed_to_a_logger_is_masked(fmt: str) -> None:
    stream, log = _capture(fmt)
    log.info("sending to %s", NUMBER, extra={"recipient": NUMBER, "modem": "m1"})
    try:
        raise ValueError(f"modem refused {NUMBER}")
    except ValueError:
        log.exception("failed")
    out = stream.getvalue()
    assert NUMBER not in out
    assert NUMBER[1:] not in out
    assert redact_number(NUMBER) in out
    assert "m1" in out


def test_json_lines_have_the_documented_fields() -> None:
    stream, log = _capture("json")
    log.warning("modem %s down", "m1", extra={"modem": "m1", "attempt": 2})
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "warning"
    assert record["logger"] == "smsgw.test"
    assert record["msg"] == "modem m1 down"
    assert record["modem"] == "m1"
    assert record["attempt"] == 2
    assert record["ts"].endswith("+00:00")


def test_setup_logging_replaces_its_own_handler() -> None:
    root = logging.getLogger()
    count = len(root.handlers)
    _capture("text")
    _capture("json")
    assert len(root.handlers) == count + 1
    assert root.level == logging.DEBUG
