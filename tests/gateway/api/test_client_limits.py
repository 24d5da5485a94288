"""Per-key limits over real HTTP: request rate, daily quota, expiry, networks, and
failed authentications counted per source address."""

from __future__ import annotations

import logging
import time

import pytest

from gateway.config import ApiSettings
from gateway.crypto import KeyRing
from gateway.daemon import Daemon
from gateway.store import api_keys
from gateway.store.backend import create_store
from gateway.store.base import KeyLimits, Scope, Store
from tests.gateway.api.conftest import Api
from tests.support import poll_until

SEND_READ = frozenset({Scope.SEND, Scope.READ})


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(max_body_bytes=64 * 1024, max_batch=50, max_segments=3, failed_auth_limit=3)


async def limited(api: Api, store: Store, name: str, limits: KeyLimits) -> str:
    key, token = await api_key(store, name, limits)
    api.tokens = {**api.tokens, name: token}
    return key


async def api_key(store: Store, name: str, limits: KeyLimits) -> tuple[str, str]:
    key, token = await store.create_api_key(name, SEND_READ, limits)
    return key.id, token


def retry_after(headers: object) -> int:
    value = headers["Retry-After"]  # type: ignore[index]
    assert isinstance(value, str)
    assert value.isdigit(), value
    return int(value)


async def test_a_keys_request_rate_is_answered_429_with_retry_after(api: Api, store: Store) -> None:
    await limited(api, store, "slow", KeyLimits(requests_per_minute=3))
    for _ in range(3):
        assert (await api.call("GET", "/v1/messages", key="slow")).status == 200
    refused = await api.call("GET", "/v1/messages", key="slow")
    assert refused.status == 429
    assert refused.code == "rate_limited"
    assert 1 <= retry_after(refused.headers) <= 20  # one request's worth of a 3/min rate
    # Other keys have their own allowance.
    assert (await api.call("GET", "/v1/messages", key="admin")).status == 200


async def test_a_daily_quota_counts_messages_not_requests(api: Api, store: Store) -> None:
    await limited(api, store, "quota", KeyLimits(messages_per_day=3))
    first = await api.send(key="quota", idempotency_key="one")
    assert first.status == 202
    assert (await api.send(key="quota")).status == 202
    batch = {"messages": [{"to": "+15551230000", "body": "a"}, {"to": "+15551230001", "body": "b"}]}
    over = await api.call("POST", "/v1/messages/batch", key="quota", json=batch)
    assert over.status == 429
    assert over.code == "quota_exceeded"
    # The oldest of the window frees its place a day after it was accepted.
    assert 86_000 <= retry_after(over.headers) <= 86_401
    assert (await api.send(key="quota")).status == 202
    refused = await api.send(key="quota")
    assert refused.code == "quota_exceeded"
    # A repeat of an accepted request is no new message: it still gets its answer.
    again = await api.send(key="quota", idempotency_key="one")
    assert again.status == 200
    assert again.body["id"] == first.body["id"]
    # Reads are not messages.
    assert (await api.call("GET", "/v1/messages", key="quota")).status == 200


async def test_limits_changed_elsewhere_apply_within_a_second(
    api: Api, store: Store, daemon: Daemon
) -> None:
    cfg = daemon.config.store
    key = await limited(api, store, "changing", KeyLimits())
    for _ in range(3):
        assert (await api.call("GET", "/v1/messages", key="changing")).status == 200
    # As `smsgw keys set` does it: another process, the same file.
    other = create_store(cfg, KeyRing.load(cfg.key_file))
    await other.open()
    try:
        await other.set_api_key_limits(key, KeyLimits(requests_per_minute=1))
    finally:
        await other.close()
    changed_at = time.monotonic()

    async def refused() -> bool:
        return (await api.call("GET", "/v1/messages", key="changing")).status == 429

    await poll_until(refused, "the new rate to apply", within=5)
    assert time.monotonic() - changed_at < api_keys.CHECK_SECONDS + 1.0


async def test_an_expired_key_is_refused(api: Api, store: Store) -> None:
    await limited(api, store, "old", KeyLimits(expires_at=time.time() - 1))
    await limited(api, store, "fresh", KeyLimits(expires_at=time.time() + 3600))
    expired = await api.call("GET", "/v1/messages", key="old")
    assert expired.status == 401
    assert expired.code == "key_expired"
    assert (await api.call("GET", "/v1/messages", key="fresh")).status == 200


async def test_a_key_works_only_from_its_networks(api: Api, store: Store) -> None:
    await limited(api, store, "lan", KeyLimits(networks=("10.0.0.0/8", "192.168.1.0/24")))
    await limited(api, store, "local", KeyLimits(networks=("127.0.0.0/8",)))
    refused = await api.call("GET", "/v1/messages", key="lan")
    assert refused.status == 403
    assert refused.code == "network_not_allowed"
    assert (await api.call("GET", "/v1/messages", key="local")).status == 200


async def test_failed_authentication_is_limited_per_address_and_logged_once(
    double_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api = double_api  # served with the settings above: three failures allowed
    caplog.set_level(logging.WARNING, logger="gateway.core.auth_failures")
    for _ in range(3):
        assert (await api.call("GET", "/v1/messages", key="bogus")).status == 401
    for key in ("bogus", "bogus", "admin"):
        throttled = await api.call("GET", "/v1/messages", key=key)
        assert throttled.status == 429
        assert throttled.code == "too_many_auth_failures"
        assert 1 <= retry_after(throttled.headers) <= 60
    warnings = [r for r in caplog.records if "failed authentications" in r.getMessage()]
    assert len(warnings) == 1
    assert "127.0.0.1" in warnings[0].getMessage()


async def test_no_credentials_and_a_revoked_keys_own_token_are_not_guesses(
    double_api: Api, store: Store
) -> None:
    api = double_api  # three failures allowed
    await limited(api, store, "old", KeyLimits(expires_at=time.time() - 1))
    for key in (None, "revoked", "old") * 3:
        assert (await api.call("GET", "/v1/messages", key=key)).status == 401
    assert (await api.call("GET", "/v1/messages", key="admin")).status == 200
