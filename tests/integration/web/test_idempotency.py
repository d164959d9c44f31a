"""Idempotent creates: a client whose POST got no answer retries with the same Idempotency-Key safely."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from shared.persistence.models import IdempotencyKey, Task, WebhookEndpoint
from tests.conftest import with_


def tasks_titled(api, title):
    with api.rt.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Task).where(Task.title == title))


def test_the_same_key_and_body_replays_the_first_response_and_creates_once(api):
    body = {"title": "pay rent", "tags": ["home"]}
    first = api.request("POST", "/api/{me}/tasks", json=body, headers={"Idempotency-Key": "k-rent-1"})
    again = api.request("POST", "/api/{me}/tasks", json=body, headers={"Idempotency-Key": "k-rent-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"] and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert tasks_titled(api, "pay rent") == 1


def test_the_same_key_with_another_body_is_422(api):
    api.request("POST", "/api/{me}/tasks", json={"title": "one"}, headers={"Idempotency-Key": "k-2"})
    other = api.request("POST", "/api/{me}/tasks", json={"title": "two"}, headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]
    assert tasks_titled(api, "two") == 0


def test_without_a_key_or_with_another_key_each_post_creates(api):
    api.request("POST", "/api/{me}/tasks", json={"title": "twice"})
    api.request("POST", "/api/{me}/tasks", json={"title": "twice"})
    api.request("POST", "/api/{me}/tasks", json={"title": "twice"}, headers={"Idempotency-Key": "a"})
    api.request("POST", "/api/{me}/tasks", json={"title": "twice"}, headers={"Idempotency-Key": "b"})
    assert tasks_titled(api, "twice") == 4


def test_keys_are_per_user(api, serve, make_client):
    other = make_client(type("S", (), {"url": api.base})()).signup()
    a = api.request("POST", "/api/{me}/tasks", json={"title": "mine"}, headers={"Idempotency-Key": "shared"})
    b = other.request("POST", "/api/{me}/tasks", json={"title": "mine"}, headers={"Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_a_failed_attempt_frees_the_key_and_an_expired_key_is_forgotten(api):
    bad = api.request("POST", "/api/{me}/tasks", json={"title": ""}, headers={"Idempotency-Key": "k-fix"})
    assert bad.status_code == 422
    good = api.request("POST", "/api/{me}/tasks", json={"title": "fixed"}, headers={"Idempotency-Key": "k-fix"})
    assert good.status_code == 201
    with api.rt.sessions() as s:
        s.execute(sa.update(IdempotencyKey).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        s.commit()
    again = api.request("POST", "/api/{me}/tasks", json={"title": "fixed"}, headers={"Idempotency-Key": "k-fix"})
    assert again.status_code == 201 and again.json()["id"] != good.json()["id"]


def test_concurrent_retries_create_once(api):
    answers = []

    def post():
        answers.append(
            api.request("POST", "/api/{me}/tasks", json={"title": "racy"}, headers={"Idempotency-Key": "race"})
        )

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} <= {201, 409}
    assert all(a.headers.get("Retry-After") for a in answers if a.status_code == 409)
    assert tasks_titled(api, "racy") == 1


def test_reminders_and_webhooks_honour_the_key_too(settings, serve, make_client):
    from functions.combined import create_app

    server = serve(create_app(with_(settings, run_background_workers=False, webhook_allow_private=True)))
    api = make_client(server).signup()
    tid = api.create_task(title="with reminder", due_date="2099-01-01T10:00:00Z")["id"]
    for _ in range(2):
        resp = api.request(
            "POST",
            f"/api/{{me}}/tasks/{tid}/reminders",
            json={"minutes_before": 30},
            headers={"Idempotency-Key": "rem-1"},
        )
        assert resp.status_code == 201, resp.text
    for _ in range(2):
        resp = api.request(
            "POST", "/api/{me}/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers={"Idempotency-Key": "hook-1"}
        )
        assert resp.status_code == 201, resp.text
    with server.app.extensions["taskflow"].sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint)) == 1


def test_a_malformed_key_is_422(api):
    resp = api.request("POST", "/api/{me}/tasks", json={"title": "t"}, headers={"Idempotency-Key": "x" * 300})
    assert resp.status_code == 422 and tasks_titled(api, "t") == 0
