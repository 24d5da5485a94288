"""The daemon with real parts: store on disk, driver, simulated modems on ptys."""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.simulator import SimulatedModem
from gateway.cli.simulators import simulated_modems
from gateway.config import (
    Config,
    ModemConfig,
    RetryConfig,
    RouteConfig,
    ServerConfig,
    SimulatorConfig,
    StoreConfig,
)
from gateway.core.service import SendRequest
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings, serve
from gateway.errors import EmptyText, InvalidNumber, TextTooLong
from gateway.fleet.dispatch import DispatchSettings
from gateway.store.base import Inbound, InboundResult, MessageState, Priority, SegmentState
from gateway.store.sqlite import SqliteStore
from tests.gateway.runtime.conftest import SETTLE, RigFactory, fast_modem, poll_until


async def test_a_message_is_sent_and_a_report_makes_it_delivered(make_rig: RigFactory) -> None:
    rig = await make_rig()
    sim = rig.sims["alpha"]
    accepted = await rig.send("+15551230001", "Your appointment is tomorrow at 9:30.")
    assert accepted.state is MessageState.QUEUED
    done = await rig.wait_state(accepted.id, MessageState.DELIVERED)
    assert [s.state for s in done.segments] == [SegmentState.DELIVERED]
    assert done.segments[0].modem == "alpha"
    [sent] = sim.sent
    assert sent.submit.recipient == "+15551230001"
    assert sent.submit.text == "Your appointment is tomorrow at 9:30."
    assert sent.reference == done.segments[0].reference
    handle = rig.daemon.handles["alpha"]

    async def polled() -> bool:
        return handle.health is not None

    await poll_until(polled, "the first health poll")
    status = {m.name: m for m in rig.daemon.gateway.modems()}["alpha"]
    assert status.sent_total == 1
    assert status.state == "ready"
    assert status.identity is not None
    assert status.identity.imei == sim.imei
    assert status.health is not None
    assert status.health.signal_dbm == -113 + 2 * sim.csq
    assert status.last_seen is not None


async def test_multipart_keeps_one_concat_reference(make_rig: RigFactory) -> None:
    rig = await make_rig()
    body = "Your lab results are ready to view in the portal. " * 7  # 357 chars: 3 segments
    accepted = await rig.send("+15551230002", body)
    assert len(accepted.segments) == 3
    done = await rig.wait_state(accepted.id, MessageState.DELIVERED)
    assert all(s.state is SegmentState.DELIVERED for s in done.segments)
    submits = [s.submit for s in rig.sims["alpha"].sent]
    assert "".join(s.text for s in submits) == body
    refs = {s.concat.reference for s in submits if s.concat}
    assert refs == {done.concat_ref}


async def test_submit_validates_all_or_nothing(make_rig: RigFactory) -> None:
    rig = await make_rig()
    good = SendRequest(to="+15551230003", body="ok")
    bad = SendRequest(to="+15551230004", body="", field_prefix="messages[1].")
    with pytest.raises(EmptyText) as empty:
        await rig.daemon.gateway.submit([good, bad], None)
    assert empty.value.field == "messages[1].body"
    with pytest.raises(TextTooLong):
        await rig.daemon.gateway.submit([SendRequest(to="+15551230004", body="x" * 2000)], None)
    with pytest.raises(InvalidNumber):
        await rig.daemon.gateway.submit([SendRequest(to="not a number", body="hi")], None)
    stats = await rig.daemon.store.stats()
    assert sum(v for k, v in stats.items() if k in {s.value for s in MessageState}) == 0


async def test_inbound_is_committed_before_it_is_deleted(make_rig: RigFactory) -> None:
    rig = await make_rig()
    sim = rig.sims["alpha"]
    store = rig.daemon.store
    commands_at_commit: list[int] = []
    original = store.add_inbound

    async def spy(part):  # type: ignore[no-untyped-def]
        result: InboundResult = await original(part)
        commands_at_commit.append(len(sim.commands))
        return result

    store.add_inbound = spy  # type: ignore[method-assign]
    start = len(sim.commands)
    sim.deliver("+15557654321", "Yes, I will be there.")

    async def stored() -> list[Inbound]:
        page = await store.list_inbound(sender=None, modem=None, cursor=None, limit=10)
        return list(page.items)

    [inbound] = await poll_until(stored, "the inbound message")
    assert inbound.sender == "+15557654321"
    assert inbound.text == "Yes, I will be there."
    assert inbound.modem == "alpha"
    await sim.wait_command("AT+CMGD", timeout=SETTLE, start=start)
    deletes = [i for i, c in enumerate(sim.commands) if i >= start and c.startswith("AT+CMGD")]
    assert commands_at_commit
    assert deletes[0] >= commands_at_commit[0]  # the delete came after the commit


async def test_permanent_cms_error_fails_without_retry(make_rig: RigFactory) -> None:
    rig = await make_rig()
    sim = rig.sims["alpha"]
    sim.fail_sends(1)  # unassigned number
    accepted = await rig.send("+15551230005", "hello")
    failed = await rig.wait_state(accepted.id, MessageState.FAILED)
    assert failed.last_error_code == "cms_1"
    assert failed.attempts == 0
    assert sim.sent == []


async def test_temporary_cms_error_is_retried(make_rig: RigFactory) -> None:
    rig = await make_rig()
    sim = rig.sims["alpha"]
    sim.fail_sends(42)  # congestion
    accepted = await rig.send("+15551230006", "hello again")
    done = await rig.wait_state(accepted.id, MessageState.DELIVERED)
    assert done.attempts == 1
    assert done.last_error_code == "cms_42"
    assert len(sim.sent) == 1


async def test_retries_are_bounded(make_rig: RigFactory) -> None:
    rig = await make_rig(retry=RetryConfig(max_attempts=2, backoff_initial=0.02, backoff_max=0.05))
    rig.sims["alpha"].fail_sends(42, count=5)
    accepted = await rig.send("+15551230007", "no luck")
    failed = await rig.wait_state(accepted.id, MessageState.FAILED)
    assert failed.last_error_code == "cms_42"
    assert failed.attempts == 1  # two tries: the first requeued, the second final


async def test_a_hung_modem_hands_its_message_to_another_sent_once(make_rig: RigFactory) -> None:
    rig = await make_rig((("alpha", "quectel"), ("bravo", "simcom")))
    rig.sims["alpha"].hang()
    messages = [await rig.send(f"+1555777000{i}", f"hand-over {i}") for i in range(4)]
    for m in messages:
        await rig.wait_state(m.id, MessageState.DELIVERED, MessageState.SENT)
    alpha = rig.daemon.handles["alpha"]
    assert alpha.last_error == "at_timeout"  # alpha did take one, and missed its deadline
    recipients = [s.submit.recipient for s in rig.sims["bravo"].sent]
    assert sorted(recipients) == sorted(m.to for m in messages)  # each exactly once
    assert rig.sims["alpha"].sent == []


async def test_lost_answer_after_the_pdu_is_unknown_not_resent(make_rig: RigFactory) -> None:
    rig = await make_rig()
    sim = rig.sims["alpha"]
    sim.hang_after_prompt()
    lost = await rig.send("+15551230008", "maybe sent")
    unknown = await rig.wait_state(lost.id, MessageState.UNKNOWN)
    assert unknown.segments[0].state is SegmentState.UNKNOWN
    # A later message goes through: by then a blind resend would have happened.
    later = await rig.send("+15551230009", "after")
    await rig.wait_state(later.id, MessageState.DELIVERED, MessageState.SENT)
    to_lost = [s for s in sim.sent if s.submit.recipient == "+15551230008"]
    assert len(to_lost) == 1
    assert to_lost[0].answered is False
    assert (await rig.message(lost.id)).state is MessageState.UNKNOWN


async def test_urgent_overtakes_a_bulk_backlog(make_rig: RigFactory) -> None:
    rig = await make_rig(radio_time=0.02)
    sim = rig.sims["alpha"]
    bulk = [
        SendRequest(to=f"+1555888{i:04d}", body=f"bulk {i}", priority=Priority.BULK)
        for i in range(30)
    ]
    await rig.daemon.gateway.submit(bulk, None)
    await sim.wait_sent(1, timeout=SETTLE)
    urgent = await rig.send("+15559990000", "urgent", priority=Priority.URGENT)
    await rig.wait_state(urgent.id, MessageState.DELIVERED, MessageState.SENT)
    order = [s.submit.recipient for s in sim.sent]
    position = order.index("+15559990000")
    assert position <= 3  # behind at most the bulk messages already in flight
    assert len(order) < 31  # most of the backlog was still waiting


async def test_urgent_slips_in_between_segments_of_a_long_bulk_message(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(radio_time=0.05)
    sim = rig.sims["alpha"]
    long_body = "Reminder: please bring your insurance card and medication list. " * 9
    bulk = await rig.send("+15558880001", long_body, priority=Priority.BULK)
    assert len(bulk.segments) >= 4
    await sim.wait_sent(1, timeout=SETTLE)
    urgent = await rig.send("+15559990001", "urgent", priority=Priority.URGENT)
    await rig.wait_state(bulk.id, MessageState.DELIVERED, MessageState.SENT)
    await rig.wait_state(urgent.id, MessageState.DELIVERED, MessageState.SENT)
    order = [s.submit.recipient for s in sim.sent]
    assert order.index("+15559990001") < len(order) - 1  # not after the last bulk segment


async def test_cancel_and_send_at(make_rig: RigFactory) -> None:
    rig = await make_rig()
    now = rig.daemon._clock()
    later = await rig.send("+15551230010", "tomorrow", send_at=now + 3600)
    assert rig.daemon.scheduler is not None
    assert later.id in rig.daemon.scheduler
    cancelled = await rig.daemon.gateway.cancel(later.id)
    assert cancelled.state is MessageState.CANCELLED
    assert later.id not in rig.daemon.scheduler


async def test_expired_while_queued(make_rig: RigFactory) -> None:
    rig = await make_rig()
    handle = rig.daemon.handles["alpha"]
    handle.held_until = rig.daemon._clock() + 3600  # nobody can send
    assert rig.daemon.dispatcher is not None
    rig.daemon.dispatcher.update_ready(handle)
    short = await rig.send("+15551230011", "soon stale", ttl=0.05)
    expired = await rig.wait_state(short.id, MessageState.EXPIRED)
    assert expired.last_error_code == "expired"
    assert rig.sims["alpha"].sent == []


async def test_modem_fault_moves_work_and_holds_the_modem(make_rig: RigFactory) -> None:
    route = RouteConfig(name="first", modems=("alpha",), fallback=True)
    rig = await make_rig((("alpha", "quectel"), ("bravo", "generic")), routes=[route])
    rig.sims["alpha"].fail_sends(50, count=10)  # no SMS subscription: a SIM fault
    m = await rig.send("+15551230012", "via the healthy one")
    assert m.route == "first"
    done = await rig.wait_state(m.id, MessageState.DELIVERED, MessageState.SENT)
    assert done.modem == "bravo"
    assert done.attempts == 0  # a SIM fault is not the message's: no attempt spent
    states = {s.name: s for s in rig.daemon.gateway.modems()}
    assert states["alpha"].state in {"down", "starting"}
    assert states["alpha"].reason == "fault: cms_50"
    assert states["alpha"].last_error == "cms_50"
    assert rig.sims["alpha"].sent == []
    assert rig.daemon.gateway.is_ready()  # bravo still is


async def test_every_modem_faulted_leaves_the_message_queued(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.sims["alpha"].fail_sends(10, count=10)  # call barred
    m = await rig.send("+15551230014", "waits for a modem")
    alpha = rig.daemon.handles["alpha"]

    async def held() -> bool:
        return alpha.hold_reason is not None

    await poll_until(held, "alpha held after a SIM fault")
    queued = await rig.wait_state(m.id, MessageState.QUEUED)
    assert queued.last_error_code == "cms_10"
    assert not rig.daemon.gateway.is_ready()


async def test_http_api_is_served_and_ready(make_rig: RigFactory) -> None:
    rig = await make_rig(serve_http=True)
    assert rig.daemon.api_url is not None
    async with aiohttp.ClientSession() as session:
        async with session.get(rig.daemon.api_url + "/readyz") as response:
            assert response.status == 200
        async with session.get(rig.daemon.api_url + "/metrics") as response:
            assert response.status == 200
            text = await response.text()
    assert 'smsgw_modem_up{modem="alpha"} 1.0' in text


async def test_restart_rebuilds_the_queue_from_the_store(make_rig: RigFactory) -> None:
    rig = await make_rig()
    now = rig.daemon._clock()
    later = await rig.send("+15551230013", "kept across restarts", send_at=now + 1.0)
    await rig.daemon.stop()
    assert rig.sims["alpha"].sent == []
    # Only the second daemon can send it, and only from what it read back from the store;
    # whether it is still waiting when that daemon is ready depends on the machine's load.
    rig2 = await make_rig((("bravo", "generic"),))
    await rig2.wait_state(later.id, MessageState.DELIVERED, MessageState.SENT)
    assert len(rig2.sims["bravo"].sent) == 1
    await asyncio.sleep(0)


async def test_serve_with_built_in_simulators_until_stopped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    KeyRing.create(data / "smsgw.key")
    sim_timing = SimulatorConfig(radio_time=0.0, report_delay=0.02)
    config = Config(
        path=tmp_path / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=0),
        store=StoreConfig(data_dir=data, key_file=data / "smsgw.key", durable=False),
        modems=(
            ModemConfig(name="sim1", simulate="quectel", simulator=sim_timing),
            ModemConfig(name="sim2", simulate="huawei", simulator=sim_timing),
        ),
    )
    stop = asyncio.Event()
    async with simulated_modems(config) as with_simulators:
        daemon = Daemon(with_simulators)
        running = asyncio.create_task(serve(with_simulators, stop=stop, daemon=daemon))

        async def ready() -> bool:
            if running.done():
                running.result()  # surfaces a start-up error
            return daemon.gateway.is_ready()

        await poll_until(ready, "the daemon ready")
        assert (data / "sim" / "sim1").exists()
        assert {m.port for m in daemon.gateway.modems()} == {
            str(data / "sim" / "sim1"),
            str(data / "sim" / "sim2"),
        }
        assert {m.profile for m in daemon.gateway.modems()} == {"quectel", "huawei"}
        accepted = await daemon.gateway.submit([SendRequest(to="+15551230020", body="demo")], None)

        async def delivered() -> bool:
            m = await daemon.store.get_message(accepted[0].message.id)
            return m is not None and m.state is MessageState.DELIVERED

        await poll_until(delivered, "delivery through a built-in simulator")
        stop.set()
        assert await asyncio.wait_for(running, SETTLE) == 0
    assert not (data / "sim" / "sim1").exists()  # stopped with the command line's context


async def test_logs_carry_no_numbers_or_texts(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = await make_rig()
    sim = rig.sims["alpha"]
    sim.fail_sends(42)
    secret_number, secret_text = "+15550009876", "Your HIV test result is ready"
    m = await rig.send(secret_number, secret_text)
    await rig.wait_state(m.id, MessageState.DELIVERED)
    sim.deliver("+15550004321", "My private reply about my diagnosis")

    async def stored() -> bool:
        page = await rig.daemon.store.list_inbound(sender=None, modem=None, cursor=None, limit=5)
        return bool(page.items)

    await poll_until(stored, "the inbound message")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert m.id in text  # ids are logged...
    for secret in (secret_number, secret_number[1:], secret_text, "+15550004321", "diagnosis"):
        assert secret not in text  # ...numbers and texts are not


async def test_stop_lets_the_segment_in_flight_finish(make_rig: RigFactory) -> None:
    rig = await make_rig(radio_time=0.3)
    sim = rig.sims["alpha"]
    start = len(sim.commands)
    m = await rig.send("+15551230021", "in flight at shutdown")
    await sim.wait_command("AT+CMGS", timeout=SETTLE, start=start)
    await rig.daemon.stop()
    assert [s.answered for s in sim.sent] == [True]
    cfg = rig.daemon.config.store
    store = SqliteStore(cfg.database, KeyRing.load(cfg.key_file))
    await store.open()
    try:
        after = await store.get_message(m.id)
    finally:
        await store.close()
    assert after is not None
    assert after.state is MessageState.SENT  # finished, not left `sending` (-> unknown)


async def test_a_store_error_after_the_modem_accepted_is_unknown_not_resent(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig()
    store = rig.daemon.store
    original = store.segment_sent
    calls = 0

    async def flaky(*args: Any, **kwargs: Any) -> MessageState:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "segment_sent", flaky)
    m = await rig.send("+15551230022", "accepted, not recorded")
    unknown = await rig.wait_state(m.id, MessageState.UNKNOWN)
    assert unknown.segments[0].state is SegmentState.UNKNOWN
    later = await rig.send("+15551230023", "next one")
    await rig.wait_state(later.id, MessageState.SENT, MessageState.DELIVERED)
    assert [s.submit.recipient for s in rig.sims["alpha"].sent].count("+15551230022") == 1


async def test_a_store_error_before_sending_requeues(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig(dispatch=DispatchSettings())
    monkeypatch.setattr("gateway.fleet.dispatch.INTERNAL_RETRY_DELAY", 0.05)
    store = rig.daemon.store
    original = store.segment_sending
    calls = 0

    async def flaky(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database is locked")
        await original(*args, **kwargs)

    monkeypatch.setattr(store, "segment_sending", flaky)
    m = await rig.send("+15551230024", "try again")
    done = await rig.wait_state(m.id, MessageState.SENT, MessageState.DELIVERED)
    assert done.last_error_code == "internal_error"
    assert len(rig.sims["alpha"].sent) == 1


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_listener(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    KeyRing.create(data / "smsgw.key")
    cert, key = self_signed(tmp_path)
    config = Config(
        path=tmp_path / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key),
        store=StoreConfig(data_dir=data, key_file=data / "smsgw.key", durable=False),
        modems=(ModemConfig(name="sim1", simulate="generic"),),
    )
    async with simulated_modems(config) as with_simulator:
        daemon = Daemon(with_simulator)
        await daemon.start()
        try:
            await _check_tls(daemon, cert)
        finally:
            await daemon.stop()


async def _check_tls(daemon: Daemon, cert: Path) -> None:
    assert daemon.api_url is not None
    assert daemon.api_url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    async with (
        aiohttp.ClientSession() as session,
        session.get(daemon.api_url + "/healthz", ssl=context) as response,
    ):
        assert response.status == 200


async def test_resend_unknown_policy_resends_a_lost_answer(make_rig: RigFactory) -> None:
    retry = RetryConfig(backoff_initial=0.05, backoff_max=0.2, resend_unknown=True)
    rig = await make_rig(retry=retry)
    sim = rig.sims["alpha"]
    sim.hang_after_prompt()
    m = await rig.send("+15551230025", "resend me")
    done = await rig.wait_state(m.id, MessageState.DELIVERED)
    assert done.attempts == 1
    assert [s.answered for s in sim.sent] == [False, True]  # the duplicate policy allows


async def test_a_port_pattern_that_matches_later_is_picked_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "dev").mkdir()
    KeyRing.create(data / "smsgw.key")
    pattern = str(tmp_path / "dev" / "usb-Quectel_*-if02")
    config = Config(
        path=tmp_path / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=0),
        store=StoreConfig(data_dir=data, key_file=data / "smsgw.key", durable=False),
        modems=(ModemConfig(name="late", port=pattern, profile="quectel"),),
    )
    settings = RuntimeSettings(device_poll_interval=0.02, serve_http=False)
    daemon = Daemon(config, settings=settings, modem_factory=fast_modem)
    sim = SimulatedModem(tmp_path / "dev" / "usb-Quectel_EC25-if02", profile="quectel")
    await daemon.start()
    try:
        assert daemon.gateway.modems() == []  # a glob names a family: no device, no modem yet
        await sim.start()

        async def ready() -> bool:
            return daemon.gateway.is_ready()

        await poll_until(ready, "the modem found by its pattern")
        [status] = daemon.gateway.modems()
        assert status.name == "late-ec25"  # the family's name and the by-id name's last part
        assert status.port == str(sim.path)
    finally:
        await daemon.stop()
        await sim.stop()
