"""Callback URLs: ``[server] callback_hosts`` at accept time, address rules at delivery."""

from __future__ import annotations

import base64
import ipaddress
import socket
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.config import load_config
from gateway.errors import ConfigError
from gateway.store.base import DEAD, Delivery, MessageFilter, Scope
from gateway.webhooks.hosts import CallbackHosts, CallbackRefused, GuardedResolver, refusal
from gateway.webhooks.targets import KANNEL_DLR
from tests.gateway.integrations.conftest import Gateway, GatewayFactory, Subscriber, hook
from tests.gateway.runtime.conftest import poll_until

PATIENT = "+14155550144"
METADATA = "169.254.169.254"
CONFIG = """
[server]
callback_hosts = {hosts}

[store]
data_dir = "data"

[[modems]]
name = "m1"
port = "/dev/ttyUSB0"
"""


# the list and the rules ---------------------------------------------------------------


def test_entries_match_names_wildcards_addresses_and_blocks() -> None:
    hosts = CallbackHosts(["EHR.clinic.example", "*.lab.example", "10.1.2.3", "192.168.10.0/24"])
    assert hosts.matches("https://ehr.clinic.example/cb")
    assert hosts.matches("http://EHR.Clinic.Example.:8080/cb")
    assert hosts.matches("http://a.b.lab.example/cb")
    assert not hosts.matches("http://lab.example/cb")  # a wildcard is below the name only
    assert not hosts.matches("http://evil-lab.example/cb")
    assert not hosts.matches("http://ehr.clinic.example.evil.example/cb")
    assert hosts.matches("http://10.1.2.3/cb")
    assert hosts.matches("http://192.168.10.77:9000/cb")
    assert hosts.matches("http://[::ffff:192.168.10.77]/cb")
    assert not hosts.matches("http://192.168.11.1/cb")
    assert not hosts.matches("http://127.0.0.1/cb")
    assert not CallbackHosts().matches("http://ehr.clinic.example/cb")


@pytest.mark.parametrize(
    ("address", "trusted", "why"),
    [
        (METADATA, True, "link-local address"),
        ("fe80::1", True, "link-local address"),
        ("::ffff:169.254.169.254", True, "link-local address"),
        ("224.0.0.1", True, "multicast address"),
        ("0.0.0.0", True, "unspecified address"),
        ("240.0.0.1", True, "reserved address"),
        ("127.0.0.1", False, "loopback address"),
        ("192.168.1.5", False, "private address"),
        ("127.0.0.1", True, None),
        ("192.168.1.5", True, None),
        ("93.184.215.14", False, None),
    ],
)
def test_address_rules(address: str, trusted: bool, why: str | None) -> None:
    assert refusal(ipaddress.ip_address(address), trusted=trusted) == why


@pytest.mark.parametrize(
    ("hosts", "field"),
    [
        ('["ok.example", "not a host"]', "server.callback_hosts[1]"),
        ('["10.0.0.0/33"]', "server.callback_hosts[0]"),
        ('["http://ehr.example/"]', "server.callback_hosts[0]"),
        ('"ehr.example"', "server.callback_hosts"),
        ("[5]", "server.callback_hosts[0]"),
    ],
)
def test_config_errors_name_the_entry(tmp_path: Path, hosts: str, field: str) -> None:
    (tmp_path / "smsgw.toml").write_text(CONFIG.format(hosts=hosts))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "smsgw.toml")
    assert info.value.field == field


def test_config_loads_the_list(tmp_path: Path) -> None:
    (tmp_path / "smsgw.toml").write_text(
        CONFIG.format(hosts='["ehr.clinic.example", "*.lab.example", "192.168.10.0/24"]')
    )
    server = load_config(tmp_path / "smsgw.toml").server
    assert server.callback_hosts == ("ehr.clinic.example", "*.lab.example", "192.168.10.0/24")


# the connector's resolver ---------------------------------------------------------------


class MappedResolver(AbstractResolver):
    """Names to fixed addresses, as a DNS server an attacker controls might answer."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.names[host.rstrip(".")]
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
        ]

    async def close(self) -> None:
        return None


async def _get(url: str, *, trusted: bool) -> int:
    names = {"metadata.evil.example": METADATA, "loop.evil.example": "127.0.0.1"}
    resolver = GuardedResolver(trusted=trusted, inner=MappedResolver(names))
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as http, http.get(url) as resp:
        return resp.status


async def test_resolved_addresses_are_checked_before_connecting(subscriber: Subscriber) -> None:
    port = subscriber.url.rsplit(":", 1)[1]
    with pytest.raises(aiohttp.ClientConnectorError) as info:
        await _get("http://metadata.evil.example/latest/meta-data", trusted=True)
    assert isinstance(info.value.os_error, CallbackRefused)
    assert info.value.os_error.reason == "link-local address"
    with pytest.raises(aiohttp.ClientConnectorError) as info:
        await _get(f"http://loop.evil.example:{port}/x", trusted=False)
    assert isinstance(info.value.os_error, CallbackRefused)
    assert info.value.os_error.reason == "loopback address"
    assert subscriber.received == []
    assert await _get(f"http://loop.evil.example:{port}/x", trusted=True) == 200
    assert len(subscriber.received) == 1


# accept time ------------------------------------------------------------------------


async def _nothing_queued(gw: Gateway) -> None:
    page = await gw.daemon.store.list_messages(MessageFilter(), cursor=None, limit=10)
    assert page.items == []
    assert gw.sims["alpha"].sent == []


def _kannel_query(user: str, password: str, dlr: str) -> str:
    return (
        f"username={user}&password={quote(password)}&to={quote(PATIENT)}"
        f"&text=Hello&dlr-mask=31&dlr-url={quote(dlr)}"
    )


async def test_unlisted_callbacks_are_refused_at_accept(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(callback_hosts=())  # the default: no per-request callbacks
    user, password = await gw.key(Scope.SEND)
    _admin, admin_token = await gw.key(Scope.ADMIN)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    async with aiohttp.ClientSession() as http:
        query = _kannel_query(user, password, subscriber.url + "/dlr?t=%d")
        async with http.get(f"{gw.url}/cgi-bin/sendsms?{query}") as resp:
            assert resp.status == 400
            assert await resp.text() == "DLR-URL host not allowed, rejected"
        async with http.post(
            f"{gw.url}/2010-04-01/Accounts/{user}/Messages.json",
            data={"To": PATIENT, "Body": "Hello", "StatusCallback": f"http://{METADATA}/"},
            headers={"Authorization": f"Basic {auth}"},
        ) as resp:
            assert resp.status == 400
            error = await resp.json()
        assert error["code"] == 21609
        assert "callback_hosts" in error["message"]
        assert error["status"] == 400
        async with http.post(
            f"{gw.url}/v1/webhooks",
            json={"url": subscriber.url + "/api", "events": ["message.sent"]},
            headers={"Authorization": f"Bearer {admin_token}"},
        ) as resp:
            assert resp.status == 400
            body = await resp.json()
        assert body["error"]["code"] == "callback_not_allowed"
        assert body["error"]["field"] == "url"
    await _nothing_queued(gw)
    assert subscriber.received == []


async def test_listed_hosts_are_accepted(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(callback_hosts=("*.clinic.example",))
    _admin, admin_token = await gw.key(Scope.ADMIN)
    async with aiohttp.ClientSession() as http:
        for url, status in (
            ("https://ehr.clinic.example/hooks", 201),
            ("https://clinic.example.evil.example/hooks", 400),
        ):
            async with http.post(
                f"{gw.url}/v1/webhooks",
                json={"url": url, "events": ["message.sent"]},
                headers={"Authorization": f"Bearer {admin_token}"},
            ) as resp:
                assert resp.status == status


# delivery time ------------------------------------------------------------------------


async def test_link_local_is_never_contacted_even_when_listed(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(
        callback_hosts=("169.254.0.0/16",),
        webhooks=[hook(f"http://{METADATA}/latest", "message.sent", name="meta")],
    )
    user, password = await gw.key(Scope.SEND)
    query = _kannel_query(user, password, f"http://{METADATA}/dlr?t=%d")
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gw.url}/cgi-bin/sendsms?{query}") as resp,
    ):
        assert resp.status == 202
    integrations = gw.daemon.integrations
    assert integrations is not None

    async def dead() -> list[Delivery] | None:
        found: list[Delivery] = []
        for receiver in ("cfg_meta", KANNEL_DLR):
            page = await gw.daemon.store.list_deliveries(
                receiver, state=DEAD, cursor=None, limit=10
            )
            found += page.items
        return found if {d.subscriber for d in found} == {"cfg_meta", KANNEL_DLR} else None

    found = await poll_until(dead, "refused deliveries dead")
    for delivery in found:
        assert delivery.attempts == 1  # dead at once: retrying would not change the rules
        assert delivery.last_error == "refused: link-local address"
        assert [a.status for a in delivery.history] == [None]
