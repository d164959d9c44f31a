"""Outbox -> Dapr pub/sub: DaprClient.publish_event against a sidecar stand-in that feeds the real broker."""

from __future__ import annotations

import json

from functions.combined import create_app
from shared.domain.events import TASKS_TOPIC
from tests.conftest import with_
from tests.support.broker import read_topic
from tests.support.fake_dapr import FakeDapr
from tests.support.net import wait_until


def test_dapr_transport_publishes_each_change_once_keyed_by_user(settings, broker, serve, make_client):
    with FakeDapr(broker.bootstrap, api_token="dapr-secret") as dapr:
        app = create_app(
            with_(
                settings,
                use_dapr=True,
                dapr_http_port=dapr.http_port,
                dapr_grpc_port=dapr.grpc_port,
                dapr_api_token="dapr-secret",
                kafka_bootstrap_servers=broker.bootstrap,
            )
        )
        server = serve(app)
        rt = app.extensions["taskflow"]
        assert rt.transport.name == "dapr", "USE_DAPR wins over KAFKA_BOOTSTRAP_SERVERS"
        api = make_client(server).signup()
        tid = api.create_task(title="via dapr")["id"]
        api.request("PUT", f"/api/{{me}}/tasks/{tid}", json={"title": "via dapr, renamed"})
        api.request("PATCH", f"/api/{{me}}/tasks/{tid}/complete")
        api.request("DELETE", f"/api/{{me}}/tasks/{tid}")
        wait_until(lambda: rt.pending_events() == 0, timeout=30, message="outbox relayed through dapr")
        assert api.request("GET", "/ready", auth=False).json()["checks"] == {"database": True}
        wait_until(
            lambda: (
                api.request("GET", "/health", auth=False).json()["broker"] == {"transport": "dapr", "reachable": True}
            ),
            message="/health reports the sidecar up",
        )

        records = read_topic(broker.bootstrap, TASKS_TOPIC, want=lambda r: r.key == api.user_id.encode(), count=4)
        cloudevents = [json.loads(r.value) for r in records]
        envelopes = [ce["data"] for ce in cloudevents]
        assert [e["event_type"] for e in envelopes] == [
            "task.created",
            "task.updated",
            "task.completed",
            "task.deleted",
        ]
        assert len({r.partition for r in records}) == 1
        for ce, env in zip(cloudevents, envelopes, strict=True):
            assert ce["id"] == env["event_id"] and ce["type"] == env["event_type"]
            assert ce["subject"] == tid and ce["pubsubname"] == "kafka-pubsub"
            assert env["user_id"] == api.user_id and env["aggregate_id"] == tid
        assert envelopes[1]["data"]["changes"]["title"]["new"] == "via dapr, renamed"
        assert dapr.sidecar.calls == 4


def test_dapr_sidecar_rejecting_the_token_keeps_events_waiting(settings, broker, serve, make_client):
    with FakeDapr(broker.bootstrap, api_token="the-right-token") as dapr:
        app = create_app(
            with_(
                settings,
                use_dapr=True,
                dapr_http_port=dapr.http_port,
                dapr_grpc_port=dapr.grpc_port,
                dapr_api_token="a-wrong-token",
                run_background_workers=False,
            )
        )
        server = serve(app)
        api = make_client(server).signup()
        api.create_task(title="stuck")
        rt = app.extensions["taskflow"]
        published, failed = rt.relay.drain()
        assert (published, failed) == (0, True)
        assert rt.pending_events() == 1 and dapr.sidecar.calls == 0
