"""Webhook deliveries per second to a local subscriber, and sending with a subscriber down.

Part 1 enqueues N events (spread over K conversations) into the outbox of a real
store and times their delivery to an aiohttp subscriber on 127.0.0.1.
Part 2 runs the daemon with simulated modems and sends M messages three times:
no subscriber, a subscriber that answers, and a subscriber that is down (every
attempt refused), and prints messages/second for each.

    .venv/bin/python bench/webhook_fanout.py [--events 2000] [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiohttp import web

from drivers.simulator import SimulatedModem
from gateway.config import (
    Config,
    EventKind,
    ModemConfig,
    RateConfig,
    ServerConfig,
    StoreConfig,
    WebhookConfig,
)
from gateway.core.service import SendRequest
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.integrations import Integrations
from gateway.store.backend import create_store
from gateway.store.base import MessageState
from gateway.webhooks.delivery import WebhookSettings

SECRET = "bench-secret-0123456789"  # noqa: S105 (a throwaway key for a local run)
DEADLINE = 300.0  # seconds: a part that takes longer is reported as failed


class Subscriber:
    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.count += 1
        if self.count >= self.target:
            self.done.set()
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def hook(url: str, *kinds: EventKind) -> WebhookConfig:
    return WebhookConfig("bench", url, kinds, SECRET)


async def fanout(root: Path, events: int, conversations: int) -> float:
    data = root / "fanout"
    data.mkdir()
    key_file = data / "fanout.key"
    keyring = KeyRing.create(key_file)
    sub = Subscriber()
    await sub.start()
    sub.target = events
    settings = WebhookSettings(concurrency=16, batch=500)
    integrations = Integrations([hook(sub.url, EventKind.MODEM_UP)], settings)
    store = create_store(
        StoreConfig(data_dir=data, key_file=key_file, durable=False),
        keyring,
        fanout=integrations.fanout,
        on_outbox=integrations.dispatcher.notify,
    )
    await store.open()
    await integrations.start(store)
    try:
        started = time.perf_counter()
        for i in range(events):
            await store.add_event(EventKind.MODEM_UP.value, f"m{i % conversations}", {})
        async with asyncio.timeout(DEADLINE):
            await sub.done.wait()
        return events / (time.perf_counter() - started)
    finally:
        await integrations.stop()
        await sub.stop()
        await store.close()


async def sending(root: Path, messages: int, hooks: list[WebhookConfig]) -> float:
    root.mkdir()  # noqa: ASYNC240 (set-up, before anything is timed)
    key_file = root / "smsgw.key"
    KeyRing.create(key_file)
    sim = SimulatedModem(root / "sim", profile="quectel", report_delay=0.01)
    await sim.start()
    config = Config(
        path=root / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=0),
        store=StoreConfig(data_dir=root, key_file=key_file, durable=False),
        modems=(ModemConfig(name="a", port=str(sim.path), profile="quectel", rate=RateConfig(0)),),
        webhooks=tuple(hooks),
    )
    daemon = Daemon(config, settings=RuntimeSettings(serve_http=False))
    try:
        await daemon.start()
        async with asyncio.timeout(DEADLINE):
            while not all(h.usable() for h in daemon.handles.values()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # polling with a deadline
        started = time.perf_counter()
        requests = [SendRequest(to=f"+1415555{i:04d}", body=f"bench {i}") for i in range(messages)]
        results = await daemon.gateway.submit(requests, None)
        last = results[-1].message.id
        async with asyncio.timeout(DEADLINE):
            while True:
                m = await daemon.store.get_message(last)
                if m is not None and m.state in (MessageState.SENT, MessageState.DELIVERED):
                    break
                await asyncio.sleep(0.01)  # polling with a deadline
        return messages / (time.perf_counter() - started)
    finally:
        await daemon.stop()
        await sim.stop()


async def main(events: int, conversations: int, messages: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rate = await fanout(root, events, conversations)
        print(f"webhook deliveries: {events} events, {conversations} conversations: "
              f"{rate:,.0f}/s")  # fmt: skip
        kinds = (EventKind.MESSAGE_SENT, EventKind.MESSAGE_DELIVERED)
        baseline = await sending(root / "none", messages, [])
        print(f"sending, no subscriber:        {baseline:,.1f} messages/s")
        up = Subscriber()
        await up.start()
        up.target = 10**9
        try:
            with_up = await sending(root / "up", messages, [hook(up.url, *kinds)])
        finally:
            await up.stop()
        print(f"sending, subscriber up:        {with_up:,.1f} messages/s")
        down = Subscriber()
        await down.start()
        url = down.url
        await down.stop()  # the port now refuses every connection
        with_down = await sending(root / "down", messages, [hook(url, *kinds)])
        print(f"sending, subscriber down:      {with_down:,.1f} messages/s "
              f"({with_down / with_up:.0%} of subscriber up)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.conversations, args.messages))
