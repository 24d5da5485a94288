"""Each modem's own number (``number =`` in its config, else the SIM's, read with
AT+CNUM) is the Twilio inbound ``To`` and is shown in ``GET /v1/modems``."""

from __future__ import annotations

from urllib.parse import parse_qsl

import aiohttp

from gateway.store.base import Scope
from tests.gateway.integrations.conftest import GatewayFactory, Subscriber, hook

PATIENT = "+14155550123"
CONFIGURED = "+15550100001"  # alpha: from its config (its SIM holds another)
ON_SIM = "+15550100002"  # beta: only on its SIM
SIM_OF_ALPHA = "+15550100009"


async def test_the_modems_own_number_is_twilio_to_and_listed(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(
        modems=("alpha", "beta", "gamma"),
        webhooks=[
            hook(
                subscriber.url + "/sms",
                "inbound.received",
                format="twilio",
                account_sid="AC" + "1" * 32,
            )
        ],
        sim_options={"alpha": {"own_number": SIM_OF_ALPHA}, "beta": {"own_number": ON_SIM}},
        numbers={"alpha": CONFIGURED},
    )
    gw.sims["alpha"].deliver(PATIENT, "to alpha")
    await subscriber.wait_ok(1)
    gw.sims["beta"].deliver(PATIENT, "to beta")
    await subscriber.wait_ok(2)
    gw.sims["gamma"].deliver(PATIENT, "to gamma")
    received = await subscriber.wait_ok(3)
    to_by_body = {
        params["Body"]: params["To"]
        for params in (dict(parse_qsl(r.body.decode())) for r in received)
    }
    # gamma's SIM holds no number: its name, as before.
    assert to_by_body == {"to alpha": CONFIGURED, "to beta": ON_SIM, "to gamma": "gamma"}

    _, token = await gw.key(Scope.READ)
    async with (
        aiohttp.ClientSession() as http,
        http.get(gw.url + "/v1/modems", headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        assert resp.status == 200
        listed = await resp.json()
    numbers = {m["name"]: m["number"] for m in listed["modems"]}
    assert numbers == {"alpha": CONFIGURED, "beta": ON_SIM, "gamma": None}
