"""The queue loaded at start in the background: nothing is served until it is in, and a
message accepted meanwhile joins behind the loaded ones, first in, first out."""

from __future__ import annotations

from gateway.core.scheduler import ANY_MODEM
from tests.gateway.runtime.test_scheduler import item, ready


def test_nothing_is_served_while_the_queue_loads() -> None:
    s = ready("m1")
    s.begin_loading()
    s.loaded_through("msg_2")
    s.add_many([(item("msg_1"), ANY_MODEM), (item("msg_2"), ANY_MODEM)])
    assert s.loading
    assert s.take("m1") is None
    s.end_loading()
    assert [s.take("m1"), s.take("m1")] == [item("msg_1"), item("msg_2")]


def test_a_message_accepted_while_loading_joins_behind_the_loaded_ones() -> None:
    s = ready("m1")
    s.begin_loading()
    s.loaded_through("msg_2")
    s.add(item("msg_2"))
    s.add(item("msg_9"))  # accepted now: newer than what the load has read
    assert "msg_9" in s
    assert len(s) == 2
    s.loaded_through("msg_5")
    s.add_many([(item("msg_3"), ANY_MODEM), (item("msg_5"), ANY_MODEM)])
    s.end_loading()
    taken = [s.take("m1") for _ in range(4)]
    assert [t.id for t in taken if t is not None] == ["msg_2", "msg_3", "msg_5", "msg_9"]
    assert s.take("m1") is None


def test_a_message_read_by_the_load_and_accepted_aside_is_queued_once() -> None:
    s = ready("m1")
    s.begin_loading()
    s.add(item("msg_7"))  # aside: the load has read nothing yet
    s.loaded_through("msg_7")
    s.add(item("msg_7"))  # the load read it too
    s.end_loading()
    assert len(s) == 1
    assert s.take("m1") == item("msg_7")
    assert s.take("m1") is None


def test_a_message_cancelled_while_aside_is_not_queued() -> None:
    s = ready("m1")
    s.begin_loading()
    s.add(item("msg_4"))
    assert s.remove("msg_4")
    s.end_loading()
    assert len(s) == 0
    assert s.take("m1") is None
