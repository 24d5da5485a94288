"""Texting in as a patient from the status page, for simulated modems only.

``GET /v1/simulated-modems`` names the modems the form may text (none on real
hardware: the page then shows no form); ``POST /v1/simulated-modems/{name}/inbound``
(``{"from", "text"}``) hands the text to the simulators' network
(gateway.fleet.patient_line), which delivers it to that modem as an SMS. That route is
registered only when the config simulates a modem, so on real hardware it does not
exist (404). Admin scope, as the rest of the page; not part of the /v1 document, since
a real install never serves the second route.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from aiohttp import web

from gateway.core.numbers import normalize
from gateway.errors import NotSimulated, UnknownField, ValidationError
from gateway.fleet.patient_line import text_in
from gateway.http.context import CONTEXT
from gateway.http.feature import Feature, Route
from gateway.http.messages import read_json_object
from gateway.http.resources import json_response
from gateway.store.base import Scope

LIST_PATH: Final = "/v1/simulated-modems"
INBOUND_PATH: Final = "/v1/simulated-modems/{name}/inbound"
_FIELDS: Final = frozenset({"from", "text"})


class _Handlers:
    def __init__(self, data_dir: Path, modems: Sequence[str]) -> None:
        self.data_dir = data_dir
        self.modems = tuple(modems)

    async def list(self, request: web.Request) -> web.Response:
        return json_response({"modems": list(self.modems)})

    async def inbound(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.modems:
            raise NotSimulated(f"no simulated modem named {name!r}", field="name")
        obj = await read_json_object(request)
        for field in obj:
            if field not in _FIELDS:
                raise UnknownField("unknown field", field=field[:64])
        sender, text = obj.get("from"), obj.get("text")
        if not isinstance(sender, str) or not isinstance(text, str):
            raise ValidationError("from and text are required strings")
        number = normalize(sender, request.app[CONTEXT].default_country, field="from")
        await text_in(self.data_dir, name, number, text)
        return json_response({"modem": name, "delivered": True}, status=202)


def feature(data_dir: Path, modems: Sequence[str]) -> Feature:
    """``modems``: the simulated ones; with none, only the (empty) list is served."""
    handlers = _Handlers(data_dir, modems)
    routes = [Route("GET", LIST_PATH, handlers.list, Scope.ADMIN, documented=False)]
    if handlers.modems:
        routes.append(Route("POST", INBOUND_PATH, handlers.inbound, Scope.ADMIN, documented=False))
    return Feature("patient_text", routes=tuple(routes))
