"""Notifications: signed webhooks with durable retries, SSRF guard, idempotency, reminder emails."""

from __future__ import annotations

import base64
import datetime as dt
import email
import hashlib
import hmac
import json
import pathlib
import subprocess

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from functions.combined import create_app as combined_app
from functions.notifications.deliveries import deliver_due, enqueue
from functions.reminders.firing import fire_due
from shared.domain.events import Event
from shared.persistence.db import utcnow
from shared.persistence.models import Delivery, WebhookEndpoint
from tests.conftest import with_
from tests.support.live import Client
from tests.support.net import free_port
from tests.support.receiver import Receiver

UTC = dt.UTC


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def app(settings, serve):
    server = serve(
        combined_app(
            with_(settings, run_background_workers=False, webhook_allow_private=True, webhook_retry_base_seconds=1)
        )
    )
    client = Client(server.url).signup()
    client.rt = server.app.extensions["taskflow"]
    return client


def verify(secret: str, request: dict) -> bool:
    """Standard Webhooks verification, written independently of the code under test."""
    h = {k.lower(): v for k, v in request["headers"].items()}
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + request["body"]
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s.split(",", 1)[1]) for s in h["webhook-signature"].split())


def fire_a_reminder(app, title="Dentist"):
    now = utcnow()
    tid = app.create_task(title=title, due_date=(now + dt.timedelta(hours=2)).isoformat())["id"]
    app.request("POST", f"/api/{{me}}/tasks/{tid}/reminders", json={"minutes_before": 60})
    fire_due(app.rt, now=now + dt.timedelta(hours=1, seconds=1))
    app.rt.deliver_pending()  # audit and notifications read the stream
    return tid


def test_a_reminder_reaches_the_receiver_signed_and_verifiable(app, receiver):
    hook = app.request("POST", "/api/{me}/webhooks", json={"url": receiver.url, "events": ["reminder.triggered"]})
    assert hook.status_code == 201 and hook.json()["secret"].startswith("whsec_")
    secret = hook.json()["secret"]
    assert "secret" not in app.request("GET", "/api/{me}/webhooks").json()["items"][0]
    tid = fire_a_reminder(app)
    assert deliver_due(app.rt)["succeeded"] == 1
    [req] = receiver.requests
    assert verify(secret, req)
    body = json.loads(req["body"])
    assert body["event_type"] == "reminder.triggered" and body["data"]["task_id"] == tid
    assert req["headers"]["webhook-id"] == f"msg_{body['event_id']}"
    assert abs(int(req["headers"]["webhook-timestamp"]) - utcnow().timestamp()) < 30


def test_fail_twice_then_succeed_three_attempts_one_webhook_id_surviving_a_restart(app, settings, serve):
    flaky = Receiver(statuses=(500, 503, 200))
    try:
        hook = app.request(
            "POST", "/api/{me}/webhooks", json={"url": flaky.url, "events": ["reminder.triggered"]}
        ).json()
        fire_a_reminder(app)
        assert deliver_due(app.rt) == {"succeeded": 0, "retrying": 1, "dead": 0}
        [log] = app.request("GET", f"/api/{{me}}/webhooks/{hook['id']}/deliveries").json()["items"]
        assert log["attempts"] == 1 and log["last_status"] == 500 and log["next_attempt_at"]
        # Restart: a new process picks the schedule up from the database.
        app.rt.close()
        again = serve(
            combined_app(
                with_(settings, run_background_workers=False, webhook_allow_private=True, webhook_retry_base_seconds=1)
            )
        )
        rt = again.app.extensions["taskflow"]
        assert deliver_due(rt)["retrying"] == 0, "not due yet: the backoff is kept"
        assert deliver_due(rt, now=utcnow() + dt.timedelta(minutes=5))["retrying"] == 1
        assert deliver_due(rt, now=utcnow() + dt.timedelta(minutes=10))["succeeded"] == 1
        assert len(flaky.requests) == 3
        assert len({r["headers"]["webhook-id"] for r in flaky.requests}) == 1
        client = Client(again.url)
        client.user_id, client.token = app.user_id, app.token
        [log] = client.request("GET", f"/api/{{me}}/webhooks/{hook['id']}/deliveries").json()["items"]
        assert log["status"] == "succeeded" and log["attempts"] == 3 and log["last_error"] is None
    finally:
        flaky.close()


def test_a_delivery_that_keeps_failing_goes_dead_and_disables_the_endpoint(app):
    broken = Receiver(statuses=(500,))
    try:
        hook = app.request(
            "POST", "/api/{me}/webhooks", json={"url": broken.url, "events": ["reminder.triggered"]}
        ).json()
        fire_a_reminder(app)
        later = utcnow()
        for _ in range(app.rt.settings.webhook_max_attempts):
            later += dt.timedelta(hours=13)
            deliver_due(app.rt, now=later)
        assert len(broken.requests) == 8
        [endpoint] = app.request("GET", "/api/{me}/webhooks").json()["items"]
        assert endpoint["enabled"] is False and "after 8 attempts" in endpoint["disabled_reason"]
        assert endpoint["id"] == hook["id"]
    finally:
        broken.close()


def test_redelivered_events_never_deliver_twice(app, receiver):
    app.request("POST", "/api/{me}/webhooks", json={"url": receiver.url, "events": ["*"]})
    event = Event(event_type="task.created", user_id=app.user_id, aggregate_id="t", data={"title": "x"})
    assert enqueue(app.rt, [event]) == 1
    enqueue(app.rt, [event])
    deliver_due(app.rt)
    assert len(receiver.requests) == 1
    with app.rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 1


def test_the_test_button_sends_a_signed_ping(app, receiver):
    hook = app.request("POST", "/api/{me}/webhooks", json={"url": receiver.url}).json()
    resp = app.request("POST", f"/api/{{me}}/webhooks/{hook['id']}/test")
    assert resp.json()["status"] == "succeeded" and resp.json()["last_status"] == 200
    assert json.loads(receiver.requests[0]["body"])["event_type"] == "webhook.ping"
    assert verify(hook["secret"], receiver.requests[0])


BLOCKED = [
    "http://127.0.0.1/x",
    "http://localhost:8080/",
    "http://10.1.2.3/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/",
    "http://0.0.0.0/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "http://user:pw@example.com/",
]


def test_ssrf_guard_refuses_each_class_at_creation(settings, serve):
    server = serve(combined_app(with_(settings, run_background_workers=False)))
    client = Client(server.url).signup()
    for url in BLOCKED:
        resp = client.request("POST", "/api/{me}/webhooks", json={"url": url})
        assert resp.status_code == 422 and "url" in resp.json()["errors"], url
    assert client.request("GET", "/api/{me}/webhooks").json()["items"] == []


def test_ssrf_guard_refuses_again_at_delivery(app, receiver, settings, serve):
    app.request("POST", "/api/{me}/webhooks", json={"url": receiver.url})  # allowed by WEBHOOK_ALLOW_PRIVATE
    enqueue(app.rt, [Event(event_type="task.created", user_id=app.user_id, aggregate_id="t", data={})])
    strict = serve(combined_app(with_(settings, run_background_workers=False)))
    assert deliver_due(strict.app.extensions["taskflow"])["dead"] == 1
    assert receiver.requests == []
    with app.rt.sessions() as s:
        delivery = s.scalars(sa.select(Delivery)).one()
        assert "non-public address" in delivery.last_error
        assert s.scalars(sa.select(WebhookEndpoint)).one().enabled is False


@pytest.mark.parametrize(
    "body,field",
    [
        ({"url": "https://example.com/h", "events": ["task.exploded"]}, "events"),
        ({"url": "https://example.com/h", "events": []}, "events"),
        ({"url": "https://example.com/h", "events": "task.created"}, "events"),
        ({"url": 42}, "url"),
        ({"url": "https://example.com/h", "secret": "mine"}, "secret"),
    ],
)
def test_bad_webhook_bodies_are_422(app, body, field):
    resp = app.request("POST", "/api/{me}/webhooks", json=body)
    assert resp.status_code == 422 and field in resp.json()["errors"]
    assert app.request("GET", "/api/{me}/webhooks").json()["items"] == []


def test_another_users_webhook_is_404(app, receiver):
    hook = app.request("POST", "/api/{me}/webhooks", json={"url": receiver.url}).json()
    other = Client(app.base).signup()
    for method, suffix in (("DELETE", ""), ("POST", "/test"), ("GET", "/deliveries")):
        assert other.request(method, f"/api/{{me}}/webhooks/{hook['id']}{suffix}").status_code == 404
    assert receiver.requests == []
    assert app.request("DELETE", f"/api/{{me}}/webhooks/{hook['id']}").status_code == 204


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


def test_reminder_email_reaches_a_local_smtp_server_with_both_parts(settings, serve):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        server = serve(
            combined_app(
                with_(
                    settings,
                    run_background_workers=False,
                    smtp_url=f"smtp://127.0.0.1:{port}",
                    smtp_from="TaskFlow <noreply@taskflow.test>",
                )
            )
        )
        app = Client(server.url).signup()
        app.rt = server.app.extensions["taskflow"]
        bad = app.request("PUT", "/api/{me}/preferences", json={"timezone": "Mars/Base"})
        assert bad.status_code == 422
        assert app.create_task(title="before")["timezone"] == "UTC"
        prefs = app.request("PUT", "/api/{me}/preferences", json={"email_reminders": True, "timezone": "Asia/Tokyo"})
        assert app.create_task(title="after")["timezone"] == "Asia/Tokyo", "a new task takes the new zone at once"
        assert prefs.json() == {
            "email_reminders": True,
            "timezone": "Asia/Tokyo",
            "default_reminder_minutes": None,
            "all_day_reminder_time": "09:00",
            "configured": True,
            "email_available": True,  # this app has SMTP_URL: the web app offers reminder emails
        }
        bad = app.request("PUT", "/api/{me}/preferences", json={"default_reminder_minutes": -5})
        assert bad.status_code == 422 and "default_reminder_minutes" in bad.json()["errors"]
        prefs = app.request("PUT", "/api/{me}/preferences", json={"default_reminder_minutes": 30})
        assert prefs.json()["default_reminder_minutes"] == 30 and prefs.json()["timezone"] == "Asia/Tokyo"
        fire_a_reminder(app, title="Renew passport")
        assert deliver_due(app.rt)["succeeded"] == 1
        [envelope] = inbox.messages
        assert envelope.rcpt_tos == [app.email]
        message = email.message_from_bytes(envelope.content)
        assert message["Subject"] == "Reminder: Renew passport"
        assert message["From"] == "TaskFlow <noreply@taskflow.test>"
        parts = {
            p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()
        }
        assert set(parts) == {"text/plain", "text/html"}
        assert "Renew passport" in parts["text/plain"] and "JST" in parts["text/plain"]
        assert "<strong>Reminder:</strong> Renew passport" in parts["text/html"]
    finally:
        controller.stop()


def _self_signed(tmp_path, name: str) -> tuple[str, str]:
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)


def _pretend_public(monkeypatch, name: str, address: str) -> None:
    """Resolve `name` to `address` (a loopback alias) and let the SSRF check treat it as public."""
    import socket

    from functions.notifications import ssrf

    real_getaddrinfo, real_is_public = socket.getaddrinfo, ssrf.is_public

    def resolve(host, port, *args, **kwargs):
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(ssrf, "is_public", lambda a: str(a) == address or real_is_public(a))


def test_a_pinned_https_delivery_keeps_sni_and_checks_the_certificate_against_the_host_name(
    settings, serve, monkeypatch, tmp_path
):
    import certifi

    right, wrong = _self_signed(tmp_path, "hooks.tls.test"), _self_signed(tmp_path, "someone-else.test")
    bundle = tmp_path / "trusted.pem"
    bundle.write_text(pathlib.Path(right[0]).read_text() + pathlib.Path(wrong[0]).read_text())
    monkeypatch.setattr(certifi, "where", lambda: str(bundle))  # trust only this test's certificates
    good, impostor = Receiver(host="127.0.0.2", tls=right), Receiver(host="127.0.0.3", tls=wrong)
    try:
        _pretend_public(monkeypatch, "hooks.tls.test", "127.0.0.2")
        server = serve(combined_app(with_(settings, run_background_workers=False)))
        app = Client(server.url).signup()
        app.rt = server.app.extensions["taskflow"]
        url = f"https://hooks.tls.test:{good.server.server_port}/hook"
        assert app.request("POST", "/api/{me}/webhooks", json={"url": url, "events": ["reminder.triggered"]}).ok
        fire_a_reminder(app)
        assert deliver_due(app.rt)["succeeded"] == 1 and len(good.requests) == 1

        _pretend_public(monkeypatch, "hooks.tls.test", "127.0.0.3")  # now answered by a certificate for another name
        url = f"https://hooks.tls.test:{impostor.server.server_port}/hook"
        assert app.request("POST", "/api/{me}/webhooks", json={"url": url, "events": ["reminder.triggered"]}).ok
        fire_a_reminder(app, title="second")
        deliver_due(app.rt)
        assert impostor.requests == [], "the certificate's name is still checked"
    finally:
        good.close()
        impostor.close()


def test_delivery_connects_to_the_address_it_checked_not_a_rebound_one(settings, serve, monkeypatch):
    """DNS rebinding: the name answers a "public" address to the check and an internal one after.

    Both addresses are loopback receivers run by this test: 127.0.0.2 stands in for the public
    one (the check is told to accept it), 127.0.0.1 for the internal service under attack.
    """
    import socket

    from functions.notifications import ssrf

    internal = Receiver()
    port = internal.server.server_port
    public = Receiver(host="127.0.0.2", port=port)
    try:
        server = serve(combined_app(with_(settings, run_background_workers=False, webhook_retry_base_seconds=1)))
        app = Client(server.url).signup()
        app.rt = server.app.extensions["taskflow"]
        real_getaddrinfo, answers = socket.getaddrinfo, []

        def rebinding(host, *args, **kwargs):
            if host != "hooks.rebind.test":
                return real_getaddrinfo(host, *args, **kwargs)
            address = "127.0.0.2" if len(answers) % 2 == 0 else "127.0.0.1"  # check, then "connect"
            answers.append(address)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        real_is_public = ssrf.is_public
        monkeypatch.setattr(ssrf, "is_public", lambda a: str(a) == "127.0.0.2" or real_is_public(a))
        hook = app.request(
            "POST",
            "/api/{me}/webhooks",
            json={"url": f"http://hooks.rebind.test:{port}/hook", "events": ["reminder.triggered"]},
        )
        assert hook.status_code == 201, hook.text
        answers.clear()
        fire_a_reminder(app)
        assert deliver_due(app.rt)["succeeded"] == 1
        assert internal.requests == [], "the rebound (internal) address was contacted"
        [req] = public.requests
        assert req["headers"]["Host"] == f"hooks.rebind.test:{port}"
    finally:
        public.close()
        internal.close()
