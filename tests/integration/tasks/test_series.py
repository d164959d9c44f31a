"""Recurring tasks through the API: previews in IANA zones, rules on tasks, completion-based series, ticking
occurrences (the sweep that spawns them: tests/integration/recurrence/test_sweep.py)."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo

import pytest
import sqlalchemy as sa

from functions.recurrence.sweep import spawn_due
from functions.tasks import create_app as tasks_app
from shared.persistence.models import Task
from shared.services import series as series_module
from tests.conftest import with_
from tests.support.series import event_types, instances, make_series

UTC = dt.UTC
NY = zoneinfo.ZoneInfo("America/New_York")


def test_preview_keeps_nine_oclock_local_across_both_2026_dst_transitions(api):
    resp = api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={
            "recurrence_rule": "RRULE:FREQ=DAILY",
            "dtstart": "2026-03-06T09:00:00",
            "timezone": "America/New_York",
            "count": 4,
            "after": "2026-03-06T00:00:00-05:00",
        },
    )
    assert resp.json()["occurrences"] == [
        "2026-03-06T09:00:00-05:00",
        "2026-03-07T09:00:00-05:00",
        "2026-03-08T09:00:00-04:00",
        "2026-03-09T09:00:00-04:00",
    ]
    autumn = api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={
            "recurrence_rule": "FREQ=DAILY",
            "dtstart": "2026-03-06T09:00:00",
            "timezone": "America/New_York",
            "count": 3,
            "after": "2026-10-31T00:00:00Z",
        },
    ).json()["occurrences"]
    assert autumn == ["2026-10-31T09:00:00-04:00", "2026-11-01T09:00:00-05:00", "2026-11-02T09:00:00-05:00"]


@pytest.mark.parametrize(
    "rule,dtstart,expected",
    [
        ("FREQ=MONTHLY;BYDAY=-1FR", "2026-01-01T10:00:00", ["2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24"]),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "2026-01-01T10:00:00",
            ["2026-01-30", "2026-02-27", "2026-03-31", "2026-04-30"],
        ),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=3",
            "2026-01-01T10:00:00",
            ["2026-01-01", "2026-01-13", "2026-01-15"],
        ),
        ("FREQ=DAILY;UNTIL=20260103T150000Z", "2026-01-01T10:00:00", ["2026-01-01", "2026-01-02", "2026-01-03"]),
        ("FREQ=DAILY;UNTIL=20260103T145959Z", "2026-01-01T10:00:00", ["2026-01-01", "2026-01-02"]),
    ],
)
def test_preview_dates_for_monthly_setpos_count_and_utc_until(api, rule, dtstart, expected):
    resp = api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={
            "recurrence_rule": rule,
            "dtstart": dtstart,
            "timezone": "America/New_York",
            "count": 4,
            "after": "2025-12-31T00:00:00Z",
        },
    )
    assert [o[:10] for o in resp.json()["occurrences"]] == expected


def test_completion_based_series_spawns_the_next_one_step_after_completion(api):
    series = make_series(api, "FREQ=DAILY;INTERVAL=3", dtstart="2026-02-01T07:00:00Z", repeat_from="completion")
    sid = series["id"]
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id == sid).values(next_occurrence=dt.datetime(2026, 2, 1, 7, tzinfo=UTC)))
    assert spawn_due(api.rt, now=dt.datetime(2026, 2, 1, 7, tzinfo=UTC)) == 1
    with api.rt.sessions() as s:
        assert s.get(Task, sid).next_occurrence is None, "waits for completion"
    first = instances(api.rt, sid)[0]
    before = dt.datetime.now(UTC).replace(microsecond=0)
    done = api.request("PATCH", f"/api/{{me}}/tasks/{first.id}/complete")
    after = dt.datetime.now(UTC)
    assert done.status_code == 200
    made = instances(api.rt, sid)
    assert len(made) == 2
    # Three days after the moment it was completed, whenever during the request that was.
    assert before + dt.timedelta(days=3) <= made[1].due_date <= after + dt.timedelta(days=3), made[1].due_date
    assert made[0].completed and not made[1].completed, "each occurrence keeps its own completed record"


def test_completing_a_schedule_instance_leaves_the_series_alone(api):
    series = make_series(api, "FREQ=DAILY", dtstart="2026-02-01T07:00:00Z")
    sid = series["id"]
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id == sid).values(next_occurrence=dt.datetime(2026, 2, 1, 7, tzinfo=UTC)))
    spawn_due(api.rt, now=dt.datetime(2026, 2, 1, 7, 5, tzinfo=UTC))
    with api.rt.sessions() as s:
        before = s.get(Task, sid).next_occurrence
    inst = instances(api.rt, sid)[0]
    api.request("PATCH", f"/api/{{me}}/tasks/{inst.id}/complete")
    with api.rt.sessions() as s:
        assert s.get(Task, sid).next_occurrence == before
        assert s.get(Task, sid).completed is False
    assert len(instances(api.rt, sid)) == 1


def test_clearing_the_rule_stops_the_series(api):
    sid = make_series(api, "FREQ=WEEKLY", dtstart="2026-02-01T07:00:00Z")["id"]
    assert api.request("DELETE", f"/api/{{me}}/tasks/{sid}/recurrence").status_code == 204
    assert api.request("GET", "/api/{me}/tasks/recurring").json()["items"] == []
    task = api.request("GET", f"/api/{{me}}/tasks/{sid}").json()
    assert task["recurrence_rule"] is None and task["next_occurrence"] is None


def test_create_accepts_a_rule_and_next_occurrence_is_upcoming(api):
    resp = api.request(
        "POST",
        "/api/{me}/tasks",
        json={
            "title": "standup",
            "due_date": "2026-01-05T09:30:00",
            "timezone": "Europe/Berlin",
            "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        },
    )
    assert resp.status_code == 201, resp.text
    task = resp.json()
    nxt = dt.datetime.fromisoformat(task["next_occurrence"])
    assert nxt > dt.datetime.now(UTC) and nxt.strftime("%H:%M") == "09:30" and nxt.weekday() in (0, 2, 4)


BAD_RULES = [
    ({"recurrence_rule": "FREQ=SOMETIMES"}, "recurrence_rule"),
    ({"recurrence_rule": "every day"}, "recurrence_rule"),
    ({"recurrence_rule": ""}, "recurrence_rule"),
    ({"recurrence_rule": 42}, "recurrence_rule"),
    ({"recurrence_rule": "FREQ=MINUTELY;INTERVAL=5"}, "recurrence_rule"),
    ({"recurrence_rule": "FREQ=HOURLY;BYMINUTE=0,10"}, "recurrence_rule"),
    ({"recurrence_rule": "FREQ=SECONDLY"}, "recurrence_rule"),
    ({"recurrence_rule": "FREQ=DAILY", "timezone": "Atlantis/Capital"}, "timezone"),
    ({"recurrence_rule": "FREQ=DAILY", "repeat_from": "whenever"}, "repeat_from"),
    ({"recurrence_rule": "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY", "dtstart": "2026-02-01T09:00:00Z"}, "dtstart"),
    ({"recurrence_rule": "FREQ=DAILY", "nonsense": 1}, "nonsense"),
]


@pytest.mark.parametrize("body,field", BAD_RULES, ids=[str(b) for b, _ in BAD_RULES])
def test_bad_rules_are_422_naming_the_field_and_store_nothing(api, body, field):
    task = api.create_task(title="plain")
    resp = api.request("POST", f"/api/{{me}}/tasks/{task['id']}/recurrence", json=body)
    assert resp.status_code == 422 and field in resp.json()["errors"], resp.text
    assert api.request("GET", f"/api/{{me}}/tasks/{task['id']}").json() == task
    assert len(event_types(api.rt, "task.updated")) == 0


@pytest.mark.parametrize(
    "body,field",
    [
        ({"recurrence_rule": "FREQ=DAILY", "count": 0}, "count"),
        ({"recurrence_rule": "FREQ=DAILY", "count": 501}, "count"),
        ({"recurrence_rule": "FREQ=DAILY", "timezone": "Nowhere"}, "timezone"),
        ({"recurrence_rule": "FREQ=NEVER"}, "recurrence_rule"),
        ({"recurrence_rule": "FREQ=DAILY", "after": "yesterday"}, "after"),
    ],
)
def test_bad_previews_are_422(api, body, field):
    resp = api.request("POST", "/api/{me}/recurrence/preview", json=body)
    assert resp.status_code == 422 and field in resp.json()["errors"]


def test_preview_accepts_any_valid_rule_even_a_fast_one(api):
    resp = api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={
            "recurrence_rule": "FREQ=MINUTELY",
            "dtstart": "2026-01-01T00:00:00Z",
            "count": 3,
            "after": "2026-01-01T00:00:00Z",
        },
    )
    assert resp.json()["occurrences"] == [
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:01:00+00:00",
        "2026-01-01T00:02:00+00:00",
    ]


def test_another_users_task_cannot_get_a_rule(api, serve, make_client, settings):
    other = make_client(serve(tasks_app(with_(settings, run_background_workers=False)))).signup()
    theirs = other.create_task(title="theirs")
    resp = api.request("POST", f"/api/{{me}}/tasks/{theirs['id']}/recurrence", json={"recurrence_rule": "FREQ=DAILY"})
    assert resp.status_code == 404


def test_toggling_completion_of_one_instance_spawns_its_successor_once(api):
    series = make_series(api, "FREQ=DAILY;INTERVAL=3", dtstart="2026-02-01T07:00:00Z", repeat_from="completion")
    sid = series["id"]
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id == sid).values(next_occurrence=dt.datetime(2026, 2, 1, 7, tzinfo=UTC)))
    assert spawn_due(api.rt, now=dt.datetime(2026, 2, 1, 7, tzinfo=UTC)) == 1
    first = instances(api.rt, sid)[0]
    for completed in (True, False, True, False, True):
        resp = api.request("PATCH", f"/api/{{me}}/tasks/{first.id}/complete", json={"completed": completed})
        assert resp.status_code == 200, resp.text
        time.sleep(1.1)  # each completion is a different second, so a naive spawn would not collide
    made = instances(api.rt, sid)
    assert len(made) == 2, [m.due_date for m in made]
    assert len(event_types(api.rt, "recurring.spawned")) == 2
    second = made[1]
    assert api.request("PATCH", f"/api/{{me}}/tasks/{second.id}/complete").status_code == 200
    assert len(instances(api.rt, sid)) == 3, "completing the successor spawns the next one"


def test_ticking_a_series_completes_its_next_occurrence_and_the_series_moves_on(api):
    series = make_series(api, "FREQ=WEEKLY;BYDAY=MO", dtstart="2030-01-07T09:00:00", tz="America/New_York")
    sid = series["id"]
    done = api.request("POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence")
    assert done.status_code == 200, done.text
    body = done.json()
    assert (
        body["occurrence_at"] == "2030-01-07T09:00:00-05:00" and body["next_occurrence"] == "2030-01-14T09:00:00-05:00"
    )
    [instance] = instances(api.rt, sid)
    assert instance.id == body["instance_id"] and instance.completed and instance.occurrence_at == instance.due_date
    series_now = api.request("GET", f"/api/{{me}}/tasks/{sid}").json()
    assert series_now["completed"] is False and series_now["next_occurrence"] == "2030-01-14T09:00:00-05:00"
    types = [e["event_type"] for e in event_types(api.rt, "recurring.spawned") + event_types(api.rt, "task.completed")]
    assert types == ["recurring.spawned", "task.completed"]
    # the spawn at that time finds it done already, and the next one comes as usual
    assert spawn_due(api.rt, now=dt.datetime(2030, 1, 7, 14, tzinfo=UTC)) == 0
    assert spawn_due(api.rt, now=dt.datetime(2030, 1, 14, 14, tzinfo=UTC)) == 1
    # a later given occurrence; one not of the rule, a skipped one and an every! series are 422s
    later = api.request(
        "POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence", json={"occurrence_at": "2030-02-04T09:00"}
    )
    assert later.status_code == 200 and later.json()["next_occurrence"] == "2030-01-21T09:00:00-05:00", later.text
    for monday in ("2030-01-21T09:00", "2030-01-28T09:00"):  # then the next is past Feb 4, done already
        tick = api.request("POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence", json={"occurrence_at": monday})
        assert tick.status_code == 200, tick.text
    assert tick.json()["next_occurrence"] == "2030-02-11T09:00:00-05:00"
    wrong = api.request(
        "POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence", json={"occurrence_at": "2030-02-05T09:00"}
    )
    assert wrong.status_code == 422 and "occurrence_at" in wrong.json()["errors"]
    api.request("POST", f"/api/{{me}}/tasks/{sid}/skip", json={"occurrence_at": "2030-02-18T09:00"}).raise_for_status()
    skipped = api.request(
        "POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence", json={"occurrence_at": "2030-02-18T09:00"}
    )
    assert skipped.status_code == 422
    bang = make_series(api, "FREQ=DAILY", dtstart="2030-01-07T09:00:00", repeat_from="completion", title="every!")
    assert api.request("POST", f"/api/{{me}}/tasks/{bang['id']}/complete-occurrence").status_code == 422
    plain = api.create_task(title="plain")
    assert api.request("POST", f"/api/{{me}}/tasks/{plain['id']}/complete-occurrence").status_code == 422


def test_a_completed_series_spawns_nothing_until_reopened(api):
    series = make_series(api, "FREQ=DAILY", dtstart="2030-01-07T09:00:00")
    sid = series["id"]
    api.request("PATCH", f"/api/{{me}}/tasks/{sid}/complete", json={"completed": True}).raise_for_status()
    assert spawn_due(api.rt, now=dt.datetime(2030, 1, 9, 12, tzinfo=UTC)) == 0
    with api.rt.sessions() as s:
        assert series_module.earliest_occurrence(s) is None, "the timer does not wake for it"
    api.request("PATCH", f"/api/{{me}}/tasks/{sid}/complete", json={"completed": False}).raise_for_status()
    assert spawn_due(api.rt, now=dt.datetime(2030, 1, 9, 12, tzinfo=UTC)) == 1, "one for what it missed"


def test_occurrences_ticked_ahead_are_passed_over_and_a_skip_never_deletes_a_completion(api):
    series = api.create_task(
        title="daily", due_date="2030-01-01T09:00:00", timezone="UTC", recurrence_rule="FREQ=DAILY"
    )
    sid = series["id"]
    ahead = api.request(
        "POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence", json={"occurrence_at": "2030-01-02T09:00"}
    )
    assert ahead.status_code == 200 and ahead.json()["next_occurrence"] == "2030-01-01T09:00:00+00:00"
    assert spawn_due(api.rt, now=dt.datetime(2030, 1, 1, 9, 0, 1, tzinfo=UTC)) == 1
    after_sweep = api.request("GET", f"/api/{{me}}/tasks/{sid}").json()["next_occurrence"]
    assert after_sweep == "2030-01-03T09:00:00+00:00", "the sweep passes over Jan 2, done already"
    done = api.request("POST", f"/api/{{me}}/tasks/{sid}/skip", json={"occurrence_at": "2030-01-02T09:00"})
    assert done.status_code == 422 and done.json()["errors"] == {"occurrence_at": "is completed"}
    assert [(i.occurrence_at.day, i.completed) for i in instances(api.rt, sid)] == [(1, False), (2, True)]


def test_an_ended_series_has_no_next_occurrence_to_tick_and_is_completed_whole(api):
    series = api.create_task(title="twice", due_date="2030-01-01T09:00:00", recurrence_rule="FREQ=DAILY;COUNT=2")
    sid = series["id"]
    for _ in range(2):
        assert api.request("POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence").status_code == 200
    assert api.request("GET", f"/api/{{me}}/tasks/{sid}").json()["next_occurrence"] is None
    assert api.request("POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence").status_code == 422
    # what the web app's checkbox does for it (no next occurrence: the series as a whole)
    whole = api.request("PATCH", f"/api/{{me}}/tasks/{sid}/complete", json={"completed": True})
    assert whole.status_code == 200 and whole.json()["completed"] is True
