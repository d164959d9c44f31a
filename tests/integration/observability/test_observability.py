"""Observability: one user action is one trace across Kafka; dashboards and alerts use metrics that exist."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

import functions.audit
import functions.fanout
import functions.reminders
import functions.tasks
from functions.combined import create_app
from shared.domain.events import TASKS_TOPIC
from shared.observability import tracing
from shared.persistence.db import migrate, utcnow
from shared.settings import Settings
from shared.triggers.kafka_loop import wait_ready
from tests.conftest import JWT_SECRET, with_
from tests.support.broker import Tansu, read_topic
from tests.support.fake_dapr import FakeDapr
from tests.support.live import Client, LiveServer
from tests.support.net import wait_until
from tests.support.paths import ROOT
from tests.support.pg import create_database, drop_database
from tests.support.receiver import Receiver

OBSERVABILITY = ROOT / "knative" / "observability"
METRIC = re.compile(r"\btaskflow_[a-z0-9_]+\b")
#: Metrics one function registers for itself (the rest come with every function's runtime).
OWNED_BY = {
    "taskflow_reminders_scheduled": functions.reminders,
    "taskflow_reminders_overdue": functions.reminders,
    "taskflow_websocket_connections": functions.fanout,
}


@pytest.fixture(scope="module")
def own_broker():
    """A broker of the module's own: on the session broker, groups whose consumers earlier tests killed
    are still rebalancing, and joining waits for them (an order-dependent delay)."""
    tansu = Tansu().start()
    yield tansu
    tansu.stop()


@contextlib.contextmanager
def socket_of(server_url: str, api: Client):
    """A socket open for `api`'s user (it answered a ping, so its worker counts it): the fanout follower
    reads and hands on only the events of users with a socket in its worker."""
    import websocket

    ws = websocket.create_connection(
        f"ws://{server_url.removeprefix('http://')}/ws/user/{api.user_id}/tasks?token={api.token}", timeout=10
    )
    try:
        ws.send("ping")
        while ws.recv() != "pong":
            pass
        yield ws
    finally:
        ws.close()


@pytest.fixture
def sockets():
    """Sockets a test opens, closed after it."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture(scope="module")
def stack(own_broker, spans):
    """The combined app in Kafka mode with tracing on, its consumer groups joined, and a webhook receiver.

    On a database of its own: the function-scoped fixtures empty the session database under it.
    """
    url = create_database("taskflow_test_otel")
    migrate(url)
    settings = Settings(
        database_url=url,
        jwt_secret=JWT_SECRET,
        kafka_bootstrap_servers=own_broker.bootstrap,
        tracing=True,
        webhook_allow_private=True,
    )
    receiver = Receiver()
    server = LiveServer(create_app(settings)).__enter__()
    rt = server.app.extensions["taskflow"]
    try:
        assert wait_ready(rt.consumers, timeout=60), (
            f"audit and notifications joined their groups; waiting: "
            f"{[c.name for c in rt.consumers if not c.ready.is_set()]}, broker alive: {own_broker.alive()}\n"
            + own_broker.output()
        )
        api = Client(server.url).signup()
        api.request("POST", "/api/{me}/webhooks", json={"url": receiver.url, "events": ["*"]}).raise_for_status()
        yield server, api, receiver, settings
    finally:
        server.__exit__(None, None, None)
        rt.close()
        receiver.close()
        drop_database(url)


def traceparent(span) -> str:
    """The W3C traceparent naming `span` (written here independently of shared/observability/tracing.py)."""
    ctx = span.context
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def test_one_post_is_one_trace_from_the_request_through_kafka_to_each_consumer_and_the_webhook(
    stack, spans, own_broker, sockets
):
    server, api, receiver, _ = stack
    sockets.enter_context(socket_of(server.url, api))
    spans.clear()
    tid = api.request(
        "POST", "/api/{me}/tasks", json={"title": "trace me"}, headers={"X-Correlation-ID": "trace-corr-1"}
    ).json()["id"]

    def finished(kind, name=None, **attributes):
        return [
            s
            for s in spans.get_finished_spans()
            if s.kind == kind
            and (name is None or s.name == name)
            and all(s.attributes.get(k) == v for k, v in attributes.items())
        ]

    group = "messaging.consumer.group.name"
    wait_until(
        lambda: (
            finished(SpanKind.SERVER, "POST /api/<user_id>/tasks")
            and finished(SpanKind.PRODUCER, "publish tasks.events")
            and all(finished(SpanKind.CONSUMER, **{group: g}) for g in ("audit", "fanout", "notifications"))
            and finished(SpanKind.CLIENT, "notify webhook")
            and receiver.requests
        ),
        timeout=30,
        message="request, publish, consumer and webhook spans",
    )
    [request] = finished(SpanKind.SERVER, "POST /api/<user_id>/tasks")
    trace_id = request.context.trace_id
    assert request.parent is None, "the request starts the trace"
    assert request.attributes["taskflow.correlation_id"] == "trace-corr-1"
    [publish] = finished(SpanKind.PRODUCER, "publish tasks.events")
    assert publish.parent.span_id == request.context.span_id, "the relay publishes from the stored context"
    assert publish.attributes["messaging.system"] == "kafka"

    # The context crossed Kafka: the record carries the publish span, as a header and as the CloudEvent extension.
    [record] = read_topic(own_broker.bootstrap, TASKS_TOPIC, want=lambda r: r.key == api.user_id.encode(), count=1)
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["traceparent"] == headers["ce_traceparent"] == traceparent(publish)
    assert json.loads(record.value)["aggregate_id"] == tid

    for consumer in ("audit", "fanout", "notifications"):
        [handled] = finished(SpanKind.CONSUMER, **{group: consumer})
        assert handled.context.trace_id == trace_id, consumer
        assert handled.attributes["taskflow.correlation_id"] == "trace-corr-1"
        assert handled.attributes["taskflow.event_type"] == "task.created"
        if consumer == "fanout":  # the sockets follow the event stream, with Kafka too: the row's stored context
            assert handled.parent.span_id == request.context.span_id
            assert handled.attributes["messaging.system"] == "taskflow-stream"
            continue
        assert handled.parent.span_id == publish.context.span_id, f"{consumer} handles as a child of the publish"
        assert handled.attributes["messaging.system"] == "kafka"

    [notify] = finished(SpanKind.CLIENT, "notify webhook")
    [queued_by] = finished(SpanKind.CONSUMER, **{group: "notifications"})
    assert notify.parent.span_id == queued_by.context.span_id
    [hook] = receiver.requests
    assert hook["headers"]["traceparent"] == traceparent(notify)

    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    ids = {s.context.span_id for s in in_trace}
    assert [s for s in in_trace if s.parent is None] == [request], "one root: one action, one trace"
    assert all(s.parent.span_id in ids for s in in_trace if s.parent is not None), "no dangling parent"
    assert any(s.attributes.get("db.system.name", s.attributes.get("db.system")) for s in in_trace), "SQL spans"


def test_in_the_combined_app_the_stream_consumers_join_the_request_trace_through_the_outbox_row(
    settings, serve, make_client, spans, sockets
):
    """Local transport: the relay and the consumers run in other threads; the row carries the context."""
    server = serve(create_app(with_(settings, tracing=True)))
    api = make_client(server).signup()
    sockets.enter_context(socket_of(server.url, api))
    spans.clear()
    api.request("POST", "/api/{me}/tasks", json={"title": "in process"}, headers={"X-Correlation-ID": "local-1"})
    group = "messaging.consumer.group.name"

    def consumer_spans():
        found = {
            s.attributes.get(group): s
            for s in spans.get_finished_spans()
            if s.kind == SpanKind.CONSUMER and s.attributes.get("taskflow.correlation_id") == "local-1"
        }
        return found if {"audit", "fanout", "notifications"} <= found.keys() else None

    handled = wait_until(consumer_spans, message="audit, fanout and notifications spans")
    [request] = [s for s in spans.get_finished_spans() if s.name == "POST /api/<user_id>/tasks"]
    for consumer, span in handled.items():
        assert span.parent.span_id == request.context.span_id, consumer
        assert span.attributes["messaging.system"] == "taskflow-stream"
    assert not [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER], "no broker, no publish"


def test_with_dapr_the_trace_rides_in_the_cloudevent_from_the_publish_to_the_subscription_route(
    settings, broker, serve, make_client, spans
):
    """tasks publishes through the sidecar (cloudevent.traceparent); the delivery to audit continues the trace."""
    with FakeDapr(broker.bootstrap, api_token="dapr-secret") as dapr:
        dapr_settings = with_(
            settings,
            use_dapr=True,
            dapr_http_port=dapr.http_port,
            dapr_grpc_port=dapr.grpc_port,
            dapr_api_token="dapr-secret",
            tracing=True,
        )
        tasks_server = serve(functions.tasks.create_app(dapr_settings))
        tasks = make_client(tasks_server).signup()
        audit = make_client(serve(functions.audit.create_app(with_(dapr_settings, run_background_workers=False))))
        spans.clear()
        tasks.request("POST", "/api/{me}/tasks", json={"title": "via the sidecar"})
        rt = tasks_server.app.extensions["taskflow"]
        wait_until(lambda: rt.pending_events() == 0, timeout=30, message="relayed through the sidecar")
        [record] = read_topic(broker.bootstrap, TASKS_TOPIC, want=lambda r: r.key == tasks.user_id.encode(), count=1)
    [publish] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    assert publish.attributes["messaging.system"] == "dapr"
    cloudevent = json.loads(record.value)
    assert cloudevent["traceparent"] == traceparent(publish)

    delivered = audit.request(
        "POST",
        "/events/tasks.events",
        auth=False,
        data=record.value,
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert delivered.json() == {"status": "SUCCESS"}
    [handled] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert handled.attributes["messaging.consumer.group.name"] == "audit"
    assert handled.context.trace_id == publish.context.trace_id
    assert handled.parent.span_id == publish.context.span_id


def test_otlp_export_is_off_by_default_and_on_with_the_standard_endpoint_variable(tmp_path):
    assert Settings.from_env({}).tracing is False
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}).tracing is True
    assert (
        Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "true"}).tracing
        is False
    )
    collector = Receiver()  # stands in for an OpenTelemetry collector's OTLP/HTTP receiver
    try:
        # A process of its own: the provider OTLP export installs is process-wide.
        script = (
            "from shared.persistence.db import migrate; from functions.tasks import create_app;"
            "from opentelemetry import trace;"
            f"migrate('sqlite:///{tmp_path}/otel.db');"
            "app = create_app();"
            "app.test_client().post('/api/auth/login', json={'email': 'nobody@example.com', 'password': 'x'});"
            "app.extensions['taskflow'].close(); trace.get_tracer_provider().shutdown()"
        )
        env = {
            "PATH": os.environ["PATH"],
            "DATABASE_URL": f"sqlite:///{tmp_path}/otel.db",
            "RUN_BACKGROUND_WORKERS": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url.removesuffix("/hook"),
            "OTEL_SERVICE_NAME": "taskflow-test",
        }
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    finally:
        collector.close()
    [export] = collector.requests
    headers = {k.lower(): v for k, v in export["headers"].items()}
    assert headers["content-type"] == "application/x-protobuf"
    assert b"taskflow-test" in export["body"] and b"/api/auth/login" in export["body"]


def metric_names(exposition: str) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples}


def used_metrics() -> dict[str, set[str]]:
    """Every taskflow_* name each observability file's queries use."""
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    rules = yaml.safe_load((OBSERVABILITY / "rules.yaml").read_text())
    rule_exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return {
        "grafana-dashboard.json": {m for e in exprs for m in METRIC.findall(e)},
        "rules.yaml": {m for e in rule_exprs for m in METRIC.findall(e)},
    }


def test_dashboard_and_rules_use_only_metrics_the_functions_expose_after_a_short_exercise(stack, spans):
    server, api, receiver, settings = stack
    rt = server.app.extensions["taskflow"]
    # A reminder due in a second: the timer fires it, the webhook gets reminder.triggered.
    due = utcnow() + dt.timedelta(minutes=30)
    remind_at = utcnow() + dt.timedelta(seconds=2)
    task = api.create_task(title="exercise", due_date=due.isoformat())
    api.request("POST", f"/api/{{me}}/tasks/{task['id']}/reminders", json={"remind_at": remind_at.isoformat()})
    api.request("GET", "/api/{me}/nowhere")  # a 404 for the status breakdown

    def exposition() -> str:
        return api.request("GET", "/metrics", auth=False).text

    wait_until(
        lambda: (
            'taskflow_reminders_fired_total{outcome="triggered"} 1.0' in exposition()
            and any(r["body"].find(b"reminder.triggered") >= 0 for r in receiver.requests)
        ),
        timeout=30,
        message="the reminder fired and its webhook went out",
    )
    wait_until(lambda: rt.pending_events() == 0, message="everything relayed")
    text = exposition()
    exposed = metric_names(text)
    assert 'taskflow_events_published_total{topic="reminders.events"}' in text
    assert re.search(r'taskflow_notifications_sent_total\{channel="webhook",status="succeeded"\} [1-9]', text)
    assert re.search(r"taskflow_reminder_firing_lag_seconds_count [1-9]", text)
    assert re.search(r'taskflow_events_persisted_total\{event_type="task.created"\} [1-9]', text)
    assert re.search(r'taskflow_consumer_lag_events\{consumer="audit"\} \d', text), "Kafka consumer lag"
    # A fired reminder is a trace too: the timer's sweep span, down to the webhook.
    [fired] = [r for r in receiver.requests if b"reminder.triggered" in r["body"]]
    sweep_traces = {f"{s.context.trace_id:032x}" for s in spans.get_finished_spans() if s.name == "sweep reminders"}
    assert fired["headers"]["traceparent"].split("-")[1] in sweep_traces

    # The functions that register a metric of their own expose it when deployed alone.
    own = Settings(database_url=settings.database_url, jwt_secret=JWT_SECRET, run_background_workers=False)
    alone: dict[str, set[str]] = {}
    for function in set(OWNED_BY.values()):
        app = function.create_app(own)
        try:
            alone[function.__name__] = metric_names(app.test_client().get("/metrics").get_data(as_text=True))
        finally:
            app.extensions["taskflow"].close()

    for source, names in used_metrics().items():
        assert names, f"{source} queries no taskflow metric"
        for name in sorted(names):
            assert name in exposed, f"{source} uses {name}, which the combined app does not expose"
            if name in OWNED_BY:
                assert name in alone[OWNED_BY[name].__name__], f"{name} missing from its own function"


def test_alert_rules_pass_promtool_and_the_prometheusrule_holds_the_same_groups(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package; `make test` installs it)"
    result = subprocess.run([promtool, "check", "rules", str(OBSERVABILITY / "rules.yaml")], capture_output=True)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    plain = yaml.safe_load((OBSERVABILITY / "rules.yaml").read_text())
    crd = yaml.safe_load((OBSERVABILITY / "prometheusrule.yaml").read_text())
    assert (crd["apiVersion"], crd["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert crd["spec"] == plain, "prometheusrule.yaml and rules.yaml hold the same rules"
    alerts = {r["alert"] for g in plain["groups"] for r in g["rules"]}
    assert {
        "TaskflowOutboxStuck",
        "TaskflowConsumerLagHigh",
        "TaskflowReminderLatenessHigh",
        "TaskflowDeadLetters",
        "TaskflowHigh5xxRate",
    } <= alerts
    readme = (ROOT / "README.md").read_text()
    for alert in alerts:
        assert alert in readme, f"README's Operating TaskFlow explains {alert}"
    # promtool rejects a broken rule: the check above can fail.
    broken = tmp_path / "broken.yaml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(taskflow_x[5m]\n")
    assert subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True).returncode != 0


def server_spans(spans, count: int, method: str = "GET") -> list:
    """The `method` request spans once `count` have ended: a span ends when the server closes the response,
    which can be just after the client has read it (and so can the span of a request made before)."""

    def ended() -> list:
        return [
            s
            for s in spans.get_finished_spans()
            if s.kind == trace.SpanKind.SERVER and s.name.startswith(method) and s.name != "POST /api/auth/register"
        ]

    wait_until(lambda: len(ended()) >= count, message=f"{count} {method} request spans")
    return ended()


def test_the_feed_token_never_reaches_a_span(settings, serve, make_client, spans):
    from functions.tasks import create_app

    server = serve(create_app(with_(settings, tracing=True, run_background_workers=False)))
    api = make_client(server).signup()
    token = api.request("POST", "/api/{me}/calendar-feed").json()["token"]
    spans.clear()
    assert api.request("GET", f"/ical/{token}.ics?type=todo", auth=False).status_code == 200
    assert api.request("GET", f"/ical/{token}", auth=False).status_code == 404  # unrouted: the path names the span
    finished = server_spans(spans, 2)
    for span in finished:
        assert token not in span.name
        assert all(token not in str(value) for value in span.attributes.values()), dict(span.attributes)
    assert any("/ical/<token>.ics" in str(v) for s in finished for v in s.attributes.values())


def test_a_request_span_is_named_by_its_route_and_probes_make_none(settings, serve, make_client, spans):
    """The server span carries the route (never the ids in the path) and the ids; /health, /ready and
    /metrics are not user actions and make no span."""
    from functions.tasks import create_app

    server = serve(create_app(with_(settings, tracing=True, run_background_workers=False)))
    api = make_client(server).signup()
    spans.clear()
    for probe in ("/health", "/ready", "/metrics"):
        assert api.request("GET", probe, auth=False).status_code == 200
    created = api.request("POST", "/api/{me}/tasks", json={"title": "named"}, headers={"X-Correlation-ID": "route-1"})
    tid = created.json()["id"]
    assert api.request("GET", f"/api/{{me}}/tasks/{tid}").status_code == 200
    [read] = server_spans(spans, 1)
    [create] = server_spans(spans, 1, "POST")
    finished = [read, create]
    assert (read.name, create.name) == ("GET /api/<user_id>/tasks/<id:task_id>", "POST /api/<user_id>/tasks")
    assert create.attributes["http.route"] == "/api/<user_id>/tasks"
    assert create.attributes["taskflow.correlation_id"] == "route-1"
    assert create.attributes["http.status_code"] == 201
    assert all(api.user_id not in s.name and tid not in s.name for s in finished)


def test_behind_a_trusted_proxy_the_request_span_names_the_client_the_proxy_saw(settings, serve, make_client, spans):
    from functions.tasks import create_app

    server = serve(create_app(with_(settings, tracing=True, run_background_workers=False, trusted_proxy_hops=1)))
    api = make_client(server).signup()
    spans.clear()
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    assert api.request("GET", "/api/{me}/tasks", headers=forwarded).status_code == 200
    [span] = server_spans(spans, 1)
    assert span.attributes["net.peer.ip"] == "198.51.100.7", dict(span.attributes)


def test_a_websocket_jwt_never_reaches_a_span(settings, serve, make_client, spans):
    """The browser's socket sends its JWT as `?token=`: the upgrade request makes no span at all."""
    import websocket

    from functions.combined import create_app as combined_app

    server = serve(combined_app(with_(settings, tracing=True, run_background_workers=False)))
    api = make_client(server).signup()
    spans.clear()
    ws = websocket.create_connection(
        f"{server.url.replace('http', 'ws', 1)}/ws/user/{api.user_id}/tasks?token={api.token}", timeout=5
    )
    ws.close()
    api.request("GET", "/api/{me}/tasks")
    server_spans(spans, 1)
    finished = spans.get_finished_spans()
    assert not [s for s in finished if s.name.startswith("GET /ws/")], "no span for the upgrade request"
    assert any(s.kind == trace.SpanKind.SERVER for s in finished), "tracing is on"
    for span in finished:
        assert api.token not in span.name and all(api.token not in str(v) for v in span.attributes.values())
    assert tracing._redacted("/x?a=1&token=abc.def&b=2") == "/x?a=1&token=<redacted>&b=2"


def test_consumer_alerts_fire_on_a_stuck_consumer_and_on_one_that_owns_nothing_and_not_otherwise(tmp_path):
    """`promtool test rules`: the lag alert waits out a busy but catching-up consumer and fires on a stuck one."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package; `make test` installs it)"
    rules = yaml.safe_load((OBSERVABILITY / "rules.yaml").read_text())
    described = {r["alert"]: r["annotations"]["description"] for g in rules["groups"] for r in g["rules"]}
    cases = {
        "rule_files": [str(OBSERVABILITY / "rules.yaml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # audit stuck: its lag only grows; notifications busy: behind, but it catches up.
                    {"series": 'taskflow_consumer_lag_events{consumer="audit",instance="a"}', "values": "10+10x40"},
                    {"series": 'taskflow_consumer_lag_events{consumer="audit",instance="b"}', "values": "10+10x40"},
                    {
                        "series": 'taskflow_consumer_lag_events{consumer="notifications",instance="a"}',
                        "values": "50 400 30 500 20 600 0 " * 6,
                    },
                    # the leader (a) owns audit's partitions, then nobody does from minute 20.
                    {"series": 'taskflow_consumer_partitions{consumer="audit",instance="a"}', "values": "8x19 0x20"},
                    {"series": 'taskflow_consumer_partitions{consumer="audit",instance="b"}', "values": "0x40"},
                    {"series": 'taskflow_consumer_partitions{consumer="notifications",instance="a"}', "values": "8x40"},
                ],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "TaskflowConsumerLagGrowing", "exp_alerts": []},
                    {
                        "eval_time": "20m",
                        "alertname": "TaskflowConsumerLagGrowing",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "consumer": "audit"},
                                "exp_annotations": {
                                    "summary": "Consumer audit has not caught up for 15 minutes (210 behind)",
                                    "description": described["TaskflowConsumerLagGrowing"],
                                },
                            }
                        ],
                    },
                    {"eval_time": "21m", "alertname": "TaskflowConsumerNoPartitions", "exp_alerts": []},
                    {
                        "eval_time": "23m",
                        "alertname": "TaskflowConsumerNoPartitions",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "consumer": "audit"},
                                "exp_annotations": {
                                    "summary": "No process owns a partition of consumer audit",
                                    "description": described["TaskflowConsumerNoPartitions"],
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "consumer_alerts_test.yaml"
    path.write_text(yaml.safe_dump(cases))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
