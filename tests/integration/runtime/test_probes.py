"""Probes: a broker that hangs never slows /health (the liveness probe) or fails /ready."""

from __future__ import annotations

import threading
import time

from functions.tasks import create_app
from shared.runtime.process import Runtime
from tests.conftest import with_
from tests.support.net import wait_until


class HangingBroker:
    """A transport whose broker never answers a health check quickly (packets dropped)."""

    name = "kafka"

    def __init__(self):
        self.released = threading.Event()

    def publish(self, *args, **kwargs):
        raise ConnectionError("broker unreachable")

    def healthy(self) -> bool:
        self.released.wait(3)
        return False

    def close(self) -> None:
        self.released.set()


def test_health_answers_at_once_while_the_broker_check_hangs(settings, serve, make_client):
    quiet = with_(settings, run_background_workers=False, kafka_bootstrap_servers="127.0.0.1:1")
    rt = Runtime(quiet, transport=HangingBroker())
    server = serve(create_app(quiet, runtime=rt))
    client = make_client(server)
    for _ in range(3):
        started = time.monotonic()
        resp = client.request("GET", "/health", auth=False)
        assert time.monotonic() - started < 0.5
        assert resp.status_code == 200 and resp.json()["broker"]["transport"] == "kafka"
    assert client.request("GET", "/ready", auth=False).status_code == 200
    wait_until(
        lambda: client.request("GET", "/health", auth=False).json()["broker"]["reachable"] is False,
        timeout=10,
        message="the background check's answer",
    )
