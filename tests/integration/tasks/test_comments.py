"""Comments on a task over real HTTP on PostgreSQL: CRUD, order, events in the audit log and the task's
history, a webhook subscribed to comment.added, cascade with the task, isolation, bad input."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from functions.combined import create_app as combined_app
from functions.notifications.deliveries import deliver_due
from shared.persistence.models import Comment
from tests.conftest import with_
from tests.support.live import Client
from tests.support.receiver import Receiver


@pytest.fixture
def app(settings, serve):
    """The combined function without background workers: the test moves events along itself."""
    server = serve(
        combined_app(
            with_(settings, run_background_workers=False, webhook_allow_private=True, webhook_retry_base_seconds=1)
        )
    )
    client = Client(server.url).signup()
    client.rt = server.app.extensions["taskflow"]
    return client


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def comment(app, task_id: str, text: str) -> dict:
    resp = app.request("POST", f"/api/{{me}}/tasks/{task_id}/comments", json={"text": text})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_comments_are_added_listed_in_order_edited_and_deleted(app):
    task = app.create_task(title="Passport")
    first = comment(app, task["id"], "Photos first\nthen the form")
    assert first["text"] == "Photos first\nthen the form" and first["task_id"] == task["id"]
    assert first["edited_at"] is None and first["created_at"]
    second = comment(app, task["id"], "<b>not bold</b> https://example.com/form")
    path = f"/api/{{me}}/tasks/{task['id']}/comments"
    items = app.request("GET", path).json()["items"]
    assert [c["id"] for c in items] == [first["id"], second["id"]]
    assert items[1]["text"] == "<b>not bold</b> https://example.com/form"  # stored as typed, never as HTML
    edited = app.request("PUT", f"/api/{{me}}/comments/{first['id']}", json={"text": "Photos done"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["text"] == "Photos done" and edited.json()["edited_at"] is not None
    assert app.request("GET", "/api/{me}/comments/counts").json() == {"counts": {task["id"]: 2}}
    assert app.request("DELETE", f"/api/{{me}}/comments/{second['id']}").status_code == 204
    assert [c["text"] for c in app.request("GET", path).json()["items"]] == ["Photos done"]
    assert app.request("DELETE", f"/api/{{me}}/comments/{second['id']}").status_code == 404


def test_comment_events_reach_the_audit_log_and_the_tasks_history_and_replay_ignores_them(app):
    task = app.create_task(title="Boiler")
    c = comment(app, task["id"], "Engineer comes Tuesday")
    app.request("PUT", f"/api/{{me}}/comments/{c['id']}", json={"text": "Engineer comes Wednesday"})
    app.request("DELETE", f"/api/{{me}}/comments/{c['id']}")
    app.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"title": "Boiler service"})
    app.rt.deliver_pending()
    items = app.request("GET", f"/api/{{me}}/tasks/{task['id']}/events").json()["items"]
    assert [e["event_type"] for e in items] == [
        "task.created",
        "comment.added",
        "comment.updated",
        "comment.deleted",
        "task.updated",
    ]
    assert items[1]["data"]["id"] == c["id"] and items[1]["data"]["text"] == "Engineer comes Tuesday"
    assert items[2]["data"]["changes"] == {"text": {"old": "Engineer comes Tuesday", "new": "Engineer comes Wednesday"}}
    audit = app.request("GET", "/api/{me}/events", params={"event_type": "comment.added"}).json()["items"]
    assert [e["aggregate_id"] for e in audit] == [task["id"]]
    replayed = app.request("GET", f"/api/{{me}}/tasks/{task['id']}/replay").json()
    assert replayed["title"] == "Boiler service" and replayed["version"] == 2 and "text" not in replayed


def test_a_webhook_subscribed_to_comment_added_receives_it(app, receiver):
    hook = app.request("POST", "/api/{me}/webhooks", json={"url": receiver.url, "events": ["comment.added"]})
    assert hook.status_code == 201, hook.text
    task = app.create_task(title="Gift")
    c = comment(app, task["id"], "She likes blue")
    app.request("PUT", f"/api/{{me}}/comments/{c['id']}", json={"text": "She likes green"})  # not subscribed
    app.rt.deliver_pending()
    assert deliver_due(app.rt)["succeeded"] == 1
    [req] = receiver.requests
    body = json.loads(req["body"])
    assert body["event_type"] == "comment.added" and body["aggregate_id"] == task["id"]
    assert body["data"]["text"] == "She likes blue" and body["data"]["id"] == c["id"]


def test_deleting_a_task_deletes_its_comments(app):
    task = app.create_task(title="Short-lived")
    comment(app, task["id"], "one")
    comment(app, task["id"], "two")
    assert app.request("DELETE", f"/api/{{me}}/tasks/{task['id']}").status_code == 204
    with app.rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Comment)) == 0
    assert app.request("GET", f"/api/{{me}}/tasks/{task['id']}/comments").status_code == 404
    assert app.request("GET", "/api/{me}/comments/counts").json() == {"counts": {}}


def test_another_users_comments_and_tasks_are_never_found(app):
    task = app.create_task(title="mine")
    mine = comment(app, task["id"], "mine")
    other = Client(app.base).signup()
    their_task = other.create_task(title="theirs")
    theirs = other.request("POST", f"/api/{{me}}/tasks/{their_task['id']}/comments", json={"text": "theirs"}).json()
    for method, path, body in (
        ("GET", f"/api/{{me}}/tasks/{their_task['id']}/comments", None),
        ("POST", f"/api/{{me}}/tasks/{their_task['id']}/comments", {"text": "sneak"}),
        ("PUT", f"/api/{{me}}/comments/{theirs['id']}", {"text": "sneak"}),
        ("DELETE", f"/api/{{me}}/comments/{theirs['id']}", None),
    ):
        resp = app.request(method, path, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert [
        c["text"] for c in other.request("GET", f"/api/{{me}}/tasks/{their_task['id']}/comments").json()["items"]
    ] == ["theirs"]
    assert other.request("GET", "/api/{me}/comments/counts").json() == {"counts": {their_task["id"]: 1}}
    assert app.request("GET", "/api/{me}/comments/counts").json() == {"counts": {task["id"]: 1}}
    assert mine["id"] != theirs["id"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": " \n\t "},
        {"text": "x" * 10_001},
        {"text": None},
        {"text": 5},
        {"text": "a", "html": "b"},
    ],
)
def test_bad_comment_bodies_are_422_and_store_nothing(app, body):
    task = app.create_task(title="t")
    resp = app.request("POST", f"/api/{{me}}/tasks/{task['id']}/comments", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    ok = comment(app, task["id"], "kept")
    bad_edit = app.request("PUT", f"/api/{{me}}/comments/{ok['id']}", json=body)
    assert bad_edit.status_code == 422, bad_edit.text
    assert [c["text"] for c in app.request("GET", f"/api/{{me}}/tasks/{task['id']}/comments").json()["items"]] == [
        "kept"
    ]


def test_the_longest_comment_is_kept_whole(app):
    task = app.create_task(title="t")
    text = "é" * 10_000
    assert comment(app, task["id"], text)["text"] == text
