"""Kannel's sendsms against the running gateway with a simulated modem."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from gateway.compat.kannel import expand
from gateway.store.base import Scope
from tests.gateway.integrations.conftest import GatewayFactory, Subscriber

PATIENT = "+14155550177"


def test_escapes_are_filled_and_url_encoded() -> None:
    values = {"d": "1", "p": "+1415", "A": "id:1 stat:DELIVRD"}
    assert expand("http://h/d?t=%d&to=%p&a=%A&x=%z&pc=%%", values) == (
        "http://h/d?t=1&to=%2B1415&a=id%3A1%20stat%3ADELIVRD&x=&pc=%"
    )


async def test_sendsms_reaches_the_modem_and_reports_come_back(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway()
    user, password = await gw.key(Scope.SEND)
    dlr = subscriber.url + "/dlr?type=%d&to=%p&from=%P&answer=%A&ts=%T&smsc=%i&id=%I"
    query = (
        f"username={user}&password={quote(password)}&to={quote(PATIENT)}"
        f"&text={quote('Lab results are ready')}&from=Clinic&dlr-mask=31&dlr-url={quote(dlr)}"
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gw.url}/cgi-bin/sendsms?{query}") as resp,
    ):
        assert resp.status == 202
        assert await resp.text() == "0: Accepted for delivery"
    [segment] = await gw.sims["alpha"].wait_sent(1, timeout=10)
    assert segment.submit.recipient == PATIENT
    assert segment.submit.text == "Lab results are ready"
    reports = await subscriber.wait_ok(2)
    assert [r.query["type"] for r in reports] == ["8", "1"]
    for r in reports:
        assert r.method == "GET"
        assert r.path == "/dlr"
        assert r.query["to"] == PATIENT
        assert r.query["from"] == "Clinic"
        assert r.query["smsc"] == "alpha"
        assert r.query["ts"].isdigit()
        assert r.query["id"].startswith("msg_")
    assert "stat:DELIVRD" in reports[1].query["answer"]


async def test_ucs2_text_in_a_charset_and_post(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    user, password = await gw.key(Scope.SEND)
    text = "Привет, ваш приём завтра"
    body = (
        f"username={user}&password={quote(password)}&to={quote(PATIENT)}&coding=2"
        f"&charset=UTF-16BE&text={quote(text.encode('utf-16-be'))}"
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gw.url}/cgi-bin/sendsms",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as resp,
    ):
        assert resp.status == 202
    [segment] = await gw.sims["alpha"].wait_sent(1, timeout=10)
    assert segment.submit.text == text


async def test_kannel_errors(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    user, password = await gw.key(Scope.SEND)
    reader, reader_password = await gw.key(Scope.READ)
    auth = f"username={user}&password={quote(password)}"
    cases = [
        (f"username={user}&password=wrong&to=1&text=x", 403, "Authorization failed for sendsms"),
        (
            f"username={reader}&password={quote(reader_password)}&to={quote(PATIENT)}&text=x",
            403,
            "Authorization failed for sendsms",
        ),
        (f"{auth}&text=x", 400, "Missing receiver number"),
        (f"{auth}&to=&text=x", 400, "Empty receiver number not allowed"),
        (f"{auth}&to=abc&text=x", 400, "Number(s) has/have been denied."),
        (f"{auth}&to={quote(PATIENT)}&text=x&dlr-mask=99", 400, "DLR-Mask misformed, rejected"),
        (f"{auth}&to={quote(PATIENT)}&text=x&coding=1", 400, "Coding not supported, rejected"),
        # NUL would go out as "@"; a text of line breaks only would arrive blank
        (f"{auth}&to={quote(PATIENT)}&text=%00%00", 400, "Charset or body misformed, rejected"),
        (f"{auth}&to={quote(PATIENT)}&text=%0D%0A%09", 400, "Charset or body misformed, rejected"),
    ]
    async with aiohttp.ClientSession() as http:
        for query, status, text in cases:
            async with http.get(f"{gw.url}/cgi-bin/sendsms?{query}") as resp:
                assert (resp.status, await resp.text()) == (status, text), query
