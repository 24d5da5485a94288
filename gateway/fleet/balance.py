"""Prepaid credit: a USSD balance check on a schedule, and reading an amount from its reply.

Operators answer in their own words and number formats ("Balance: 12.34 USD",
"Tu saldo es $5,20", "Solde 1.234,50 FCFA"), so the parser looks for the first
amount next to a currency sign or code, then for one after a word like
"balance", then for any amount that is not part of a date or a time. A
configured ``pattern`` (one capture group) replaces that guess where it fails.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Final

from drivers.types import ModemState, UssdReply
from gateway.config import BalanceConfig
from gateway.errors import GatewayError
from gateway.fleet.handle import ModemHandle

log = logging.getLogger(__name__)

# All durations in seconds.
RETRY_AFTER_FAILURE: Final = 900.0  # a failed check is tried again after this (or interval)
NOT_READY_POLL: Final = 5.0  # how often a modem that is not ready is looked at again (or interval)
BALANCE_EVENT: Final = "modem.balance"

# Digits with optional grouping (space, no-break space, apostrophe, dot or comma) and
# an optional decimal part: "1 234,56", "1,234.56", "12.34", "5,20", "1'000".
_AMOUNT: Final = (
    r"[0-9]{1,3}(?:[ \u00a0\u202f',.][0-9]{3})+(?:[.,][0-9]{1,3})?|[0-9]+(?:[.,][0-9]{1,3})?"
)
# Not part of a date, a time or a longer number: "25/11/2026", "10:30", "2026-11-25".
_NUMBER_RE: Final = re.compile(
    rf"(?<![0-9/:\-])(?<![0-9][.,])-?(?:{_AMOUNT})(?![0-9]|[.,/:\-][0-9])"
)
# A sign, or three capitals that are not a unit ("100 SMS", "30 MIN").
_CURRENCY: Final = r"(?:[$€£¥₦₹₱₵₩₫₪₺₽]|(?!SMS|MIN|MMS)[A-Z]{3}\b|Rs\.?|Ksh|FCFA|CFA)"
_CURRENCY_BEFORE_RE: Final = re.compile(rf"{_CURRENCY}\s?$")
_CURRENCY_AFTER_RE: Final = re.compile(rf"^\s?{_CURRENCY}")
_KEYWORD_RE: Final = re.compile(
    r"balance|saldo|solde|cr[eé]dit|guthaben|credito|crédito|remaining|restant", re.IGNORECASE
)


def to_number(token: str) -> float | None:
    """``"1.234,56"`` → 1234.56, ``"1,000"`` → 1000.0, ``"5,20"`` → 5.2."""
    text = token.strip().replace("\u00a0", " ").replace("\u202f", " ")
    negative = text.startswith("-")
    text = text.lstrip("-").replace(" ", "").replace("'", "")
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        decimal = "." if text.rfind(".") > text.rfind(",") else ","
        grouping = "," if decimal == "." else "."
        text = text.replace(grouping, "").replace(decimal, ".")
    elif dots + commas > 1:
        separator = "." if dots else ","
        whole, _, tail = text.rpartition(separator)
        # "1,234,567" groups; "1.234.567,5" was handled above; "1.234.56" keeps its decimals.
        text = whole.replace(separator, "") + ("" if len(tail) == 3 else ".") + tail
    elif dots + commas == 1:
        separator = "." if dots else ","
        whole, _, tail = text.partition(separator)
        # One separator before exactly three digits groups thousands ("1,000", "12.500"),
        # except after a lone zero ("0.500").
        thousands = len(tail) == 3 and whole not in ("", "0")
        text = whole + tail if thousands else f"{whole}.{tail}"
    try:
        value = float(text)
    except ValueError:
        return None
    return -value if negative else value


def parse_balance(text: str, pattern: re.Pattern[str] | None = None) -> float | None:
    """The amount in an operator's reply, or None when nothing reads as one."""
    if pattern is not None:
        match = pattern.search(text)
        return to_number(match.group(1)) if match and match.group(1) else None
    candidates = list(_NUMBER_RE.finditer(text))
    for match in candidates:
        before, after = text[: match.start()], text[match.end() :]
        if _CURRENCY_BEFORE_RE.search(before) or _CURRENCY_AFTER_RE.search(after):
            return to_number(match.group(0))
    keyword = _KEYWORD_RE.search(text)
    if keyword is not None:
        for match in candidates:
            if match.start() >= keyword.end():
                return to_number(match.group(0))
    return to_number(candidates[0].group(0)) if candidates else None


UssdRunner = Callable[[str], Awaitable[UssdReply]]
Recorder = Callable[[ModemHandle, UssdReply, float | None], Awaitable[None]]


async def balance_loop(
    handle: ModemHandle,
    config: BalanceConfig,
    run_ussd: UssdRunner,
    record: Recorder,
) -> None:
    """Check the balance when the modem is ready, then every ``config.interval`` seconds."""
    pattern = re.compile(config.pattern) if config.pattern else None
    while True:
        if handle.state is not ModemState.READY or handle.stopping:
            await asyncio.sleep(min(config.interval, NOT_READY_POLL))  # a modelled poll
            continue
        try:
            reply = await run_ussd(config.ussd)
        except GatewayError as exc:
            log.info("balance check of modem %s failed: %s", handle.name, exc.code)
            await asyncio.sleep(min(config.interval, RETRY_AFTER_FAILURE))  # a modelled period
            continue
        amount = parse_balance(reply.text, pattern)
        if amount is None:
            log.info("balance check of modem %s: no amount in the reply", handle.name)
        await record(handle, reply, amount)
        await asyncio.sleep(config.interval)  # a modelled period
