"""The newcomer's path, as the README tells it: ``.venv/bin/smsgw demo`` from the
repository's root, then the commands it printed, pasted as they are into a shell whose
PATH does not hold the virtualenv: send, text in as a patient, see the inbound text
and its webhook; then the Node twilio client with the AccountSid the demo printed."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.compat.sids import account_sid
from tests.e2e.demo_proc import REPO, SMSGW, running_demo
from tests.gateway.integrations.conftest import Subscriber
from tests.gateway.integrations.node_client import HAVE_NODE, install, node_client
from tests.support import poll_until

COMMAND_DEADLINE = 60.0  # seconds: interpreter start included, on a shared machine
PATIENT = "+15551234567"

pytestmark = pytest.mark.skipif(not SMSGW.is_file(), reason="no smsgw script beside python")


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    sub = Subscriber()
    await sub.start()
    try:
        yield sub
    finally:
        await sub.stop()


async def _paste(line: str, env: dict[str, str]) -> str:
    """Run one printed command line in a shell, from the repository's root."""
    bash = shutil.which("bash") or "/bin/sh"
    proc = await asyncio.create_subprocess_exec(
        bash, "-c", line, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(COMMAND_DEADLINE):
        out, _ = await proc.communicate()
    assert proc.returncode == 0, f"{line!r} exited {proc.returncode}: {out.decode()}"
    return out.decode()


# Several processes start one after the other (the demo, three printed commands, node),
# each an interpreter start on a machine that may be shared.
@pytest.mark.timeout(240)
async def test_demo_then_text_in_then_see_it(tmp_path: Path, subscriber: Subscriber) -> None:
    webhook = (
        f'\n[[webhooks]]\nname = "ehr"\nurl = "{subscriber.url}/events"\n'
        'events = ["inbound.received"]\nsecret = "newcomer-webhook-secret"\n'
    )
    async with running_demo(tmp_path, webhook) as demo:
        token = demo.token
        key_id = demo.field("key id:")
        assert token.startswith(f"sgw_{key_id}_")
        assert demo.field("AccountSid:") == account_sid(key_id)

        lines = [line.strip() for line in demo.banner]
        commands = [line for line in lines if line.startswith(".venv/bin/smsgw ")]
        send = next(c for c in commands if " send " in c)
        status = next(c for c in commands if " status " in c)
        text_in = next(c for c in commands if " simulate text " in c)
        shell = {**demo.env, "SMSGW_API_KEY": token}  # the banner's `export` line
        assert (await _paste(send, shell)).startswith("msg_")
        await _paste(status, shell)
        assert "texted" in await _paste(text_in, demo.env)

        async def inbound_seen() -> bool:
            headers = {"Authorization": f"Bearer {token}"}
            url = f"{demo.url}/v1/inbound"
            async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
                items = (await r.json())["items"]
            return any(i["from"] == PATIENT and i["text"] == "C" for i in items)

        await poll_until(inbound_seen, "the patient's text in GET /v1/inbound", 30.0)
        # The inbox the banner names opens, and the demo's key sees the patient's thread.
        inbox = demo.field("staff inbox:")
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(inbox) as r:
                assert r.status == 200
                assert "inbox" in (await r.text()).lower()
            async with http.get(f"{demo.url}/v1/conversations", headers=headers) as r:
                assert r.status == 200
                threads = (await r.json())["items"]
        assert threads
        [event] = await subscriber.wait_ok(1, within=30.0)
        assert b'"inbound.received"' in event.body
        assert b'"C"' in event.body

        # The Node twilio client, as `twilio(accountSid, authToken)` with what was printed.
        if not HAVE_NODE:
            pytest.skip("node and npm (Debian: nodejs npm) are not installed")
        await install()
        account = demo.field("AccountSid:")
        env = {
            "SMSGW_URL": demo.url,
            "USER": account,
            "SECRET": token,
            "ACCOUNT_SID": account,
            "TO": PATIENT,
        }
        result = await node_client("send", env)
        assert result["created"]["accountSid"] == account
        assert result["created"]["status"] == "queued"
        assert result["fetched"]["sid"] == result["created"]["sid"]
        assert result["created"]["sid"] in result["listed"]
