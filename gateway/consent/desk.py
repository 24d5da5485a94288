"""What the gateway does when a patient texts a consent keyword.

The suppression-list change commits with the inbound text itself (the store is made
with :meth:`ConsentDesk.change_for` as its consent rule and calls it inside that
transaction), so a crash cannot keep the
text and lose the STOP. The confirmation is queued afterwards, once per text (a
re-read of the same text is a duplicate and reaches nobody), from the modem the
patient wrote to, and passes the send gate: the patient must hear the STOP worked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from gateway.config import DEFAULT_CATEGORIES, ConsentConfig
from gateway.consent.keywords import (
    ConsentKeyword,
    KeywordAction,
    parse_keyword,
)
from gateway.consent.texts import confirmation_text
from gateway.metrics import Metrics
from gateway.store.base import ConsentChange, ConsentResult, Inbound

log = logging.getLogger(__name__)

# (number, text, modem, keyword): queue the confirmation from that modem.
ReplySender = Callable[[str, str, str, ConsentKeyword], Awaitable[None]]


class ConsentDesk:
    def __init__(
        self,
        config: ConsentConfig,
        *,
        clinic: str,
        reply: ReplySender,
        categories: Iterable[str] = DEFAULT_CATEGORIES,
        metrics: Metrics | None = None,
    ) -> None:
        self._config = config
        self._clinic = clinic
        self._reply = reply
        self._categories = frozenset(categories)
        self._metrics = metrics

    def keyword(self, text: str) -> ConsentKeyword | None:
        return parse_keyword(text, self._config, self._categories)

    def change_for(self, text: str) -> ConsentChange | None:
        """The list change a text asks for; pure, as the store's transaction needs."""
        found = self.keyword(text)
        if found is None or found.action is KeywordAction.HELP:
            return None
        return ConsentChange(opt_out=found.action is KeywordAction.STOP, category=found.category)

    async def answer(self, inbound: Inbound, result: ConsentResult | None) -> None:
        """After the commit: count the change and queue the one confirmation.

        START and its kin (YES among them) are confirmed only when they took the number
        off the list: a YES to "reply YES to confirm" is no consent keyword for anyone
        who never opted out."""
        found = self.keyword(inbound.text)
        if found is None:
            return
        if result is not None and self._metrics is not None:
            change = "opted_out" if result.change.opt_out else "opted_in"
            for _entry in result.suppressions:
                self._metrics.consent_change(change, "keyword")
        if found.action is KeywordAction.START and (result is None or not result.suppressions):
            return
        text = confirmation_text(found, self._config, self._clinic)
        try:
            await self._reply(inbound.sender, text, inbound.modem, found)
        except Exception:
            log.exception(
                "could not queue the %s confirmation for inbound %s", found.action, inbound.id
            )
        else:
            log.info("%s confirmation queued for inbound %s", found.action.value, inbound.id)
