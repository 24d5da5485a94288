"""Fuzz targets: a strategy for hostile input and the property every input must keep.

Shared by the bounded run in the test suite (``test_fuzz.py``, the ``fuzz`` profile)
and the long run in ``bench/fuzz.py``. What crosses a boundary from outside is
fuzzed: modem output (the AT line splitter, the reply and URC parsers, PDUs) and
client requests (the JSON body, the message fields and query strings).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st
from multidict import MultiDict

from drivers import replies, urcs
from drivers.errors import DriverError, PduError
from drivers.lines import MAX_LINE_BYTES, PROMPT, LineSplitter
from drivers.pdu import decode, decode_ussd, encode_deliver, encode_status_report
from gateway.errors import ValidationError
from gateway.http import validation


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]


# modem output -------------------------------------------------------------------

# What AT answers are made of, plus characters that look like digits to str.isdigit
# but not to int() (superscripts), digits of other scripts, and the odd control byte.
_AT_CHARS = list('0123456789,()-"+:^ ;=.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef\t²³¹٣߂\x00\x1b')
AT_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(_AT_CHARS), max_size=120),
    st.text(max_size=120),
)
_PREFIXES = ("+CMGL:", "+CMGR:", "+CREG:", "+CSQ:", "+CPMS:", "+CUSD:", "+CMTI:", "+CME ERROR:")
# Numbers as a test answer (AT+CNMI=?) or a status line spells them, some garbled.
_NUMBERISH = st.one_of(
    st.integers(0, 10**6).map(str), st.sampled_from(["²", "³", "٣", "00", "", " 1", "-"])
)
_GROUP = st.lists(
    st.one_of(_NUMBERISH, st.tuples(_NUMBERISH, _NUMBERISH).map("-".join)), max_size=4
).map(lambda parts: "(" + ",".join(parts) + ")")
NUMBERS_TEXT = st.one_of(
    st.lists(_GROUP, min_size=1, max_size=4).map(",".join),
    st.lists(_NUMBERISH, min_size=1, max_size=5).map(",".join),
)
AT_LINE = st.one_of(
    AT_TEXT,
    NUMBERS_TEXT,
    st.tuples(st.sampled_from(_PREFIXES), st.one_of(AT_TEXT, NUMBERS_TEXT)).map("".join),
)


def check_lines(case: tuple[bytes, list[int], bool]) -> None:
    """Any bytes, in any chunks: only lines and prompts, the same however chunked."""
    data, cuts, expect_prompt = case
    whole = LineSplitter()
    whole.expect_prompt = expect_prompt
    chunked = LineSplitter()
    chunked.expect_prompt = expect_prompt
    items, pos = [], 0
    for cut in cuts:
        items += chunked.feed(data[pos : pos + cut])
        pos += cut
    items += chunked.feed(data[pos:])
    for item in items:
        assert item is PROMPT or (isinstance(item, str) and item and "\n" not in item)
    assert chunked.pending <= MAX_LINE_BYTES
    assert items == whole.feed(data)


LINES = st.tuples(
    st.one_of(
        st.binary(max_size=3000),
        st.lists(st.sampled_from([b"OK\r\n", b"> ", b">", b"\r", b"\n", b"\x00", b"\xff",
                                  b"+CMTI: \"SM\",3\r\n", b"0791", b"A" * 700]),
                 max_size=40).map(b"".join),
    ),
    st.lists(st.integers(1, 600), max_size=20),
    st.booleans(),
)  # fmt: skip


def check_replies(case: tuple[str, list[str]]) -> None:
    """Every reply and URC parser takes any line without raising, and stays small."""
    text, lines = case
    # Each listed part spells out at most MAX_RANGE_VALUES values.
    spelled = sum(len(group) for group in replies.ranges(text))
    assert spelled <= replies.MAX_RANGE_VALUES * (text.count(",") + 1), spelled
    replies.memory_lists(text)
    replies.storage_counts(text)
    replies.registration(text, query=True)
    replies.registration(text, query=False)
    replies.signal(text)
    replies.operator(text)
    replies.sim_state(text)
    replies.first_int(text)
    replies.indication(text)
    replies.ussd(text)
    replies.rssi_urc(text)
    replies.pdu_line(text)
    replies.body(text, "+CSQ:")
    replies.find_body(lines, "+CPMS:")
    replies.listed(lines)
    replies.read_pdu(lines)
    replies.identity_value(lines)
    replies.iccid(lines)
    prefix = urcs.urc_prefix(text)
    if prefix is not None:
        urcs.has_pdu_line(prefix)
    urcs.is_hex_line(text)
    result = urcs.final_result("AT+CMGS=23", text)
    assert result is None or result is False or isinstance(result, DriverError)


REPLIES = st.tuples(AT_LINE, st.lists(AT_LINE, max_size=8))


def _only_pdu_errors(hex_pdu: str, smsc: bool) -> None:
    cause: BaseException | None = None
    try:
        decode(hex_pdu, smsc=smsc)
    except PduError as exc:
        cause = exc.__cause__
    # The decoder's last-resort guard wraps what it did not expect: a bug.
    assert cause is None, repr(cause)


def check_pdu(case: tuple[bytes, bool]) -> None:
    """Random bytes decode or raise PduError, never anything else."""
    data, smsc = case
    _only_pdu_errors(data.hex(), smsc)


PDU_BYTES = st.tuples(st.binary(max_size=200), st.booleans())

_WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
_VALID_PDUS = (
    *encode_deliver("+14155550123", "Your results are ready", timestamp=_WHEN, smsc="+1415"),
    *encode_deliver("Clinic", "Привет " * 30, timestamp=_WHEN, reference=7),
    *encode_deliver("+447700900123", "€ [ok] " * 40, timestamp=_WHEN, national="es"),
    encode_status_report(12, "+14155550123", 0, timestamp=_WHEN, discharge=_WHEN, smsc="+1"),
)


@st.composite
def mutated_pdus(draw: st.DrawFn) -> str:
    """A real PDU with bytes changed, cut short or repeated: deep into the decoder."""
    data = bytearray(bytes.fromhex(draw(st.sampled_from(_VALID_PDUS))))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(("set", "cut", "grow")))
        if action == "set" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[draw(st.integers(0, len(data))) :]
        else:
            data += draw(st.binary(max_size=20))
    return data.hex().upper()


def check_mutated_pdu(hex_pdu: str) -> None:
    _only_pdu_errors(hex_pdu, True)


def check_ussd(case: tuple[str, int, bool]) -> None:
    """A USSD reply in any coding gives text, whatever the network sent."""
    text, dcs, packed = case
    assert isinstance(decode_ussd(text, dcs, packed=packed), str)


USSD = st.tuples(
    st.one_of(st.text(alphabet="0123456789ABCDEFabcdef", max_size=80), st.text(max_size=40)),
    st.integers(0, 255),
    st.booleans(),
)

# client requests ------------------------------------------------------------------

_JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
JSON_VALUE = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)  # fmt: skip
_FIELD_VALUES = {
    "to": st.one_of(st.text(max_size=70), JSON_VALUE),
    "body": st.one_of(st.text(max_size=50), JSON_VALUE),
    "priority": st.one_of(st.sampled_from(["urgent", "normal", "bulk", "URGENT"]), JSON_VALUE),
    "send_at": st.one_of(st.sampled_from(["2026-01-31T09:30:00Z", "9999-12-31T23:59:59-23:59",
                                          "0001-01-01T00:00:00+23:59"]), JSON_VALUE),
    "ttl": JSON_VALUE,
    "idempotency_key": JSON_VALUE,
    "tags": JSON_VALUE,
    "metadata": JSON_VALUE,
    "request_report": JSON_VALUE,
    "colour": JSON_VALUE,
}  # fmt: skip
_PLAUSIBLE = st.fixed_dictionaries(
    {"to": st.sampled_from(["+15551234567", "4155550123"]), "body": st.text(max_size=20)},
    optional={k: v for k, v in _FIELD_VALUES.items() if k not in ("to", "body", "colour")},
)
SEND_OBJECT = st.one_of(_PLAUSIBLE, st.fixed_dictionaries({}, optional=_FIELD_VALUES))
# Number literals a JSON parser may turn into what strict JSON cannot carry back out.
_ODD_NUMBERS = st.sampled_from(["1e400", "-1e400", "1" * 5000, "0.1e-400", "-0", "1E+2"])


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    """Request bodies: JSON messages and batches, with odd number literals in their
    metadata, duplicate keys, or characters cut in."""
    messages: list[dict[str, Any]] = draw(st.lists(SEND_OBJECT, min_size=1, max_size=3))
    choice = draw(st.integers(0, 3))
    if choice == 1:
        for message in messages:
            message["metadata"] = _ODD
    obj: Any = {"messages": messages} if draw(st.booleans()) else messages[0]
    text = json.dumps(obj)
    if choice == 1:
        text = text.replace(json.dumps(_ODD), '{"n": ' + draw(_ODD_NUMBERS) + "}")
    elif choice == 2:
        text = text.replace("{", '{"to": "+1", ', 1)
    elif choice == 3:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=5)) + text[cut:]
    return text.encode("utf-8", "surrogatepass")


_ODD = "<odd number>"


def check_body(raw: bytes) -> None:
    """A body is refused with a ValidationError, or every value in it can be stored and
    answered as strict JSON."""
    try:
        obj = validation.parse_json_object(raw)
        sends = (
            validation.parse_batch(obj, 50)
            if "messages" in obj
            else [validation.parse_send(obj, "", header_key=None)]
        )
    except ValidationError:
        return
    for send in sends:
        json.dumps(send.metadata, allow_nan=False)
        for when in (send.send_at,):
            assert when is None or math.isfinite(when)


def check_query(case: tuple[list[tuple[str, str]], str]) -> None:
    """Query strings: refused with a ValidationError or taken as plain values."""
    pairs, when = case
    allowed = frozenset({"limit", "cursor", "state", "to", "since"})
    field: str | None = None
    try:
        params = validation.query_params(MultiDict(pairs), allowed)
        validation.page_limit(params)
        validation.page_cursor(params)
        validation.message_state(params.get("state"))
    except ValidationError as exc:
        field = exc.field
    assert field is None or len(field) <= 64  # a field name is echoed back, bounded
    with contextlib.suppress(ValidationError):
        assert math.isfinite(validation.parse_time(when, "since"))


_NAMES = st.one_of(st.sampled_from(["limit", "cursor", "state", "to", "since"]), st.text())
QUERY = st.tuples(
    st.lists(st.tuples(_NAMES, st.text(max_size=600)), max_size=5),
    st.one_of(
        st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                      r"(Z|[+-][0-9]{2}:[0-9]{2})", fullmatch=True),
        st.text(max_size=45),
    ),
)  # fmt: skip

TARGETS: tuple[Target, ...] = (
    Target("at_lines", LINES, check_lines),
    Target("at_replies", REPLIES, check_replies),
    Target("pdu_random", PDU_BYTES, check_pdu),
    Target("pdu_mutated", mutated_pdus(), check_mutated_pdu),
    Target("ussd", USSD, check_ussd),
    Target("request_body", json_bodies(), check_body),
    Target("query_string", QUERY, check_query),
)
