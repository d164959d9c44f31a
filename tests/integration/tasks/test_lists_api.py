"""Lists (projects) and quick-add parsing over real HTTP on PostgreSQL: CRUD, events, isolation, throttling."""

from __future__ import annotations

import sqlalchemy as sa

from shared.persistence.db import make_engine
from shared.persistence.models import Outbox, Reminder, Task, TaskList
from tests.support.live import Client
from tests.support.rows import rows


def events_of(db_url: str) -> list[tuple[str, dict]]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Outbox.event_type, Outbox.payload).order_by(Outbox.id)).all()
    engine.dispose()
    return [(r.event_type, r.payload) for r in rows]


def test_list_crud_with_counts_and_events(api, db_url):
    resp = api.request("POST", "/api/{me}/lists", json={"name": " Home ", "color": "#3B82F6"})
    assert resp.status_code == 201, resp.text
    home = resp.json()
    assert home["name"] == "Home" and home["color"] == "#3b82f6" and home["archived"] is False
    work = api.request("POST", "/api/{me}/lists", json={"name": "Work"}).json()
    assert work["position"] > home["position"]
    api.create_task(title="in home", list_id=home["id"])
    api.create_task(title="inbox")
    items = api.request("GET", "/api/{me}/lists").json()["items"]
    assert [(i["name"], i["task_count"]) for i in items] == [("Home", 1), ("Work", 0)]
    in_home = api.request("GET", f"/api/{{me}}/tasks?list_id={home['id']}").json()["items"]
    assert [t["title"] for t in in_home] == ["in home"] and in_home[0]["list_id"] == home["id"]
    inbox = api.request("GET", "/api/{me}/tasks?list_id=none").json()["items"]
    assert [t["title"] for t in inbox] == ["inbox"]
    renamed = api.request("PUT", f"/api/{{me}}/lists/{home['id']}", json={"name": "House", "archived": True})
    assert renamed.status_code == 200 and renamed.json()["name"] == "House" and renamed.json()["archived"] is True
    types = [t for t, _ in events_of(db_url)]
    assert types == ["list.created", "list.created", "task.created", "task.created", "list.updated"]
    updated = events_of(db_url)[-1][1]["data"]
    assert updated["changes"] == {"name": {"old": "Home", "new": "House"}, "archived": {"old": False, "new": True}}


def test_moving_a_task_between_lists_and_out(api, db_url):
    a = api.request("POST", "/api/{me}/lists", json={"name": "A"}).json()
    task = api.create_task(title="t")
    moved = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"list_id": a["id"], "position": 2.5})
    assert moved.status_code == 200 and moved.json()["list_id"] == a["id"] and moved.json()["position"] == 2.5
    out = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"list_id": None})
    assert out.json()["list_id"] is None
    changes = [p["data"].get("changes") for t, p in events_of(db_url) if t == "task.updated"]
    assert changes[0]["list_id"] == {"old": None, "new": a["id"]}


def test_deleting_a_list_deletes_its_tasks_each_with_an_event(api, db_url):
    doomed = api.request("POST", "/api/{me}/lists", json={"name": "Doomed"}).json()
    t1 = api.create_task(title="one", list_id=doomed["id"])
    t2 = api.create_task(title="two", list_id=doomed["id"])
    keep = api.create_task(title="keep")
    assert api.request("DELETE", f"/api/{{me}}/lists/{doomed['id']}").status_code == 204
    assert api.request("GET", f"/api/{{me}}/lists/{doomed['id']}").status_code == 404
    assert api.request("GET", f"/api/{{me}}/tasks/{t1['id']}").status_code == 404
    assert api.request("GET", f"/api/{{me}}/tasks/{keep['id']}").status_code == 200
    tail = [(t, p["aggregate_id"]) for t, p in events_of(db_url)][-3:]
    assert sorted(tail[:2]) == sorted([("task.deleted", t1["id"]), ("task.deleted", t2["id"])])
    assert tail[2] == ("list.deleted", doomed["id"])


def test_another_users_list_is_never_found_nor_linked(api, serve, db_url):
    mine = api.request("POST", "/api/{me}/lists", json={"name": "Mine"}).json()
    other = Client(api.base).signup()
    theirs = other.request("POST", "/api/{me}/lists", json={"name": "Theirs"}).json()
    for method, body in (("GET", None), ("PUT", {"name": "x"}), ("DELETE", None)):
        resp = api.request(method, f"/api/{{me}}/lists/{theirs['id']}", json=body)
        assert resp.status_code == 404, (method, resp.text)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    created = api.request("POST", "/api/{me}/tasks", json={"title": "sneak", "list_id": theirs["id"]})
    assert created.status_code == 422 and created.json()["errors"] == {"list_id": "no such list"}
    task = api.create_task(title="mine", list_id=mine["id"])
    moved = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}", json={"list_id": theirs["id"]})
    assert moved.status_code == 422
    assert api.request("GET", f"/api/{other.user_id}/lists", auth=True).status_code == 403
    assert [i["name"] for i in other.request("GET", "/api/{me}/lists").json()["items"]] == ["Theirs"]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Task).where(Task.list_id == theirs["id"])) == 0
        assert conn.scalar(sa.select(TaskList.name).where(TaskList.id == theirs["id"])) == "Theirs"
    engine.dispose()


def test_bad_list_bodies_are_422_with_field_errors(api):
    cases = [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "color": "red"}, "color"),
        ({"name": "ok", "position": "first"}, "position"),
    ]
    for body, field in cases:
        resp = api.request("POST", "/api/{me}/lists", json=body)
        assert resp.status_code == 422 and field in resp.json()["errors"], (body, resp.text)
    assert api.request("POST", "/api/{me}/lists", json={"name": "a", "owner": "x"}).status_code in (400, 422)
    assert api.request("GET", "/api/{me}/tasks?list_id=%25%25").status_code == 422
    assert api.request("GET", "/api/{me}/lists").json()["items"] == []


def test_parse_reads_the_line_in_the_users_zone_with_their_lists(api):
    home = api.request("POST", "/api/{me}/lists", json={"name": "Home"}).json()
    resp = api.request(
        "POST",
        "/api/{me}/parse",
        json={
            "text": "Pay rent every month on the 1st at 9am #home !high remind 1 day before",
            "timezone": "Europe/Paris",
            "now": "2026-11-29T15:00:00Z",
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["title"] == "Pay rent" and body["list_id"] == home["id"] and body["priority"] == "high"
    assert body["recurrence_rule"] == "FREQ=MONTHLY;BYMONTHDAY=1"
    assert body["due_date"] == "2026-12-01T09:00:00+01:00"
    assert body["occurrences"][:2] == ["2026-12-01T09:00:00+01:00", "2027-01-01T09:00:00+01:00"]
    assert body["reminders"] == [{"minutes_before": 1440}] and body["questions"] == []
    # what it returns can be posted back as the task
    fields = {k: body[k] for k in ("title", "due_date", "timezone", "priority", "tags", "list_id", "recurrence_rule")}
    task = api.create_task(**fields, reminders=body["reminders"], repeat_from=body["repeat_from"])
    assert task["recurrence_rule"] == "FREQ=MONTHLY;BYMONTHDAY=1" and task["list_id"] == home["id"]
    ambiguous = api.request("POST", "/api/{me}/parse", json={"text": "dentist at 6"}).json()
    assert ambiguous["questions"][0]["options"] == ["6am", "6pm"]


def test_parse_refuses_bad_input_and_is_throttled(settings, serve):
    from functions.tasks import create_app
    from tests.conftest import with_

    server = serve(create_app(with_(settings, run_background_workers=False, parse_rate_limit="5 per minute")))
    client = Client(server.url).signup()
    bad = [({}, "text"), ({"text": "x" * 501}, "text"), ({"text": "a", "timezone": "Mars/Base"}, "timezone")]
    for body, field in [*bad, ({"text": "a", "now": "yesterday"}, "now")]:
        resp = client.request("POST", "/api/{me}/parse", json=body)
        assert resp.status_code == 422 and field in resp.json()["errors"], resp.text
    assert client.request("POST", "/api/{me}/parse", json={"text": "a"}).status_code == 200
    resp = client.request("POST", "/api/{me}/parse", json={"text": "a"})
    assert resp.status_code == 429 and "Retry-After" in resp.headers
    assert client.request("POST", "/api/{me}/parse", json={"text": "a"}, auth=False).status_code in (401, 429)


def test_a_spawned_instance_stays_in_its_series_list(api, db_url):
    from functions.recurrence import sweep

    a = api.request("POST", "/api/{me}/lists", json={"name": "Chores"}).json()
    body = {"title": "Water", "due_date": "2030-01-01T09:00", "recurrence_rule": "FREQ=DAILY", "list_id": a["id"]}
    series = api.create_task(**body)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.update(Task).where(Task.id == series["id"]).values(next_occurrence=sa.func.now()))
    engine.dispose()
    sweep(api.rt)
    spawned = [p["data"] for t, p in events_of(db_url) if t == "recurring.spawned"]
    assert len(spawned) == 1 and spawned[0]["list_id"] == a["id"] and spawned[0]["parent_id"] == series["id"]


def test_an_archived_list_takes_no_new_tasks_but_its_tasks_stay_editable(api, db_url):
    shelf = api.request("POST", "/api/{me}/lists", json={"name": "Shelf"}).json()
    kept = api.create_task(title="kept", list_id=shelf["id"])
    loose = api.create_task(title="loose")
    api.request("PUT", f"/api/{{me}}/lists/{shelf['id']}", json={"archived": True}).raise_for_status()
    before = len(events_of(db_url))
    created = api.request("POST", "/api/{me}/tasks", json={"title": "new", "list_id": shelf["id"]})
    assert created.status_code == 422 and created.json()["errors"] == {"list_id": "is archived"}
    moved = api.request("PUT", f"/api/{{me}}/tasks/{loose['id']}", json={"list_id": shelf["id"]})
    assert moved.status_code == 422 and moved.json()["errors"] == {"list_id": "is archived"}
    assert len(events_of(db_url)) == before, "nothing stored"
    edited = api.request("PUT", f"/api/{{me}}/tasks/{kept['id']}", json={"title": "kept!", "list_id": shelf["id"]})
    assert edited.status_code == 200 and edited.json()["title"] == "kept!", "the whole form sent back is fine"
    parsed = api.request("POST", "/api/{me}/parse", json={"text": "later #Shelf"}).json()
    assert "list_id" in parsed and parsed["list_id"] is None, "quick add does not offer an archived list"
    assert parsed["tags"] == ["Shelf"], "#name that is no open list is a tag"
    api.request("PUT", f"/api/{{me}}/lists/{shelf['id']}", json={"archived": False}).raise_for_status()
    assert api.request("POST", "/api/{me}/tasks", json={"title": "new", "list_id": shelf["id"]}).status_code == 201


def test_parse_refuses_a_reference_time_at_the_calendars_edge_with_422_not_500(api):
    for now in ("9999-12-31T23:00:00Z", "1900-01-01T00:00:00Z"):
        resp = api.request(
            "POST", "/api/{me}/parse", json={"text": "call mom tomorrow", "now": now, "timezone": "Pacific/Kiritimati"}
        )
        assert resp.status_code == 422, resp.text
        assert resp.headers["Content-Type"] == "application/problem+json" and "now" in resp.json()["errors"]
    ok = api.request("POST", "/api/{me}/parse", json={"text": "call mom tomorrow 6pm", "now": "9998-06-01T10:00:00Z"})
    assert ok.status_code == 200 and ok.json()["due_date"] == "9998-06-02T18:00:00+00:00"


def test_list_changes_honour_if_match_like_tasks(api, db_url):
    created = api.request("POST", "/api/{me}/lists", json={"name": "Home"})
    etag, list_id = created.headers["ETag"], created.json()["id"]
    path = f"/api/{{me}}/lists/{list_id}"
    renamed = api.request("PUT", path, json={"name": "House"}, headers={"If-Match": etag})
    assert renamed.status_code == 200 and renamed.headers["ETag"] != etag
    stale = api.request("PUT", path, json={"name": "Flat"}, headers={"If-Match": etag})
    assert stale.status_code == 412, stale.text
    assert stale.headers["ETag"] == renamed.headers["ETag"]
    assert api.request("GET", path).json()["name"] == "House"
    assert api.request("DELETE", path, headers={"If-Match": etag}).status_code == 412
    assert api.request("GET", path).status_code == 200
    assert api.request("DELETE", path, headers={"If-Match": renamed.headers["ETag"]}).status_code == 204
    assert rows(db_url, TaskList) == 0


def test_deleting_a_list_removes_its_tasks_and_their_reminders_in_one_statement_with_each_event(api, db_url):
    doomed = api.request("POST", "/api/{me}/lists", json={"name": "Doomed"}).json()
    due = {"due_date": "2055-01-01T09:00:00Z", "reminders": [{"minutes_before": 5}]}
    ids = {api.create_task(title=f"t{i}", list_id=doomed["id"], **due)["id"] for i in range(5)}
    kept = api.create_task(title="inbox", **due)
    assert api.request("DELETE", f"/api/{{me}}/lists/{doomed['id']}").status_code == 204
    engine = make_engine(db_url)
    with engine.connect() as conn:
        left = set(conn.scalars(sa.select(Task.id)))
        reminders = set(conn.scalars(sa.select(Reminder.task_id)))
        deleted = [
            (t, p["aggregate_id"])
            for t, p in conn.execute(sa.select(Outbox.event_type, Outbox.payload).order_by(Outbox.id))
            if t in ("task.deleted", "list.deleted")
        ]
    engine.dispose()
    assert left == reminders == {kept["id"]}
    assert {a for t, a in deleted if t == "task.deleted"} == ids and deleted[-1] == ("list.deleted", doomed["id"])


def test_parse_reads_one_line_and_a_date_alone_as_all_day(api):
    several = api.request("POST", "/api/{me}/parse", json={"text": "Buy bread\nCall the plumber"})
    assert several.status_code == 422 and "one line" in several.json()["errors"]["text"], several.text
    body = {"timezone": "Europe/Berlin", "now": "2026-12-02T10:00:00Z"}
    milk = api.request("POST", "/api/{me}/parse", json={"text": "Buy milk today", **body}).json()
    assert (milk["title"], milk["due_date"], milk["all_day"]) == ("Buy milk", "2026-12-02", True)
    laundry = api.request("POST", "/api/{me}/parse", json={"text": "Laundry sat 10am", **body}).json()
    assert (laundry["due_date"], laundry["all_day"]) == ("2026-12-05T10:00:00+01:00", False)
    impossible = api.request("POST", "/api/{me}/parse", json={"text": "report due 32/12", **body}).json()
    assert impossible["due_date"] is None and impossible["chips"] == []
    assert impossible["questions"][0]["field"] == "due_date"
