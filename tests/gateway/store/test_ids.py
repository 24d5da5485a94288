"""Ids sort by creation time and stay strictly increasing within the process."""

from __future__ import annotations

import time

import pytest

from gateway.ids import id_time, new_id


def test_ids_are_prefixed_fixed_width_and_increasing() -> None:
    ids = [new_id("msg") for _ in range(5000)]  # many share a millisecond
    assert all(i.startswith("msg_") and len(i) == 30 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_id_carries_its_creation_time() -> None:
    before = time.time()
    made = new_id("in")
    after = time.time()
    assert before - 0.002 <= id_time(made) <= after + 0.002


def test_ids_keep_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_id("msg")
    monkeypatch.setattr(time, "time_ns", lambda: 1_000_000_000)  # 1970: far in the past
    later = [new_id("msg") for _ in range(3)]
    assert [first, *later] == sorted([first, *later])
    assert len({first, *later}) == 4
