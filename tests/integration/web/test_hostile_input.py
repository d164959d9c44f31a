"""Hostile input found by the outside probe: every one is a 4xx problem, logs no stack trace, stores nothing."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import urllib.parse

import pytest
import sqlalchemy as sa

from functions.combined import create_app
from shared.persistence.db import make_engine
from shared.persistence.models import Outbox, Task, User, WebhookEndpoint
from tests.conftest import with_

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def app_server(settings, serve):
    return serve(create_app(with_(settings, run_background_workers=False)))


@pytest.fixture
def alice(app_server, make_client):
    return make_client(app_server).signup()


def stored(db_url) -> tuple[int, int, int, int]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        result = tuple(
            conn.scalar(sa.select(sa.func.count()).select_from(t)) for t in (Task, Outbox, User, WebhookEndpoint)
        )
    engine.dispose()
    return result


def assert_client_error(resp, *statuses):
    assert resp.status_code in statuses, (resp.status_code, resp.text[:300])
    assert resp.headers["Content-Type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == resp.status_code and body["title"] and body["detail"]


@pytest.fixture
def no_stack_traces(caplog):
    caplog.set_level(logging.ERROR)
    yield
    traces = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
    assert not traces, [r.getMessage() for r in traces]


def raw_json(alice, method, path, text, auth=True):
    return alice.request(
        method,
        path,
        auth=auth,
        data=text.encode("utf-8", "surrogatepass"),
        headers={"Content-Type": "application/json"},
    )


BODIES = [
    ("deep nesting on create", "POST", "/api/{me}/tasks", DEEP, True),
    ("deep nesting on login", "POST", "/api/auth/login", DEEP, False),
    ("deep nesting on register", "POST", "/api/auth/register", '{"email": ' + DEEP + "}", False),
    ("NUL in title", "POST", "/api/{me}/tasks", '{"title": "a\\u0000b"}', True),
    ("NUL in description", "POST", "/api/{me}/tasks", '{"title": "t", "description": "a\\u0000b"}', True),
    ("NUL in tags", "POST", "/api/{me}/tasks", '{"title": "t", "tags": ["a\\u0000b"]}', True),
    (
        "NUL in email",
        "POST",
        "/api/auth/register",
        '{"email": "a\\u0000b@example.com", "password": "long enough pw 1"}',
        False,
    ),
    (
        "NUL in login email",
        "POST",
        "/api/auth/login",
        '{"email": "a\\u0000b@example.com", "password": "long enough pw 1"}',
        False,
    ),
    ("lone surrogate in title", "POST", "/api/{me}/tasks", '{"title": "a\\ud800b"}', True),
    ("lone surrogate in tags", "POST", "/api/{me}/tasks", '{"title": "t", "tags": ["\\udfff"]}', True),
    (
        "lone surrogate in email",
        "POST",
        "/api/auth/register",
        '{"email": "a\\ud800@example.com", "password": "long enough pw 1"}',
        False,
    ),
    (
        "webhook events with an object",
        "POST",
        "/api/{me}/webhooks",
        '{"url": "https://example.com/h", "events": [{}]}',
        True,
    ),
    (
        "webhook events with a list",
        "POST",
        "/api/{me}/webhooks",
        '{"url": "https://example.com/h", "events": [[1]]}',
        True,
    ),
    (
        "unknown TZID in a rule",
        "POST",
        "/api/{me}/recurrence/preview",
        '{"recurrence_rule": "DTSTART;TZID=Nowhere/Zone:20260101T090000\\nRRULE:FREQ=DAILY", "timezone": "UTC"}',
        True,
    ),
    (
        "path TZID in a rule",
        "POST",
        "/api/{me}/recurrence/preview",
        '{"recurrence_rule": "DTSTART;TZID=../../etc/passwd:20260101T090000\\nRRULE:FREQ=DAILY", "timezone": "UTC"}',
        True,
    ),
]


@pytest.mark.parametrize("case,method,path,text,auth", BODIES, ids=[b[0] for b in BODIES])
def test_hostile_bodies_are_4xx_and_store_nothing(alice, db_url, no_stack_traces, case, method, path, text, auth):
    before = stored(db_url)
    assert_client_error(raw_json(alice, method, path, text, auth), 400, 413, 422)
    assert stored(db_url) == before


QUERIES = [
    ("NUL in q", "/api/{me}/tasks", "q=a%00b"),
    ("NUL in tag", "/api/{me}/tasks", "tag=a%00b"),
    ("NUL in aggregate_id", "/api/{me}/events", "aggregate_id=a%00b"),
    ("superscript limit", "/api/{me}/tasks", "limit=%C2%B2"),
    ("superscript event limit", "/api/{me}/events", "limit=%C2%B2"),
    ("arabic-indic limit", "/api/{me}/tasks", "limit=%D9%A3"),
    (
        "event cursor past bigint",
        "/api/{me}/events",
        "cursor=" + base64.urlsafe_b64encode(str(2**70).encode()).decode().rstrip("="),
    ),
    (
        "negative event cursor past bigint",
        "/api/{me}/events",
        "cursor=" + base64.urlsafe_b64encode(str(-(2**70)).encode()).decode().rstrip("="),
    ),
    (
        "task cursor with NUL id",
        "/api/{me}/tasks",
        "cursor=" + base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", "a\x00b"]).encode()).decode(),
    ),
    (
        "task cursor with a huge year offset",
        "/api/{me}/tasks",
        "cursor=" + base64.urlsafe_b64encode(json.dumps(["0001-01-01T00:00:00+23:59", "x"]).encode()).decode(),
    ),
]


@pytest.mark.parametrize("case,path,query", QUERIES, ids=[q[0] for q in QUERIES])
def test_hostile_query_strings_are_4xx(alice, no_stack_traces, case, path, query):
    assert_client_error(alice.request("GET", f"{path}?{query}"), 400, 422)


@pytest.mark.parametrize(
    "path",
    [
        "/api/{me}/tasks/a%00b",
        "/api/{me}/tasks/a%00b/events",
        "/api/{me}/tasks/a%00b/replay",
        "/api/{me}/reminders/a%00b",
        "/api/{me}/webhooks/a%00b/deliveries",
    ],
)
def test_nul_in_path_ids_is_4xx(alice, no_stack_traces, path):
    method = "DELETE" if "reminders" in path else "GET"
    assert_client_error(alice.request(method, path), 400, 404)


def test_twenty_mebibytes_chunked_is_413(app_server, alice, db_url, no_stack_traces):
    """Sent by hand over a socket: chunked transfer encoding, no Content-Length; the answer is read
    while the body is still being sent, as a real client does."""
    before = stored(db_url)
    host, port = urllib.parse.urlsplit(app_server.url).netloc.split(":")
    chunk = b"x" * 65536

    def send_body(sock):
        try:
            for _ in range(20 * 16):
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before reading everything: fine

    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            (
                f"POST /api/{alice.user_id}/tasks HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {alice.token}\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        sender = threading.Thread(target=send_body, args=(sock,), daemon=True)
        sender.start()
        response = b""
        while b"\r\n" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
        sock.shutdown(socket.SHUT_RDWR)
        sender.join(30)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert stored(db_url) == before


@pytest.fixture
def own_cluster():
    from tests.support.pg_cluster import ThrowawayCluster

    cluster = ThrowawayCluster().start()
    yield cluster
    cluster.destroy()


def test_a_database_outage_is_503_with_retry_after_and_recovers(own_cluster, serve, make_client, no_stack_traces):
    from shared.persistence.db import migrate
    from shared.settings import Settings
    from tests.conftest import JWT_SECRET

    migrate(own_cluster.url)
    server = serve(
        create_app(Settings(database_url=own_cluster.url, jwt_secret=JWT_SECRET, run_background_workers=False))
    )
    api = make_client(server).signup()
    api.create_task(title="before the outage")

    own_cluster.stop()
    for method, path, body in [
        ("GET", "/api/{me}/tasks", None),
        ("POST", "/api/{me}/tasks", {"title": "during"}),
        ("POST", "/api/auth/login", {"email": api.email, "password": "correct horse battery"}),
    ]:
        resp = api.request(method, path, json=body)
        assert_client_error(resp, 503)
        assert int(resp.headers["Retry-After"]) > 0
    assert api.request("GET", "/ready", auth=False).status_code == 503

    own_cluster.start()
    resp = api.request("GET", "/api/{me}/tasks")
    if resp.status_code == 503:  # the pool's first use of a dead connection invalidates the pool
        resp = api.request("GET", "/api/{me}/tasks")
    assert resp.status_code == 200 and [t["title"] for t in resp.json()["items"]] == ["before the outage"]


@pytest.mark.parametrize(
    "path,allowed",
    [
        ("/api/{me}/reminders/pending", {"GET", "HEAD", "OPTIONS"}),
        ("/api/{me}/tasks/recurring", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_options_advertises_only_the_methods_a_path_has(alice, path, allowed):
    resp = alice.request("OPTIONS", path)
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) == allowed


def test_the_replay_schema_tells_a_live_task_from_a_deleted_one(app_server, alice):
    import jsonschema

    spec = alice.request("GET", "/openapi.json", auth=False).json()
    schema = {
        **spec["paths"]["/api/{user_id}/tasks/{task_id}/replay"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"],
        "components": spec["components"],
    }
    rt = app_server.app.extensions["taskflow"]
    tid = alice.create_task(title="replayed")["id"]
    rt.deliver_pending()  # no background workers here: relay, and let the audit consumer read the stream
    jsonschema.validate(alice.request("GET", f"/api/{{me}}/tasks/{tid}/replay").json(), schema)
    alice.request("DELETE", f"/api/{{me}}/tasks/{tid}")
    rt.deliver_pending()
    gone = alice.request("GET", f"/api/{{me}}/tasks/{tid}/replay").json()
    assert gone["deleted"] is True
    jsonschema.validate(gone, schema)
