"""The .ics import: scan, plan, apply. What a calendar exported is what TaskFlow stores, or a 422 naming the line.

Dry runs store nothing; what cannot be kept is reported with its line; the work is bounded (tasks,
exceptions, CPU) and throttled per client. Dates are in 2054-2055 (see tests/support/calendar.py).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import icalendar
import pytest
import sqlalchemy as sa

from functions.tasks.calendar.plan import MAX_INSTANCES_TOTAL
from shared.persistence.db import make_engine
from shared.persistence.models import Outbox, SkippedOccurrence, Task
from tests.conftest import with_
from tests.support.calendar import (
    IMPORT,
    START,
    api_server,
    calendar,
    exdates,
    expanded,
    feed_url,
    fetch,
    import_ics,
    preview,
    series_with_exdates,
    skipped_of,
    stored_counts,
    weekly_calendar,
)
from tests.support.rows import rows

UTC = dt.UTC
NY = zoneinfo.ZoneInfo("America/New_York")


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


def test_an_import_of_many_costly_rules_stops_at_its_cpu_budget(api):
    """Each rule alone is fine (a Monday 29 February: 2044); 500 of them exceed the import's CPU budget."""

    def costly(n: int) -> str:
        rule = "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO"
        events = "".join(
            f"BEGIN:VEVENT\r\nUID:{i}\r\nSUMMARY:s{i}\r\nDTSTART:20260101T090000Z\r\n{rule}\r\nEND:VEVENT\r\n"
            for i in range(n)
        )
        return "BEGIN:VCALENDAR\r\n" + events + "END:VCALENDAR\r\n"

    one = import_ics(api, costly(1), dry_run="true")
    assert one.status_code == 200 and one.json()["created"]["series"] == 1, one.text
    # The CPU it spends before refusing is a row of tests/bench/bench_recurrence.py (target: under 6 s).
    many = import_ics(api, costly(500), dry_run="true")
    assert many.status_code == 422 and "time budget" in many.json()["errors"]["file"], many.text


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


def test_an_import_refuses_more_exceptions_in_all_than_its_limit_and_stores_nothing(api, db_url):
    per_series = MAX_INSTANCES_TOTAL // 2
    bomb = calendar(*(line for i in range(3) for line in series_with_exdates(f"s{i}", per_series)))
    resp = api.request("POST", "/api/{me}/import/ics", data=bomb.encode(), headers={"Content-Type": "text/calendar"})
    assert resp.status_code == 422, resp.text
    assert "exceptions in all" in resp.json()["errors"]["file"] and "line 19" in resp.json()["errors"]["file"]
    assert rows(db_url, Task) == 0 and rows(db_url, Outbox) == 0


def test_an_import_at_the_limit_stores_every_exception_as_a_skipped_occurrence(api, db_url):
    # Past EXDATEs: skips ahead of now are capped per series (MAX_SKIPPED_AHEAD), past ones are not.
    per_series = MAX_INSTANCES_TOTAL // 2
    lines = (line for i in range(2) for line in series_with_exdates(f"s{i}", per_series, dt.date(2020, 1, 1)))
    body = calendar(*lines)
    # How long this takes is a row of tests/bench/bench_recurrence.py (target: 10 s); here, what is stored.
    resp = api.request("POST", "/api/{me}/import/ics", data=body.encode(), headers={"Content-Type": "text/calendar"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["created"] == {"tasks": 0, "series": 2, "skipped": MAX_INSTANCES_TOTAL, "reminders": 0}
    assert rows(db_url, Task) == 2 and rows(db_url, SkippedOccurrence) == MAX_INSTANCES_TOTAL
    engine = make_engine(db_url)
    with engine.connect() as conn:
        created = conn.execute(sa.select(Outbox.payload).where(Outbox.event_type == "task.created")).all()
    engine.dispose()
    assert [p.payload["data"]["parent_id"] for p in created] == [None, None], "one task.created per series"


def test_imports_are_throttled_per_client_and_answers_under_a_limit_carry_no_retry_after(settings, serve, make_client):
    import requests

    from functions.tasks import create_app

    server = serve(create_app(with_(settings, run_background_workers=False, import_rate_limit="2 per minute")))
    api = make_client(server).signup()
    body = calendar("BEGIN:VTODO", "UID:t1", "SUMMARY:one", "END:VTODO")
    headers = {"Content-Type": "text/calendar"}
    answers = [api.request("POST", "/api/{me}/import/ics?dry_run=true", data=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], [a.text for a in answers]
    assert "Retry-After" not in answers[0].headers
    assert int(answers[2].headers["Retry-After"]) > 0
    assert answers[2].headers["Content-Type"] == "application/problem+json"

    feed = api.request("POST", "/api/{me}/calendar-feed").json()
    first = requests.get(feed["url"], timeout=10)
    again = requests.get(feed["url"], headers={"If-None-Match": first.headers["ETag"]}, timeout=10)
    assert (first.status_code, again.status_code) == (200, 304)
    assert "Retry-After" not in first.headers and "Retry-After" not in again.headers
    # RFC 7986 REFRESH-INTERVAL and the de-facto X-PUBLISHED-TTL as DURATION text, which clients read.
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT15M\r\n" in first.text and "X-PUBLISHED-TTL:PT15M\r\n" in first.text


def test_a_dry_run_of_many_series_with_alarms_answers_like_the_import(api):
    """A dry run runs everything the import runs (its budget too), then rolls back: the same answer."""
    body = weekly_calendar(120)
    dry = import_ics(api, body, dry_run="true")
    assert api.request("GET", "/api/{me}/tasks").json()["items"] == [], "a dry run stores nothing"
    real = import_ics(api, body)
    assert dry.status_code in (200, 422) and real.status_code in (201, 422), (dry.text, real.text)
    assert (dry.status_code == 200) == (real.status_code == 201), (dry.status_code, real.status_code)
    if real.status_code == 201:
        assert dry.json()["created"] == real.json()["created"]
