"""Skipping one occurrence of a series: TaskFlow, its API and every calendar agree it is gone.

Dates are in 2055 (see tests/support/calendar.py), so every occurrence stays in the future.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from functions.recurrence.sweep import spawn_due
from shared.persistence.models import Outbox, SkippedOccurrence, Task
from tests.support.calendar import (
    START,
    YEAR_LATER,
    api_server,
    expanded,
    feed_url,
    fetch,
    make_series,
)

UTC = dt.UTC


def day(n: int) -> dt.datetime:
    """09:00 in Paris on 2055-01-n (winter: UTC+1)."""
    return dt.datetime(2055, 1, n, 8, tzinfo=UTC)


def spawn(api, series_id: str, occurrence: dt.datetime) -> int:
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id == series_id).values(next_occurrence=occurrence))
    return spawn_due(api.rt, now=occurrence)


def series_row(api, series_id: str) -> dict:
    items = api.request("GET", "/api/{me}/tasks/recurring").json()["items"]
    return next(i for i in items if i["id"] == series_id)


def events_of(api, aggregate_id: str) -> list[tuple[str, dict]]:
    with api.rt.sessions() as s:
        rows = s.execute(sa.select(Outbox.event_type, Outbox.payload).order_by(Outbox.id)).all()
    return [(t, p) for t, p in rows if p["aggregate_id"] == aggregate_id]


def test_a_deleted_or_skipped_occurrence_never_respawns_and_leaves_every_calendar(api):
    series = make_series(api, "FREQ=DAILY;COUNT=6", "2055-01-01T09:00:00", "Europe/Paris")
    sid = series["id"]
    assert spawn(api, sid, day(2)) == 1
    with api.rt.sessions() as s:
        instance = s.scalars(sa.select(Task.id).where(Task.parent_id == sid)).one()
    # The web app's "skip this one" deletes the instance: the occurrence is remembered.
    assert api.request("DELETE", f"/api/{{me}}/tasks/{instance}").status_code == 204
    # An occurrence not spawned yet, given by its wall-clock time; then the next one (no body).
    ahead = api.request("POST", f"/api/{{me}}/tasks/{sid}/skip", json={"occurrence_at": "2055-01-04T09:00:00"})
    assert ahead.status_code == 200, ahead.text
    assert ahead.json()["deleted_instance_id"] is None
    assert dt.datetime.fromisoformat(ahead.json()["occurrence_at"]) == day(4)
    assert dt.datetime.fromisoformat(series_row(api, sid)["next_occurrence"]) == day(3)
    before = len(events_of(api, sid))
    nxt = api.request("POST", f"/api/{{me}}/tasks/{sid}/skip")
    assert nxt.status_code == 200, nxt.text
    assert dt.datetime.fromisoformat(nxt.json()["occurrence_at"]) == day(3)
    # The next occurrence passes over both skips, in the answer and in the list of series.
    assert dt.datetime.fromisoformat(nxt.json()["next_occurrence"]) == day(5)
    assert dt.datetime.fromisoformat(series_row(api, sid)["next_occurrence"]) == day(5)
    # Sockets and audit see it: task.deleted for the instance, task.updated on the series.
    assert [t for t, _ in events_of(api, instance)][-1] == "task.deleted"
    updates = events_of(api, sid)[before:]
    assert [t for t, _ in updates] == ["task.updated"]
    data = updates[0][1]["data"]
    assert dt.datetime.fromisoformat(data["skipped_occurrence"]) == day(3)
    assert dt.datetime.fromisoformat(data["changes"]["next_occurrence"]["new"]) == day(5)
    # Skipping again changes nothing and emits nothing.
    again = api.request("POST", f"/api/{{me}}/tasks/{sid}/skip", json={"occurrence_at": "2055-01-03T09:00:00+01:00"})
    assert again.status_code == 200 and len(events_of(api, sid)) == before + 1
    # Never respawned, whatever the sweep is asked: nothing spawns, the series moves past the skips.
    for occurrence in (day(2), day(3), day(4)):
        assert spawn(api, sid, occurrence) == 0
        assert dt.datetime.fromisoformat(series_row(api, sid)["next_occurrence"]) == day(5)
    with api.rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Task).where(Task.parent_id == sid)) == 0
    # Both feeds leave the skipped occurrences out (EXDATE in the VEVENT and in the VTODO).
    url = feed_url(api)
    shown = [day(1), day(5), day(6)]
    assert expanded(fetch(api, url), START, YEAR_LATER)[f"{sid}@taskflow"] == shown
    (todo,) = [t for t in fetch(api, url, type="todo").walk("VTODO") if str(t["UID"]) == f"{sid}@taskflow"]
    exdates = todo["EXDATE"] if isinstance(todo["EXDATE"], list) else [todo["EXDATE"]]
    assert sorted(d.dt.astimezone(UTC) for e in exdates for d in e.dts) == [day(2), day(3), day(4)]
    # Changing the rule keeps the skips: its next occurrence is not a skipped one.
    resp = api.request(
        "POST",
        f"/api/{{me}}/tasks/{sid}/recurrence",
        json={"recurrence_rule": "FREQ=DAILY;COUNT=4", "dtstart": "2055-01-02T09:00:00"},
    )
    assert resp.status_code == 200, resp.text
    assert dt.datetime.fromisoformat(resp.json()["next_occurrence"]) == day(5)


def test_skip_refuses_what_it_cannot_skip_and_other_users_tasks(api, serve, make_client):
    series = make_series(api, "FREQ=WEEKLY;BYDAY=MO", "2055-01-04T09:00:00", "Europe/Paris")
    sid = series["id"]
    plain = api.create_task(title="plain", due_date="2055-01-03T09:00:00Z")
    assert spawn(api, sid, dt.datetime(2055, 1, 11, 8, tzinfo=UTC)) == 1
    other = make_client(api_server(api, serve)).signup()
    theirs = make_series(other, "FREQ=DAILY", "2055-01-01T09:00:00", "Europe/Paris")
    with api.rt.sessions() as s:
        instance = s.scalars(sa.select(Task.id).where(Task.parent_id == sid)).one()

    def skip(client, task_id: str, **body):
        return client.request("POST", f"/api/{{me}}/tasks/{task_id}/skip", json=body or None)

    # Another user's series or instance: 404, as if it did not exist; another user's id: 403.
    assert skip(other, sid).status_code == 404
    assert skip(other, instance).status_code == 404
    assert api.request("POST", f"/api/{other.user_id}/tasks/{theirs['id']}/skip").status_code == 403
    cases = [
        (sid, {"occurrence_at": "2055-01-05T09:00:00"}, "occurrence_at"),  # a Tuesday: not in the rule
        (sid, {"occurrence_at": "not a time"}, "occurrence_at"),
        (sid, {"occurrence_at": "2055-01-11T09:00:00", "extra": 1}, "extra"),
        (instance, {"occurrence_at": "2055-01-18T09:00:00"}, "occurrence_at"),  # not this instance's
        (plain["id"], {}, "task"),
    ]
    for task_id, body, field in cases:
        resp = skip(api, task_id, **body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert field in resp.json()["errors"], resp.json()
    assert (
        skip(api, sid, occurrence_at="2055-01-11T09:00:00")
        .headers.get("Content-Type", "")
        .startswith("application/json")
    )
    with api.rt.sessions() as s:
        stored = s.scalars(sa.select(SkippedOccurrence.occurrence_at)).all()
        assert stored == [dt.datetime(2055, 1, 11, 8, tzinfo=UTC)]  # only the valid skip; it deleted the instance
        assert s.get(Task, instance) is None
    # Out-of-range or far-off times: 422, never a 500.
    for far in ("9999-12-31T23:59:59", "0001-01-01T00:00:00", "2055-01-11T09:00:00+14:00"):
        resp = skip(api, sid, occurrence_at=far)
        assert resp.status_code == 422, (far, resp.text)
    # Stale If-Match: 412, nothing stored.
    stale = api.request("POST", f"/api/{{me}}/tasks/{sid}/skip", headers={"If-Match": '"999"'})
    assert stale.status_code == 412
    with api.rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(SkippedOccurrence)) == 1


def test_a_due_date_in_a_dst_gap_keeps_its_wall_clock_time_when_made_recurring(api):
    """02:30 on 14 March 2055 does not exist in New York; the series made from it still runs at 02:30."""
    gap_utc = dt.datetime(2055, 3, 14, 7, 30, tzinfo=UTC)  # RFC 5545 §3.3.5: the offset before the gap
    day_after = dt.datetime(2055, 3, 15, 6, 30, tzinfo=UTC)  # 02:30 EDT
    plain = api.create_task(title="plain", due_date="2055-03-14T02:30:00", timezone="America/New_York")
    series = make_series(api, "FREQ=WEEKLY", "2055-03-14T02:30:00", "America/New_York")
    for task in (plain, series):
        resp = api.request(
            "POST", f"/api/{{me}}/tasks/{task['id']}/recurrence", json={"recurrence_rule": "FREQ=DAILY;COUNT=3"}
        )
        assert resp.status_code == 200, resp.text
        assert dt.datetime.fromisoformat(resp.json()["next_occurrence"]) == gap_utc
    times = expanded(fetch(api, feed_url(api)), START, YEAR_LATER)
    expected = [gap_utc, day_after, day_after + dt.timedelta(days=1)]
    assert times[f"{plain['id']}@taskflow"] == expected
    assert times[f"{series['id']}@taskflow"] == expected
    # A due date moved since does not drag the old wall-clock time along.
    moved = api.create_task(title="moved", due_date="2055-03-14T02:30:00", timezone="America/New_York")
    api.request("PUT", f"/api/{{me}}/tasks/{moved['id']}/due-date", json={"due_date": "2055-03-14T05:00:00-04:00"})
    resp = api.request("POST", f"/api/{{me}}/tasks/{moved['id']}/recurrence", json={"recurrence_rule": "FREQ=DAILY"})
    assert resp.status_code == 200
    assert dt.datetime.fromisoformat(resp.json()["next_occurrence"]) == dt.datetime(2055, 3, 14, 9, tzinfo=UTC)


def test_skipping_an_instance_of_an_every_bang_series_moves_on_to_the_next(api):
    """repeat_from=completion: the next instance is due one rule step after the skip, as after completing."""
    series = make_series(api, "FREQ=WEEKLY", "2055-01-04T09:00:00", "Europe/Paris", repeat_from="completion")
    assert spawn(api, series["id"], day(4)) == 1
    with api.rt.sessions() as s:
        first = s.scalars(sa.select(Task.id).where(Task.parent_id == series["id"])).one()
    resp = api.request("POST", f"/api/{{me}}/tasks/{first}/skip")
    assert resp.status_code == 200, resp.text
    assert resp.json()["deleted_instance_id"] == first
    with api.rt.sessions() as s:
        (successor,) = s.scalars(sa.select(Task).where(Task.parent_id == series["id"])).all()
        assert successor.id != first and successor.occurrence_at > dt.datetime.now(UTC)
    assert [t for t, _ in events_of(api, successor.id)] == ["recurring.spawned"]
