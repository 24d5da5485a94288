"""A modem left at the ``> `` prompt (the daemon was killed between AT+CMGS=<n> and its PDU).

Until ESC or Ctrl-Z such a modem takes every byte as message text, so bring-up clears the
prompt before anything else, and the engine never writes a command into an open prompt.
"""

from __future__ import annotations

from pathlib import Path

from drivers.modem import Modem
from drivers.types import ModemState
from tests.drivers.conftest import WAIT, EngineRig, ScriptedPeer, fast_settings, ok, until
from tests.drivers.test_modem import ready, running


async def test_bring_up_clears_a_prompt_left_open(sim_path: Path) -> None:
    async with running(sim_path, sim_options={"report_delay": None}) as (sim, modem):
        sim.leave_at_prompt()
        await ready(modem)
        assert modem.state is ModemState.READY
        assert sim.sent == []  # nothing was sent as message text
        assert not sim.at_prompt
        assert modem.stats.timeouts == 0


async def test_escape_is_the_first_byte_bring_up_writes(peer: ScriptedPeer) -> None:
    modem = Modem(fast_settings(peer.path, sweep_interval=60.0))
    peer.on(r"AT\+CPIN\?", ok("+CPIN: READY"))
    await modem.start()
    try:
        await modem.wait_ready(WAIT)
        assert peer.raw.startswith(b"\x1b")
        assert peer.commands[0] == "<esc>"
    finally:
        await modem.stop()


async def test_no_command_is_written_into_a_stray_prompt(rig: EngineRig) -> None:
    rig.peer.send(b"\r\n> ")  # the modem opened a prompt nobody asked for
    await until(lambda: rig.engine.prompt_open)
    rig.peer.on(r"AT\+CSQ", ok("+CSQ: 20,99"))
    assert await rig.engine.command("AT+CSQ", seconds=WAIT) == ["+CSQ: 20,99"]
    first_after = rig.peer.commands[0]
    assert first_after == "<esc>"
    assert not rig.engine.prompt_open


async def test_hard_reset_escapes_a_prompt_first(sim_path: Path) -> None:
    async with running(sim_path, max_consecutive_timeouts=1, command_timeout=0.3) as (
        sim,
        modem,
    ):
        await ready(modem)
        start = len(sim.commands)
        session = modem._session
        assert session is not None
        sim.leave_at_prompt()
        await modem._send_reset(session, 0.5)
        assert session.reset_accepted
        assert "AT+CFUN=1,1" in sim.commands[start:]
