"""The after-hours auto-reply: a patient who writes while the office is closed is told so.

Once per conversation per closed period (gateway.core.office_hours), claimed in the
store before the reply is queued, so a second text the same night, or the same text
read again after a restart, gets none. The reply is an ordinary message of category
``care`` tagged :data:`AUTO_REPLY_TAG`, so staff see in the API what the patient was
told; it goes out like any reply, from the modem the patient wrote to (sticky routing).
An opt-out keyword (STOP, HELP, …) gets its own confirmation instead, never this text:
``is_consent_keyword`` says which texts those are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from gateway.config import CARE, ClinicConfig
from gateway.core.office_hours import OfficeHours
from gateway.core.service import SendRequest
from gateway.errors import GatewayError
from gateway.store.base import AddResult, ApiKey, Inbound, Store

log = logging.getLogger(__name__)

AUTO_REPLY_TAG: Final = "auto-reply"

Submit = Callable[[Sequence[SendRequest], ApiKey | None], Awaitable[list[AddResult]]]
KeywordTest = Callable[[str], bool]


def no_consent_keywords(text: str) -> bool:
    """The default ``is_consent_keyword``: no text is one (no keyword parser wired in)."""
    del text
    return False


class AutoReply:
    def __init__(
        self,
        clinic: ClinicConfig,
        store: Callable[[], Store],
        submit: Submit,
        *,
        is_consent_keyword: KeywordTest = no_consent_keywords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = clinic.auto_reply
        self._office = OfficeHours(clinic)
        self._store = store
        self._submit = submit
        self._is_consent_keyword = is_consent_keyword
        self._clock = clock

    async def on_inbound(self, inbound: Inbound) -> None:
        """Called once a complete text is committed; errors are logged, never raised, so
        the modem's event consumer carries on."""
        if not self._settings.enabled or self._is_consent_keyword(inbound.text):
            return
        period = self._office.closed_since(inbound.received_at)
        if period is None:
            return
        try:
            store = self._store()
            if not await store.claim_auto_reply(inbound.conversation_id, period, self._clock()):
                return
            request = SendRequest(
                to=inbound.sender,
                body=self._settings.text,
                category=CARE,
                tags=(AUTO_REPLY_TAG,),
                metadata={"in_reply_to": inbound.id},
            )
            [result] = await self._submit([request], None)
        except GatewayError as exc:
            log.warning("no auto-reply to inbound %s: %s (%s)", inbound.id, exc.code, exc.message)
            return
        log.info("auto-reply %s to inbound %s", result.message.id, inbound.id)
