"""What the gateway texts back to an answer to a message's expected replies.

The match itself commits with the text (gateway.core.replies, the store's reply rule);
this runs after that commit. A matched answer gets the follow-up configured for its
meaning (``[replies.follow_ups]``); a text that matches nothing while a message awaits
an answer gets ``unmatched_text`` ("Please reply C or R"), at most once per message: the
nudge is claimed in the store before it is queued, so a crash in between loses it rather
than sending it twice. Both go out as ordinary messages of category ``care`` from the
modem the patient wrote to, through the opt-out gate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from gateway.config import CARE, RepliesConfig
from gateway.core.replies import ReplyMatcher, choices
from gateway.core.service import SendRequest
from gateway.errors import GatewayError
from gateway.store.base import Inbound, Store

log = logging.getLogger(__name__)

FOLLOW_UP_TAG: Final = "reply-follow-up"
NUDGE_TAG: Final = "reply-nudge"

# (request, modem): queue it from that modem, as an answer to the patient.
ReplySender = Callable[[SendRequest, str], Awaitable[None]]


class ReplyDesk:
    def __init__(
        self,
        config: RepliesConfig,
        matcher: ReplyMatcher,
        store: Callable[[], Store],
        send: ReplySender,
        *,
        clinic: str,
    ) -> None:
        self._config = config
        self._matcher = matcher
        self._store = store
        self._send = send
        self._clinic = clinic

    async def on_inbound(self, inbound: Inbound) -> bool:
        """After the commit; True when the text was taken as an answer (matched, or
        nudged), so the after-hours auto-reply stays silent. Errors are logged."""
        try:
            if inbound.in_reply_to is not None:
                await self._follow_up(inbound)
                return True
            return await self._nudge(inbound)
        except GatewayError as exc:
            log.warning("no answer to inbound %s: %s (%s)", inbound.id, exc.code, exc.message)
            return inbound.in_reply_to is not None

    async def _follow_up(self, inbound: Inbound) -> None:
        meaning = (inbound.reply_value or "").strip().casefold()
        text = self._config.follow_ups.get(meaning)
        if text is None:
            return
        await self._answer(inbound, text, FOLLOW_UP_TAG, inbound.in_reply_to or "")
        log.info("follow-up queued for reply %s to %s", inbound.id, inbound.in_reply_to)

    async def _nudge(self, inbound: Inbound) -> bool:
        template = self._config.unmatched_text
        if template is None or not self._matcher.may_answer(inbound.text):
            return False
        nudge = await self._store().claim_reply_nudge(inbound.sender, inbound.received_at)
        if nudge is None:
            return False
        text = template.replace("{choices}", choices(list(nudge.keys)))
        await self._answer(inbound, text, NUDGE_TAG, nudge.message_id)
        log.info("nudge queued for inbound %s (message %s)", inbound.id, nudge.message_id)
        return True

    async def _answer(self, inbound: Inbound, text: str, tag: str, message_id: str) -> None:
        request = SendRequest(
            to=inbound.sender,
            body=text.replace("{clinic}", self._clinic),
            category=CARE,
            tags=(tag,),
            metadata={"in_reply_to": inbound.id, "answers_message": message_id},
        )
        await self._send(request, inbound.modem)
