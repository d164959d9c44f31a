"""The iCalendar feed and import: what a calendar client sees is what TaskFlow shows.

Dates are in 2054-2055 (the calendar of 2026-2027, 28 years on: same weekdays and DST days), so
reminders they set stay in the future however long this suite lives.

The feed is parsed with `icalendar` and expanded with `recurring-ical-events`, an expansion
independent of shared/domain/recurrence.py; each series must give exactly the occurrences
`POST …/recurrence/preview` gives, DST-crossing series included.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import zoneinfo

import icalendar
import pytest
import recurring_ical_events
import sqlalchemy as sa
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from functions.recurrence.sweep import spawn_due
from functions.reminders.firing import fire_due
from functions.tasks.calendar.plan import plan_import
from functions.tasks.calendar.scan import BadCalendar
from shared.persistence.models import Outbox, Reminder, SkippedOccurrence, Task
from tests.conftest import with_
from tests.support.live import Client

UTC = dt.UTC
NY = zoneinfo.ZoneInfo("America/New_York")
START = dt.datetime(2054, 12, 1, tzinfo=UTC)
YEAR_LATER = dt.datetime(2055, 12, 1, tzinfo=UTC)

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


def make_series(api: Client, rule: str, dtstart: str, tz: str, **fields) -> dict:
    resp = api.request(
        "POST",
        "/api/{me}/tasks",
        json={"title": f"{rule} @ {tz}", "due_date": dtstart, "timezone": tz, "recurrence_rule": rule, **fields},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def feed_url(api: Client) -> str:
    resp = api.request("POST", "/api/{me}/calendar-feed")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["url"].endswith(f"/ical/{body['token']}.ics") and body["webcal_url"].startswith("webcal://")
    return body["url"].replace(body["url"].split("/ical/")[0], api.base)


def fetch(api: Client, url: str, **params) -> icalendar.Calendar:
    resp = api.http.get(url, params=params, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(resp.content)


def preview(api: Client, rule: str, dtstart: str, tz: str, after: dt.datetime) -> list[dt.datetime]:
    resp = api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={"recurrence_rule": rule, "dtstart": dtstart, "timezone": tz, "count": 500, "after": after.isoformat()},
    )
    assert resp.status_code == 200, resp.text
    return [dt.datetime.fromisoformat(o) for o in resp.json()["occurrences"]]


def expanded(cal: icalendar.Calendar, start: dt.datetime, end: dt.datetime) -> dict[str, list[dt.datetime]]:
    """Occurrences per UID as recurring-ical-events computes them (as UTC instants)."""
    out: dict[str, list[dt.datetime]] = {}
    for component in recurring_ical_events.of(cal).between(start, end):
        out.setdefault(str(component["UID"]), []).append(component["DTSTART"].dt.astimezone(UTC))
    return {uid: sorted(times) for uid, times in out.items()}


def test_every_series_expands_in_a_calendar_exactly_as_preview_gives_it(api):
    made = [make_series(api, rule, start, tz) for rule, start, tz in SERIES]
    cal = fetch(api, feed_url(api))
    occurrences = expanded(cal, START, YEAR_LATER)
    for task, (rule, start, tz) in zip(made, SERIES, strict=True):
        expected = [o for o in preview(api, rule, start, tz, START) if o < YEAR_LATER]
        assert expected, rule
        assert occurrences[f"{task['id']}@taskflow"] == expected, (rule, tz)
    # Each zone is described by a VTIMEZONE (clients need not know IANA names).
    zones = {str(c["TZID"]) for c in cal.walk("VTIMEZONE")}
    assert zones == {tz for _, _, tz in SERIES} - {"UTC"}


def vtimezone_offset(vtimezone: icalendar.cal.Component, instant: dt.datetime) -> dt.timedelta:
    """The UTC offset a client reading only this VTIMEZONE gives `instant` (RFC 5545 §3.6.5: each onset
    is local time in TZOFFSETFROM; the latest onset at or before the instant sets TZOFFSETTO)."""
    onsets = []
    for sub in vtimezone.subcomponents:
        offset_from, offset_to = sub["TZOFFSETFROM"].td, sub["TZOFFSETTO"].td
        rdates = sub.get("RDATE", [])
        locals_ = [sub.decoded("DTSTART")] + [
            p.dt for entry in (rdates if isinstance(rdates, list) else [rdates]) for p in entry.dts
        ]
        onsets += [((local - offset_from).replace(tzinfo=UTC), offset_to) for local in locals_]
    return max((o for o in onsets if o[0] <= instant), key=lambda o: o[0])[1]


@pytest.mark.parametrize("tzid", ["America/New_York", "Europe/London", "Australia/Sydney", "Pacific/Auckland"])
def test_the_feeds_vtimezone_changes_offset_at_the_zone_databases_instants_until_2100(tzid):
    """For clients that read the VTIMEZONE rather than their own zone database (Outlook, some CalDAV
    servers): every change 1971-2099 at its exact instant, and the right offset every month in between."""
    from functions.tasks.calendar.feed import vtimezone

    component = icalendar.Calendar.from_ical(
        b"BEGIN:VCALENDAR\r\n" + vtimezone(tzid).to_ical() + b"END:VCALENDAR\r\n"
    ).walk("VTIMEZONE")[0]
    tz = zoneinfo.ZoneInfo(tzid)
    changes = 0
    for sub in component.subcomponents:
        if sub["TZOFFSETFROM"].td == sub["TZOFFSETTO"].td:
            continue
        rdates = sub.get("RDATE", [])
        for local in [sub.decoded("DTSTART")] + [
            p.dt for entry in (rdates if isinstance(rdates, list) else [rdates]) for p in entry.dts
        ]:
            instant = (local - sub["TZOFFSETFROM"].td).replace(tzinfo=UTC)
            assert (instant - dt.timedelta(seconds=1)).astimezone(tz).utcoffset() == sub["TZOFFSETFROM"].td, local
            assert instant.astimezone(tz).utcoffset() == sub["TZOFFSETTO"].td, local
            changes += 1
    assert changes > 2 * 100, "a change each spring and autumn, 1971-2099"
    for year in range(1971, 2100):
        for month in range(1, 13):
            instant = dt.datetime(year, month, 15, 12, tzinfo=UTC)
            assert vtimezone_offset(component, instant) == instant.astimezone(tz).utcoffset(), (year, month)


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


def api_server(api: Client, serve):
    """A second user on the same server as `api`."""

    class Same:
        url = api.base

    return Same


def import_ics(api: Client, text: str | bytes, **params) -> object:
    data = text.encode() if isinstance(text, str) else text
    return api.request(
        "POST", "/api/{me}/import/ics", params=params, data=data, headers={"Content-Type": "text/calendar"}
    )


IMPORT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//Example//EN
X-WR-TIMEZONE:Europe/Paris
BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:STANDARD
DTSTART:19701101T020000
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:standup@example.com
SUMMARY:Standup
DTSTART;TZID=America/New_York:20541207T093000
DTEND;TZID=America/New_York:20541207T094500
RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR
EXDATE;TZID=America/New_York:20541208T093000
LOCATION:Room 1
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Standup
TRIGGER:-PT10M
END:VALARM
END:VEVENT
BEGIN:VTODO
UID:taxes@example.com
SUMMARY:File taxes
DESCRIPTION:Before the deadline
DUE:20550415T120000
PRIORITY:1
CATEGORIES:admin,money
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER;VALUE=DATE-TIME:20550414T090000Z
END:VALARM
X-CUSTOM:kept nowhere
END:VTODO
BEGIN:VTODO
UID:done@example.com
SUMMARY:Old chore
DUE:20540101T100000Z
STATUS:COMPLETED
COMPLETED:20540101T110000Z
END:VTODO
BEGIN:VJOURNAL
UID:journal@example.com
SUMMARY:a note
END:VJOURNAL
END:VCALENDAR
""".replace("\n", "\r\n")


def test_import_dry_run_then_import_reports_what_it_cannot_keep(api):
    dry = import_ics(api, IMPORT, dry_run="true")
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True
    assert body["created"] == {"tasks": 2, "series": 1, "skipped": 1, "reminders": 2}  # taxes, old chore; EXDATE
    reported = {(u["component"], u["property"]): u["line"] for u in body["unsupported"]}
    assert reported == {
        ("VEVENT", "DTEND"): 18,
        ("VEVENT", "LOCATION"): 21,
        ("VTODO", "X-CUSTOM"): 39,
        ("VJOURNAL", ""): 48,  # a component TaskFlow does not import, listed once as such
    }
    assert api.request("GET", "/api/{me}/tasks").json()["items"] == [], "a dry run stores nothing"

    done = import_ics(api, IMPORT)
    assert done.status_code == 201, done.text
    assert done.json()["created"] == body["created"] == stored_counts(api)
    items = api.request("GET", "/api/{me}/tasks", params={"limit": 50}).json()["items"]
    tasks = {t["title"]: t for t in items if not t["parent_id"]}
    standup = [t for t in items if t["recurrence_rule"]]
    assert [t for t in items if t["parent_id"]] == [], "the EXDATE is a skipped occurrence, not an instance"
    assert skipped_of(api, standup[0]["id"]) == [dt.datetime(2054, 12, 8, 14, 30, tzinfo=UTC)]
    assert len(standup) == 1 and standup[0]["recurrence_rule"] == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    assert standup[0]["timezone"] == "America/New_York" and standup[0]["due_date"] == "2054-12-07T09:30:00-05:00"
    taxes = tasks["File taxes"]
    assert taxes["timezone"] == "Europe/Paris", "floating time read in the calendar's X-WR-TIMEZONE"
    assert taxes["due_date"] == "2055-04-15T12:00:00+02:00"
    assert (taxes["priority"], taxes["tags"]) == ("urgent", ["admin", "money"])
    assert taxes["description"] == "Before the deadline"
    reminders = api.request("GET", f"/api/{{me}}/tasks/{taxes['id']}/reminders").json()["items"]
    assert [r["remind_at"] for r in reminders] == ["2055-04-14T11:00:00+02:00"]
    assert tasks["Old chore"]["completed"] is True
    with api.rt.sessions() as s:
        payloads = s.scalars(sa.select(Outbox.payload).where(Outbox.event_type == "task.created")).all()
    created = [p["aggregate_id"] for p in payloads]
    assert sorted(created) == sorted(t["id"] for t in items), "every created task has its task.created event"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nthis is not a content line\r\n", 4, "content line"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", 4, "does not close"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nSUMMARY:x\r\n", 3, "never closed"),
        ("SUMMARY:x\r\n", 1, "BEGIN:VCALENDAR"),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nDTSTART:20540101T090000Z\r\n"
            "RRULE:FREQ=WEEKLY;BYDAY=1MO\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            5,
            "MONTHLY or YEARLY",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nDTSTART:2054-01-01\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            4,
            "DTSTART",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nDTSTART:20540101T090000Z\r\n"
            "RRULE:FREQ=MINUTELY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            5,
            "15 minutes",
        ),
    ],
)
def test_a_bad_file_is_refused_with_its_line_and_stores_nothing(api, text, line, words):
    resp = import_ics(api, text)
    assert resp.status_code == 422, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert f"line {line}:" in resp.json()["errors"]["file"] and words in resp.json()["errors"]["file"]
    assert api.request("GET", "/api/{me}/tasks").json()["items"] == []


def test_import_limits_media_type_and_ownership(api, serve, make_client):
    many = "BEGIN:VCALENDAR\r\n" + "BEGIN:VTODO\r\nSUMMARY:t\r\nEND:VTODO\r\n" * 501 + "END:VCALENDAR\r\n"
    resp = import_ics(api, many)
    assert resp.status_code == 422 and "more than 500 tasks" in resp.json()["errors"]["file"]
    huge = "BEGIN:VCALENDAR\r\n" + "X-PAD:" + "a" * (1024 * 1024) + "\r\nEND:VCALENDAR\r\n"
    assert import_ics(api, huge).status_code == 413
    wrong_type = api.request("POST", "/api/{me}/import/ics", data=IMPORT, headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    not_utf8 = import_ics(api, b"BEGIN:VCALENDAR\r\nSUMMARY:\xff\xfe\r\nEND:VCALENDAR\r\n")
    # RFC 5545 text is UTF-8: anything else is not a calendar file, refused with the line at fault.
    assert not_utf8.status_code == 422 and not_utf8.json()["errors"] == {"body": "line 2: is not UTF-8 text"}
    assert import_ics(api, IMPORT, dry_run="maybe").status_code == 422
    other = make_client(api_server(api, serve)).signup()
    assert other.request("POST", f"/api/{api.user_id}/import/ics", data=IMPORT).status_code == 403
    assert api.request("GET", "/api/{me}/tasks").json()["items"] == []


def stored_counts(api: Client, user_id: str | None = None) -> dict[str, int]:
    """The rows stored for the user (default: api's), counted as an import's `created` counts them."""
    user_id = user_id or api.user_id
    with api.rt.sessions() as s:
        tasks = s.scalars(sa.select(Task).where(Task.user_id == user_id)).all()
        skipped = s.scalar(
            sa.select(sa.func.count())
            .select_from(SkippedOccurrence)
            .join(Task, Task.id == SkippedOccurrence.series_id)
            .where(Task.user_id == user_id)
        )
        reminders = s.scalar(sa.select(sa.func.count()).select_from(Reminder).where(Reminder.user_id == user_id))
    series = sum(1 for t in tasks if t.recurrence_rule and t.parent_id is None)
    return {"tasks": len(tasks) - series, "series": series, "skipped": skipped, "reminders": reminders}


def skipped_of(api: Client, series_id: str) -> list[dt.datetime]:
    with api.rt.sessions() as s:
        return list(
            s.scalars(
                sa.select(SkippedOccurrence.occurrence_at)
                .where(SkippedOccurrence.series_id == series_id)
                .order_by(SkippedOccurrence.occurrence_at)
            )
        )


def exdates(component: icalendar.cal.Component) -> list[dt.datetime]:
    prop = component.get("EXDATE")
    props = prop if isinstance(prop, list) else [] if prop is None else [prop]
    return sorted(value.dt.astimezone(UTC) for item in props for value in item.dts)


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


@st.composite
def damaged_files(draw) -> bytes:
    """The sample file with lines dropped, duplicated, cut or garbled: what a broken export looks like."""
    lines = IMPORT.split("\r\n")
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "cut", "garble", "insert"]))
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "cut":
            lines[index] = lines[index][: draw(st.integers(0, max(len(lines[index]) - 1, 0)))]
        elif action == "garble":
            lines[index] = lines[index] + draw(st.text(max_size=20))
        else:
            lines.insert(index, draw(st.sampled_from(INSERTS)))
        if not lines:
            lines = ["BEGIN:VCALENDAR"]
    return "\r\n".join(lines).encode("utf-8", "surrogatepass")


INSERTS = [
    "RRULE:FREQ=SECONDLY",
    "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
    "RRULE:FREQ=WEEKLY;BYDAY=SU;COUNT=1",
    "DTSTART;TZID=Mars/Olympus:20540101T000000",
    "DTSTART;VALUE=DATE:20540101",
    "DTSTART:99991231T235959Z",
    "EXDATE:20541208T093000Z,garbage",
    "TRIGGER:PT10M",
    "TRIGGER;VALUE=DATE-TIME:20990101T000000Z",
    "RECURRENCE-ID:20541209T143000Z",
    "PRIORITY:42",
    "CATEGORIES:" + ",".join(f"t{i}" for i in range(30)),
    "SUMMARY:" + "x" * 600,
    "BEGIN:VALARM",
    "END:VTODO",
    "X-WR-TIMEZONE:Not/AZone",
]


@hsettings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None, derandomize=True)
@given(data=damaged_files())
def test_a_damaged_file_is_read_or_refused_never_crashes(data):
    """Whatever the damage: an import plan, or BadCalendar (422) — no other exception (a 500)."""
    try:
        plan = plan_import(data, "Europe/Paris", dt.datetime(2054, 11, 29, tzinfo=UTC))
    except BadCalendar:
        return
    assert len(plan.tasks) <= 500
    assert all(t.rule is None or t.due_date is not None for t in plan.tasks)


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


def test_an_import_of_many_costly_rules_stops_at_its_cpu_budget(api):
    """Each rule alone is fine (a Monday 29 February: 2044); 500 of them exceed the import's CPU budget."""

    def calendar(n: int) -> str:
        rule = "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO"
        events = "".join(
            f"BEGIN:VEVENT\r\nUID:{i}\r\nSUMMARY:s{i}\r\nDTSTART:20260101T090000Z\r\n{rule}\r\nEND:VEVENT\r\n"
            for i in range(n)
        )
        return "BEGIN:VCALENDAR\r\n" + events + "END:VCALENDAR\r\n"

    one = import_ics(api, calendar(1), dry_run="true")
    assert one.status_code == 200 and one.json()["created"]["series"] == 1, one.text
    started = time.process_time()
    many = import_ics(api, calendar(500), dry_run="true")
    assert time.process_time() - started < 6
    assert many.status_code == 422 and "time budget" in many.json()["errors"]["file"], many.text


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


@pytest.mark.parametrize("rule", ["FREQ=WEEKLY;BYDAY=MO;COUNT=3", "FREQ=WEEKLY;BYDAY=MO;UNTIL=20550201T000000Z"])
def test_a_dtstart_off_the_rule_is_imported_as_its_first_occurrence(api, rule):
    """RFC 5545 §3.8.5.3: "The DTSTART property value always counts as the first occurrence" (Wed 6 Jan 2055).

    With COUNT it is one of the COUNT occurrences (the RFC's sentence sits in COUNT's definition);
    recurring-ical-events adds it on top of COUNT, so only the UNTIL form is compared with it.
    """
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:off\r\nSUMMARY:Off\r\n"
        f"DTSTART;TZID=Europe/Berlin:20550106T100000\r\nRRULE:{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    window = (dt.datetime(2055, 1, 1, tzinfo=UTC), dt.datetime(2055, 3, 1, tzinfo=UTC))
    mondays = [dt.datetime(2055, 1, day, 9, tzinfo=UTC) for day in (11, 18, 25)]
    expected = [dt.datetime(2055, 1, 6, 9, tzinfo=UTC), *mondays[: 2 if "COUNT" in rule else 3]]
    if "UNTIL" in rule:
        assert expanded(icalendar.Calendar.from_ical(ics), *window)["off"] == expected
    resp = import_ics(api, ics)
    assert resp.status_code == 201, resp.text
    assert [u["property"] for u in resp.json()["unsupported"]] == ["DTSTART"]
    items = api.request("GET", "/api/{me}/tasks").json()["items"]
    alone = [dt.datetime.fromisoformat(t["due_date"]) for t in items if not t["recurrence_rule"]]
    series = next(t for t in items if t["recurrence_rule"])
    occurrences = preview(api, series["recurrence_rule"], series["due_date"], "Europe/Berlin", window[0])
    assert sorted(alone + [o for o in occurrences if o < window[1]]) == expected


WEEKLY_SYNC = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example//Example//EN\r
BEGIN:VEVENT\r
UID:sync@example.com\r
SUMMARY:Weekly sync\r
DTSTART;TZID=Europe/Paris:20550104T100000\r
RRULE:FREQ=WEEKLY\r
EXDATE;TZID=Europe/Paris:20550104T100000,20550118T100000\r
EXDATE;TZID=Europe/Paris:20550112T100000\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
TRIGGER:-PT30M\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_an_imported_exdate_is_a_skipped_occurrence_not_a_completed_task(api):
    """A cancelled meeting (EXDATE) is skipped: no task row, not in Completed, an EXDATE again in both feeds."""
    dry = import_ics(api, WEEKLY_SYNC, dry_run="true")
    resp = import_ics(api, WEEKLY_SYNC)
    assert resp.status_code == 201, resp.text
    created = {"tasks": 0, "series": 1, "skipped": 2, "reminders": 1}
    assert dry.json()["created"] == resp.json()["created"] == created == stored_counts(api)
    # Tuesday 12 January is no occurrence of a Monday series: calendars ignore it, and so does the import
    # (the line is where the component's EXDATEs start; the reason names the value).
    assert resp.json()["unsupported"] == [
        {
            "line": 9,
            "component": "VEVENT",
            "property": "EXDATE",
            "reason": "2055-01-12T09:00:00+00:00 is not an occurrence of the RRULE: ignored",
        }
    ]
    (series,) = api.request("GET", "/api/{me}/tasks").json()["items"]
    assert api.request("GET", "/api/{me}/tasks", params={"completed": "true"}).json()["items"] == []
    jan4, jan11, jan18 = (dt.datetime(2055, 1, day, 9, tzinfo=UTC) for day in (4, 11, 18))
    assert skipped_of(api, series["id"]) == [jan4, jan18]
    assert series["next_occurrence"] == "2055-01-11T10:00:00+01:00", "the skipped first occurrence is passed over"
    reminders = api.request("GET", f"/api/{{me}}/tasks/{series['id']}/reminders").json()["items"]
    assert [(r["remind_at"], r["notified"]) for r in reminders] == [("2055-01-11T09:30:00+01:00", False)]
    for kind in ("event", "todo"):
        cal = fetch(api, feed_url(api), type=kind)
        (master,) = [c for c in cal.walk() if c.name in ("VEVENT", "VTODO")]
        assert exdates(master) == [jan4, jan18], kind
    times = expanded(fetch(api, feed_url(api)), START, dt.datetime(2055, 2, 1, tzinfo=UTC))[f"{series['id']}@taskflow"]
    assert times == [jan11, jan11 + dt.timedelta(days=14)]


WATERING = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example//Example//EN\r
BEGIN:VTODO\r
UID:water@example.com\r
SUMMARY:Water plants\r
DUE;TZID=Europe/Paris:20550104T180000\r
RRULE:FREQ=DAILY;COUNT=5\r
END:VTODO\r
BEGIN:VTODO\r
UID:water@example.com\r
RECURRENCE-ID;TZID=Europe/Paris:20550105T180000\r
SUMMARY:Water plants\r
DUE;TZID=Europe/Paris:20550105T180000\r
STATUS:COMPLETED\r
COMPLETED:20550105T170500Z\r
END:VTODO\r
BEGIN:VTODO\r
UID:water@example.com\r
RECURRENCE-ID;TZID=Europe/Paris:20550106T180000\r
SUMMARY:Water plants\r
DUE;TZID=Europe/Paris:20550106T180000\r
STATUS:CANCELLED\r
END:VTODO\r
END:VCALENDAR\r
"""


def test_a_completed_todo_occurrence_stays_completed_and_a_cancelled_one_is_skipped(api):
    """What the to-do feed writes for an occurrence completed in TaskFlow comes back completed."""
    resp = import_ics(api, WATERING)
    assert resp.status_code == 201, resp.text
    assert resp.json()["created"] == {"tasks": 1, "series": 1, "skipped": 1, "reminders": 0} == stored_counts(api)
    assert resp.json()["unsupported"] == []
    done = api.request("GET", "/api/{me}/tasks", params={"completed": "true"}).json()["items"]
    assert [(t["occurrence_at"], t["completed_at"]) for t in done] == [
        ("2055-01-05T18:00:00+01:00", "2055-01-05T17:05:00Z")
    ]
    series_id = done[0]["parent_id"]
    assert skipped_of(api, series_id) == [dt.datetime(2055, 1, 6, 17, tzinfo=UTC)]
    todo = fetch(api, feed_url(api), type="todo")
    overrides = [c for c in todo.walk("VTODO") if "RECURRENCE-ID" in c]
    assert [(c["RECURRENCE-ID"].dt.astimezone(UTC), str(c["STATUS"])) for c in overrides] == [
        (dt.datetime(2055, 1, 5, 17, tzinfo=UTC), "COMPLETED")
    ]
    (master,) = [c for c in todo.walk("VTODO") if "RRULE" in c]
    assert exdates(master) == [dt.datetime(2055, 1, 6, 17, tzinfo=UTC)]


def test_exdates_ahead_beyond_the_skip_cap_are_reported_and_the_rest_kept(api):
    """A series skips at most MAX_SKIPPED_AHEAD occurrences ahead of now; past ones are not capped."""
    from shared.services.series import MAX_SKIPPED_AHEAD

    past = [dt.datetime(2020, 1, day, 9, tzinfo=UTC) for day in (1, 2, 3)]
    ahead = [dt.datetime(2055, 1, 1, 9, tzinfo=UTC) + dt.timedelta(days=n) for n in range(MAX_SKIPPED_AHEAD + 5)]
    values = ",".join(d.strftime("%Y%m%dT%H%M%SZ") for d in past + ahead)
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:daily\r\nSUMMARY:Daily\r\n"
        f"DTSTART:20200101T090000Z\r\nRRULE:FREQ=DAILY\r\nEXDATE:{values}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    dry = import_ics(api, ics, dry_run="true")
    resp = import_ics(api, ics)
    assert resp.status_code == 201, resp.text
    created = {"tasks": 0, "series": 1, "skipped": 3 + MAX_SKIPPED_AHEAD, "reminders": 0}
    assert dry.json()["created"] == resp.json()["created"] == created == stored_counts(api)
    first_kept = ahead[MAX_SKIPPED_AHEAD]
    assert resp.json()["unsupported"] == [
        {
            "line": 9,
            "component": "VEVENT",
            "property": "EXDATE",
            "reason": f"a series can skip at most {MAX_SKIPPED_AHEAD} occurrences ahead: 5 later EXDATEs"
            f" (from {first_kept.isoformat()}) not kept, those occurrences stay in the series",
        }
    ]
    (series,) = api.request("GET", "/api/{me}/tasks").json()["items"]
    assert skipped_of(api, series["id"]) == past + ahead[:MAX_SKIPPED_AHEAD]
