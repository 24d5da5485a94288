"""Key limits in the store: the daily quota counted where messages are written, and
last-used times written in batches."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.errors import QuotaExceeded
from gateway.store import api_keys
from gateway.store.base import KeyLimits, Scope
from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import new_message

SEND = frozenset({Scope.SEND})


async def test_a_daily_quota_holds_across_a_restart(store: SqliteStore, db_path: Path) -> None:
    key, _ = await store.create_api_key("q", SEND, KeyLimits(messages_per_day=2))
    other, _ = await store.create_api_key("free", SEND)
    await store.add_messages([dataclasses.replace(new_message(), api_key_id=key.id)])
    await store.close()
    reopened = SqliteStore(db_path, store.keyring)
    await reopened.open()
    try:
        two = [dataclasses.replace(new_message(), api_key_id=key.id) for _ in range(2)]
        with pytest.raises(QuotaExceeded) as caught:
            await reopened.add_messages(two)  # all or nothing: 1 + 2 > 2
        assert 86_000 < caught.value.retry_after <= 86_400
        assert len(await reopened.add_messages(two[:1])) == 1
        with pytest.raises(QuotaExceeded):
            await reopened.add_messages(two[1:])
        # Another key, and messages with no key (the CLI's own), are not counted.
        await reopened.add_messages([dataclasses.replace(new_message(), api_key_id=other.id)])
        await reopened.add_messages([new_message()])
    finally:
        await reopened.close()


async def test_a_request_larger_than_the_quota_never_fits(store: SqliteStore) -> None:
    key, _ = await store.create_api_key("q", SEND, KeyLimits(messages_per_day=1))
    with pytest.raises(QuotaExceeded) as caught:
        await store.add_messages(
            [dataclasses.replace(new_message(), api_key_id=key.id) for _ in range(2)]
        )
    assert caught.value.retry_after >= 86_400


async def test_last_used_times_cost_no_write_per_request(store: SqliteStore, db_path: Path) -> None:
    key, _ = await store.create_api_key("ehr", SEND)
    [listed] = await store.list_api_keys()
    assert listed.last_used_at is None
    commits = store.commit_count
    for _ in range(200):
        store.key_used(key.id)
    assert store.commit_count == commits  # none due before USAGE_WRITE_SECONDS
    await store.close()  # what is pending is written at close
    reopened = SqliteStore(db_path, store.keyring)
    await reopened.open()
    try:
        [listed] = await reopened.list_api_keys()
        assert listed.last_used_at is not None
    finally:
        await reopened.close()


async def test_last_used_times_are_written_once_due(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = await store.create_api_key("ehr", SEND)
    store._usage = api_keys.UsageLog(every=0.0)  # due at every use
    store.key_used(key.id)
    task = store._usage_task
    assert task is not None
    await task
    [listed] = await store.list_api_keys()
    assert listed.last_used_at is not None


async def test_limits_round_trip_and_a_change_empties_the_cache(store: SqliteStore) -> None:
    limits = KeyLimits(
        requests_per_minute=60, messages_per_day=500, expires_at=2e9, networks=("10.0.0.0/8",)
    )
    key, token = await store.create_api_key("ehr", SEND, limits)
    assert (await store.verify_api_key(token)) == key
    assert key.limits == limits
    changed = await store.set_api_key_limits(key.id, KeyLimits(requests_per_minute=5))
    assert changed.limits == KeyLimits(requests_per_minute=5)
    verified = await store.verify_api_key(token)
    assert verified is not None
    assert verified.limits == KeyLimits(requests_per_minute=5)
