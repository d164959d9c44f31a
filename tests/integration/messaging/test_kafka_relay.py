"""Outbox -> Kafka through the real tansu broker: envelope, key, ce_* headers, broker outages."""

from __future__ import annotations

import json

import sqlalchemy as sa

from functions.combined import create_app
from shared.domain.events import TASKS_TOPIC
from shared.persistence.models import Outbox
from shared.triggers.kafka_loop import wait_ready
from tests.conftest import with_
from tests.support.broker import Tansu, envelope, read_topic
from tests.support.net import wait_until


def of_user(user_id):
    return lambda record: record.key == user_id.encode()


def test_each_change_lands_once_on_tasks_events_with_key_and_cloudevent_headers(settings, broker, serve, make_client):
    server = serve(create_app(with_(settings, kafka_bootstrap_servers=broker.bootstrap)))
    api = make_client(server).signup()
    tid = api.create_task(title="ship it")["id"]
    api.request("PUT", f"/api/{{me}}/tasks/{tid}", json={"title": "ship it now"}, headers={"X-Correlation-ID": "c-upd"})
    api.request("PATCH", f"/api/{{me}}/tasks/{tid}/complete")
    api.request("DELETE", f"/api/{{me}}/tasks/{tid}")

    records = read_topic(broker.bootstrap, TASKS_TOPIC, want=of_user(api.user_id), count=4)
    events = [envelope(r) for r in records]
    assert [e["event_type"] for e in events] == ["task.created", "task.updated", "task.completed", "task.deleted"]
    assert len({e["event_id"] for e in events}) == 4
    assert len({r.partition for r in records}) == 1, "one key, one partition: per-user order"
    assert events[1]["correlation_id"] == "c-upd"
    assert events[1]["data"]["changes"] == {"title": {"old": "ship it", "new": "ship it now"}}
    for record, event in zip(records, events, strict=True):
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["ce_id"] == event["event_id"]
        assert headers["ce_type"] == event["event_type"]
        assert headers["ce_source"] == "/taskflow"
        assert headers["ce_specversion"] == "1.0"
        assert headers["ce_time"] == event["timestamp"]
        assert headers["ce_subject"] == tid
        assert event["user_id"] == api.user_id and event["aggregate_id"] == tid
    rt = server.app.extensions["taskflow"]
    assert rt.pending_events() == 0
    # The record's value is the envelope the outbox stored, sent as its text (not rebuilt from objects).
    with rt.sessions() as session:
        stored = dict(
            session.execute(sa.select(Outbox.event_id, Outbox.payload).where(Outbox.user_id == api.user_id)).all()
        )
    assert [stored[e["event_id"]] for e in events] == events


def test_broker_down_keeps_the_api_up_and_loses_nothing(settings, serve, make_client):
    own = Tansu().start()
    try:
        server = serve(create_app(with_(settings, kafka_bootstrap_servers=own.bootstrap)))
        rt = server.app.extensions["taskflow"]
        api = make_client(server).signup()
        other = make_client(server).signup()
        api.create_task(title="before")
        wait_until(lambda: rt.pending_events() == 0, message="first event relayed")
        assert wait_ready(rt.consumers), "consumers joined before the outage"

        own.stop()
        # The API never waits on the broker: each create answers 201 (the client's timeout catches a hang;
        # how long the ten take with the broker down, next to up, is a row of tests/bench/bench_core.py).
        created = []
        for i in range(10):
            who = api if i % 2 == 0 else other
            created.append((who.user_id, who.create_task(title=f"while down {i}")["id"]))
        assert rt.pending_events() >= 10
        ready = api.request("GET", "/ready", auth=False)
        assert ready.status_code == 200, "a broker outage must not take the API out of rotation: " + ready.text
        assert ready.json()["checks"] == {"database": True}
        wait_until(
            lambda: (
                api.request("GET", "/health", auth=False).json()["broker"] == {"transport": "kafka", "reachable": False}
            ),
            timeout=30,
            message="/health reports the broker down",
        )
        assert 'taskflow_broker_up{transport="kafka"} 0.0' in api.request("GET", "/metrics", auth=False).text

        own.start()  # in-memory broker: it comes back empty
        wait_until(lambda: rt.pending_events() == 0, timeout=60, message="outbox drained after the broker returned")
        for user in (api, other):
            records = read_topic(own.bootstrap, TASKS_TOPIC, want=of_user(user.user_id), count=5)
            got = [envelope(r)["aggregate_id"] for r in records]
            assert got == [tid for uid, tid in created if uid == user.user_id], "all, once, in order"
    finally:
        own.stop()


def test_outbox_cron_route_relays_what_is_waiting_and_is_guarded(settings, broker, serve, make_client):
    quiet = with_(
        settings,
        kafka_bootstrap_servers=broker.bootstrap,
        run_background_workers=False,
        app_api_token="s3cret-app-token",
    )
    server = serve(create_app(quiet))
    api = make_client(server).signup()
    for i in range(3):
        api.create_task(title=f"cron {i}")
    rt = server.app.extensions["taskflow"]
    assert rt.pending_events() == 3
    assert api.request("POST", "/outbox-cron", auth=False).status_code == 401
    assert api.request("POST", "/outbox-cron", auth=False, headers={"dapr-api-token": "wrong"}).status_code == 403
    assert rt.pending_events() == 3
    probe = api.request("OPTIONS", "/outbox-cron", auth=False, headers={"dapr-api-token": "s3cret-app-token"})
    assert probe.status_code == 200
    sweep = api.request("POST", "/outbox-cron", auth=False, headers={"dapr-api-token": "s3cret-app-token"})
    assert sweep.status_code == 200 and sweep.json() == {"published": 3, "pending": 0, "purged": 0}
    records = read_topic(broker.bootstrap, TASKS_TOPIC, want=of_user(api.user_id), count=3)
    assert [envelope(r)["data"]["title"] for r in records] == ["cron 0", "cron 1", "cron 2"]


def test_two_relays_racing_publish_each_event_once_in_order(settings, broker, serve, make_client):
    quiet = with_(settings, kafka_bootstrap_servers=broker.bootstrap, run_background_workers=False)
    one, two = serve(create_app(quiet)), serve(create_app(quiet))
    api = make_client(one).signup()
    ids = [api.create_task(title=f"race {i}")["id"] for i in range(40)]
    import threading

    relays = [one.app.extensions["taskflow"].relay, two.app.extensions["taskflow"].relay]
    threads = [threading.Thread(target=r.drain) for r in relays for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in relays:
        r.drain()
    records = read_topic(broker.bootstrap, TASKS_TOPIC, want=of_user(api.user_id), count=40)
    assert [envelope(r)["aggregate_id"] for r in records] == ids
    assert json.loads(records[0].value)["event_type"] == "task.created"
