"""Probes: a broker that hangs never slows /health (the liveness probe) or fails /ready."""

from __future__ import annotations

from functions.tasks import create_app
from shared.runtime.process import Runtime
from tests.conftest import with_
from tests.support.broker import HangingBroker
from tests.support.net import wait_until


def test_health_answers_while_the_broker_check_hangs(settings, serve, make_client):
    quiet = with_(settings, run_background_workers=False, kafka_bootstrap_servers="127.0.0.1:1")
    broker = HangingBroker()
    rt = Runtime(quiet, transport=broker)
    server = serve(create_app(quiet, runtime=rt))
    client = make_client(server)
    client.request("GET", "/health", auth=False)  # the first probe starts the background check ...
    wait_until(broker.checking.is_set, message="the broker check to start")
    for _ in range(3):  # ... which hangs: every answer here came without waiting for it
        resp = client.request("GET", "/health", auth=False)
        assert resp.status_code == 200 and resp.json()["broker"]["transport"] == "kafka"
        assert not broker.released.is_set(), "the check still hangs"
    assert client.request("GET", "/ready", auth=False).status_code == 200
    broker.released.set()  # the packets get through: the check answers "unreachable"
    wait_until(
        lambda: client.request("GET", "/health", auth=False).json()["broker"]["reachable"] is False,
        message="the background check's answer",
    )
