"""The iCalendar feed: what a calendar client sees is what TaskFlow shows.

Each series must expand in a calendar to exactly the occurrences `POST …/recurrence/preview` gives,
DST-crossing series included; the feed is private to its owner, revocable and cacheable, and an
export imported into a fresh account gives the same tasks.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import icalendar
import sqlalchemy as sa

from functions.recurrence.sweep import spawn_due
from functions.reminders.firing import fire_due
from shared.persistence.models import Reminder, Task
from tests.conftest import with_
from tests.support.calendar import (
    START,
    YEAR_LATER,
    api_server,
    exdates,
    expanded,
    feed_url,
    fetch,
    import_ics,
    make_series,
    preview,
    stored_counts,
)

UTC = dt.UTC
NY = zoneinfo.ZoneInfo("America/New_York")


# (rule, first wall-clock time, zone): the feed must expand each exactly like preview does.
SERIES = [
    ("FREQ=DAILY", "2054-12-01T09:00:00", "America/New_York"),  # crosses both DST changes
    ("FREQ=DAILY", "2055-03-13T02:30:00", "America/New_York"),  # 14 March 02:30 does not exist
    ("FREQ=WEEKLY;BYDAY=MO,WE;INTERVAL=2", "2054-12-02T07:15:00", "Europe/Paris"),
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "2054-12-01T17:00:00", "Australia/Sydney"),
    ("FREQ=MONTHLY;BYMONTHDAY=31;COUNT=5", "2054-12-31T06:00:00", "Pacific/Auckland"),
    ("FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU", "2054-12-01T01:30:00", "Europe/London"),  # DST days themselves
    ("FREQ=WEEKLY;BYDAY=FR;UNTIL=20550601", "2054-12-04T21:45:00", "Asia/Kolkata"),
    ("FREQ=DAILY;INTERVAL=3;BYHOUR=8,20", "2054-12-01T08:00:00", "UTC"),
]


def test_every_series_expands_in_a_calendar_exactly_as_preview_gives_it(api):
    made = [make_series(api, rule, start, tz) for rule, start, tz in SERIES]
    cal = fetch(api, feed_url(api))
    occurrences = expanded(cal, START, YEAR_LATER)
    for task, (rule, start, tz) in zip(made, SERIES, strict=True):
        expected = preview(api, rule, start, tz, START, until=YEAR_LATER)
        assert expected, rule
        assert occurrences[f"{task['id']}@taskflow"] == expected, (rule, tz)
    # Each zone is described by a VTIMEZONE (clients need not know IANA names).
    zones = {str(c["TZID"]) for c in cal.walk("VTIMEZONE")}
    assert zones == {tz for _, _, tz in SERIES} - {"UTC"}


def test_dst_gap_and_repeat_resolve_the_same_in_preview_spawning_reminders_feed_and_import(api):
    """RFC 5545 §3.3.5: a nonexistent local time takes the offset before the gap; a repeated one the first."""
    gap_utc = dt.datetime(2055, 3, 14, 7, 30, tzinfo=UTC)  # 02:30 "EST" = 03:30 EDT
    repeat_utc = dt.datetime(2055, 11, 7, 5, 30, tzinfo=UTC)  # the first 01:30 (EDT)
    for day_before, on_day, expected in (
        ("2055-03-13T02:30:00", "2055-03-14T02:30:00", gap_utc),
        ("2055-11-06T01:30:00", "2055-11-07T01:30:00", repeat_utc),
    ):
        found = preview(api, "FREQ=DAILY", day_before, "America/New_York", expected - dt.timedelta(hours=1))[0]
        assert found == expected, "preview"
        series = make_series(api, "FREQ=DAILY", day_before, "America/New_York", reminders=[{"minutes_before": 0}])
        # The series rings "at due time" for each occurrence: after ringing the day before, for this one.
        assert fire_due(api.rt, now=expected - dt.timedelta(days=1) + dt.timedelta(seconds=30))["triggered"] == 1
        with api.rt.sessions() as s:
            alarm = s.scalars(sa.select(Reminder.remind_at).where(Reminder.task_id == series["id"])).one()
            assert alarm == expected, "the series' reminder armed for the occurrence"
        with api.rt.sessions.begin() as s:
            s.execute(sa.update(Task).where(Task.id == series["id"]).values(next_occurrence=expected))
        assert spawn_due(api.rt, now=expected) == 1
        with api.rt.sessions() as s:
            instance = s.scalars(sa.select(Task).where(Task.parent_id == series["id"])).one()
            assert instance.occurrence_at == instance.due_date == expected, "spawning"
        with api.rt.sessions.begin() as s:
            s.execute(sa.update(Task).where(Task.id == series["id"]).values(next_occurrence=None))
        one_off = api.create_task(
            title="one-off", due_date=on_day, timezone="America/New_York", reminders=[{"minutes_before": 30}]
        )
        assert dt.datetime.fromisoformat(one_off["due_date"]).astimezone(UTC) == expected, "due dates"
        reminders = api.request("GET", f"/api/{{me}}/tasks/{one_off['id']}/reminders").json()["items"]
        assert [dt.datetime.fromisoformat(r["remind_at"]) for r in reminders] == [expected - dt.timedelta(minutes=30)]
    cal = fetch(api, feed_url(api))
    occurrences = expanded(cal, dt.datetime(2055, 3, 1, tzinfo=UTC), dt.datetime(2055, 12, 1, tzinfo=UTC))
    series_times = sorted((times for times in occurrences.values() if len(times) > 1), key=lambda t: t[0])
    assert len(series_times) == 2
    assert gap_utc in series_times[0] and gap_utc - dt.timedelta(hours=1) not in series_times[0], "feed: gap"
    assert gap_utc + dt.timedelta(days=1, hours=-1) in series_times[0], "feed: 02:30 EDT the day after"
    assert repeat_utc in series_times[1] and repeat_utc + dt.timedelta(hours=1) not in series_times[1], "feed: repeat"
    one_offs = sorted(t[0] for t in occurrences.values() if len(t) == 1)
    assert one_offs == [gap_utc, repeat_utc], "feed: one-off tasks"
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTODO\r\nUID:gap\r\nSUMMARY:gap\r\n"
        "DUE;TZID=America/New_York:20550314T023000\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
    resp = import_ics(api, ics)
    assert resp.status_code == 201, resp.text
    imported = api.request("GET", "/api/{me}/tasks", params={"q": "gap"}).json()["items"]
    assert dt.datetime.fromisoformat(imported[0]["due_date"]).astimezone(UTC) == gap_utc, "import"


def test_feed_is_revocable_rotatable_cacheable_and_private_to_its_owner(api, serve, make_client):
    mine = api.create_task(title="mine, dated", due_date="2054-12-24T18:00:00Z", reminders=[{"minutes_before": 15}])
    api.create_task(title="mine, undated")
    other = make_client(api_server(api, serve)).signup()
    other.create_task(title="theirs", due_date="2054-12-25T10:00:00Z")
    url = feed_url(api)
    first = api.http.get(url, timeout=30)
    assert first.status_code == 200
    assert "max-age" in first.headers["Cache-Control"] and "private" in first.headers["Cache-Control"]
    cal = icalendar.Calendar.from_ical(first.content)
    events = cal.walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == ["mine, dated"], "only dated tasks, only mine"
    assert str(events[0]["UID"]) == f"{mine['id']}@taskflow"
    assert [a["TRIGGER"].dt for a in events[0].walk("VALARM")] == [dt.timedelta(minutes=-15)]
    assert not cal.walk("VTODO")
    # Unchanged: 304 on If-None-Match; changed: a new ETag.
    etag = first.headers["ETag"]
    assert api.http.get(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    api.request("PUT", f"/api/{{me}}/tasks/{mine['id']}", json={"title": "renamed"})
    changed = api.http.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    todos = fetch(api, url, type="todo").walk("VTODO")
    assert sorted(str(t["SUMMARY"]) for t in todos) == ["mine, undated", "renamed"]
    assert all(str(t["STATUS"]) == "NEEDS-ACTION" for t in todos)
    # The other user's feed never shows my tasks, and their token is not mine.
    their_url = feed_url(other)
    assert [str(e["SUMMARY"]) for e in fetch(other, their_url).walk("VEVENT")] == ["theirs"]
    # Rotate: the old URL is gone; revoke: the new one too.
    rotated = feed_url(api)
    assert rotated != url
    assert api.http.get(url, timeout=30).status_code == 404
    assert api.http.get(rotated, timeout=30).status_code == 200
    assert api.request("DELETE", "/api/{me}/calendar-feed").status_code == 204
    assert api.http.get(rotated, timeout=30).status_code == 404
    assert api.request("DELETE", "/api/{me}/calendar-feed").status_code == 404
    # Hostile or malformed requests: 4xx problem+json, never a 500.
    for bad in ("/ical/short.ics", "/ical/" + "A" * 300 + ".ics", "/ical/..%2F..%2Fetc.ics"):
        assert api.http.get(api.base + bad, timeout=30).status_code == 404
    assert api.http.get(their_url, params={"type": "journal"}, timeout=30).status_code == 422
    assert api.http.get(their_url, params={"x": "1"}, timeout=30).status_code == 422
    assert other.request("POST", f"/api/{api.user_id}/calendar-feed").status_code == 403
    assert api.request("POST", "/api/{me}/calendar-feed", auth=False).status_code == 401


def test_the_combined_app_serves_the_feed_and_throttles_it_per_client(settings, serve, make_client):
    from functions.combined import create_app as combined_app

    server = serve(combined_app(with_(settings, run_background_workers=False, feed_rate_limit="3 per minute")))
    client = make_client(server).signup()
    client.create_task(title="on the combined app", due_date="2055-01-05T09:00:00Z")
    url = feed_url(client)
    statuses = [client.http.get(url, timeout=30).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.http.get(url, timeout=30)
    assert limited.headers["Content-Type"].startswith("application/problem+json") and "Retry-After" in limited.headers
    # The API itself is not throttled by the feed's limit.
    assert client.request("GET", "/api/{me}/tasks").status_code == 200


def test_a_moved_or_completed_occurrence_shows_in_calendars_as_in_taskflow(api):
    series = make_series(api, "FREQ=DAILY;COUNT=5", "2055-01-01T09:00:00", "Europe/Paris")
    day2, day3 = dt.datetime(2055, 1, 2, 8, tzinfo=UTC), dt.datetime(2055, 1, 3, 8, tzinfo=UTC)
    for occurrence in (day2, day3):
        with api.rt.sessions.begin() as s:
            s.execute(sa.update(Task).where(Task.id == series["id"]).values(next_occurrence=occurrence))
        assert spawn_due(api.rt, now=occurrence) == 1
    with api.rt.sessions() as s:
        moved, done = s.scalars(sa.select(Task.id).where(Task.parent_id == series["id"]).order_by(Task.occurrence_at))
    api.request("PUT", f"/api/{{me}}/tasks/{moved}/due-date", json={"due_date": "2055-01-02T17:30:00+01:00"})
    api.request("PATCH", f"/api/{{me}}/tasks/{done}/complete")
    times = expanded(fetch(api, feed_url(api)), START, YEAR_LATER)[f"{series['id']}@taskflow"]
    assert times == [
        dt.datetime(2055, 1, 1, 8, tzinfo=UTC),
        dt.datetime(2055, 1, 2, 16, 30, tzinfo=UTC),  # moved: the overridden instance at its new time
        dt.datetime(2055, 1, 4, 8, tzinfo=UTC),  # 3 January completed: an EXDATE
        dt.datetime(2055, 1, 5, 8, tzinfo=UTC),
    ]


def semantic(cal: icalendar.Calendar) -> list[tuple]:
    """What a calendar user sees of each component, without ids and timestamps."""

    def when(prop):
        return None if prop is None else (prop.dt.astimezone(UTC), str(getattr(prop.dt.tzinfo, "key", "UTC")))

    rows = []
    for c in cal.walk("VTODO"):
        rows.append(
            (
                str(c["SUMMARY"]),
                str(c.get("DESCRIPTION", "")),
                when(c.get("DUE")),
                c["RRULE"].to_ical().decode() if "RRULE" in c else None,
                when(c.get("RECURRENCE-ID")),
                str(c["STATUS"]),
                int(c.get("PRIORITY", 0)),
                sorted(str(x) for x in c["CATEGORIES"].cats) if "CATEGORIES" in c else [],
                sorted(str(a["TRIGGER"].to_ical()) for a in c.walk("VALARM")),
                exdates(c),
            )
        )
    return sorted(rows, key=repr)


def test_round_trip_export_then_import_into_a_fresh_account_gives_the_same_tasks(api, serve, make_client):
    api.create_task(
        title="Dentist",
        description="bring the form",
        due_date="2055-02-03T08:15:00",
        timezone="Europe/London",
        priority="high",
        tags=["health"],
        reminders=[{"minutes_before": 60}, {"remind_at": "2055-02-01T09:00:00Z"}],
    )
    make_series(
        api,
        "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20551231",
        "2055-01-29T16:00:00",
        "Australia/Sydney",
        reminders=[{"minutes_before": 15}],
    )
    weekly = make_series(api, "FREQ=WEEKLY;BYDAY=SA;COUNT=10", "2055-01-02T10:00:00", "Pacific/Auckland")
    done = api.create_task(title="Done already", due_date="2054-06-01T12:00:00Z")
    api.request("PATCH", f"/api/{{me}}/tasks/{done['id']}/complete")
    # One occurrence of the weekly series completed: an overridden, completed instance in the feed.
    occurrence = dt.datetime(2055, 1, 8, 21, tzinfo=UTC)  # Saturday 9 January 10:00 in Auckland
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id == weekly["id"]).values(next_occurrence=occurrence))
    assert spawn_due(api.rt, now=occurrence) == 1
    with api.rt.sessions() as s:
        instance_id = s.scalars(sa.select(Task.id).where(Task.parent_id == weekly["id"])).one()
    api.request("PATCH", f"/api/{{me}}/tasks/{instance_id}/complete")
    # Another one skipped ahead: an EXDATE in both feeds, a skipped occurrence again after the import.
    skipped = dt.datetime(2055, 1, 15, 21, tzinfo=UTC)  # Saturday 16 January 10:00 in Auckland
    skip = api.request("POST", f"/api/{{me}}/tasks/{weekly['id']}/skip", json={"occurrence_at": "2055-01-16T10:00:00"})
    assert skip.status_code == 200, skip.text

    original = fetch(api, feed_url(api), type="todo")
    exported = api.http.get(feed_url(api), params={"type": "todo"}, timeout=30).content
    fresh = make_client(api_server(api, serve)).signup()
    resp = import_ics(fresh, exported)
    assert resp.status_code == 201, resp.text
    assert (
        resp.json()["created"]
        == {"tasks": 3, "series": 2, "skipped": 1, "reminders": 3}
        == stored_counts(api, fresh.user_id)
    )
    assert resp.json()["unsupported"] == []
    again = fetch(fresh, feed_url(fresh), type="todo")
    assert semantic(again) == semantic(original)
    assert [exdates(c) for c in again.walk("VTODO") if exdates(c)] == [[skipped]]
    # And as events: the completed and the skipped occurrences are EXDATEs, expanded away by the calendar.
    events = expanded(fetch(fresh, feed_url(fresh)), START, YEAR_LATER)
    weekly_times = next(times for times in events.values() if len(times) == 8)
    assert occurrence not in weekly_times and skipped not in weekly_times
    assert occurrence - dt.timedelta(days=7) in weekly_times and skipped + dt.timedelta(days=7) in weekly_times
