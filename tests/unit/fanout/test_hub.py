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
