"""A series' reminders: the series rings before each occurrence (skips and all), its alarms follow its rule,
and they never ring twice, late or for an occurrence that is not there."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from functions.reminders.firing import fire_due
from shared.persistence.models import Reminder, Task
from tests.support.reminders import iso, reminder_events, reminders_of

UTC = dt.UTC


NY = dt.timezone(dt.timedelta(hours=-5))  # New York in January (EST)


def make_daily_series(api, dtstart: str, tz: str = "America/New_York") -> str:
    task = api.create_task(title="standup", due_date=dtstart, timezone=tz, recurrence_rule="FREQ=DAILY")
    return task["id"]


def add_relative(api, task_id: str, minutes: int):
    return api.request("POST", f"/api/{{me}}/tasks/{task_id}/reminders", json={"minutes_before": minutes})


def test_a_series_rings_its_relative_reminder_before_every_occurrence_skips_and_all(api):
    from functions.recurrence.sweep import spawn_due

    sid = make_daily_series(api, "2030-01-01T09:00:00")
    armed = add_relative(api, sid, 1440)
    assert armed.status_code == 201, armed.text
    assert armed.json()["remind_at"] == "2029-12-31T09:00:00-05:00" and armed.json()["notified"] is False
    skip = api.request("POST", f"/api/{{me}}/tasks/{sid}/skip", json={"occurrence_at": "2030-01-01T09:00:00-05:00"})
    assert skip.status_code == 200, skip.text
    [reminder] = reminders_of(api.rt, sid)
    assert reminder.remind_at == dt.datetime(2030, 1, 1, 9, tzinfo=NY), "the alarm for the skipped day moved on"

    assert fire_due(api.rt, now=dt.datetime(2030, 1, 1, 9, 0, 30, tzinfo=NY))["triggered"] == 1
    assert spawn_due(api.rt, now=dt.datetime(2030, 1, 2, 9, tzinfo=NY)) == 1
    assert fire_due(api.rt, now=dt.datetime(2030, 1, 2, 9, 0, 30, tzinfo=NY))["triggered"] == 1
    # Down for three days: one missed alarm, then the next one still ahead (Jan 7's, rung on Jan 6).
    assert fire_due(api.rt, now=dt.datetime(2030, 1, 5, 12, tzinfo=NY)) == {"triggered": 0, "missed": 1, "cancelled": 0}
    [reminder] = reminders_of(api.rt, sid)
    assert reminder.remind_at == dt.datetime(2030, 1, 6, 9, tzinfo=NY) and not reminder.notified
    rung = [(e["event_type"], e["data"]["due_date"], e["data"]["task_id"]) for e in reminder_events(api.rt)]
    assert rung == [
        ("reminder.triggered", "2030-01-02T09:00:00-05:00", sid),
        ("reminder.triggered", "2030-01-03T09:00:00-05:00", sid),
        ("reminder.missed", "2030-01-04T09:00:00-05:00", sid),
    ]
    with api.rt.sessions() as s:
        instances = list(s.scalars(sa.select(Task).where(Task.parent_id == sid)))
        assert len(instances) == 1 and not instances[0].reminders, "the series rings, its instances do not again"


def test_one_day_before_a_series_due_within_the_day_rings_for_the_next_occurrence_not_422(api):
    soon = (dt.datetime.now(UTC) + dt.timedelta(minutes=30)).replace(second=0, microsecond=0)
    sid = make_daily_series(api, iso(soon), tz="UTC")
    armed = add_relative(api, sid, 1440)
    assert armed.status_code == 201, armed.text
    assert dt.datetime.fromisoformat(armed.json()["remind_at"]) == soon, "tomorrow's occurrence, a day before"
    plain = api.create_task(title="once", due_date=iso(soon))
    refused = add_relative(api, plain["id"], 1440)
    assert refused.status_code == 422 and "minutes_before" in refused.json()["errors"]


def test_two_leads_ringing_at_one_instant_do_not_collide(api):
    sid = make_daily_series(api, "2030-01-01T09:00:00")
    assert add_relative(api, sid, 0).status_code == 201
    assert add_relative(api, sid, 1440).status_code == 201
    # "1 day before" rings on Dec 31 and would next ring at Jan 1 09:00, when "at due time" rings.
    assert fire_due(api.rt, now=dt.datetime(2029, 12, 31, 9, 0, 30, tzinfo=NY))["triggered"] == 1
    alarms = {r.minutes_before: r.remind_at for r in reminders_of(api.rt, sid)}
    assert alarms == {0: dt.datetime(2030, 1, 1, 9, tzinfo=NY), 1440: dt.datetime(2030, 1, 2, 9, tzinfo=NY)}
    assert fire_due(api.rt, now=dt.datetime(2030, 1, 1, 9, 0, 30, tzinfo=NY))["triggered"] == 1


def test_changing_or_stopping_the_rule_moves_the_alarms(api):
    sid = make_daily_series(api, "2030-01-01T09:00:00")
    add_relative(api, sid, 60)
    weekly = api.request(
        "POST",
        f"/api/{{me}}/tasks/{sid}/recurrence",
        json={
            "recurrence_rule": "FREQ=WEEKLY;BYDAY=FR",
            "timezone": "America/New_York",
            "dtstart": "2030-01-04T10:00:00",
        },
    )
    assert weekly.status_code == 200, weekly.text
    [reminder] = reminders_of(api.rt, sid)
    assert reminder.remind_at == dt.datetime(2030, 1, 4, 9, tzinfo=NY)
    assert api.request("DELETE", f"/api/{{me}}/tasks/{sid}/recurrence").status_code in (200, 204)
    [reminder] = reminders_of(api.rt, sid)
    assert not reminder.notified and reminder.remind_at == dt.datetime(2030, 1, 1, 8, tzinfo=NY), "due date - 1 h"


def test_a_stored_rule_over_its_budget_rings_once_and_never_wedges_the_sweep(api):
    sid = make_daily_series(api, "2030-01-01T09:00:00")
    add_relative(api, sid, 60)
    other = api.create_task(title="other", due_date="2030-01-01T12:45:00Z")
    api.request("POST", f"/api/{{me}}/tasks/{other['id']}/reminders", json={"minutes_before": 0}).raise_for_status()
    with api.rt.sessions.begin() as s:  # a rule stored before rules were bounded: it never occurs
        s.execute(sa.update(Task).where(Task.id == sid).values(recurrence_rule="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"))
    fired = fire_due(api.rt, now=dt.datetime(2030, 1, 1, 8, 0, 30, tzinfo=NY))
    assert fired == {"triggered": 2, "missed": 0, "cancelled": 0}, "both rang in one batch"
    [reminder] = reminders_of(api.rt, sid)
    assert reminder.notified and reminder.outcome == "passed", "not armed again, and no error"


def rings(rt) -> list[tuple[str, str]]:
    return [(e["event_type"], e["data"]["due_date"]) for e in reminder_events(rt)]


def test_a_reopened_series_rings_again(api):
    sid = make_daily_series(api, "2030-01-01T09:00:00")
    add_relative(api, sid, 60).raise_for_status()
    for completed in (True, False):
        resp = api.request("PATCH", f"/api/{{me}}/tasks/{sid}/complete", json={"completed": completed})
        assert resp.status_code == 200, resp.text
    fire_due(api.rt, now=dt.datetime(2030, 1, 1, 8, 0, 30, tzinfo=NY))
    assert rings(api.rt) == [("reminder.triggered", "2030-01-01T09:00:00-05:00")]


def test_a_series_turned_every_bang_or_stopped_follows_its_due_date_without_a_500(api):
    sid = make_daily_series(api, "2030-01-01T09:00:00")
    add_relative(api, sid, 60).raise_for_status()
    resp = api.request(
        "POST",
        f"/api/{{me}}/tasks/{sid}/recurrence",
        json={
            "recurrence_rule": "FREQ=WEEKLY",
            "timezone": "America/New_York",
            "dtstart": "2030-01-10T09:00:00",
            "repeat_from": "completion",
        },
    )
    assert resp.status_code == 200, resp.text
    [reminder] = reminders_of(api.rt, sid)
    assert reminder.remind_at == dt.datetime(2030, 1, 1, 8, tzinfo=NY), "due date - 1 h, no longer the schedule's"
    # Stopping a series whose due date minus the lead is another reminder's time: the relative one rests.
    other = make_daily_series(api, "2030-01-01T09:00:00")
    add_relative(api, other, 60).raise_for_status()
    absolute = api.request("POST", f"/api/{{me}}/tasks/{other}/reminders", json={"remind_at": "2030-01-05T08:00-05:00"})
    assert absolute.status_code == 201, absolute.text
    moved = api.request("PUT", f"/api/{{me}}/tasks/{other}/due-date", json={"due_date": "2030-01-05T09:00-05:00"})
    assert moved.status_code == 200, moved.text
    stop = api.request("DELETE", f"/api/{{me}}/tasks/{other}/recurrence")
    assert stop.status_code == 204, stop.text
    kept = {(r.minutes_before, r.remind_at, r.notified, r.outcome) for r in reminders_of(api.rt, other)}
    at_eight = dt.datetime(2030, 1, 5, 8, tzinfo=NY)
    assert kept == {(None, at_eight, False, None), (60, dt.datetime(2030, 1, 1, 8, tzinfo=NY), True, "passed")}


def test_moving_a_due_date_onto_another_reminders_time_is_no_500(api):
    task = api.create_task(title="plain", due_date="2030-01-01T10:00:00-05:00", timezone="America/New_York")
    add_relative(api, task["id"], 60).raise_for_status()
    absolute = {"remind_at": "2030-01-01T12:00:00-05:00"}
    api.request("POST", f"/api/{{me}}/tasks/{task['id']}/reminders", json=absolute).raise_for_status()
    moved = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}/due-date", json={"due_date": "2030-01-01T13:00-05:00"})
    assert moved.status_code == 200, moved.text
    assert [(r.minutes_before, r.notified) for r in reminders_of(api.rt, task["id"])] == [(60, True), (None, False)]
    again = api.request("PUT", f"/api/{{me}}/tasks/{task['id']}/due-date", json={"due_date": "2030-01-01T15:00-05:00"})
    assert again.status_code == 200, again.text
    relative = [r for r in reminders_of(api.rt, task["id"]) if r.minutes_before == 60]
    assert [(r.remind_at, r.notified) for r in relative] == [(dt.datetime(2030, 1, 1, 14, tzinfo=NY), False)]


def test_leads_meeting_an_existing_time_are_each_kept(api):
    soon = (dt.datetime.now(UTC) + dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    task = api.create_task(
        title="pills",
        due_date=iso(soon),
        timezone="UTC",
        recurrence_rule="FREQ=DAILY",
        reminders=[{"minutes_before": 0}, {"minutes_before": 1440}],
    )
    assert sorted(r.minutes_before for r in reminders_of(api.rt, task["id"])) == [0, 1440]
    sid = make_daily_series(api, "2030-01-01T09:00:00")
    absolute = {"remind_at": "2029-12-31T09:00:00-05:00"}
    api.request("POST", f"/api/{{me}}/tasks/{sid}/reminders", json=absolute).raise_for_status()
    relative = add_relative(api, sid, 1440)
    assert relative.status_code == 201 and relative.json()["minutes_before"] == 1440
    assert relative.json()["remind_at"] == "2030-01-01T09:00:00-05:00", "the next occurrence's, off the absolute one"
    assert add_relative(api, sid, 1440).json()["id"] == relative.json()["id"], "one reminder per lead"


IMPORTED_STANDUP = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example//Example//EN\r
BEGIN:VEVENT\r
UID:standup@example.com\r
SUMMARY:Standup\r
DTSTART;TZID=America/New_York:20300101T090000\r
DTEND;TZID=America/New_York:20300101T091500\r
RRULE:FREQ=DAILY\r
EXDATE;TZID=America/New_York:20300101T090000\r
EXDATE;TZID=America/New_York:20300103T090000\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:Standup\r
TRIGGER:-PT60M\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_an_imported_series_does_not_ring_for_its_exdates(api):
    resp = api.request("POST", "/api/{me}/import/ics", data=IMPORTED_STANDUP, headers={"Content-Type": "text/calendar"})
    assert resp.status_code == 201, resp.text
    for day in (1, 2, 3, 4):
        fire_due(api.rt, now=dt.datetime(2030, 1, day, 8, 0, 30, tzinfo=NY))
    assert [d for _, d in rings(api.rt)] == ["2030-01-02T09:00:00-05:00", "2030-01-04T09:00:00-05:00"]


def test_a_series_resting_since_an_older_release_rings_again_from_its_next_spawn(api):
    from functions.recurrence.sweep import spawn_due

    sid = make_daily_series(api, "2030-01-01T09:00:00")
    add_relative(api, sid, 60).raise_for_status()
    with api.rt.sessions.begin() as s:  # what the previous release left: rang once, then never again
        s.execute(sa.update(Reminder).where(Reminder.task_id == sid).values(notified=True, outcome="triggered"))
    for day in (1, 2, 3):
        assert spawn_due(api.rt, now=dt.datetime(2030, 1, day, 9, tzinfo=NY)) == 1
        fire_due(api.rt, now=dt.datetime(2030, 1, day + 1, 8, 0, 30, tzinfo=NY))
    assert [d for _, d in rings(api.rt)] == [f"2030-01-0{day}T09:00:00-05:00" for day in (2, 3, 4)]


def test_a_series_that_ends_rings_for_each_occurrence_then_rests(api):
    task = api.create_task(
        title="twice", due_date="2030-01-01T09:00:00", timezone="America/New_York", recurrence_rule="FREQ=DAILY;COUNT=2"
    )
    add_relative(api, task["id"], 60).raise_for_status()
    for day in range(1, 5):
        fire_due(api.rt, now=dt.datetime(2030, 1, day, 8, 0, 30, tzinfo=NY))
    assert len(rings(api.rt)) == 2
    assert [(r.notified, r.outcome) for r in reminders_of(api.rt, task["id"])] == [(True, "passed")]


def test_tick_then_undo_puts_that_occurrence_back_with_its_reminder(api):
    sid = make_daily_series(api, "2030-01-01T09:00:00")
    add_relative(api, sid, 60).raise_for_status()
    done = api.request("POST", f"/api/{{me}}/tasks/{sid}/complete-occurrence").json()
    assert done["next_occurrence"] == "2030-01-02T09:00:00-05:00"
    assert [r.remind_at for r in reminders_of(api.rt, sid)] == [dt.datetime(2030, 1, 2, 8, tzinfo=NY)]
    undo = api.request("PATCH", f"/api/{{me}}/tasks/{done['instance_id']}/complete", json={"completed": False})
    assert undo.status_code == 200, undo.text
    series = api.request("GET", f"/api/{{me}}/tasks/{sid}").json()
    assert series["next_occurrence"] == "2030-01-01T09:00:00-05:00", "the series is back at that occurrence"
    assert fire_due(api.rt, now=dt.datetime(2030, 1, 1, 8, 0, 30, tzinfo=NY))["triggered"] == 1
    assert rings(api.rt) == [("reminder.triggered", "2030-01-01T09:00:00-05:00")]
