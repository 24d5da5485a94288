"""Line noise and undecodable PDUs as metrics, moved by a simulated modem on a real pty."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from drivers.pdu import encode, encode_deliver
from drivers.simulator.storage import STO_UNSENT, StoredSms
from tests.gateway.ops.test_metrics import samples
from tests.gateway.runtime.conftest import RigFactory, poll_until

NOISE = (
    "smsgw_modem_noise_bytes_total",
    "smsgw_modem_noise_lines_total",
    "smsgw_modem_undecodable_pdus_total",
    "smsgw_modem_pdu_rereads_total",
)


async def test_line_noise_and_bad_pdus_are_counted_per_modem(make_rig: RigFactory) -> None:
    rig = await make_rig(serve_http=True, health_interval=0.1)
    url = rig.daemon.api_url
    assert url is not None
    sim = rig.sims["alpha"]
    sim.set_noise(0.5, seed=3)
    [good] = encode_deliver("+15557654321", "hello", timestamp=datetime.now(UTC))
    sim.deliver_pdu(good[:-6])  # cut short: it never decodes, however often it is read

    async def moved() -> dict[str, float] | None:
        async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as r:
            found = samples(await r.text())
        figures = {n: found.get((n, (("modem", "alpha"),)), 0.0) for n in NOISE}
        return figures if all(figures.values()) else None

    figures = await poll_until(moved, "noise and PDU counters to move")
    stats = rig.daemon.handles["alpha"].modem.stats
    assert figures["smsgw_modem_noise_bytes_total"] <= stats.noise_bytes
    assert figures["smsgw_modem_pdu_rereads_total"] <= stats.pdu_rereads


async def test_outgoing_messages_left_in_storage_are_counted_when_deleted(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(serve_http=True)
    url = rig.daemon.api_url
    assert url is not None
    sim = rig.sims["alpha"]
    [left] = encode("+15557654321", "written to memory by another program")
    memory = sim.memories[sim.settings.mem3]
    memory.store(StoredSms(left.hex, left.tpdu_length, STO_UNSENT))
    # Swept at the next open of the port.
    await sim.vanish()
    await sim.reappear()
    name = "smsgw_modem_stored_outgoing_deleted_total"

    async def counted() -> float | None:
        async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as r:
            found = samples(await r.text())
        return found.get((name, (("modem", "alpha"),)))

    assert await poll_until(counted, "the deleted outgoing message counted") == 1.0
    assert memory.used == 0
