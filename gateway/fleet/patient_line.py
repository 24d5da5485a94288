"""The network side of the built-in simulated modems, to text in as a patient.

The command line's simulators (gateway.cli.simulators) listen on a Unix socket,
``<data_dir>/sim/network.sock`` (the data directory is 0700: the service user only),
and hand each request to their simulated network, which delivers it to the modem as
an SMS. ``smsgw simulate text`` and the status page's form (gateway.http.patient_text)
are its clients. A real modem has no such side: the socket exists only while
simulators run, and it names only their modems.

One request and one answer per connection, each a JSON line:
``{"modem": NAME, "from": NUMBER, "text": TEXT}`` → ``{"ok": true}`` or
``{"error": CODE, "message": MESSAGE}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import Any, Final

from gateway.errors import GatewayError, NoSimulatedNetwork, NotSimulated, ValidationError

log = logging.getLogger(__name__)

SOCKET_NAME: Final = "network.sock"
SIMULATOR_DIR: Final = "sim"
MAX_TEXT_CHARS: Final = 1600
MAX_REQUEST_BYTES: Final = 16 * 1024
ANSWER_TIMEOUT: Final = 5.0  # seconds for the simulators to take a request

# (modem, sender, text): hands one text to a simulated modem's network
Deliver = Callable[[str, str, str], None]


def socket_path(data_dir: Path) -> Path:
    return data_dir / SIMULATOR_DIR / SOCKET_NAME


def check_text(sender: str, text: str) -> None:
    """The sender is an E.164 number (the caller normalises); the text fits 10 parts."""
    if not (sender.startswith("+") and sender[1:].isascii() and sender[1:].isdigit()):
        raise ValidationError("from: an E.164 number such as +15551234567", field="from")
    if not 2 <= len(sender) <= 16:
        raise ValidationError("from: an E.164 number such as +15551234567", field="from")
    if not text or len(text) > MAX_TEXT_CHARS:
        raise ValidationError(f"text: 1 to {MAX_TEXT_CHARS} characters", field="text")


@contextlib.asynccontextmanager
async def serving(path: Path, modems: Collection[str], deliver: Deliver) -> AsyncIterator[None]:
    """Take requests on ``path`` for ``modems`` while the context lasts."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answer = _answer(await reader.readline(), modems, deliver)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            log.warning("patient line: request dropped: %s", type(exc).__name__)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    _remove(path)  # left by a daemon that was killed
    try:
        server = await asyncio.start_unix_server(handle, path, limit=MAX_REQUEST_BYTES)
    except OSError as exc:  # e.g. a data_dir too deep for a socket's path (108 bytes)
        log.warning("texting in as a patient is off: %s: %s", path, exc.strerror or exc)
        yield
        return
    os.chmod(path, 0o600)  # the directory is 0700 already; the socket follows suit
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
        _remove(path)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _answer(line: bytes, modems: Collection[str], deliver: Deliver) -> dict[str, Any]:
    try:
        request = json.loads(line)
        modem, sender, text = request["modem"], request["from"], request["text"]
        if not all(isinstance(v, str) for v in (modem, sender, text)):
            raise ValidationError("modem, from and text are strings")
        if modem not in modems:
            raise NotSimulated(f"no simulated modem named {modem!r}", field="modem")
        check_text(sender, text)
        deliver(modem, sender, text)
    except GatewayError as exc:
        return {"error": exc.code, "message": exc.message, "field": exc.field}
    except (ValueError, KeyError, TypeError):
        return {"error": ValidationError.code, "message": "not a request", "field": None}
    return {"ok": True}


async def text_in(data_dir: Path, modem: str, sender: str, text: str) -> None:
    """Have the running simulators deliver ``text`` from ``sender`` to ``modem``."""
    check_text(sender, text)
    path = socket_path(data_dir)
    request = json.dumps({"modem": modem, "from": sender, "text": text}).encode() + b"\n"
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            reader, writer = await asyncio.open_unix_connection(path)
            try:
                writer.write(request)
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):  # no socket, nobody listening, a path too long
        raise NoSimulatedNetwork(
            f"no simulated modems are running on {data_dir} (start `smsgw demo` first)"
        ) from None
    answer = json.loads(line) if line else {"error": "unavailable", "message": "no answer"}
    if answer.get("ok") is True:
        return
    code, message = answer.get("error"), str(answer.get("message"))
    field = answer.get("field")
    if code == NotSimulated.code:
        raise NotSimulated(message, field=field)
    if code == ValidationError.code:
        raise ValidationError(message, field=field)
    raise NoSimulatedNetwork(message)
