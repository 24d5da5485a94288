"""``smsgw broadcast``: upload a CSV of recipients and follow it, through the HTTP API.

``send`` streams the file to ``POST /v1/broadcasts`` (it is never read whole here
either) and then shows a progress bar with the counts until the broadcast is done or
cancelled; ``--no-wait`` prints the id and returns. ``status``, ``pause``, ``resume``
and ``cancel`` act on one broadcast by id.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.cli.client import ApiClient

POLL_SECONDS: Final = 0.5  # between two reads of the counts while waiting
UPLOAD_TIMEOUT_SECONDS: Final = 300.0  # a 100,000-row file on a slow link
FINISHED: Final = frozenset({"done", "cancelled"})
SHOWN_COUNTS: Final = (
    "sent",
    "delivered",
    "failed",
    "suppressed",
    "invalid",
    "duplicate",
    "cancelled",
    "replied",
)


def _path(broadcast_id: str, action: str = "") -> str:
    quoted = urllib.parse.quote(broadcast_id, safe="")
    return f"/v1/broadcasts/{quoted}" + (f"/{action}" if action else "")


async def send(
    client: ApiClient,
    out: TextIO,
    csv_path: Path,
    *,
    template: str,
    name: str | None,
    category: str | None,
    strict: bool,
    wait: bool,
) -> dict[str, Any]:
    params = {"name": name or csv_path.stem, "template": template}
    if category is not None:
        params["category"] = category
    if strict:
        params["strict"] = "true"
    with csv_path.open("rb") as data:
        accepted: dict[str, Any] = await replace(
            client, timeout_seconds=UPLOAD_TIMEOUT_SECONDS
        ).upload("/v1/broadcasts", data, "text/csv", params)
    broadcast_id = str(accepted.get("id", ""))
    if not wait:
        out.write(f"{broadcast_id}\n")
        return accepted
    out.write(f"{broadcast_id}: {accepted.get('total', 0)} recipient(s)\n")
    return await follow(client, out, broadcast_id)


async def follow(client: ApiClient, out: TextIO, broadcast_id: str) -> dict[str, Any]:
    """A progress bar (rows that reached an end) with the counts, until it finishes."""
    console = Console(file=out, highlight=False)
    progress = Progress(
        TextColumn("{task.fields[state]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("", total=None, state="")
        while True:
            found: dict[str, Any] = await client.request("GET", _path(broadcast_id))
            counts = found.get("counts", {})
            total = int(counts.get("total", 0))
            finished = total - int(counts.get("pending", 0)) - int(counts.get("queued", 0))
            progress.update(
                task,
                total=total,
                completed=finished,
                description=_counts_line(counts),
                state=found.get("state", ""),
            )
            if found.get("state") in FINISHED:
                break
            await asyncio.sleep(POLL_SECONDS)  # a modelled period: the API has no push
    # The bar is cut to the terminal's width: the whole line once more, plainly.
    out.write(f"{found.get('state')}: {finished}/{total} {_counts_line(counts)}\n")
    return found


def _counts_line(counts: dict[str, Any]) -> str:
    return " ".join(f"{name} {counts.get(name, 0)}" for name in SHOWN_COUNTS)


async def status(client: ApiClient, out: TextIO, broadcast_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await client.request("GET", _path(broadcast_id))
    _print(out, found)
    return found


async def act(client: ApiClient, out: TextIO, broadcast_id: str, action: str) -> dict[str, Any]:
    """``pause``, ``resume`` or ``cancel``; prints the broadcast as it is after."""
    found: dict[str, Any] = await client.request("POST", _path(broadcast_id, action))
    _print(out, found)
    return found


def _print(out: TextIO, found: dict[str, Any]) -> None:
    counts = found.get("counts", {})
    out.write(
        f"{found.get('id', '?')}\t{found.get('state', '?')}\t"
        f"total {counts.get('total', 0)} pending {counts.get('pending', 0)} "
        f"queued {counts.get('queued', 0)} {_counts_line(counts)}\n"
    )
