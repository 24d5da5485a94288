"""Schemathesis against the live daemon: no 5xx, every answer matches the document.

The daemon runs in this test's event loop; the schemathesis command line runs as a
subprocess against it, with a bounded number of examples and a fixed seed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from gateway.config import EventKind
from gateway.http.features import API_FEATURES
from gateway.http.openapi import document
from gateway.store.base import Scope, Template
from gateway.webhooks.api import DESCRIPTION as WEBHOOKS
from tests.gateway.integrations.conftest import GatewayFactory, Subscriber, hook

MAX_EXAMPLES = 25
SEED = 1
RUN_DEADLINE = 120.0  # seconds
SEND_EXAMPLES = 60  # per send operation, for the refusal share
# Bodies the schema calls valid that the API refuses are cases a fuzzer wastes: 120 of
# 120 before the send schema had the validation's patterns and limits, 27 of 120 after.
# What remains no schema can say: an Idempotency-Key header that differs from the
# body's idempotency_key, and a key used again with another request (409).
MAX_SEND_REFUSED_SHARE = 0.3


def test_webhook_paths_are_in_the_merged_document() -> None:
    doc = document([*API_FEATURES, WEBHOOKS])
    assert {"/v1/webhooks", "/v1/webhooks/{id}", "/v1/webhooks/{id}/deliveries"} <= set(
        doc["paths"]
    )
    assert set(doc["webhooks"]) == {k.value for k in EventKind}
    for item in doc["webhooks"].values():
        ref = item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.rpartition("/")[2] in doc["components"]["schemas"]


async def test_an_event_body_matches_its_documented_schema(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    import jsonschema_rs

    doc = document([*API_FEATURES, WEBHOOKS])
    gw = await make_gateway(webhooks=[hook(subscriber.url, "message.sent")])
    await gw.send("+14155550142", "checking the shape")
    [r] = await subscriber.wait_ok(1)
    schema = {**doc["components"]["schemas"]["MessageEvent"], "$defs": {}}
    jsonschema_rs.validate(schema, json.loads(r.body))


@pytest.mark.timeout(RUN_DEADLINE + 60)  # the run's own deadline, then the daemon's stop
async def test_schemathesis_finds_no_server_error_or_mismatch(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await make_gateway()
    _id, token = await gw.key(Scope.ADMIN)
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(document([*API_FEATURES, WEBHOOKS])))
    cli = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "run",
        str(schema),
        "--url",
        gw.url,
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,response_headers_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=tmp_path,
    )
    out = await _output_within(proc, RUN_DEADLINE)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-12000:]
    assert "passed" in text, text[-4000:]


@pytest.mark.timeout(RUN_DEADLINE + 60)
async def test_bodies_the_send_schema_allows_are_mostly_accepted(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Positive cases only, for POST /v1/messages and /batch: the share refused with 4xx
    measures how far the schema is from the validation."""
    gw = await make_gateway()
    _id, token = await gw.key(Scope.ADMIN)
    # A templated send depends on a stored template, as a cancel does on a message: the
    # fuzzer is given the one template that exists (without variables, so any do).
    await gw.daemon.store.add_template(
        Template("fuzz", "care", "Your results are ready", None, time.time(), time.time())
    )
    doc = document([*API_FEATURES, WEBHOOKS])
    doc["components"]["schemas"]["SendRequest"]["properties"]["template"]["enum"] = ["fuzz"]
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(doc))
    har = tmp_path / "send.har"
    cli = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "run",
        str(schema),
        "--url",
        gw.url,
        "--header",
        f"Authorization: Bearer {token}",
        "--include-name-regex",
        "^POST /v1/messages(/batch)?$",
        "--mode",
        "positive",
        "--phases",
        "fuzzing",
        "--max-examples",
        str(SEND_EXAMPLES),
        "--seed",
        str(SEED),
        "--checks",
        "not_a_server_error",
        "--report",
        "har",
        "--report-har-path",
        str(har),
        "--workers",
        "1",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=tmp_path,
    )
    out = await _output_within(proc, RUN_DEADLINE)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-12000:]
    statuses = [
        entry["response"]["status"] for entry in json.loads(har.read_text())["log"]["entries"]
    ]
    assert len(statuses) >= SEND_EXAMPLES  # both operations ran
    refused = sum(1 for status in statuses if 400 <= status < 500)
    share = refused / len(statuses)
    assert share <= MAX_SEND_REFUSED_SHARE, f"{refused} of {len(statuses)} refused with 4xx"


async def _output_within(proc: asyncio.subprocess.Process, deadline: float) -> bytes:
    """The run's output; past the deadline the run is killed, not left behind."""
    try:
        async with asyncio.timeout(deadline):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    return out


@pytest.mark.timeout(RUN_DEADLINE + 60)
async def test_schemathesis_finds_no_server_error_or_mismatch_in_broadcasts(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """The daemon's own document (broadcasts are the daemon's feature, not the client
    API's), run on its broadcast operations: JSON and CSV bodies, actions, the export."""
    gw = await make_gateway()
    _id, token = await gw.key(Scope.ADMIN)
    await gw.daemon.store.add_template(
        Template("fuzz", "care", "Your results are ready", None, time.time(), time.time())
    )
    schema = tmp_path / "openapi.json"
    async with (
        aiohttp.ClientSession() as session,
        session.get(gw.url + "/v1/openapi.json") as served,
    ):
        assert served.status == 200
        schema.write_bytes(await served.read())
    cli = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "run",
        str(schema),
        "--url",
        gw.url,
        "--header",
        f"Authorization: Bearer {token}",
        "--include-path-regex",
        "^/v1/broadcasts",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,response_headers_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=tmp_path,
    )
    out = await _output_within(proc, RUN_DEADLINE)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-12000:]
    assert "Tested: 7" in text, text[-4000:]  # every broadcast operation ran
