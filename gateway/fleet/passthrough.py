"""Technician passthrough: one AT command or USSD request to a modem the daemon holds.

The gateway holds each port exclusively, so this is how a technician queries a
modem without stopping the daemon. The request goes through the driver, which
runs it between segments of a send. Each request is written to the audit trail
*before* the modem sees it: if it cannot be recorded, it does not run.

Driver errors become gateway errors with stable codes; their messages name the
command (``AT+COPS``) and the modem's final result, never the command's
arguments, which may hold a number.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Final

from drivers.errors import (
    CommandError,
    CommandTimeout,
    DriverError,
    ModemUnavailable,
    UssdError,
)
from drivers.passthrough import command_name, passthrough_refusal
from drivers.types import ModemState, UssdReply
from gateway.errors import (
    CommandRefused,
    ModemCommandFailed,
    ModemNotReady,
    ModemTimeout,
    UssdFailed,
    ValidationError,
)
from gateway.fleet.handle import ModemHandle
from gateway.store.base import Store

# All durations in seconds.
MAX_COMMAND_TIMEOUT: Final = 180.0  # the longest a technician may let one command run
# A send ahead of the command may hold the port this long (a slow network's +CMGS).
QUEUE_ALLOWANCE: Final = 180.0
USSD_DEADLINE: Final = 120.0  # bound on one USSD request, queue included (the driver's is 30)
_USSD_RE: Final = re.compile(r"[0-9*#+]{1,64}")

AT_ACTION: Final = "modem.at"
USSD_ACTION: Final = "modem.ussd"
RESET_ACTION: Final = "modem.reset"


@dataclass(frozen=True, slots=True)
class UssdAnswer:
    """The network's reply to a technician's USSD request, with the amount read from it."""

    status: int  # +CUSD <m>: 0 done, 1 further action expected, 2 terminated
    text: str
    balance: float | None


def check_command(line: str) -> str:
    """The command as it will be sent, or CommandRefused (the driver's rule, as a gateway
    error with its stable code)."""
    reason = passthrough_refusal(line)
    if reason is not None:
        raise CommandRefused(reason, field="command")
    return line


def check_ussd(code: str) -> str:
    if not _USSD_RE.fullmatch(code):
        raise CommandRefused("a USSD code is 1-64 of digits, *, # and +", field="code")
    return code


def check_ready(handle: ModemHandle) -> None:
    if handle.state is not ModemState.READY or handle.stopping:
        raise ModemNotReady(f"modem {handle.name} is {handle.state.value}, not ready")


async def run_command(
    handle: ModemHandle,
    store: Store,
    line: str,
    timeout: float | None,  # noqa: ASYNC109 - the modem's own deadline, passed to the driver
    actor: str,
) -> list[str]:
    """Audit, then run one command; the modem's information lines."""
    check_command(line)
    if timeout is not None and not 0 < timeout <= MAX_COMMAND_TIMEOUT:
        raise ValidationError(
            f"timeout must be more than 0 and at most {MAX_COMMAND_TIMEOUT:g} seconds",
            field="timeout",
        )
    check_ready(handle)
    detail: dict[str, object] = {"command": line}
    if timeout is not None:
        detail["timeout"] = timeout
    await store.audit(actor, AT_ACTION, detail, subject=handle.name)
    name = command_name(line)
    own = timeout if timeout is not None else handle.config.command_timeout
    try:
        async with asyncio.timeout(own + QUEUE_ALLOWANCE):
            return await handle.modem.command(line, timeout)
    except ValueError as exc:  # the driver's own refusal
        raise CommandRefused(str(exc), field="command") from None
    except TimeoutError:
        raise ModemTimeout(f"{name}: no final result within {own + QUEUE_ALLOWANCE:g} s") from None
    except DriverError as exc:
        raise _translate(name, exc) from None


async def run_ussd(handle: ModemHandle, store: Store | None, code: str, actor: str) -> UssdReply:
    """Audit (when a store is given), then run one USSD request."""
    check_ussd(code)
    check_ready(handle)
    if store is not None:
        await store.audit(actor, USSD_ACTION, {"code": code}, subject=handle.name)
    try:
        async with asyncio.timeout(USSD_DEADLINE):
            return await handle.modem.ussd(code)
    except ValueError as exc:
        raise CommandRefused(str(exc), field="code") from None
    except TimeoutError:
        raise UssdFailed(f"no USSD answer within {USSD_DEADLINE:g} s") from None
    except UssdError as exc:
        raise UssdFailed(str(exc)) from None
    except DriverError as exc:
        raise _translate("AT+CUSD", exc) from None


def _translate(name: str, exc: DriverError) -> Exception:
    if isinstance(exc, ModemUnavailable):
        return ModemNotReady(f"modem is not ready ({exc.code})")
    if isinstance(exc, CommandTimeout):
        return ModemTimeout(f"{name}: no final result within {exc.timeout:g} s")
    if isinstance(exc, CommandError):
        return ModemCommandFailed(f"{name}: {exc.final}")
    return ModemCommandFailed(f"{name}: {exc.code}")
