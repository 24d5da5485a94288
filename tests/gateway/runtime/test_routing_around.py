"""A fleet that routes around a sick modem at once: lost registration, network and SIM
errors, a hung modem, and a modem that comes back as soon as a probe finds it well.

Each test gives alpha the first claim on the message (a route whose pool is alpha, with
fallback, or a sticky conversation on alpha), makes alpha sick, and checks that the
message leaves on bravo without spending an attempt, quickly; each prints how long the
message spent on the sick modem while bravo was ready (run with -s to see the figures).
"""

from __future__ import annotations

import time
from dataclasses import replace

from drivers.engine import ESCAPE_GRACE
from drivers.types import ModemState, Registration
from gateway.config import RetryConfig, RouteConfig
from gateway.fleet.supervisor import SupervisorSettings, probe_delay
from gateway.store.base import MessageState, SegmentState
from tests.gateway.runtime.conftest import PROMPT_TIMEOUT, SETTLE, Rig, RigFactory, poll_until

ALPHA_FIRST = RouteConfig(name="first", modems=("alpha",), fallback=True)
PAIR = (("alpha", "quectel"), ("bravo", "generic"))
# The prompt's deadline, plus the driver's wait for the answer to the ESC it then writes.
ONE_DEADLINE = PROMPT_TIMEOUT + ESCAPE_GRACE + 0.5
# The bound on anything that must happen "at once": a URC or an answer acted on, not the
# next health poll, which these rigs hold 60 s away. Wide enough for a loaded machine;
# how fast it really is is printed (`pytest -s`), not asserted.
QUICK = SETTLE


async def out_of_rotation(rig: Rig, name: str, within: float = QUICK) -> None:
    handle = rig.daemon.handles[name]

    async def out() -> bool:
        return not handle.usable()

    await poll_until(out, f"{name} out of rotation", within)


async def back_in_rotation(rig: Rig, name: str, within: float = QUICK) -> None:
    handle = rig.daemon.handles[name]

    async def back() -> bool:
        return handle.usable()

    await poll_until(back, f"{name} back in rotation", within)


async def sent_on_bravo(rig: Rig, message_id: str, started: float) -> float:
    done = await rig.wait_state(message_id, MessageState.SENT, MessageState.DELIVERED)
    waited = time.monotonic() - started
    assert done.modem == "bravo"
    assert done.attempts == 0  # the modem's trouble, not the message's
    print(f"waited {waited:.3f} s on a sick modem")  # noqa: T201 - the figure for the report
    return waited


async def first_health_poll(rig: Rig, name: str) -> None:
    handle = rig.daemon.handles[name]

    async def polled() -> bool:
        return handle.health is not None

    await poll_until(polled, f"the first health poll of {name}")


async def make_conversation(rig: Rig, number: str) -> None:
    """The patient writes to alpha first: replies to them are sticky on alpha."""
    rig.sims["alpha"].deliver(number, "Is my appointment still on?")
    store = rig.daemon.store

    # The conversation's modem is what the test needs: wait for it, not for the text's row
    # (the row can be read a moment before the store's conversation map takes it in).
    async def sticky() -> bool:
        return await store.conversation_modem(store.number_hash(number)) == "alpha"

    await poll_until(sticky, "the patient's conversation on alpha")


# item 4: registration ---------------------------------------------------------------


async def test_lost_registration_takes_the_modem_out_at_once(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST])
    alpha = rig.sims["alpha"]
    alpha.lose_registration()
    await out_of_rotation(rig, "alpha")
    started = time.monotonic()
    m = await rig.send("+15551240001", "your results are in")
    await sent_on_bravo(rig, m.id, started)
    assert alpha.sent == []
    assert not [c for c in alpha.commands if c.startswith("AT+CMGS")]
    reason = {s.name: s for s in rig.daemon.gateway.modems()}["alpha"].reason
    assert reason == "registration: not_registered"
    alpha.restore_registration()
    await back_in_rotation(rig, "alpha")


async def test_a_modem_not_registered_at_ready_stays_out(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST])
    alpha = rig.sims["alpha"]
    handle = rig.daemon.handles["alpha"]
    alpha.registration = 3  # denied while unplugged: no URC, the bring-up reads it
    inits = alpha.commands.count("ATE0")
    await alpha.vanish()
    await alpha.reappear()

    async def ready_again() -> bool:
        return alpha.commands.count("ATE0") > inits and handle.state is ModemState.READY

    await poll_until(ready_again, "alpha re-initialised")
    assert handle.modem.registration is Registration.DENIED
    assert not handle.usable()
    started = time.monotonic()
    m = await rig.send("+15551240002", "reminder")
    await sent_on_bravo(rig, m.id, started)
    assert alpha.sent == []


async def test_a_health_poll_finding_no_registration_takes_the_modem_out(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST], health_interval=0.1)
    alpha = rig.sims["alpha"]
    alpha.registration = 2  # searching, and no URC says so: only a poll can tell
    await out_of_rotation(rig, "alpha")
    assert rig.daemon.handles["alpha"].hold_reason == "registration: searching"
    started = time.monotonic()
    m = await rig.send("+15551240016", "polled out")
    await sent_on_bravo(rig, m.id, started)
    alpha.registration = 1
    await back_in_rotation(rig, "alpha")


async def test_a_sticky_conversation_leaves_a_denied_modem(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR)
    number = "+15551240003"
    await make_conversation(rig, number)
    alpha = rig.sims["alpha"]
    alpha.deny_registration()
    await out_of_rotation(rig, "alpha")
    started = time.monotonic()
    m = await rig.send(number, "yes, still on")
    await sent_on_bravo(rig, m.id, started)
    assert alpha.sent == []


async def test_cms_331_moves_the_message_without_an_attempt(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST])
    alpha = rig.sims["alpha"]
    alpha.fail_sends(331, count=5)  # no network service, and no URC said so
    started = time.monotonic()
    m = await rig.send("+15551240004", "no service on alpha")
    waited = await sent_on_bravo(rig, m.id, started)
    assert waited < QUICK
    done = await rig.message(m.id)
    assert done.last_error_code == "cms_331"
    assert len([c for c in alpha.commands if c.startswith("AT+CMGS")]) == 1
    assert rig.daemon.handles["alpha"].hold_reason == "fault: cms_331"


async def test_cms_331_moves_a_sticky_conversation(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR)
    number = "+15551240005"
    await make_conversation(rig, number)
    alpha = rig.sims["alpha"]
    alpha.fail_sends(331, count=5)
    started = time.monotonic()
    m = await rig.send(number, "sticky, but alpha has no service")
    await sent_on_bravo(rig, m.id, started)
    assert len([c for c in alpha.commands if c.startswith("AT+CMGS")]) == 1


async def test_a_sim_error_moves_the_message_without_an_attempt(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST])
    alpha = rig.sims["alpha"]
    alpha.fail_sends(313, count=5)  # SIM failure
    started = time.monotonic()
    m = await rig.send("+15551240006", "SIM trouble on alpha")
    await sent_on_bravo(rig, m.id, started)
    assert len([c for c in alpha.commands if c.startswith("AT+CMGS")]) == 1


async def test_cms_332_holds_the_modem_and_keeps_the_segment_unknown(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST])
    alpha = rig.sims["alpha"]
    alpha.fail_sends(332, count=5)  # network timeout: the PDU may have reached the network
    m = await rig.send("+15551240007", "maybe sent")
    unknown = await rig.wait_state(m.id, MessageState.UNKNOWN)
    assert unknown.segments[0].state is SegmentState.UNKNOWN
    assert unknown.attempts == 0
    assert rig.daemon.handles["alpha"].hold_reason == "fault: cms_332"
    assert not rig.daemon.handles["alpha"].usable()
    assert rig.sims["bravo"].sent == []  # never resent blindly


async def test_cms_332_with_resend_unknown_goes_to_another_modem(make_rig: RigFactory) -> None:
    retry = RetryConfig(backoff_initial=0.05, backoff_max=0.2, resend_unknown=True)
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST], retry=retry)
    rig.sims["alpha"].fail_sends(332, count=5)
    started = time.monotonic()
    m = await rig.send("+15551240008", "resend allowed")
    await sent_on_bravo(rig, m.id, started)
    assert len([c for c in rig.sims["alpha"].commands if c.startswith("AT+CMGS")]) == 1


# item 11: CMS 21 ----------------------------------------------------------------------


async def test_cms_21_fails_the_message_without_trying_another_modem(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST])
    rig.sims["alpha"].fail_sends(21)  # short message transfer rejected
    m = await rig.send("+15551240009", "rejected for this recipient")
    failed = await rig.wait_state(m.id, MessageState.FAILED)
    assert failed.last_error_code == "cms_21"
    assert rig.sims["bravo"].sent == []
    assert rig.daemon.handles["alpha"].usable()  # the recipient's trouble, not the modem's


# item 6: a hung modem -------------------------------------------------------------------


async def test_a_modem_hung_while_idle_costs_no_attempt_and_one_deadline(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST])
    await first_health_poll(rig, "alpha")  # idle: nothing in flight when it hangs
    alpha = rig.sims["alpha"]
    alpha.hang()
    started = time.monotonic()
    m = await rig.send("+15551240010", "alpha stopped answering")
    waited = await sent_on_bravo(rig, m.id, started)
    assert waited < ONE_DEADLINE  # the first missed deadline, then straight on
    done = await rig.message(m.id)
    assert done.last_error_code == "at_timeout"
    assert alpha.sent == []


async def test_a_hung_sticky_modem_hands_the_conversation_over(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR)
    number = "+15551240011"
    await make_conversation(rig, number)
    await first_health_poll(rig, "alpha")
    rig.sims["alpha"].hang()
    started = time.monotonic()
    m = await rig.send(number, "alpha hung mid-conversation")
    waited = await sent_on_bravo(rig, m.id, started)
    assert waited < ONE_DEADLINE


# item 5: back as soon as it is well ---------------------------------------------------


async def test_a_faulted_modem_is_back_as_soon_as_a_probe_finds_it_well(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST], fault_hold=60.0, probe_initial=0.2)
    alpha = rig.daemon.handles["alpha"]
    rig.sims["alpha"].fail_sends(50, count=1)  # no SMS subscription: a SIM fault, once
    m = await rig.send("+15551240012", "via bravo")
    await rig.wait_state(m.id, MessageState.SENT, MessageState.DELIVERED)
    assert alpha.hold_reason == "fault: cms_50"
    await back_in_rotation(rig, "alpha", within=2.0)  # not the 60 s cap
    later = await rig.send("+15551240013", "alpha again")
    done = await rig.wait_state(later.id, MessageState.SENT, MessageState.DELIVERED)
    assert done.modem == "alpha"


async def test_a_probe_keeps_an_unregistered_modem_out(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST], fault_hold=60.0, probe_initial=0.1)
    sim = rig.sims["alpha"]
    sim.fail_sends(331, count=1)  # the send finds no service before any URC does
    m = await rig.send("+15551240014", "via bravo")
    await rig.wait_state(m.id, MessageState.SENT, MessageState.DELIVERED)
    sim.registration = 0  # lost without a URC: only a probe can tell
    handle = rig.daemon.handles["alpha"]
    polled = len([c for c in sim.commands if c.startswith("AT+CREG?")])

    async def probed_twice() -> bool:
        return len([c for c in sim.commands if c.startswith("AT+CREG?")]) >= polled + 2

    await poll_until(probed_twice, "two probes of alpha", 10.0)
    assert not handle.usable()
    sim.restore_registration()
    await back_in_rotation(rig, "alpha", within=10.0)


async def test_a_hang_found_by_a_health_poll_takes_the_modem_out(make_rig: RigFactory) -> None:
    rig = await make_rig(PAIR, routes=[ALPHA_FIRST], health_interval=0.2)
    await first_health_poll(rig, "alpha")
    rig.sims["alpha"].hang()
    await out_of_rotation(rig, "alpha")  # before any message went near it
    assert rig.daemon.handles["alpha"].hold_reason == "fault: at_timeout"
    started = time.monotonic()
    m = await rig.send("+15551240015", "alpha hung while idle")
    await sent_on_bravo(rig, m.id, started)
    assert not [c for c in rig.sims["alpha"].commands if c.startswith("AT+CMGS")]


def test_probes_start_in_seconds_and_back_off_to_the_cap() -> None:
    settings = SupervisorSettings()  # production timing
    delays = [probe_delay(settings, step) for step in range(1, 11)]
    assert delays[:4] == [2.0, 4.0, 8.0, 16.0]
    assert delays == sorted(delays)
    assert delays[-1] == settings.fault_hold == 300.0
    assert probe_delay(replace(settings, probe_initial=0.1, fault_hold=0.3), 5) == 0.3
