"""The CLI's side of the HTTP API: ``smsgw send``, ``status``, ``modems`` and ``modem``.

These commands talk to a running daemon, never to its files, so they work from
any host that can reach the API with a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Final, TextIO

import aiohttp

from gateway.errors import (
    DaemonUnreachable,
    Forbidden,
    GatewayError,
    NotFound,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from gateway.fleet.passthrough import MAX_COMMAND_TIMEOUT, QUEUE_ALLOWANCE, USSD_DEADLINE

DEFAULT_URL: Final = "http://127.0.0.1:8080"
REQUEST_TIMEOUT_SECONDS: Final = 10.0

_STATUS_ERRORS: Final[Mapping[int, type[GatewayError]]] = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    503: Unavailable,
}


def default_url() -> str:
    return os.environ.get("SMSGW_URL") or DEFAULT_URL


def default_key() -> str | None:
    return os.environ.get("SMSGW_API_KEY") or None


@dataclass(frozen=True, slots=True)
class ApiClient:
    url: str
    key: str | None
    timeout_seconds: float = REQUEST_TIMEOUT_SECONDS

    async def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One JSON call; an error answer becomes the matching ``GatewayError``."""
        status, text = await self._call(method, path, body, "application/json")
        try:
            data = json.loads(text) if text else None
        except json.JSONDecodeError:
            data = None
        if status >= 400:
            raise _error_from(status, data)
        return data

    async def upload(
        self, path: str, data: BinaryIO, content_type: str, params: Mapping[str, str]
    ) -> Any:
        """A body streamed from ``data`` (a file), answered in JSON like ``request``."""
        status, text = await self._call(
            "POST", path, None, "application/json", upload=(data, content_type, params)
        )
        try:
            found = json.loads(text) if text else None
        except json.JSONDecodeError:
            found = None
        if status >= 400:
            raise _error_from(status, found)
        return found

    async def request_text(self, method: str, path: str) -> str:
        status, text = await self._call(method, path, None, "text/plain")
        if status >= 400:
            raise _error_from(status, None)
        return text

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        accept: str,
        *,
        upload: tuple[BinaryIO, str, Mapping[str, str]] | None = None,
    ) -> tuple[int, str]:
        headers = {"Accept": accept}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        target = self.url.rstrip("/") + path
        sent: dict[str, Any] = {"json": body}
        if upload is not None:
            data, content_type, params = upload
            headers["Content-Type"] = content_type
            sent = {"data": data, "params": dict(params)}
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(method, target, headers=headers, **sent) as resp,
            ):
                return resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = _reason(exc, self.timeout_seconds)
            raise DaemonUnreachable(f"cannot reach the gateway at {self.url}: {reason}") from exc


def _reason(exc: BaseException, timeout_seconds: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_seconds:g} s"
    return str(exc) or type(exc).__name__


def _error_from(status: int, data: Any) -> GatewayError:
    error = data.get("error") if isinstance(data, dict) else None
    code = message = field = None
    if isinstance(error, dict):
        code, message, field = error.get("code"), error.get("message"), error.get("field")
    text = f"HTTP {status}"
    if code:
        text += f" {code}"
    if message:
        text += f": {message}"
    if field:
        text += f" (field {field})"
    kind = _STATUS_ERRORS.get(status, GatewayError)
    return kind(text, field=field if isinstance(field, str) else None)


async def send(client: ApiClient, out: TextIO, *, to: str, body: str, priority: str | None) -> None:
    payload: dict[str, Any] = {"to": to, "body": body}
    if priority:
        payload["priority"] = priority
    data = await client.request("POST", "/v1/messages", payload)
    if isinstance(data, dict):
        out.write(f"{data.get('id', '?')}\t{data.get('state', '?')}\n")
    else:
        out.write("accepted\n")


def _modem_path(name: str, action: str) -> str:
    return f"/v1/modems/{urllib.parse.quote(name, safe='')}/{action}"


async def modem_at(
    client: ApiClient, out: TextIO, *, name: str, command: str, timeout_seconds: float | None
) -> list[str]:
    """One AT command through the daemon; prints the modem's lines, one per line."""
    payload: dict[str, Any] = {"command": command}
    if timeout_seconds is not None:
        payload["timeout"] = timeout_seconds
    # The daemon may queue the command behind a send: wait as long as it may.
    waiting = (timeout_seconds or MAX_COMMAND_TIMEOUT) + QUEUE_ALLOWANCE + REQUEST_TIMEOUT_SECONDS
    data = await replace(client, timeout_seconds=waiting).request(
        "POST", _modem_path(name, "at"), payload
    )
    lines = data.get("lines") if isinstance(data, dict) else None
    lines = [str(line) for line in lines] if isinstance(lines, list) else []
    for line in lines:
        out.write(line + "\n")
    out.write("OK\n")
    return lines


async def modem_ussd(client: ApiClient, out: TextIO, *, name: str, code: str) -> dict[str, Any]:
    """One USSD request through the daemon; prints the network's reply and the amount read."""
    waiting = USSD_DEADLINE + REQUEST_TIMEOUT_SECONDS
    data = await replace(client, timeout_seconds=waiting).request(
        "POST", _modem_path(name, "ussd"), {"code": code}
    )
    result = data if isinstance(data, dict) else {}
    out.write(f"{result.get('text', '')}\n")
    if result.get("balance") is not None:
        out.write(f"balance: {result['balance']}\n")
    return result


async def confirm_clock(client: ApiClient, out: TextIO) -> dict[str, Any]:
    result: dict[str, Any] = await client.request("POST", "/v1/clock/confirm")
    cleared = result.get("cleared")
    if cleared:
        out.write(f"clock confirmed; cleared: {cleared}\npurges and expiries resume\n")
    else:
        out.write("clock confirmed (nothing was held)\n")
    return result


async def modems(client: ApiClient, out: TextIO) -> list[dict[str, Any]]:
    rows = _modem_rows(await client.request("GET", "/v1/modems"))
    out.write(format_table(rows, _MODEM_COLUMNS, empty="(no modems)"))
    return rows


async def status(client: ApiClient, out: TextIO) -> bool:
    """Modems table, queue depth, readiness; returns whether the daemon is ready to send."""
    await modems(client, out)
    depth = await queue_depth(client)
    if depth:
        total = sum(depth.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(depth.items()))
        out.write(f"\nqueued: {total} ({parts})\n" if total else "\nqueued: 0\n")
    elif depth is not None:
        out.write("\nqueued: 0\n")
    try:
        await client.request("GET", "/readyz")
        ready = True
    except DaemonUnreachable:
        raise
    except Unavailable:
        ready = False
    out.write(f"ready: {'yes' if ready else 'no'}\n")
    return ready


QUEUE_DEPTH_METRIC: Final = "smsgw_queue_depth"
_SAMPLE_RE: Final = re.compile(
    rf'^{QUEUE_DEPTH_METRIC}\{{(?:[^}}]*,)?priority="(?P<priority>[^"]*)"[^}}]*\}}\s+(?P<value>\S+)'
)


async def queue_depth(client: ApiClient) -> dict[str, int] | None:
    """Messages waiting, by priority, from ``/metrics``; None when it is not served."""
    try:
        text = await client.request_text("GET", "/metrics")
    except (NotFound, Unauthorized, Forbidden):
        return None
    depth: dict[str, int] = {}
    for line in text.splitlines():
        match = _SAMPLE_RE.match(line)
        if match:
            try:
                depth[match["priority"]] = int(float(match["value"]))
            except ValueError:
                continue
    return depth


_MODEM_COLUMNS: Final = (
    "name",
    "state",
    "reason",
    "signal",
    "operator",
    "sent",
    "failed",
    "last_error",
    "balance",
)


def _modem_rows(data: Any) -> list[dict[str, Any]]:
    items = data.get("modems", data.get("items")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        return []
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        health = item.get("health") if isinstance(item.get("health"), dict) else {}
        assert isinstance(health, dict)
        rows.append(
            {
                "name": item.get("name"),
                "state": item.get("state"),
                "signal": _first(item, health, "signal_dbm", "signal"),
                "operator": _first(item, health, "operator"),
                "sent": _first(item, health, "sent_total", "sent"),
                "failed": _first(item, health, "failed_total", "failed"),
                "reason": item.get("reason"),
                "last_error": item.get("last_error"),
                "balance": item.get("balance"),
            }
        )
    return rows


def _first(item: Mapping[str, Any], health: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        for source in (item, health):
            if source.get(key) is not None:
                return source[key]
    return None


def format_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, empty: str = "(none)"
) -> str:
    if not rows:
        return empty + "\n"
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


async def listening(host: str, port: int, timeout_seconds: float) -> bool:
    """Whether something accepts TCP connections at ``host:port`` (the daemon, presumably).

    A plain connect rather than an HTTP request, so a TLS listener with a
    certificate this host does not trust still counts.
    """
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - mapping a wildcard to where to connect
        host = "127.0.0.1"
    try:
        async with asyncio.timeout(timeout_seconds):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
