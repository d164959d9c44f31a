"""The audit log: every event once whatever the adapter, history and replay, retention, DLQ."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from kafka import KafkaProducer

from functions.audit import create_app as audit_app
from functions.audit import record_events, subscription
from functions.combined import create_app as combined_app
from shared.domain.events import Event
from shared.messaging.subscriptions import Subscription
from shared.persistence.models import EventLog
from shared.runtime.process import Runtime
from shared.triggers.kafka_loop import ConsumerLoop
from tests.conftest import with_
from tests.support.broker import read_topic
from tests.support.net import wait_until

UTC = dt.UTC


def envelope(user_id="u-audit", event_type="task.created", **data):
    return Event(
        event_type=event_type,
        user_id=user_id,
        aggregate_id=str(uuid.uuid4()),
        data={"title": "audited", **data},
        correlation_id="corr-1",
    ).to_dict()


def audit_loop(rt):
    """The audit function's own subscription on a Kafka loop, in a group of the test's own."""
    return ConsumerLoop(rt.settings, dataclasses.replace(subscription(rt), group=f"audit-{uuid.uuid4().hex[:8]}"))


def stored(rt, event_id=None):
    with rt.sessions() as s:
        stmt = sa.select(sa.func.count()).select_from(EventLog)
        if event_id:
            stmt = stmt.where(EventLog.event_id == event_id)
        return s.scalar(stmt)


@pytest.fixture
def combined(settings, serve, make_client):
    server = serve(combined_app(settings))
    api = make_client(server).signup()
    api.rt = server.app.extensions["taskflow"]
    return api


def test_history_shows_the_four_changes_in_order_with_each_correlation_id(combined):
    api = combined
    tid = api.request("POST", "/api/{me}/tasks", json={"title": "a"}, headers={"X-Correlation-ID": "c-1"}).json()["id"]
    api.request("PUT", f"/api/{{me}}/tasks/{tid}", json={"title": "b"}, headers={"X-Correlation-ID": "c-2"})
    api.request("PATCH", f"/api/{{me}}/tasks/{tid}/complete", headers={"X-Correlation-ID": "c-3"})
    api.request("DELETE", f"/api/{{me}}/tasks/{tid}", headers={"X-Correlation-ID": "c-4"})
    items = wait_until(
        lambda: (lambda r: r if len(r) == 4 else None)(
            api.request("GET", f"/api/{{me}}/tasks/{tid}/events").json().get("items", [])
        ),
        message="four events",
    )
    assert [(e["event_type"], e["correlation_id"]) for e in items] == [
        ("task.created", "c-1"),
        ("task.updated", "c-2"),
        ("task.completed", "c-3"),
        ("task.deleted", "c-4"),
    ]
    assert all(
        e["client_ip"] == "127.0.0.1" and e["request_id"] and "python-requests" in e["user_agent"] for e in items
    )
    replayed = api.request("GET", f"/api/{{me}}/tasks/{tid}/replay").json()
    assert replayed["deleted"] is True and replayed["task"]["title"] == "b" and replayed["task"]["completed"]
    page = api.request("GET", "/api/{me}/events", params={"event_type": "task.updated"}).json()
    assert [e["aggregate_id"] for e in page["items"]] == [tid]


def test_user_events_paginate_filter_and_stay_private(combined, make_client, serve, settings):
    api = combined
    ids = [api.create_task(title=f"t{i}")["id"] for i in range(5)]
    wait_until(lambda: stored(api.rt) == 5, message="five audit rows")
    seen, cursor = [], None
    while True:
        page = api.request(
            "GET", "/api/{me}/events", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [e["aggregate_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    assert len(api.request("GET", "/api/{me}/events", params={"aggregate_id": ids[2]}).json()["items"]) == 1
    assert api.request("GET", "/api/{me}/events", params={"until": "2000-01-01T00:00:00Z"}).json()["items"] == []
    for bad in ({"event_type": "task.exploded"}, {"since": "later"}, {"cursor": "!!"}, {"limit": "1000"}):
        assert api.request("GET", "/api/{me}/events", params=bad).status_code == 422
    other = make_client(serve(combined_app(settings))).signup()
    assert other.request("GET", "/api/{me}/events").json()["items"] == []
    assert other.request("GET", f"/api/{{me}}/tasks/{ids[0]}/events").status_code == 404
    assert other.request("GET", f"/api/{{me}}/tasks/{ids[0]}/replay").status_code == 404
    assert other.request("GET", f"/api/{api.user_id}/events").status_code == 403


def test_the_same_cloudevent_three_ways_is_stored_once(settings, broker, serve, make_client):
    rt_settings = with_(settings, kafka_bootstrap_servers=broker.bootstrap, run_background_workers=False)
    server = serve(audit_app(rt_settings))
    client = make_client(server)
    rt = server.app.extensions["taskflow"]
    env = envelope()
    structured = {
        "specversion": "1.0",
        "id": env["event_id"],
        "type": env["event_type"],
        "source": "taskflow",
        "datacontenttype": "application/json",
        "data": env,
        "topic": "tasks.events",
    }
    resp = client.request(
        "POST",
        "/events/tasks.events",
        auth=False,
        data=json.dumps(structured),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert resp.json() == {"status": "SUCCESS"}
    binary_headers = {
        "ce-id": env["event_id"],
        "ce-type": env["event_type"],
        "ce-source": "/taskflow",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    resp = client.request("POST", "/events/tasks.events", auth=False, data=json.dumps(env), headers=binary_headers)
    assert resp.status_code == 200 and resp.json() == {"status": "SUCCESS"}
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send("tasks.events", key=env["user_id"].encode(), value=json.dumps(env).encode()).get(10)
    producer.close()
    loop = rt.add_consumer(audit_loop(rt))
    wait_until(lambda: loop.handled >= 1, timeout=30, message="the Kafka loop to handle the event")
    assert stored(rt, env["event_id"]) == 1


def test_dapr_subscription_contract(settings, serve, make_client):
    client = make_client(serve(audit_app(with_(settings, run_background_workers=False))))
    subs = client.request("GET", "/dapr/subscribe", auth=False).json()
    assert subs == [
        {"pubsubname": "kafka-pubsub", "topic": t, "route": f"/events/{t}", "deadLetterTopic": f"{t}.dlq"}
        for t in ("reminders.events", "tasks.events")
    ]


MALFORMED = [
    ("not json", b"{{{"),
    ("not a cloudevent", json.dumps({"hello": "world"}).encode()),
    ("no envelope", json.dumps({"specversion": "1.0", "id": "x", "type": "t", "source": "s", "data": 5}).encode()),
    (
        "unknown type",
        json.dumps(
            {
                "specversion": "1.0",
                "id": "x",
                "type": "t",
                "source": "s",
                "data": envelope(event_type="task.created") | {"event_type": "task.exploded"},
            }
        ).encode(),
    ),
    (
        "wrong topic",
        json.dumps(
            {
                "specversion": "1.0",
                "id": "x",
                "type": "t",
                "source": "s",
                "data": envelope(event_type="reminder.triggered"),
            }
        ).encode(),
    ),
    (
        "bad event id",
        json.dumps(
            {
                "specversion": "1.0",
                "id": "x",
                "type": "t",
                "source": "s",
                "data": envelope() | {"event_id": "1; DROP TABLE event_log"},
            }
        ).encode(),
    ),
]


@pytest.mark.parametrize("case,body", MALFORMED, ids=[c for c, _ in MALFORMED])
def test_malformed_deliveries_drop_or_400_and_store_nothing(settings, serve, make_client, case, body):
    server = serve(audit_app(with_(settings, run_background_workers=False)))
    client = make_client(server)
    rt = server.app.extensions["taskflow"]
    dapr = client.request(
        "POST", "/events/tasks.events", auth=False, data=body, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert dapr.status_code == 200 and dapr.json() == {"status": "DROP"}
    knative = client.request(
        "POST",
        "/events/tasks.events",
        auth=False,
        data=body,
        headers={
            "ce-id": "x",
            "ce-type": "t",
            "ce-source": "s",
            "ce-specversion": "1.0",
            "Content-Type": "application/json",
        },
    )
    assert knative.status_code == 400 and knative.headers["Content-Type"] == "application/problem+json"
    assert stored(rt) == 0


def test_unknown_topic_is_dropped(settings, serve, make_client):
    client = make_client(serve(audit_app(with_(settings, run_background_workers=False))))
    resp = client.request(
        "POST",
        "/events/passwords.events",
        auth=False,
        data=json.dumps({"specversion": "1.0"}),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert resp.json() == {"status": "DROP"}


def test_database_down_answers_retry(settings, serve, make_client):
    down = with_(settings, database_url="postgresql://postgres@127.0.0.1:1/nowhere", run_background_workers=False)
    client = make_client(serve(audit_app(down)))
    env = envelope()
    structured = {"specversion": "1.0", "id": env["event_id"], "type": env["event_type"], "source": "s", "data": env}
    resp = client.request(
        "POST",
        "/events/tasks.events",
        auth=False,
        data=json.dumps(structured),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert resp.status_code == 200 and resp.json() == {"status": "RETRY"}
    binary = client.request(
        "POST",
        "/events/tasks.events",
        auth=False,
        data=json.dumps(env),
        headers={
            "ce-id": env["event_id"],
            "ce-type": env["event_type"],
            "ce-source": "s",
            "ce-specversion": "1.0",
            "Content-Type": "application/json",
        },
    )
    assert binary.status_code == 503


def test_delivery_routes_honour_the_app_token(settings, serve, make_client):
    client = make_client(serve(audit_app(with_(settings, run_background_workers=False, app_api_token="tok"))))
    env = envelope()
    body = json.dumps({"specversion": "1.0", "id": "1", "type": "t", "source": "s", "data": env})
    headers = {"Content-Type": "application/cloudevents+json"}
    assert client.request("POST", "/events/tasks.events", auth=False, data=body, headers=headers).status_code == 401
    ok = client.request(
        "POST", "/events/tasks.events", auth=False, data=body, headers={**headers, "dapr-api-token": "tok"}
    )
    assert ok.json() == {"status": "SUCCESS"}


def test_kafka_loop_sends_poison_to_the_dlq_and_keeps_going(settings, broker):
    rt = Runtime(with_(settings, kafka_bootstrap_servers=broker.bootstrap, run_background_workers=False))
    try:
        topic_user = f"dlq-{uuid.uuid4().hex[:8]}"
        good = envelope(user_id=topic_user)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send("tasks.events", key=topic_user.encode(), value=b"this is not json").get(10)
        producer.send("tasks.events", key=topic_user.encode(), value=json.dumps(good).encode()).get(10)
        producer.close()
        loop = rt.add_consumer(audit_loop(rt))
        wait_until(lambda: stored(rt, good["event_id"]) == 1, timeout=30, message="the good event stored")
        dead = read_topic(broker.bootstrap, "tasks.events.dlq", want=lambda r: r.key == topic_user.encode(), count=1)
        assert [r.value for r in dead] == [b"this is not json"]
        assert dict(dead[0].headers)["dlq_error"].startswith(b"not a JSON envelope")
        assert loop.handled >= 1
        dlq_producer = loop._producer
        assert dlq_producer is not None
    finally:
        rt.close()
    assert dlq_producer._closed, "stopping the loop closes its dead-letter producer (no network thread left behind)"


def test_kafka_loop_parks_an_event_its_handler_keeps_failing_on_and_keeps_going(settings, broker):
    """Bounded retries, then the `.dlq` topic: a poison record never blocks the partition forever."""
    rt = Runtime(with_(settings, kafka_bootstrap_servers=broker.bootstrap, run_background_workers=False))
    try:
        user = f"poison-{uuid.uuid4().hex[:8]}"
        poison, good = envelope(user_id=user), envelope(user_id=user)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for env in (poison, good):
            producer.send("tasks.events", key=user.encode(), value=json.dumps(env).encode()).get(10)
        producer.close()
        attempts = []

        def handle(events):
            if any(e.event_id == poison["event_id"] for e in events):
                attempts.append(1)
                raise ValueError("this event breaks the handler")
            return record_events(rt, events)

        poisoned = Subscription("audit-poison", ("tasks.events",), handle, group=f"audit-{uuid.uuid4().hex[:8]}")
        loop = rt.add_consumer(ConsumerLoop(rt.settings, poisoned, retry_base=0.01))
        wait_until(lambda: stored(rt, good["event_id"]) == 1, timeout=30, message="the good event stored")
        dead = read_topic(broker.bootstrap, "tasks.events.dlq", want=lambda r: r.key == user.encode(), count=1)
        assert json.loads(dead[0].value)["event_id"] == poison["event_id"]
        assert dict(dead[0].headers)["dlq_error"].startswith(b"ValueError: this event breaks the handler")
        assert stored(rt, poison["event_id"]) == 0 and loop.dead_lettered >= 1
        assert len(attempts) == 1 + 3, "the batch, then three attempts of its own"
    finally:
        rt.close()


def test_kafka_loop_crash_between_insert_and_offset_commit_stores_once(settings, broker):
    rt = Runtime(with_(settings, kafka_bootstrap_servers=broker.bootstrap, run_background_workers=False))
    try:
        user = f"crash-{uuid.uuid4().hex[:8]}"
        env = envelope(user_id=user)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send("tasks.events", key=user.encode(), value=json.dumps(env).encode()).get(10)
        producer.close()
        deliveries, crashes = [], []

        def handle(events):
            deliveries.extend(e.event_id for e in events if e.user_id == user)
            return record_events(rt, events)

        def crash_once():
            if env["event_id"] in deliveries and not crashes:
                crashes.append(1)
                raise RuntimeError("killed after the insert, before the offset commit")

        crashing = Subscription("audit-crash", ("tasks.events",), handle, group=f"audit-{uuid.uuid4().hex[:8]}")
        loop = rt.add_consumer(ConsumerLoop(rt.settings, crashing, before_commit=crash_once))
        wait_until(lambda: deliveries.count(env["event_id"]) >= 2, timeout=45, message="redelivery after the crash")
        assert crashes == [1]
        # `handled` counts after the offset commit that follows the handler: wait for it, do not race it.
        wait_until(lambda: loop.handled >= 1, timeout=15, message="the redelivery committed")
        assert stored(rt, env["event_id"]) == 1
    finally:
        rt.close()


def test_retention_purges_old_events_in_batches(settings, serve, make_client):
    server = serve(audit_app(with_(settings, run_background_workers=False, event_retention_days=30)))
    rt = server.app.extensions["taskflow"]
    old = [
        Event(
            event_type="task.created",
            user_id="u",
            aggregate_id="a",
            data={},
            timestamp=dt.datetime.now(UTC) - dt.timedelta(days=31 + i),
        )
        for i in range(12)
    ]
    fresh = [Event(event_type="task.created", user_id="u", aggregate_id="a", data={}) for _ in range(3)]
    record_events(rt, old + fresh)
    resp = make_client(server).request("POST", "/audit-retention-cron", auth=False)
    assert resp.status_code == 200 and resp.json() == {"purged": 12}
    assert stored(rt) == 3


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("title"), st.text(alphabet="abcxyz ", min_size=1, max_size=12).filter(str.strip)),
        st.tuples(st.just("priority"), st.sampled_from(["none", "low", "high", "urgent"])),
        st.tuples(st.just("due"), st.sampled_from([None, "2030-01-01T09:00:00Z", "2031-06-15T18:30:00+02:00"])),
        st.tuples(st.just("complete"), st.booleans()),
        st.tuples(st.just("tags"), st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)),
        st.tuples(st.just("delete"), st.none()),
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture
def quiet_combined(settings, serve, make_client):
    server = serve(combined_app(with_(settings, run_background_workers=False)))
    api = make_client(server).signup()
    api.rt = server.app.extensions["taskflow"]
    return api


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPERATIONS)
def test_replay_equals_the_current_state(quiet_combined, ops):
    api = quiet_combined
    tid = api.create_task(title="start")["id"]
    deleted = False
    for op, arg in ops:
        if deleted:
            break
        path = f"/api/{{me}}/tasks/{tid}"
        if op == "title":
            api.request("PUT", path, json={"title": arg})
        elif op == "priority":
            api.request("PUT", path, json={"priority": arg})
        elif op == "tags":
            api.request("PUT", path, json={"tags": arg})
        elif op == "due":
            api.request("PUT", f"{path}/due-date", json={"due_date": arg})
        elif op == "complete":
            api.request("PATCH", f"{path}/complete", json={"completed": arg})
        else:
            assert api.request("DELETE", path).status_code == 204
            deleted = True
    api.rt.deliver_pending()  # the audit consumer reads the stream
    replayed = api.request("GET", f"/api/{{me}}/tasks/{tid}/replay").json()
    if deleted:
        assert replayed["deleted"] is True
    else:
        assert replayed == api.request("GET", f"/api/{{me}}/tasks/{tid}").json()
