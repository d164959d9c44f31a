"""The fan-out hub: a bounded queue per socket, and a socket that falls behind is closed, not waited for."""

from __future__ import annotations

import threading
import time

from functions.fanout.hub import CLOSE_TRY_AGAIN_LATER, Hub
from shared.domain.events import Event
from tests.support.net import wait_until


def test_hub_closes_a_socket_whose_queue_overflows_and_keeps_serving_the_rest():
    hub = Hub(max_queue=4)
    stuck, healthy = hub.connect("u"), hub.connect("u")
    drained = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            message = healthy.outbox.get()
            if message is not None:
                drained.append(message)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    for i in range(20):
        hub.broadcast([Event(event_type="task.created", user_id="u", aggregate_id=str(i), data={"i": i})])
        time.sleep(0.005)
    wait_until(lambda: len(drained) == 20, message="the healthy socket to get all twenty")
    assert stuck.close_code == CLOSE_TRY_AGAIN_LATER
    assert healthy.close_code is None
    stop.set()
    healthy.outbox.put(None)
    hub.close_all()
    assert healthy.close_code == 1001


def test_a_socket_that_can_catch_up_is_marked_behind_instead_of_closed_and_then_offered_nothing():
    hub = Hub(max_queue=2)
    conn = hub.connect("u")
    conn.catch_up = True
    events = [Event(event_type="task.created", user_id="u", aggregate_id=str(i), data={"i": i}) for i in range(5)]
    hub.broadcast(events)
    assert conn.close_code is None and conn.behind, "it reads the rest from the stream"
    assert [conn.outbox.get_nowait()[0] for _ in range(2)] == [e.event_id for e in events[:2]]
    hub.broadcast(events[:1])
    assert conn.outbox.empty(), "while behind, nothing is queued"


def test_recent_ids_drop_a_repeat_and_forget_the_oldest_beyond_their_size():
    from functions.fanout.hub import RecentIds

    recent = RecentIds(size=3)
    assert [recent.add(i) for i in ("a", "b", "a", "c", "d")] == [True, True, False, True, True]
    assert len(recent) == 3 and "a" not in recent and "d" in recent
    assert recent.add("a"), "forgotten: memory stays bounded"


def test_an_event_at_or_before_the_furthest_stream_position_sent_is_a_repeat_however_long_ago():
    """After a broker outage a backlog of thousands reaches a socket by catch-up and again live: the ids
    alone (bounded) forget the oldest, the position does not."""
    from functions.fanout.hub import RecentIds

    recent = RecentIds(size=3)
    assert all(recent.add(f"e{seq}", seq) for seq in range(1, 3001))
    assert recent.position == 3000
    assert [recent.add(f"e{seq}", seq) for seq in (1, 2000, 3000)] == [False, False, False]
    assert recent.add("e3001", 3001) and recent.position == 3001
    assert recent.add("pong-like, no position"), "events without a position fall back to the ids"
