"""What to do after a failed send: classify the driver's error, then decide.

``classify`` maps an exception to an ``Action`` plus a stable error code
(``cms_42``, ``cme_14``, ``at_timeout``...) and a short human text. The tables
follow the recommendations for +CMS/+CME codes in the modem protocol reference
(27.005 §3.2.5, 24.011 Annex E-2, 23.040 TP-FCS); codes not listed default to
"try another modem", the cautious middle.

``RetryPolicy.decide`` turns that into an outcome for one message, bounded by
``[retry]``: attempts, modem switches, and capped exponential backoff with
jitter.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Final

from drivers.errors import (
    CmeError,
    CmsError,
    CommandError,
    CommandTimeout,
    DriverError,
    EncodeError,
    ModemDisconnected,
    ModemUnavailable,
    PduError,
    SendUnknown,
    SimPinError,
)
from gateway.config import RetryConfig


class Action(enum.Enum):
    RETRY_SAME = "retry_same"  # temporary: same modem after a backoff
    RETRY_OTHER = "retry_other"  # this modem or its network is the trouble: move
    PERMANENT = "permanent"  # the message or recipient is bad: fail it
    MODEM_FAULT = "modem_fault"  # SIM/modem fault: out of rotation, message elsewhere
    UNKNOWN = "unknown"  # may have been sent: never resend blindly


R, M, F, H, U = (
    Action.RETRY_SAME,
    Action.RETRY_OTHER,
    Action.PERMANENT,
    Action.MODEM_FAULT,
    Action.UNKNOWN,
)

# +CMS ERROR numbers: (action, text).
CMS_ACTIONS: Final[dict[int, tuple[Action, str]]] = {
    1: (F, "unassigned number"),
    8: (H, "operator determined barring"),
    10: (H, "call barred"),
    # The network refused this transfer for this recipient; another SIM asks the same
    # network and is refused the same way, so moving only spends sends (and SIM reputation).
    21: (F, "short message transfer rejected"),
    27: (R, "destination out of service"),
    28: (F, "unidentified subscriber"),
    29: (M, "facility rejected"),
    30: (F, "unknown subscriber"),
    38: (R, "network out of order"),
    41: (R, "temporary failure"),
    42: (R, "congestion"),
    47: (R, "resources unavailable"),
    50: (H, "requested facility not subscribed"),
    69: (H, "requested facility not implemented"),
    81: (R, "invalid short message transfer reference"),
    95: (F, "invalid message"),
    96: (F, "invalid mandatory information"),
    97: (F, "message type non-existent"),
    98: (F, "message not compatible with protocol state"),
    99: (F, "information element non-existent"),
    111: (M, "protocol error"),
    127: (M, "interworking error"),
    0xC0: (R, "SC busy"),
    0xC1: (H, "no SC subscription"),
    0xC2: (M, "SC system failure"),
    0xC3: (F, "invalid SME address"),
    0xC4: (F, "destination SME barred"),
    # The SC already holds this message: it left once, so it must not be sent again.
    0xC5: (U, "rejected as duplicate"),
    0xC6: (F, "TP-VPF not supported"),
    0xC7: (F, "TP-VP not supported"),
    0xD0: (R, "SIM SMS storage full"),
    0xD1: (R, "no SMS storage capability in SIM"),
    0xD2: (R, "error in MS"),
    0xD3: (R, "memory capacity exceeded"),
    0xD4: (R, "SIM application toolkit busy"),
    0xFF: (M, "unspecified error cause"),
    300: (R, "ME failure"),
    301: (R, "SMS service of ME reserved"),
    302: (R, "operation not allowed"),
    303: (F, "operation not supported"),
    304: (F, "invalid PDU mode parameter"),
    305: (F, "invalid text mode parameter"),
    310: (H, "SIM not inserted"),
    311: (H, "SIM PIN required"),
    312: (H, "PH-SIM PIN required"),
    313: (H, "SIM failure"),
    314: (R, "SIM busy"),
    315: (H, "SIM wrong"),
    316: (H, "SIM PUK required"),
    317: (H, "SIM PIN2 required"),
    318: (H, "SIM PUK2 required"),
    320: (H, "memory failure"),
    322: (R, "memory full"),
    330: (H, "SMSC address unknown"),
    # No network on this modem: it leaves rotation until a probe finds it registered.
    331: (H, "no network service"),
    # "Maybe sent": the network timed out after taking the message. The segment stays
    # unknown (resent only with resend_unknown, then elsewhere); the modem leaves rotation.
    332: (U, "network timeout"),
    500: (M, "unknown error"),
    # Manufacturer-specific (Siemens numbering, reused by others): format errors are ours.
    514: (F, "invalid status"),
    515: (F, "invalid character in address"),
    516: (F, "invalid length"),
    517: (F, "invalid character in PDU"),
    519: (F, "invalid length or character"),
    520: (F, "invalid character in text"),
    521: (R, "timer expired"),
    522: (R, "operation temporarily not allowed"),
    532: (R, "SIM not ready"),
    535: (R, "PS busy"),
    538: (F, "invalid parameter"),
    549: (F, "incorrect PDU length"),
    550: (F, "invalid MTI"),
    551: (F, "non-hex characters in address"),
    553: (F, "incorrect UDL"),
    554: (F, "incorrect SCA length"),
}

# Errors that say the modem's network is in doubt although the segment may have left.
NETWORK_DOUBT_CMS: Final = frozenset({332})

# Ranges of TP-FCS values (23.040 §9.2.3.22) that say the PDU itself is unacceptable.
CMS_PERMANENT_RANGES: Final = ((0x80, 0x8F), (0x90, 0x9F), (0xA0, 0xB0))

# +CME ERROR numbers: (action, text).
CME_ACTIONS: Final[dict[int, tuple[Action, str]]] = {
    0: (H, "phone failure"),
    1: (H, "no connection to phone"),
    2: (H, "phone adaptor link reserved"),
    3: (R, "operation not allowed"),
    4: (F, "operation not supported"),
    5: (H, "PH-SIM PIN required"),
    10: (H, "SIM not inserted"),
    11: (H, "SIM PIN required"),
    12: (H, "SIM PUK required"),
    13: (H, "SIM failure"),
    14: (R, "SIM busy"),
    15: (H, "SIM wrong"),
    16: (H, "incorrect password"),
    17: (H, "SIM PIN2 required"),
    18: (H, "SIM PUK2 required"),
    20: (R, "memory full"),
    21: (R, "invalid index"),
    22: (R, "not found"),
    23: (H, "memory failure"),
    24: (F, "text string too long"),
    25: (F, "invalid characters in text string"),
    26: (F, "dial string too long"),
    27: (F, "invalid characters in dial string"),
    30: (H, "no network service"),
    31: (R, "network timeout"),
    32: (H, "network not allowed, emergency calls only"),
    40: (H, "network personalisation PIN required"),
    100: (R, "unknown"),
    515: (R, "busy, initialisation in progress"),
}


@dataclass(frozen=True, slots=True)
class Classified:
    action: Action
    code: str  # stable, e.g. "cms_42", "at_timeout"
    text: str  # short, for people; never holds a number or a body
    counts_attempt: bool = True  # False: the modem never got the message (not its fault)
    holds_modem: bool = False  # the modem leaves rotation until a probe finds it well


def classify(exc: BaseException) -> Classified:
    """Map a send failure to an action; anything unexpected is retried elsewhere."""
    if isinstance(exc, SendUnknown):
        return Classified(U, exc.code, "answer to AT+CMGS lost")
    if isinstance(exc, CmsError):
        return _from_table("cms", exc.number, exc.text, CMS_ACTIONS)
    if isinstance(exc, CmeError):
        return _from_table("cme", exc.number, exc.text, CME_ACTIONS)
    if isinstance(exc, ModemDisconnected):
        return Classified(M, exc.code, "modem disconnected")
    if isinstance(exc, ModemUnavailable):
        return Classified(M, exc.code, "modem not ready", counts_attempt=False)
    if isinstance(exc, CommandTimeout):
        # Raised by a send only before the PDU was written (after it, SendUnknown): the
        # network never saw the segment, and a modem that stops answering is sick.
        return Classified(H, exc.code, "modem missed its deadline", False, True)
    if isinstance(exc, SimPinError):
        return Classified(H, exc.code, "SIM PIN problem", counts_attempt=False, holds_modem=True)
    if isinstance(exc, EncodeError | PduError):
        return Classified(F, exc.code, "message cannot be encoded")
    if isinstance(exc, CommandError):
        return Classified(M, exc.code, f"modem answered {exc.final}")
    if isinstance(exc, DriverError):
        return Classified(M, exc.code, "driver error")
    return Classified(M, "internal_error", type(exc).__name__)


def _from_table(
    kind: str, number: int | None, text: str, table: dict[int, tuple[Action, str]]
) -> Classified:
    if number is None:
        return Classified(M, f"{kind}_error", f"{kind.upper()} error without a number")
    code = f"{kind}_{number}"
    known = table.get(number)
    if known is not None:
        action, meaning = known
    elif kind == "cms" and any(lo <= number <= hi for lo, hi in CMS_PERMANENT_RANGES):
        action, meaning = F, "TPDU not acceptable"
    else:
        action, meaning = M, "unlisted error"
    # A SIM, modem or network fault is not the message's: it does not use up its attempts.
    doubt = kind == "cms" and number in NETWORK_DOUBT_CMS
    holds = action is Action.MODEM_FAULT or doubt
    text = f"+{kind.upper()} ERROR {number}: {meaning}"
    return Classified(action, code, text, counts_attempt=not holds, holds_modem=holds)


class Outcome(enum.Enum):
    REQUEUE = "requeue"
    FAIL = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    send_at: float  # for REQUEUE
    exclude_modem: bool  # prefer another modem next time
    switched: bool  # this requeue counts as a modem switch
    code: str
    text: str


class RetryPolicy:
    """Bounded retries: ``max_attempts`` tries in all, ``max_modem_switches`` moves."""

    def __init__(self, config: RetryConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()

    def backoff(self, failures: int) -> float:
        """Delay after the ``failures``-th failure: doubling from backoff_initial, capped.

        "Equal jitter": half the step is fixed, half random, so retries of a burst
        spread out while the delay still grows, and never exceeds backoff_max.
        """
        cfg = self.config
        step = min(cfg.backoff_max, cfg.backoff_initial * 2.0 ** min(max(0, failures - 1), 64))
        return step / 2 + self._rng.uniform(0, step / 2)

    def decide(
        self,
        error: Classified,
        *,
        attempts: int,
        switches: int,
        now: float,
        alternative: bool,
    ) -> Decision:
        """``attempts``: failed attempts before this one; ``alternative``: another modem
        could take the message now (otherwise moving means waiting the backoff here)."""
        cfg = self.config
        failures = attempts + (1 if error.counts_attempt else 0)
        if error.action is Action.UNKNOWN:
            return Decision(Outcome.UNKNOWN, now, False, False, error.code, error.text)
        if error.action is Action.PERMANENT:
            return Decision(Outcome.FAIL, now, False, False, error.code, error.text)
        if error.counts_attempt and failures >= cfg.max_attempts:
            text = f"{error.text} (gave up after {failures} attempts)"
            return Decision(Outcome.FAIL, now, False, False, error.code, text)
        move = error.action in (Action.RETRY_OTHER, Action.MODEM_FAULT)
        if move and switches >= cfg.max_modem_switches:
            move = False
        if move and alternative:
            return Decision(Outcome.REQUEUE, now, True, True, error.code, error.text)
        delay = self.backoff(failures) if error.counts_attempt else 0.0
        if not error.counts_attempt and not alternative:
            delay = self.backoff(1)  # nowhere else to go: do not spin on a modem that is down
        return Decision(Outcome.REQUEUE, now + delay, move, move, error.code, error.text)
