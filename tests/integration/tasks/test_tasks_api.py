"""The tasks API over real HTTP on PostgreSQL: CRUD, filters, pagination, ETags, outbox rows."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from functions.tasks.calendar.plan import plan_import
from shared.persistence.db import make_engine
from shared.persistence.models import Outbox, Task
from tests.support.calendar import calendar
from tests.support.rows import rows

NOW = dt.datetime(2054, 12, 1, tzinfo=dt.UTC)


def outbox_rows(db_url):
    engine = make_engine(db_url)
    with engine.connect() as conn:
        found = conn.execute(sa.select(Outbox.event_type, Outbox.payload).order_by(Outbox.id)).all()
    engine.dispose()
    return found


def test_create_returns_the_task_with_location_and_etag(api):
    resp = api.request(
        "POST",
        "/api/{me}/tasks",
        json={
            "title": "  Pay rent ",
            "description": "by transfer",
            "due_date": "2026-12-01T09:00",
            "timezone": "Europe/Paris",
            "priority": "high",
            "tags": ["home", "money", "home"],
        },
    )
    assert resp.status_code == 201
    task = resp.json()
    assert task["title"] == "Pay rent"
    assert task["due_date"] == "2026-12-01T09:00:00+01:00"
    assert task["tags"] == ["home", "money"]
    assert task["version"] == 1 and task["completed"] is False
    assert resp.headers["ETag"] == '"1"'
    assert resp.headers["Location"] == f"/api/{api.user_id}/tasks/{task['id']}"
    assert api.request("GET", f"/api/{{me}}/tasks/{task['id']}").json() == task


def test_each_change_writes_exactly_one_event_with_the_snapshot(api, db_url):
    task = api.create_task(title="one")
    tid = task["id"]
    assert api.request("PUT", f"/api/{{me}}/tasks/{tid}", json={"title": "two", "priority": "low"}).status_code == 200
    assert api.request("PATCH", f"/api/{{me}}/tasks/{tid}/complete").status_code == 200
    assert api.request("PATCH", f"/api/{{me}}/tasks/{tid}/complete", json={"completed": False}).status_code == 200
    assert (
        api.request("PUT", f"/api/{{me}}/tasks/{tid}/due-date", json={"due_date": "2030-01-02T03:04:05Z"}).status_code
        == 200
    )
    assert api.request("DELETE", f"/api/{{me}}/tasks/{tid}").status_code == 204
    rows = outbox_rows(db_url)
    assert [r.event_type for r in rows] == [
        "task.created",
        "task.updated",
        "task.completed",
        "task.uncompleted",
        "task.updated",
        "task.deleted",
    ]
    updated = rows[1].payload
    assert updated["data"]["changes"] == {
        "title": {"old": "one", "new": "two"},
        "priority": {"old": "none", "new": "low"},
    }
    assert updated["data"]["title"] == "two" and updated["data"]["version"] == 2
    assert rows[4].payload["data"]["changes"]["due_date"] == {"old": None, "new": "2030-01-02T03:04:05+00:00"}
    assert rows[5].payload["data"]["deleted"] is True
    for row in rows:
        env = row.payload
        assert set(env) >= {
            "event_id",
            "event_type",
            "user_id",
            "aggregate_id",
            "timestamp",
            "correlation_id",
            "data",
            "version",
        }
        assert env["user_id"] == api.user_id and env["aggregate_id"] == tid
        assert env["timestamp"].endswith("Z")


def test_no_op_update_and_repeated_complete_write_no_event(api, db_url):
    task = api.create_task(title="same")
    api.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"title": "same"})
    api.request("PATCH", f"/api/{{me}}/tasks/{task['id']}/complete")
    api.request("PATCH", f"/api/{{me}}/tasks/{task['id']}/complete", json={"completed": True})
    assert [r.event_type for r in outbox_rows(db_url)] == ["task.created", "task.completed"]


def test_correlation_id_from_the_header_travels_with_the_event(api, db_url):
    resp = api.request("POST", "/api/{me}/tasks", json={"title": "x"}, headers={"X-Correlation-ID": "req-42"})
    assert resp.headers["X-Correlation-ID"] == "req-42"
    payload = outbox_rows(db_url)[0].payload
    assert payload["correlation_id"] == "req-42"
    assert payload["metadata"]["client_ip"] == "127.0.0.1"
    assert "python-requests" in payload["metadata"]["user_agent"]


def test_if_match_guards_against_stale_writes(api):
    tid = api.create_task(title="v1")["id"]
    ok = api.request("PUT", f"/api/{{me}}/tasks/{tid}", json={"title": "v2"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
    stale = api.request("PUT", f"/api/{{me}}/tasks/{tid}", json={"title": "v3"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "application/problem+json"
    assert api.request("DELETE", f"/api/{{me}}/tasks/{tid}", headers={"If-Match": '"1"'}).status_code == 412
    assert api.request("GET", f"/api/{{me}}/tasks/{tid}").json()["title"] == "v2"
    assert api.request("GET", f"/api/{{me}}/tasks/{tid}", headers={"If-None-Match": '"2"'}).status_code == 304
    assert api.request("DELETE", f"/api/{{me}}/tasks/{tid}", headers={"If-Match": "*"}).status_code == 204


def test_list_filters_and_cursor_pagination(api):
    ids = [
        api.create_task(
            title=f"task {i}", tags=["even"] if i % 2 == 0 else [], due_date=f"2030-01-{i + 1:02d}T00:00:00Z"
        )["id"]
        for i in range(7)
    ]
    api.request("PATCH", f"/api/{{me}}/tasks/{ids[0]}/complete")
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.request("GET", "/api/{me}/tasks", params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))

    def listing(**p):
        return [t["title"] for t in api.request("GET", "/api/{me}/tasks", params=p).json()["items"]]

    assert listing(completed="true") == ["task 0"]
    assert len(listing(completed="false")) == 6
    assert listing(tag="even") == ["task 6", "task 4", "task 2", "task 0"]
    assert listing(due_before="2030-01-03T00:00:00Z") == ["task 1", "task 0"]
    assert listing(due_after="2030-01-06T00:00:00Z") == ["task 6", "task 5"]
    assert listing(q="SK 3") == ["task 3"]
    assert listing(q="%") == []


def test_auth_register_login_and_duplicates(api):
    again = api.http.post(f"{api.base}/api/auth/register", json={"email": api.email, "password": "whatever123"})
    assert again.status_code == 409 and "token" not in again.json(), "a taken email is told to sign in, no token"
    login = api.http.post(
        f"{api.base}/api/auth/login", json={"email": api.email.upper(), "password": "correct horse battery"}
    )
    assert login.status_code == 200 and login.json()["user_id"] == api.user_id
    wrong = api.http.post(f"{api.base}/api/auth/login", json={"email": api.email, "password": "wrong password"})
    assert wrong.status_code == 401
    nobody = api.http.post(f"{api.base}/api/auth/login", json={"email": "no@one.example", "password": "wrong password"})
    assert nobody.status_code == 401


def test_probes_metrics_and_openapi_describe_every_route(api):
    assert api.request("GET", "/health", auth=False).json() == {"status": "ok"}
    ready = api.request("GET", "/ready", auth=False)
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True}
    metrics = api.request("GET", "/metrics", auth=False)
    assert "taskflow_http_requests_total" in metrics.text and "taskflow_outbox_pending" in metrics.text
    spec = api.request("GET", "/openapi.json", auth=False).json()
    assert spec["openapi"].startswith("3.")
    import re

    from functions.combined import create_app as combined
    from shared.settings import Settings

    app = combined(Settings(database_url="sqlite://", run_background_workers=False))
    documented = set(app.test_client().get("/openapi.json").json["paths"])
    assert set(spec["paths"]) <= documented
    for rule in app.url_map.iter_rules():
        if rule.endpoint in {
            "index",
            "frontend_static",
            "docs_asset",
            "dapr_subscribe",
            "deliver",
        } or rule.endpoint.endswith("-cron"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        assert path in documented, f"{path} is not in /openapi.json"
    app.extensions["taskflow"].close()


def test_a_task_without_a_timezone_takes_the_users_preferred_zone(api):
    naive = {"title": "standup", "due_date": "2030-01-07T09:00:00"}
    assert api.create_task(**naive)["timezone"] == "UTC", "no preference yet: UTC"
    from shared.persistence.models import Preferences
    from shared.services import preferences

    with api.rt.sessions.begin() as s:  # as PUT /preferences (the notifications function) stores it
        s.add(Preferences(user_id=api.user_id, timezone="Europe/Paris"))
    preferences.forget(api.rt.engine, api.user_id)  # what that PUT does in its own process (others: within 5 s)
    plain = api.create_task(**naive)
    assert plain["timezone"] == "Europe/Paris" and plain["due_date"] == "2030-01-07T09:00:00+01:00"
    series = api.create_task(**naive, recurrence_rule="FREQ=WEEKLY", reminders=[{"minutes_before": 15}])
    assert series["timezone"] == "Europe/Paris" and series["due_date"] == "2030-01-07T09:00:00+01:00"
    given = api.create_task(**naive, timezone="Asia/Tokyo")
    assert given["timezone"] == "Asia/Tokyo" and given["due_date"] == "2030-01-07T09:00:00+09:00", "a given zone wins"


def test_zone_names_that_are_not_iana_zones_are_refused(api):
    """`localtime` is the host's zone, `right/…` counts leap seconds, `posix…` are copies: none is a calendar's."""
    for name in ("localtime", "posixrules", "right/UTC", "right/Europe/Paris", "posix/Europe/Paris"):
        created = api.request("POST", "/api/{me}/tasks", json={"title": "t", "timezone": name})
        assert created.status_code == 422 and "timezone" in created.json()["errors"], (name, created.text)
        parsed = api.request("POST", "/api/{me}/parse", json={"text": "x at 9am", "timezone": name})
        assert parsed.status_code == 422 and "timezone" in parsed.json()["errors"], name
    for name in ("Europe/Paris", "UTC", "US/Eastern", "Asia/Calcutta", "Etc/GMT+5"):
        created = api.request("POST", "/api/{me}/tasks", json={"title": "t", "timezone": name})
        assert created.status_code == 201, (name, created.text)
    assert api.request("GET", "/api/{me}/tasks").json()["items"][0]["timezone"] == "Etc/GMT+5"


def test_a_title_with_a_line_break_or_control_character_is_refused_and_an_imported_one_is_one_line(api, db_url):
    """A CR/LF title made every reminder email for the task fail (`Subject` cannot hold a line break)."""
    for title in ("evil\r\nBcc: victim@example.com", "a\nb", "\x1b[31mred", "x\x00"):
        resp = api.request("POST", "/api/{me}/tasks", json={"title": title})
        assert resp.status_code == 422 and "title" in resp.json()["errors"], (title, resp.text)
    task = api.create_task(title="fine\ttabbed")
    renamed = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"title": "two\nlines"})
    assert renamed.status_code == 422
    assert rows(db_url, Task) == 1
    ics = calendar("BEGIN:VTODO", "UID:1", "SUMMARY:first\\nsecond\\Nthird", "END:VTODO")
    [planned] = plan_import(ics.encode(), "UTC", NOW).tasks
    assert planned.title == "first second third"
