"""What a calendar client does, for the feed and import tests: fetch and expand a feed, send an .ics file.

Dates are in 2054-2055 (the calendar of 2026-2027, 28 years on: same weekdays and DST days), so
reminders they set stay in the future however long the suite lives. The feed is parsed with
`icalendar` and expanded with `recurring-ical-events`, independently of shared/domain/recurrence.py.
"""

from __future__ import annotations

import datetime as dt

import icalendar
import recurring_ical_events
import sqlalchemy as sa

from shared.persistence.models import Reminder, SkippedOccurrence, Task
from tests.support.live import Client

UTC = dt.UTC


START = dt.datetime(2054, 12, 1, tzinfo=UTC)


YEAR_LATER = dt.datetime(2055, 12, 1, tzinfo=UTC)


def make_series(api: Client, rule: str, dtstart: str, tz: str, **fields) -> dict:
    """Create a series through the API (rule, first wall-clock time, zone); the task as answered."""
    resp = api.request(
        "POST",
        "/api/{me}/tasks",
        json={"title": f"{rule} @ {tz}", "due_date": dtstart, "timezone": tz, "recurrence_rule": rule, **fields},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def feed_url(api: Client) -> str:
    """Make (or rotate) the user's calendar feed; its URL on this test's server."""
    resp = api.request("POST", "/api/{me}/calendar-feed")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["url"].endswith(f"/ical/{body['token']}.ics") and body["webcal_url"].startswith("webcal://")
    return body["url"].replace(body["url"].split("/ical/")[0], api.base)


def fetch(api: Client, url: str, **params) -> icalendar.Calendar:
    """GET the feed and parse it as a calendar client would."""
    resp = api.http.get(url, params=params, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(resp.content)


def preview(
    api: Client, rule: str, dtstart: str, tz: str, after: dt.datetime, until: dt.datetime | None = None
) -> list[dt.datetime]:
    """The occurrences POST …/recurrence/preview gives after `after` (up to 500), or, with `until`, every
    one before `until`, asked for page by page (a yearly rule is not expanded 500 times to see one year)."""
    found: list[dt.datetime] = []
    page = 500 if until is None else 50
    while True:
        resp = api.request(
            "POST",
            "/api/{me}/recurrence/preview",
            json={"recurrence_rule": rule, "dtstart": dtstart, "timezone": tz, "count": page}
            | {"after": after.isoformat()},
        )
        assert resp.status_code == 200, resp.text
        got = [dt.datetime.fromisoformat(o) for o in resp.json()["occurrences"]]
        found += got
        if until is None or len(got) < page or got[-1] >= until:
            return found if until is None else [o for o in found if o < until]
        after = got[-1] + dt.timedelta(seconds=1)


def expanded(cal: icalendar.Calendar, start: dt.datetime, end: dt.datetime) -> dict[str, list[dt.datetime]]:
    """Occurrences per UID as recurring-ical-events computes them (as UTC instants)."""
    out: dict[str, list[dt.datetime]] = {}
    for component in recurring_ical_events.of(cal).between(start, end):
        out.setdefault(str(component["UID"]), []).append(component["DTSTART"].dt.astimezone(UTC))
    return {uid: sorted(times) for uid, times in out.items()}


def api_server(api: Client, serve):
    """A second user on the same server as `api`."""

    class Same:
        url = api.base

    return Same


def import_ics(api: Client, text: str | bytes, **params) -> object:
    """POST an .ics file to the import (params: dry_run=...); the response."""
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
    """The series' skipped occurrences, earliest first."""
    with api.rt.sessions() as s:
        return list(
            s.scalars(
                sa.select(SkippedOccurrence.occurrence_at)
                .where(SkippedOccurrence.series_id == series_id)
                .order_by(SkippedOccurrence.occurrence_at)
            )
        )


def exdates(component: icalendar.cal.Component) -> list[dt.datetime]:
    """The component's EXDATEs as UTC instants, in order."""
    prop = component.get("EXDATE")
    props = prop if isinstance(prop, list) else [] if prop is None else [prop]
    return sorted(value.dt.astimezone(UTC) for item in props for value in item.dts)


def calendar(*lines: str) -> str:
    """A VCALENDAR around `lines`, with CRLF line ends."""
    return "\r\n".join(("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//review//EN", *lines, "END:VCALENDAR")) + "\r\n"


def series_with_exdates(uid: str, days: int, start: dt.date = dt.date(2055, 1, 1)) -> list[str]:
    """A daily VEVENT series from `start` with its first `days` occurrences as EXDATEs."""
    values = ",".join((start + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(days))
    return [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTART;VALUE=DATE:{start.strftime('%Y%m%d')}",
        "RRULE:FREQ=DAILY",
        f"EXDATE;VALUE=DATE:{values}",
        "END:VEVENT",
    ]


def weekly_calendar(events: int) -> str:
    """An .ics file of weekly series, three alarms each (the import the issue measured)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//taskflow tests//EN"]
    for i in range(events):
        lines += [
            "BEGIN:VEVENT",
            f"UID:weekly-{i}@tests",
            "DTSTAMP:20261201T090000Z",
            f"DTSTART:2027{1 + i % 12:02d}{1 + i % 27:02d}T090000Z",
            f"SUMMARY:Weekly {i}",
            "RRULE:FREQ=WEEKLY;COUNT=10",
        ]
        for minutes in (10, 30, 60):
            lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:x", f"TRIGGER:-PT{minutes}M", "END:VALARM"]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
