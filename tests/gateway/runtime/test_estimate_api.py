"""The cost preview over HTTP agrees with what the simulated modem actually receives."""

from __future__ import annotations

import pytest

from gateway.config import RouteConfig
from gateway.store.base import MessageState
from tests.gateway.runtime.clinic import call, token
from tests.gateway.runtime.conftest import Rig, RigFactory

# í, Í and ú are not in the default alphabet: UCS-2 without the Spanish table (145
# characters: 3 segments of 67); one GSM-7 segment with it, where each of those four
# takes two septets (149 of the 155 a segment with the table's header holds).
SPANISH = (
    "Recordatorio: su cita en la Clínica San Martín es mañana, miércoles, a las 9:30. "
    "Responda SÍ para confirmar o llame al número habitual. ¡Gracias!"
)
SPAIN = "+34600111222"
ELSEWHERE = "+15550001111"


async def _sent(rig: Rig, secret: str, to: str, body: str) -> tuple[str, int, str]:
    """(encoding, segments, text) as the patient's network received the message."""
    status, message = await call(rig, secret, "POST", "/v1/messages", json={"to": to, "body": body})
    assert status == 202
    await rig.wait_state(message["id"], MessageState.DELIVERED)
    parts = [s.submit for s in rig.sims["alpha"].sent if s.submit.recipient == to]
    assert len({p.encoding for p in parts}) == 1
    return parts[0].encoding.value, len(parts), "".join(p.text for p in parts)


@pytest.mark.parametrize(
    (
        "to",
        "body",
        "encoding",
        "national",
        "segments",
        "per_segment",
        "characters",
        "left",
        "forcing",
    ),
    [
        pytest.param(ELSEWHERE, "See you at 9:30", "gsm7", None, 1, 160, 15, 145, [], id="gsm7"),
        # 159 letters and €, which takes two septets: 161 units, so two segments, and
        # the cut steps back so the escape and its € stay together in the second.
        pytest.param(
            ELSEWHERE,
            "a" * 152 + "€" + "b" * 7,
            "gsm7",
            None,
            2,
            153,
            161,
            153 - 9,
            [],
            id="extension-at-boundary",
        ),
        # 69 letters and an emoji (a surrogate pair): 71 UTF-16 units, two segments.
        pytest.param(
            ELSEWHERE,
            "a" * 69 + "\U0001f600",
            "ucs2",
            None,
            2,
            67,
            71,
            67 - 4,
            ["\U0001f600"],
            id="emoji",
        ),
        pytest.param(
            ELSEWHERE,
            SPANISH,
            "ucs2",
            None,
            3,
            67,
            145,
            67 * 3 - 145,
            ["í", "Í", "ú"],
            id="spanish-without-table",
        ),
        pytest.param(
            SPAIN, SPANISH, "gsm7", "es", 1, 155, 149, 155 - 149, [], id="spanish-with-table"
        ),
    ],
)
async def test_the_estimate_is_what_the_modem_receives(
    make_rig: RigFactory,
    to: str,
    body: str,
    encoding: str,
    national: str | None,
    segments: int,
    per_segment: int,
    characters: int,
    left: int,
    forcing: list[str],
) -> None:
    rig = await make_rig(
        serve_http=True,
        routes=[RouteConfig(name="es", prefixes=("+34",), national_language="es")],
    )
    secret = await token(rig)
    status, estimate = await call(
        rig, secret, "POST", "/v1/messages/estimate", json={"body": body, "to": to}
    )
    assert status == 200, estimate
    assert estimate == {
        "encoding": encoding,
        "national_table": national,
        "segment_count": segments,
        "characters": characters,
        "characters_per_segment": per_segment,
        "characters_left": left,
        "ucs2_characters": forcing,
    }
    assert await _sent(rig, secret, to, body) == (encoding, segments, body)


async def test_without_to_no_national_table_is_offered(make_rig: RigFactory) -> None:
    rig = await make_rig(
        serve_http=True,
        routes=[RouteConfig(name="es", prefixes=("+34",), national_language="es")],
    )
    secret = await token(rig)
    _, bare = await call(rig, secret, "POST", "/v1/messages/estimate", json={"body": SPANISH})
    assert (bare["encoding"], bare["segment_count"], bare["characters_per_segment"]) == (
        "ucs2",
        3,
        67,
    )
    _, single = await call(rig, secret, "POST", "/v1/messages/estimate", json={"body": "Hi"})
    assert (single["characters_per_segment"], single["characters_left"]) == (160, 158)


async def test_a_bad_estimate_request_names_the_field(make_rig: RigFactory) -> None:
    rig = await make_rig(serve_http=True)
    secret = await token(rig)
    for payload, field in [
        ({"body": "   "}, "body"),
        ({"body": "hi", "to": "not a number"}, "to"),
        ({"to": ELSEWHERE}, "body"),
        ({"body": "hi", "colour": "red"}, "colour"),
    ]:
        status, error = await call(rig, secret, "POST", "/v1/messages/estimate", json=payload)
        assert status == 400, payload
        assert error["error"]["field"] == field
