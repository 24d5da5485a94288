"""Bringing an opened modem to READY: wait for boot, then the init sequence.

The order and the reasons follow modem-protocol.md §3.2 (3GPP TS 27.005/27.007): a prompt
left open is cleared, echo off, numeric errors, manufacturer and model (so "auto" knows the
dialect before the SIM check: Wavecom answers AT+CPIN? without an OK), the profile's first
commands, SIM (a configured PIN is tried once, never again: each try burns an attempt),
the rest of the identity, PDU mode, storage and indications chosen from the modem's own
``=?`` ranges, SMSC, registration URCs, vendor extras. SIM/SMS "busy" answers are normal
for seconds after boot (or AT+CFUN=1) and are retried until the boot deadline.
All timeouts in seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from drivers import replies
from drivers.engine import CommandPriority
from drivers.errors import (
    CmeError,
    CmsError,
    CommandError,
    CommandTimeout,
    ModemUnavailable,
    SimPinError,
)
from drivers.quirks import AUTO, CnmiSetting, detect_profile
from drivers.session import Session
from drivers.types import Identity

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_CME = frozenset({14, 515})  # SIM busy / please wait: normal for seconds after boot
BUSY_CMS = frozenset({314, 500, 512, 515})
WRONG_PIN_CME = frozenset({11, 12, 16})  # never retried: each try burns an attempt


async def wait_boot(session: Session) -> None:
    """Clear a prompt left open, poll ``AT`` until it answers, then wait for the SMS-ready
    banner if one began.

    A daemon killed between AT+CMGS=<n> and its PDU leaves the modem taking every byte as
    message text, a reset command included; ESC cancels that entry (and is ignored
    elsewhere), and the first ``AT`` then drains whatever final the ESC earned.
    """
    settings = session.settings
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.boot_timeout
    session.engine.escape_prompt()
    while True:
        try:
            await session.engine.command(
                "AT", seconds=settings.boot_poll_interval, priority=CommandPriority.RESET
            )
            break
        except CommandTimeout:
            if loop.time() >= deadline:
                raise CommandTimeout("boot", settings.boot_timeout) from None
        except CommandError:
            break  # it answers: alive
    if session.boot_started and session.profile.boot_lines and not session.boot_line.is_set():
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                await session.boot_line.wait()
        except TimeoutError:
            log.info("%s: no SMS-ready banner before the boot deadline", session.name)


async def initialise(session: Session) -> Identity:
    """Run the init sequence; sets ``session.profile`` ("auto"), memories and CNMA need."""
    await session.run("ATE0")
    await session.optional("AT+CMEE=1")
    manufacturer = await _identity_value(session, "AT+CGMI")
    model = await _identity_value(session, "AT+CGMM")
    if session.settings.profile == AUTO:
        session.profile = detect_profile(manufacturer, model)
        log.info("%s: using the %s profile", session.name, session.profile.name)
    for command in session.profile.init_first:
        await _identity_answer(session, command)  # optional; "busy" tried again
    await _unlock_sim(session)
    identity = await _read_identity(session, manufacturer, model)
    await _while_busy(session, lambda: session.run("AT+CMGF=0"))
    if session.settings.message_service is not None:
        await session.run(f"AT+CSMS={session.settings.message_service}")
    else:
        # See ModemSettings.message_service; "busy" is tried again, an error keeps service 0.
        await _while_busy(session, lambda: _optional(session, "AT+CSMS=1"))
    csms = replies.find_body(await session.optional("AT+CSMS?"), "+CSMS:")
    service = replies.first_int(csms) if csms is not None else 0
    await _while_busy(session, lambda: _select_storage(session))
    cnmi = await _while_busy(session, lambda: _select_indications(session))
    # Under service 1 every routed +CMT/+CDS waits for AT+CNMA, with <mt>=1 too: class 0
    # texts (and what a firmware routes on its own) still come as +CMT.
    session.cnma_required = service == 1
    session.indications = "AT+CNMI=" + ",".join(str(v) for v in cnmi)
    session.routing = (cnmi[1], cnmi[3])
    await _check_smsc(session)
    if session.settings.registration_urcs:
        for command in ("AT+CREG=2", "AT+CGREG=2", "AT+CEREG=2"):
            await session.optional(command)  # a domain the firmware lacks answers ERROR
    for extra in session.profile.init_extra:
        await session.optional(extra)
    return identity


async def _unlock_sim(session: Session) -> None:
    state = await _sim_state(session)
    if state == "ready":
        return
    if state == "pin" and session.settings.pin:
        try:
            await session.run(f'AT+CPIN="{session.settings.pin}"')
        except CommandError as exc:
            if isinstance(exc, CmeError) and exc.number not in WRONG_PIN_CME:
                raise
            raise SimPinError("the SIM rejected the configured PIN") from None
        state = await _sim_state(session, wait_ready=True)
        if state == "ready":
            return
    if state in ("pin", "puk"):
        raise SimPinError(f"the SIM needs its {state.upper()}")
    session.reason = "sim_" + state
    raise ModemUnavailable(f"SIM not usable ({state})")


async def _sim_state(session: Session, *, wait_ready: bool = False) -> str:
    """AT+CPIN? until it answers (SIM busy after boot or a PIN is normal)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + session.settings.boot_timeout
    while True:
        try:
            lines = await session.run("AT+CPIN?")
            state = replies.sim_state(replies.find_body(lines, "+CPIN:") or "")
            if state == "ready" or not wait_ready or loop.time() >= deadline:
                return state
        except CmeError as exc:
            if exc.number == 10:
                return "absent"
            if exc.number not in BUSY_CME or loop.time() >= deadline:
                raise
        await asyncio.sleep(session.settings.boot_poll_interval)  # SIM still busy


async def _identity_answer(session: Session, command: str) -> list[str]:
    """An optional query; "busy" is tried again (it is no answer), an error means "none"."""
    return await _while_busy(session, lambda: _optional(session, command))


async def _identity_value(session: Session, command: str) -> str | None:
    return replies.identity_value(await _identity_answer(session, command))


async def _read_identity(session: Session, manufacturer: str | None, model: str | None) -> Identity:
    revision = await _identity_value(session, "AT+CGMR")
    imei = await _identity_value(session, "AT+CGSN")
    imsi = await _identity_value(session, "AT+CIMI")
    iccid = None
    for command in session.profile.iccid_commands:
        iccid = replies.iccid(await _identity_answer(session, command))
        if iccid:
            break
    number = replies.own_number(await _identity_answer(session, "AT+CNUM"))
    return Identity(manufacturer, model, revision, imei, imsi, iccid, number)


async def _select_storage(session: Session) -> None:
    test = replies.find_body(await _optional(session, "AT+CPMS=?"), "+CPMS:")
    lists = replies.memory_lists(test) if test is not None else []
    chosen: str | None = None
    # Three lists (<mem1>,<mem2>,<mem3>), or two on firmwares without <mem3> (Wavecom),
    # where received messages go to <mem2>'s memory and a third parameter is refused.
    if len(lists) >= 2:
        for memory in session.profile.storage_preference:
            if memory in lists[0] and memory in lists[-1]:
                chosen = memory
                break
    if chosen is not None:
        second = chosen if chosen in lists[1] else lists[1][0] if lists[1] else chosen
        third = f',"{chosen}"' if len(lists) >= 3 else ""
        await session.run(f'AT+CPMS="{chosen}","{second}"{third}')
    else:
        current = replies.find_body(await session.run("AT+CPMS?"), "+CPMS:") or ""
        names = replies.memory_lists(f"({current})")
        chosen = names[0][0] if names and names[0] else "SM"
    session.memory = session.receive_memory = chosen
    session.report_memory = "SR" if lists and "SR" in lists[0] else chosen


async def _select_indications(session: Session) -> CnmiSetting:
    test = replies.find_body(await _optional(session, "AT+CNMI=?"), "+CNMI:")
    allowed = replies.ranges(test) if test is not None else []
    candidates = [
        setting
        for setting in session.profile.cnmi_preference
        if len(allowed) < 5 or all(v in r for v, r in zip(setting, allowed, strict=False))
    ]
    last: CommandError | None = None
    for setting in candidates:
        try:
            await session.run("AT+CNMI=" + ",".join(str(v) for v in setting))
        except CommandError as exc:
            last = exc
            continue
        return setting
    raise last or CommandError("AT+CNMI", "no acceptable setting")


async def _check_smsc(session: Session) -> None:
    current = replies.find_body(await session.optional("AT+CSCA?"), "+CSCA:")
    number = current.split(",")[0].strip().strip('"') if current else ""
    wanted = session.settings.smsc
    if wanted and wanted != number:
        toa = 145 if wanted.startswith("+") else 129
        await session.run(f'AT+CSCA="{wanted}",{toa}')
    elif not number:
        log.warning("%s: no SMSC on the SIM; sends need one in settings", session.name)


def _is_busy(exc: CommandError) -> bool:
    if isinstance(exc, CmeError):
        return exc.number in BUSY_CME
    return isinstance(exc, CmsError) and exc.number in BUSY_CMS


async def _optional(session: Session, command: str) -> list[str]:
    """A command some firmwares lack (an error means "no information"); "busy" is raised,
    for ``_while_busy`` to try again: it says nothing about the command."""
    try:
        return await session.run(command)
    except CommandError as exc:
        if _is_busy(exc):
            raise
        return []


async def _while_busy(session: Session, step: Callable[[], Awaitable[T]]) -> T:
    """Retry ``step`` while the modem says SIM/SMS busy (normal right after boot)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + session.settings.boot_timeout
    while True:
        try:
            return await step()
        except (CmeError, CmsError) as exc:
            if not _is_busy(exc) or loop.time() >= deadline:
                raise
        await asyncio.sleep(session.settings.boot_poll_interval)  # modem asked us to wait
