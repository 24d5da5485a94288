"""Ids sort by creation time and stay strictly increasing within the process."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ids import encode_crockford, id_time, new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _one_character_at_a_time(value: int) -> str:
    """The plain definition the table-driven encoder must match exactly."""
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_encoding_matches_the_plain_definition(value: int) -> None:
    assert encode_crockford(value) == _one_character_at_a_time(value)


@pytest.mark.parametrize(
    "value", [0, 1, 31, 32, 1023, 1024, (1 << 80) - 1, 1 << 80, (1 << 128) - 1, (1 << 130) - 1]
)
def test_encoding_at_the_edges(value: int) -> None:
    encoded = encode_crockford(value)
    assert encoded == _one_character_at_a_time(value)
    assert len(encoded) == 26
    assert int("".join(f"{CROCKFORD.index(c):05b}" for c in encoded), 2) == value


def test_encoding_keeps_numeric_order_as_text_order() -> None:
    values = sorted({(i * 0x9E3779B97F4A7C15) % (1 << 128) for i in range(2000)})
    encoded = [encode_crockford(v) for v in values]
    assert encoded == sorted(encoded)


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
