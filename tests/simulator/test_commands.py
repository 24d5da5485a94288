"""Boot banner, echo and the plain AT dialect over the real pty."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.simulator import PROFILES, SimulatedModem
from drivers.simulator.profiles import get_profile
from tests.simulator.conftest import RawClient, booted

MakeSim = Callable[..., SimulatedModem]
OpenClient = Callable[[Path], RawClient]


@pytest.mark.parametrize("profile", PROFILES)
async def test_boot_urcs_then_echo_until_ate0(
    profile: str, make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim(profile=profile, boot_delay=0.01)
    await sim.start()
    assert sim.path.is_symlink()
    client = open_client(sim.path)
    urcs = get_profile(profile).boot_urcs
    banner = await client.expect(f"{urcs[-1]}\r\n".encode())
    assert banner == b"".join(f"\r\n{u}\r\n".encode() for u in urcs)
    assert await client.command("AT") == b"AT\r\r\nOK\r\n"
    assert await client.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert await client.command("AT") == b"\r\nOK\r\n"


async def test_input_before_boot_is_ignored(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(boot_delay=0.3)
    await sim.start()
    client = open_client(sim.path)
    client.write(b"AT\r")
    await client.assert_silent(0.1)
    await client.expect(b"SMS DONE\r\n")
    assert sim.commands == []


async def test_identity_and_settings(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(imei="356938035643809", imsi="001010123456789", iccid="89014103211118510720")
    client = await booted(sim, open_client)
    assert await client.command("AT+CGSN") == b"\r\n356938035643809\r\n\r\nOK\r\n"
    assert await client.command("AT+CIMI") == b"\r\n001010123456789\r\n\r\nOK\r\n"
    assert b"+CCID: 89014103211118510720" in await client.command("AT+CCID")
    assert b"+CGMI" not in await client.command("AT+CGMI")
    assert await client.command("AT+CMGF=0") == b"\r\nOK\r\n"
    assert b"+CMGF: 0" in await client.command("AT+CMGF?")
    assert b'+CSCA: "+15550000000",145' in await client.command("AT+CSCA?")
    await client.command('AT+CSCA="+15559990000",145')
    assert b'"+15559990000"' in await client.command("AT+CSCA?")
    assert b"+CSMS: 1,1,1" in await client.command("AT+CSMS=1")
    assert b"+CSMS: 1,1,1,1" in await client.command("AT+CSMS?")
    assert b'+CPMS: ("ME","SM","SR"),("ME","SM"),("ME","SM")' in await client.command("AT+CPMS=?")
    assert b"+CPMS: 0,30,0,30,0,30" in await client.command('AT+CPMS="ME","ME","ME"')
    assert b'+CPMS: "ME",0,30,"ME",0,30,"ME",0,30' in await client.command("AT+CPMS?")
    assert b"+CMS ERROR: 302" in await client.command('AT+CPMS="XX"')
    assert b"+CSQ: 20,99" in await client.command("AT+CSQ")
    sim.set_signal(9)
    assert b"+CSQ: 9,99" in await client.command("AT+CSQ")
    assert b'+COPS: 0,0,"SimNet",7' in await client.command("AT+COPS?")
    await client.command("AT+COPS=3,2")
    assert b'+COPS: 0,2,"00101",7' in await client.command("AT+COPS?")
    assert b"+CFUN: 1" in await client.command("AT+CFUN?")
    assert await client.command("AT+NOPE") == b"\r\nERROR\r\n"
    client.write(b"hello\r")  # not an AT command: ignored
    await client.assert_silent()


async def test_cmee_modes(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await client.command("AT+CMEE=0")
    assert await client.command("AT+CMGR=99") == b"\r\nERROR\r\n"
    await client.command("AT+CMEE=1")
    assert await client.command("AT+CMGR=99") == b"\r\n+CMS ERROR: 321\r\n"
    await client.command("AT+CMEE=2")
    assert await client.command("AT+CMGR=99") == b"\r\n+CMS ERROR: invalid memory index\r\n"


async def test_pin(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(pin="1234")
    await sim.start()
    client = open_client(sim.path)
    await client.expect(b"+CPIN: SIM PIN\r\n")
    await client.command("ATE0")
    assert b"+CPIN: SIM PIN" in await client.command("AT+CPIN?")
    assert b"+CMS ERROR: 311" in await client.command("AT+CMGL=4")
    assert b"+CME ERROR: 16" in await client.command('AT+CPIN="0000"')
    assert b"\r\nOK\r\n" in await client.command('AT+CPIN="1234"')
    await client.expect(b"SMS DONE\r\n")
    assert b"+CPIN: READY" in await client.command("AT+CPIN?")
    assert b"\r\nOK\r\n" in await client.command("AT+CMGL=4")


async def test_registration_urcs(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    assert b"+CREG: 0,1" in await client.command("AT+CREG?")
    await client.command("AT+CREG=2")
    assert b'+CREG: 2,1,"1A2B","00C3D4E5",7' in await client.command("AT+CREG?")
    sim.set_registration(2)
    assert await client.expect(b"+CREG: 2\r\n") == b"\r\n+CREG: 2\r\n"
    sim.set_registration(5, act=2)
    await client.expect(b'+CREG: 5,"1A2B","00C3D4E5",2\r\n')
    await client.command("AT+CEREG=1")
    sim.set_registration(1)
    await client.expect(b"+CEREG: 1\r\n")
    assert b"+CEREG: 1,1" in await client.command("AT+CEREG?")


async def test_ussd_plain_and_huawei_packed(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(ussd_delay=0.0)
    client = await booted(sim, open_client)
    assert await client.command('AT+CUSD=1,"*100#",15') == b"\r\nOK\r\n"
    await client.expect(b'+CUSD: 0,"Balance: 12.34 USD",15\r\n')
    assert await client.command("AT+CUSD=2") == b"\r\nOK\r\n"

    hw = make_sim(profile="huawei", ussd_delay=0.0)
    hw_client = await booted(hw, open_client)
    hw.set_ussd_reply("Credit 5")
    await hw_client.command('AT+CUSD=1,"AA180C3602",15')
    line = await hw_client.expect(b",15\r\n")
    from drivers.pdu import decode_ussd

    packed = line.split(b'"')[1].decode()
    assert packed != "Credit 5"
    assert decode_ussd(packed, 15, packed=True) == "Credit 5"


async def test_garbage_in_and_out(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    junk = b"\xff\xfe\x00garbage\x80" + b"X" * 5000 + b"\r\n"
    sim.emit(junk)
    got = await client.wait_for(lambda b: len(b) >= len(junk), 2.0)
    assert got == junk
    client.buf.clear()
    client.write(b"\xff\xc3(\x1b\x00")  # non-UTF-8 and control bytes, then a real command
    assert await client.command("AT") == b"\r\nOK\r\n"
    client.write(b"A" * 6000)  # an overlong line is dropped, the modem stays in sync
    assert await client.command("AT") == b"\r\nOK\r\n"


async def test_commands_log_and_wait_command(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    start = len(sim.commands)
    waiter = sim.wait_command("AT+CSQ", 1.0, start=start)
    client.write(b"at+csq\r")
    assert await waiter == "at+csq"
    assert sim.commands[-1] == "at+csq"
    with pytest.raises(TimeoutError):
        await sim.wait_command("AT+CMGD", 0.05)


async def test_extended_commands_concatenated_with_semicolons(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    """V.250 5.2.1: smstools' pre-init sends ``AT+CMEE=1;+CREG=2`` as one line."""
    sim = make_sim()
    client = await booted(sim, open_client)
    assert await client.command("AT+CMEE=1;+CREG=2") == b"\r\nOK\r\n"
    assert sim.settings.cmee == 1
    assert sim.settings.creg_n == 2
    both = await client.command("AT+CSQ;+CREG?")
    assert both.startswith(b"\r\n+CSQ: 20,99\r\n+CREG: 2,1,")  # then <lac>,<ci> (n=2)
    assert both.endswith(b"\r\n\r\nOK\r\n")
    assert both.count(b"OK") == 1
    # The first error ends the line: what came before it stays done, nothing after it runs.
    answer = await client.command("AT+CMEE=2;+CMGF=7;+CMEE=0")
    assert answer == b"\r\n+CME ERROR: incorrect parameters\r\n"
    assert sim.settings.cmee == 2
