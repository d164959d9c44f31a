"""All-day tasks through the API (the combined app: tasks and preferences): a date-only due date on
every write, `all_day` in every response and event, no shift when a zone changes, filters by the
person's day, reminders at the person's time of day, all-day series, and the feed and import."""

from __future__ import annotations

import datetime as dt

import jsonschema
import pytest
import sqlalchemy as sa

from functions.combined import create_app as combined_app
from functions.recurrence.sweep import spawn_due
from shared.domain.days import local_day, start_of_day
from shared.persistence.models import Outbox, Reminder, Task
from tests.conftest import with_
from tests.support.calendar import feed_url, fetch, import_ics

UTC = dt.UTC


@pytest.fixture
def app(settings, serve, make_client):
    """A signed-up client of the combined app (tasks and preferences), with its runtime as `.rt`."""
    server = serve(combined_app(with_(settings, run_background_workers=False)))
    client = make_client(server).signup()
    client.rt = server.app.extensions["taskflow"]
    client.serve_url = server.url
    return client


def prefs(app, **body):
    resp = app.request("PUT", "/api/{me}/preferences", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def task(app, task_id):
    resp = app.request("GET", f"/api/{{me}}/tasks/{task_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def events_of(app, task_id):
    with app.rt.sessions() as s:
        return [
            (row.event_type, row.payload["data"])
            for row in s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars().all()
            if row.payload["data"].get("id") == task_id
        ]


def pending_reminders(app, task_id):
    with app.rt.sessions() as s:
        return sorted(
            (r.remind_at, r.minutes_before)
            for r in s.scalars(sa.select(Reminder).where(Reminder.task_id == task_id, Reminder.notified.is_(False)))
        )


def test_a_date_alone_makes_an_all_day_task_shown_as_that_date_everywhere(app):
    made = app.create_task(title="Buy milk", due_date="2026-12-24", timezone="Europe/Berlin")
    assert made["all_day"] is True and made["due_date"] == "2026-12-24"
    assert task(app, made["id"]) == made
    listed = app.request("GET", "/api/{me}/tasks").json()["items"]
    assert [(t["due_date"], t["all_day"]) for t in listed] == [("2026-12-24", True)]
    [(kind, data)] = events_of(app, made["id"])
    assert kind == "task.created" and data["all_day"] is True and data["due_date"] == "2026-12-24"
    with app.rt.sessions() as s:  # stored at 00:00 UTC of the date: no zone ever moves it
        assert s.get(Task, made["id"]).due_date == dt.datetime(2026, 12, 24, tzinfo=UTC)
    timed = app.create_task(title="Standup", due_date="2026-12-24T09:30:00", timezone="Europe/Berlin")
    assert timed["all_day"] is False and timed["due_date"] == "2026-12-24T09:30:00+01:00"


def test_put_patch_and_due_date_take_a_date_alone_a_datetime_or_null(app):
    made = app.create_task(title="Call mum", due_date="2026-12-24T18:00:00", timezone="Europe/Berlin")
    tid = made["id"]
    put = app.request("PUT", f"/api/{{me}}/tasks/{tid}", json={"due_date": "2026-12-25"})
    assert put.status_code == 200, put.text
    assert (put.json()["due_date"], put.json()["all_day"]) == ("2026-12-25", True)
    back = app.request("PUT", f"/api/{{me}}/tasks/{tid}/due-date", json={"due_date": "2026-12-26T10:00:00"})
    assert (back.json()["due_date"], back.json()["all_day"]) == ("2026-12-26T10:00:00+01:00", False)
    day = app.request("PUT", f"/api/{{me}}/tasks/{tid}/due-date", json={"due_date": "2026-12-27"})
    assert (day.json()["due_date"], day.json()["all_day"]) == ("2026-12-27", True)
    patched = app.request(
        "PATCH",
        f"/api/{{me}}/tasks/{tid}",
        json={"base_version": day.json()["version"], "changes": {"due_date": "2026-12-31"}},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["due_date"], patched.json()["all_day"]) == ("2026-12-31", True)
    cleared = app.request("PUT", f"/api/{{me}}/tasks/{tid}/due-date", json={"due_date": None})
    assert (cleared.json()["due_date"], cleared.json()["all_day"]) == (None, False)
    back_to_day = app.request("PUT", f"/api/{{me}}/tasks/{tid}/due-date", json={"due_date": "2027-01-02"}).json()
    app.rt.deliver_pending()  # no background workers here: relay, and let the audit consumer read the stream
    replay = app.request("GET", f"/api/{{me}}/tasks/{tid}/replay")
    assert replay.status_code == 200 and replay.json() == back_to_day  # the history folds to what GET shows
    spec = app.request("GET", "/openapi.json", auth=False).json()
    task_schema = {**spec["components"]["schemas"]["TaskOut"], "components": spec["components"]}
    jsonschema.validate(back_to_day, task_schema)  # a date alone is one of the shapes the spec gives due_date
    kinds = [(k, d.get("changes", {}).get("due_date")) for k, d in events_of(app, tid)][:-1]
    assert kinds[1:] == [
        ("task.updated", {"old": "2026-12-24T18:00:00+01:00", "new": "2026-12-25"}),
        ("task.updated", {"old": "2026-12-25", "new": "2026-12-26T10:00:00+01:00"}),
        ("task.updated", {"old": "2026-12-26T10:00:00+01:00", "new": "2026-12-27"}),
        ("task.updated", {"old": "2026-12-27", "new": "2026-12-31"}),
        ("task.updated", {"old": "2026-12-31", "new": None}),
    ]


def test_the_same_instant_as_a_date_alone_is_a_change_of_the_due_date_a_merge_sees(app):
    made = app.create_task(title="Pack", due_date="2026-12-24T00:00:00Z", timezone="UTC")
    tid = made["id"]
    other = app.request(
        "PATCH", f"/api/{{me}}/tasks/{tid}", json={"base_version": 1, "changes": {"due_date": "2026-12-24"}}
    )
    assert other.status_code == 200 and other.json()["all_day"] is True and other.json()["version"] == 2
    # Someone still at version 1 sets another time: a conflict on due_date, nothing stored.
    mine = app.request(
        "PATCH", f"/api/{{me}}/tasks/{tid}", json={"base_version": 1, "changes": {"due_date": "2026-12-24T08:00:00Z"}}
    )
    assert mine.status_code == 409, mine.text
    [conflict] = mine.json()["conflicts"]
    assert conflict["field"] == "due_date" and conflict["theirs"] == "2026-12-24"
    assert task(app, tid)["all_day"] is True


@pytest.mark.parametrize("bad", ["2026-02-30", "2026-13-01", "0999-01-01", "2026-1-1", "24.12.2026", 20261224])
def test_a_bad_date_is_a_422_and_stores_nothing(app, bad):
    resp = app.request("POST", "/api/{me}/tasks", json={"title": "x", "due_date": bad})
    assert resp.status_code == 422, resp.text
    assert "due_date" in resp.text
    assert app.request("GET", "/api/{me}/tasks").json()["items"] == []


def test_a_zone_change_shifts_no_all_day_task(app):
    prefs(app, timezone="Europe/Berlin")
    made = app.create_task(title="Buy milk", due_date="2026-12-24")
    assert made["timezone"] == "Europe/Berlin"
    prefs(app, timezone="America/New_York")
    assert task(app, made["id"])["due_date"] == "2026-12-24"
    moved = app.request("PUT", f"/api/{{me}}/tasks/{made['id']}", json={"timezone": "Pacific/Auckland"})
    assert (moved.json()["due_date"], moved.json()["all_day"]) == ("2026-12-24", True)


def test_due_before_and_after_count_an_all_day_task_from_the_start_of_its_day_where_the_person_is(app):
    prefs(app, timezone="America/New_York")
    eve = app.create_task(title="eve", due_date="2026-12-24")
    day = app.create_task(title="day", due_date="2026-12-25")
    late = app.create_task(title="late", due_date="2026-12-24T23:30:00")  # 04:30 UTC on the 25th

    def found(**query):
        return {t["title"] for t in app.request("GET", "/api/{me}/tasks", params=query).json()["items"]}

    # Today in New York is 24 December: from its start to the next day's start.
    today = {"due_after": "2026-12-24T00:00:00-05:00", "due_before": "2026-12-25T00:00:00-05:00"}
    assert found(**today) == {eve["title"], late["title"]}
    assert found(due_after="2026-12-25T00:00:00-05:00") == {day["title"]}
    # An all-day task counts from the start of its day: due before any moment of that day, not before it.
    assert found(due_before="2026-12-25T10:00:00-05:00") == {eve["title"], late["title"], day["title"]}
    assert found(due_before="2026-12-24T00:01:00-05:00") == {eve["title"]}
    assert found(due_before="2026-12-24T00:00:00-05:00") == set()


def test_all_day_reminders_ring_at_the_persons_time_of_day_and_follow_a_zone_or_time_change(app):
    assert prefs(app, timezone="Europe/Berlin")["all_day_reminder_time"] == "09:00"
    made = app.create_task(
        title="Buy milk",
        due_date="2054-12-24",
        reminders=[{"minutes_before": 0}, {"minutes_before": 1440}, {"remind_at": "2054-12-20T12:00:00Z"}],
    )
    berlin_nine = dt.datetime(2054, 12, 24, 8, tzinfo=UTC)
    absolute = (dt.datetime(2054, 12, 20, 12, tzinfo=UTC), None)
    assert pending_reminders(app, made["id"]) == sorted(
        [(berlin_nine, 0), (berlin_nine - dt.timedelta(days=1), 1440), absolute]
    )
    pending = app.request("GET", "/api/{me}/reminders/pending").json()["items"]
    assert {(p["due_date"], p["all_day"]) for p in pending} == {("2054-12-24", True)}
    prefs(app, timezone="America/New_York")  # 09:00 on the 24th in New York now
    ny_nine = dt.datetime(2054, 12, 24, 14, tzinfo=UTC)
    assert pending_reminders(app, made["id"]) == sorted(
        [(ny_nine, 0), (ny_nine - dt.timedelta(days=1), 1440), absolute]
    )
    assert prefs(app, all_day_reminder_time="07:30")["all_day_reminder_time"] == "07:30"
    ny_half_seven = dt.datetime(2054, 12, 24, 12, 30, tzinfo=UTC)
    assert pending_reminders(app, made["id"]) == sorted(
        [(ny_half_seven, 0), (ny_half_seven - dt.timedelta(days=1), 1440), absolute]
    )
    # A reminder added now counts from the same time of day; the due date is still the 24th.
    added = app.request("POST", f"/api/{{me}}/tasks/{made['id']}/reminders", json={"minutes_before": 30})
    assert added.status_code == 201, added.text
    assert dt.datetime.fromisoformat(added.json()["remind_at"]) == ny_half_seven - dt.timedelta(minutes=30)
    assert task(app, made["id"])["due_date"] == "2054-12-24"
    assert app.request("PUT", "/api/{me}/preferences", json={"all_day_reminder_time": "25:00"}).status_code == 422


def test_an_all_day_series_spawns_all_day_instances_at_the_start_of_each_day_in_its_zone(app):
    made = app.create_task(
        title="Water the plants",
        due_date="2054-12-01",
        timezone="America/New_York",
        recurrence_rule="FREQ=DAILY",
    )
    assert made["all_day"] is True and made["due_date"] == "2054-12-01"
    midnight_ny = dt.datetime(2054, 12, 1, 5, tzinfo=UTC)
    assert dt.datetime.fromisoformat(made["next_occurrence"]) == midnight_ny
    assert spawn_due(app.rt, now=midnight_ny - dt.timedelta(minutes=1)) == 0
    assert spawn_due(app.rt, now=midnight_ny) == 1
    assert spawn_due(app.rt, now=midnight_ny + dt.timedelta(days=1)) == 1
    with app.rt.sessions() as s:
        spawned = s.scalars(sa.select(Outbox).where(Outbox.event_type == "recurring.spawned").order_by(Outbox.id)).all()
        data = [row.payload["data"] for row in spawned]
    assert [(d["due_date"], d["all_day"], d["series_id"]) for d in data] == [
        ("2054-12-01", True, made["id"]),
        ("2054-12-02", True, made["id"]),
    ]


def test_an_all_day_series_rings_at_the_persons_time_of_day(app):
    prefs(app, timezone="Europe/Berlin")
    made = app.create_task(
        title="Stretch",
        due_date="2054-12-01",
        timezone="Europe/Berlin",
        recurrence_rule="FREQ=DAILY",
        reminders=[{"minutes_before": 0}],
    )
    assert pending_reminders(app, made["id"]) == [(dt.datetime(2054, 12, 1, 8, tzinfo=UTC), 0)]
    prefs(app, timezone="Asia/Tokyo")  # 09:00 in Tokyo on the 1st
    assert pending_reminders(app, made["id"]) == [(dt.datetime(2054, 12, 1, 0, tzinfo=UTC), 0)]


def test_the_feed_writes_dates_for_all_day_tasks_and_series(app):
    app.create_task(title="Buy milk", due_date="2054-12-24", timezone="Europe/Berlin")
    app.create_task(title="Bins", due_date="2054-12-01", timezone="Europe/Berlin", recurrence_rule="FREQ=WEEKLY")
    url = feed_url(app)
    todos = {str(c["SUMMARY"]): c for c in fetch(app, url, type="todo").walk("VTODO")}
    assert todos["Buy milk"].decoded("DUE") == dt.date(2054, 12, 24) and "DTSTART" not in todos["Buy milk"]
    assert todos["Bins"].decoded("DTSTART") == dt.date(2054, 12, 1)
    raw = app.http.get(url, params={"type": "todo"}, timeout=30).text
    assert "DUE;VALUE=DATE:20541224" in raw
    events = {str(c["SUMMARY"]): c for c in fetch(app, url).walk("VEVENT")}
    assert events["Buy milk"].decoded("DTSTART") == dt.date(2054, 12, 24)
    assert events["Buy milk"].decoded("DTEND") == dt.date(2054, 12, 25)
    assert events["Bins"].decoded("DTSTART") == dt.date(2054, 12, 1) and "RRULE" in events["Bins"]
    assert "DTSTART;VALUE=DATE:20541201" in app.http.get(url, timeout=30).text


def test_round_trip_api_feed_import_gives_the_same_all_day_tasks(app, make_client):
    prefs(app, timezone="Europe/Berlin")
    app.create_task(title="Buy milk", due_date="2054-12-24", reminders=[{"minutes_before": 60}])
    app.create_task(title="Bins", due_date="2054-12-01", recurrence_rule="FREQ=WEEKLY;BYDAY=TU")
    app.create_task(title="Standup", due_date="2054-12-02T09:30:00")
    for kind in ("todo", "event"):
        exported = app.http.get(feed_url(app), params={"type": kind}, timeout=30).content
        fresh = make_client(type("Same", (), {"url": app.base})).signup()
        # The second person lives in New York: the dates stay the dates.
        assert fresh.request("PUT", "/api/{me}/preferences", json={"timezone": "America/New_York"}).status_code == 200
        resp = import_ics(fresh, exported)
        assert resp.status_code == 201, resp.text
        assert resp.json()["unsupported"] == [], kind

        def shown(client):
            items = client.request("GET", "/api/{me}/tasks").json()["items"]
            return sorted(
                (t["title"], t["due_date"], t["all_day"], t["recurrence_rule"]) for t in items if t["parent_id"] is None
            )

        assert shown(fresh) == shown(app), kind
        with app.rt.sessions() as s:
            milk = s.scalars(sa.select(Task).where(Task.user_id == fresh.user_id, Task.title == "Buy milk")).one()
            minutes = [r.minutes_before for r in milk.reminders]
        assert milk.all_day and minutes == [60], kind


def test_making_an_all_day_task_recur_makes_an_all_day_series(app):
    made = app.create_task(title="Bins", due_date="2054-12-01", timezone="Europe/Berlin")
    resp = app.request("POST", f"/api/{{me}}/tasks/{made['id']}/recurrence", json={"recurrence_rule": "FREQ=WEEKLY"})
    assert resp.status_code in (200, 201), resp.text
    assert resp.json()["next_occurrence"] == "2054-12-01T00:00:00+01:00"  # the start of the day in its zone
    assert spawn_due(app.rt, now=dt.datetime(2054, 11, 30, 23, tzinfo=UTC)) == 1
    with app.rt.sessions() as s:
        instance = s.scalars(sa.select(Task).where(Task.parent_id == made["id"])).one()
        assert instance.all_day and instance.due_date == dt.datetime(2054, 12, 1, tzinfo=UTC)


IMPORTED = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example//Example//EN\r
BEGIN:VEVENT\r
UID:birthday@example.com\r
SUMMARY:Birthday\r
DTSTART;VALUE=DATE:20550310\r
DTEND;VALUE=DATE:20550311\r
RRULE:FREQ=YEARLY\r
EXDATE;VALUE=DATE:20560310\r
END:VEVENT\r
BEGIN:VTODO\r
UID:milk@example.com\r
SUMMARY:Milk\r
DUE;VALUE=DATE:20550105\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
TRIGGER:PT8H\r
END:VALARM\r
END:VTODO\r
END:VCALENDAR\r
"""


def test_an_imported_date_is_an_all_day_task_or_series_not_midnight(app):
    prefs(app, timezone="America/New_York")
    resp = import_ics(app, IMPORTED)
    assert resp.status_code == 201, resp.text
    assert resp.json()["unsupported"] == []  # an all-day event's DTEND (the next day) says nothing new
    assert resp.json()["created"] == {"tasks": 1, "series": 1, "skipped": 1, "reminders": 1}
    items = {t["title"]: t for t in app.request("GET", "/api/{me}/tasks").json()["items"]}
    assert (items["Milk"]["due_date"], items["Milk"]["all_day"]) == ("2055-01-05", True)
    birthday = items["Birthday"]
    assert (birthday["due_date"], birthday["all_day"], birthday["recurrence_rule"]) == (
        "2055-03-10",
        True,
        "FREQ=YEARLY",
    )
    assert birthday["next_occurrence"] == "2055-03-10T00:00:00-05:00"
    # TRIGGER:PT8H after the start of the day, with the person's 09:00: one hour before it.
    assert pending_reminders(app, items["Milk"]["id"]) == [(dt.datetime(2055, 1, 5, 13, tzinfo=UTC), 60)]


def test_first_preference_saves_at_once_all_succeed_and_one_row_holds_the_last(app):
    import concurrent.futures
    import threading

    from shared.persistence.models import Preferences

    start = threading.Barrier(4)

    def save(tz):
        start.wait()
        return app.request("PUT", "/api/{me}/preferences", json={"timezone": tz}).status_code

    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/Paris"]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(save, zones)) == [200] * 4  # the row made once, changed in turn (never a 500)
    with app.rt.sessions() as s:
        assert s.scalar(sa.select(Preferences.timezone).where(Preferences.user_id == app.user_id)) in zones


def test_an_all_day_series_starting_today_has_todays_task(app):
    now = dt.datetime.now(UTC)
    today = local_day(now, "Asia/Tokyo")
    made = app.create_task(
        title="Stretch", due_date=today.isoformat(), timezone="Asia/Tokyo", recurrence_rule="FREQ=DAILY"
    )
    assert dt.datetime.fromisoformat(made["next_occurrence"]) == start_of_day(today, "Asia/Tokyo")
    assert spawn_due(app.rt, now=now) == 1
    items = app.request("GET", "/api/{me}/tasks").json()["items"]
    [instance] = [t for t in items if t["parent_id"] == made["id"]]
    assert (instance["due_date"], instance["all_day"]) == (today.isoformat(), True)
    series = task(app, made["id"])
    assert dt.datetime.fromisoformat(series["next_occurrence"]) == start_of_day(
        today + dt.timedelta(days=1), "Asia/Tokyo"
    )
