"""A route's opt-in national language table keeps Spanish texts in GSM-7 end to end."""

from __future__ import annotations

from gateway.config import RouteConfig
from gateway.store.base import MessageState
from tests.gateway.runtime.conftest import RigFactory

# í, á and ú are not in the default alphabet: without the Spanish table this is UCS-2
# (67 characters a part: 3 segments for these 146); with it, one GSM-7 segment.
SPANISH = (
    "Recordatorio: su cita en la Clínica San Martín es mañana, miércoles, a las 9:30. "
    "Responda SÍ para confirmar o llame al número habitual. ¡Gracias!"
)


async def test_a_spanish_route_sends_one_gsm7_segment(make_rig: RigFactory) -> None:
    rig = await make_rig(routes=[RouteConfig(name="es", prefixes=("+34",), national_language="es")])
    spanish = await rig.send("+34600111222", SPANISH)
    other = await rig.send("+15550001111", SPANISH)
    assert (spanish.encoding, len(spanish.segments)) == ("gsm7", 1)
    assert (other.encoding, len(other.segments)) == ("ucs2", 3)

    await rig.wait_state(spanish.id, MessageState.DELIVERED)
    await rig.wait_state(other.id, MessageState.DELIVERED)
    by_recipient = {s.submit.recipient: s.submit for s in rig.sims["alpha"].sent}
    assert by_recipient["+34600111222"].text == SPANISH
    assert by_recipient["+34600111222"].encoding == "gsm7"
