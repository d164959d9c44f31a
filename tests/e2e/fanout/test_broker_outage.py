"""Kafka mode, the broker stopped and started again with sockets open: every socket gets every change
once, in order, without a close or a resync (issue 28, items 3 and 4)."""

from __future__ import annotations

import threading
import time

from tests.conftest import JWT_SECRET
from tests.support.broker import Tansu
from tests.support.live import Client
from tests.support.net import wait_until
from tests.support.process import ServerProcess
from tests.support.sockets import Collector


def test_a_broker_outage_leaves_open_sockets_no_gap_and_no_repeat(db_url):
    broker = Tansu().start()
    # A small socket queue: the burst after the outage overflows it, so the sockets catch up from the stream.
    server = ServerProcess.entrypoint(
        DATABASE_URL=db_url,
        ENVIRONMENT="production",
        JWT_SECRET=JWT_SECRET,
        WEB_CONCURRENCY="2",
        WS_QUEUE_SIZE="8",
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
    ).start(ready_path="/health")
    try:
        alice = Client(server.url).signup()
        url = f"ws://127.0.0.1:{server.port}/ws/user/{alice.user_id}/tasks?token={alice.token}"
        sockets = [Collector(url) for _ in range(4)]  # spread over both workers
        probe = alice.create_task(title="before")["id"]
        wait_until(lambda: all(probe in created(s) for s in sockets), timeout=60, message="every socket live before")
        made: list[str] = []
        stop = threading.Event()

        def write() -> None:
            while not stop.is_set():
                made.append(alice.create_task(title=f"t{len(made)}")["id"])

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        time.sleep(1)
        broker.stop()
        wait_until(lambda: len(made) > 60, timeout=60, message="writes stored while the broker is away")
        time.sleep(3)
        broker.start()
        time.sleep(2)
        stop.set()
        writer.join(30)
        expected = [probe, *made]
        for i, socket in enumerate(sockets):
            wait_until(
                lambda socket=socket: len(created(socket)) >= len(expected),
                timeout=90,
                message=f"socket {i} to catch up ({len(created(socket))} of {len(expected)})",
            )
        time.sleep(1)
        for i, socket in enumerate(sockets):
            assert created(socket) == expected, f"socket {i}: every change once, in order"
            ids = socket.event_ids()
            assert len(ids) == len(set(ids)), f"socket {i} got an event twice"
            assert socket.close_code is None and not socket.closed.is_set(), f"socket {i} was closed"
            assert not [m for m in socket.messages if m["type"] == "resync"], f"socket {i} was told to resync"
        for socket in sockets:
            socket.close()
    finally:
        server.stop()
        broker.stop()


def created(socket: Collector) -> list[str]:
    return [m["data"]["id"] for m in list(socket.messages) if m.get("type") == "task.created"]
