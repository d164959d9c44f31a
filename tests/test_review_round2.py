"""Review of issues 14-16: each hole found by probing a running server, closed and kept closed.

- POST …/parse with a reference time at the calendar's edge answered 500 (OverflowError);
- PUT and DELETE …/lists/<id> ignored If-Match although lists carry an ETag (a stale tab overwrote);
- an .ics import could plan ~100 000 exception rows from 1 MiB of EXDATE values (minutes in one
  transaction), and its parser's work had no bound on lines or line length;
- with tracing on, the calendar feed's token (the credential) was exported in the request span;
- JSON nested deeper than the parser's recursion limit escaped the CloudEvents parsing as a
  RecursionError: a 500 on /events/<topic> (Dapr retries it for ever) and, as a Kafka record, a
  poison record the consumer re-read for ever instead of dead-lettering it.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import sqlalchemy as sa
from opentelemetry import trace

from functions.audit import create_app as audit_app
from functions.tasks.calendar.plan import MAX_INSTANCES_TOTAL, plan_import
from functions.tasks.calendar.scan import MAX_LINE_CHARS, MAX_LINES, BadCalendar, scan
from functions.tasks.quickadd import parser
from shared.domain.events import MalformedEvent
from shared.messaging.cloudevents import event_from_record
from shared.observability import tracing
from shared.persistence.db import make_engine
from shared.persistence.models import EventLog, Outbox, Reminder, SkippedOccurrence, Task, TaskList
from shared.web.operations import build_spec, operation
from tests.conftest import with_

NOW = dt.datetime(2054, 12, 1, tzinfo=dt.UTC)


def rows(db_url: str, model: type) -> int:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(model))
    engine.dispose()
    return int(count or 0)


def calendar(*lines: str) -> str:
    return "\r\n".join(("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//review//EN", *lines, "END:VCALENDAR")) + "\r\n"


def series_with_exdates(uid: str, days: int, start: dt.date = dt.date(2055, 1, 1)) -> list[str]:
    values = ",".join((start + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(days))
    return [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTART;VALUE=DATE:{start.strftime('%Y%m%d')}",
        "RRULE:FREQ=DAILY",
        f"EXDATE;VALUE=DATE:{values}",
        "END:VEVENT",
    ]


# -- quick add -------------------------------------------------------------------------------------


def test_parse_refuses_a_reference_time_at_the_calendars_edge_with_422_not_500(api):
    for now in ("9999-12-31T23:00:00Z", "1900-01-01T00:00:00Z"):
        resp = api.request(
            "POST", "/api/{me}/parse", json={"text": "call mom tomorrow", "now": now, "timezone": "Pacific/Kiritimati"}
        )
        assert resp.status_code == 422, resp.text
        assert resp.headers["Content-Type"] == "application/problem+json" and "now" in resp.json()["errors"]
    ok = api.request("POST", "/api/{me}/parse", json={"text": "call mom tomorrow 6pm", "now": "9998-06-01T10:00:00Z"})
    assert ok.status_code == 200 and ok.json()["due_date"] == "9998-06-02T18:00:00+00:00"


def test_a_date_past_the_calendars_end_becomes_a_question_not_an_exception():
    """The parser itself stays total: a schedule that would leave year 9999 asks which day."""
    quick_add = parser.QuickAdd("UTC", dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC))
    for text in ("call mom at 9pm", "standup every day at 9pm"):
        parsed = quick_add.parse(text)
        assert parsed.due is None and parsed.rule is None, text
        assert parsed.questions, text


# -- lists: optimistic concurrency ----------------------------------------------------------------


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


# -- .ics import bounds ---------------------------------------------------------------------------


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
    started = time.perf_counter()
    resp = api.request("POST", "/api/{me}/import/ics", data=body.encode(), headers={"Content-Type": "text/calendar"})
    elapsed = time.perf_counter() - started
    assert resp.status_code == 201, resp.text
    assert resp.json()["created"] == {"tasks": 0, "series": 2, "skipped": MAX_INSTANCES_TOTAL, "reminders": 0}
    assert rows(db_url, Task) == 2 and rows(db_url, SkippedOccurrence) == MAX_INSTANCES_TOTAL
    engine = make_engine(db_url)
    with engine.connect() as conn:
        created = conn.execute(sa.select(Outbox.payload).where(Outbox.event_type == "task.created")).all()
    engine.dispose()
    assert [p.payload["data"]["parent_id"] for p in created] == [None, None], "one task.created per series"
    assert elapsed < 10, f"{elapsed:.1f} s for {MAX_INSTANCES_TOTAL} skipped occurrences"


def test_the_line_check_bounds_the_number_and_length_of_content_lines():
    too_long = calendar("BEGIN:VTODO", "UID:1", "CATEGORIES:" + ",".join(["a"] * (MAX_LINE_CHARS // 2)), "END:VTODO")
    with pytest.raises(BadCalendar, match="longer than") as long_line:
        scan(too_long)
    assert long_line.value.line == 6
    folded = calendar("BEGIN:VTODO", "UID:1", "DESCRIPTION:x" + "\r\n y" * MAX_LINE_CHARS, "END:VTODO")
    with pytest.raises(BadCalendar, match="longer than"):
        scan(folded)
    too_many = calendar("BEGIN:VTODO", "UID:1", *(["X-A:b"] * MAX_LINES), "END:VTODO")
    with pytest.raises(BadCalendar, match="content lines"):
        scan(too_many)
    with pytest.raises(BadCalendar, match="content lines"):
        plan_import(too_many.encode(), "UTC", NOW)
    fits = calendar("BEGIN:VTODO", "UID:1", "DESCRIPTION:" + "x" * 10_000, "END:VTODO")
    assert plan_import(fits.encode(), "UTC", NOW).counts()["tasks"] == 1


# -- tracing --------------------------------------------------------------------------------------


def test_the_feed_token_never_reaches_a_span(settings, serve, make_client, spans):
    from functions.tasks import create_app

    server = serve(create_app(with_(settings, tracing=True, run_background_workers=False)))
    api = make_client(server).signup()
    token = api.request("POST", "/api/{me}/calendar-feed").json()["token"]
    spans.clear()
    assert api.request("GET", f"/ical/{token}.ics?type=todo", auth=False).status_code == 200
    assert api.request("GET", f"/ical/{token}", auth=False).status_code == 404  # unrouted: the path names the span
    finished = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert len(finished) == 2
    for span in finished:
        assert token not in span.name
        assert all(token not in str(value) for value in span.attributes.values()), dict(span.attributes)
    assert any("/ical/<token>.ics" in str(v) for s in finished for v in s.attributes.values())


# -- CloudEvents: JSON nested too deep is malformed, not a crash ---------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_deeply_nested_json_deliveries_are_dropped_or_400_and_store_nothing(settings, serve, make_client, db_url):
    client = make_client(serve(audit_app(with_(settings, run_background_workers=False))))
    structured = (
        DEEP,
        b'{"specversion":"1.0","id":"1","type":"t","source":"s","data":' + DEEP + b"}",
        b'{"specversion":"1.0","id":"1","type":"t","source":"s","data":"' + b"[" * 100_000 + b'"}',
    )
    for body in structured:
        resp = client.request(
            "POST",
            "/events/tasks.events",
            auth=False,
            data=body,
            headers={"Content-Type": "application/cloudevents+json"},
        )
        assert resp.status_code == 200 and resp.json() == {"status": "DROP"}, resp.text[:200]
    binary = {"ce-id": "x", "ce-type": "t", "ce-source": "s", "ce-specversion": "1.0"}
    binary["Content-Type"] = "application/json"
    resp = client.request("POST", "/events/tasks.events", auth=False, data=DEEP, headers=binary)
    assert resp.status_code == 400 and resp.headers["Content-Type"] == "application/problem+json"
    assert rows(db_url, EventLog) == 0


def test_a_deeply_nested_kafka_record_is_malformed_so_it_is_dead_lettered():
    names = ("ce_specversion", "ce_id", "ce_type", "ce_source")
    ce_headers = [(n, b"1.0" if n == "ce_specversion" else b"x") for n in names]
    for headers in ([], ce_headers):
        with pytest.raises(MalformedEvent):
            event_from_record(headers, b"user", DEEP)


# -- time zones: names every calendar resolves the same way ---------------------------------------


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


def test_an_import_reads_a_non_iana_tzid_as_a_zone_only_the_file_defines():
    ics = calendar(
        "X-WR-TIMEZONE:localtime",
        "BEGIN:VEVENT",
        "UID:1",
        "DTSTART;TZID=right/UTC:20550101T090000",
        "END:VEVENT",
    )
    plan = plan_import(ics.encode(), "Europe/Paris", NOW)
    [task] = plan.tasks
    assert task.timezone != "right/UTC"
    assert {u["property"] for u in plan.unsupported} >= {"X-WR-TIMEZONE", "DTSTART"}


@pytest.mark.parametrize(
    ("text", "title", "rule", "due"),
    [
        ("pay rent every last day at 8am", "pay rent", "FREQ=MONTHLY;BYMONTHDAY=-1", "2054-12-31T08:00:00+01:00"),
        ("backup every last day of the month", "backup", "FREQ=MONTHLY;BYMONTHDAY=-1", "2054-12-31T09:00:00+01:00"),
        ("stretch every morning", "stretch", "FREQ=DAILY", "2054-12-02T09:00:00+01:00"),
        ("journal every evening", "journal", "FREQ=DAILY", "2054-12-01T19:00:00+01:00"),
    ],
)
def test_quick_add_reads_the_last_day_and_parts_of_the_day_as_series(text, title, rule, due):
    """Todoist phrases the grammar missed ("Every what?"): the last day of the month, every morning."""
    parsed = parser.QuickAdd("Europe/Paris", dt.datetime(2054, 12, 1, 12, tzinfo=dt.UTC)).parse(text)
    assert (parsed.title, parsed.rule, parsed.due and parsed.due.isoformat()) == (title, rule, due)
    assert not parsed.questions


# -- titles are one line ---------------------------------------------------------------------------


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


# -- the spec is built once ----------------------------------------------------------------------


def test_openapi_is_built_once_per_set_of_routes(settings):
    """GET /openapi.json is public: it cost ~0.1 s of CPU per request, rebuilt each time."""
    from functions.tasks import create_app

    app = create_app(with_(settings, run_background_workers=False))
    try:
        first = build_spec(app, title="t", version="1", description="d")
        assert build_spec(app, title="t", version="1", description="d") is first

        @app.get("/added-later")
        @operation(summary="x", tags=["test"])
        def added_later() -> str:
            return "x"

        again = build_spec(app, title="t", version="1", description="d")
        assert again is not first and "/added-later" in again["paths"] and "/added-later" not in first["paths"]
        served = app.test_client().get("/openapi.json")
        assert served.status_code == 200 and "/added-later" in served.json["paths"]
    finally:
        app.extensions["taskflow"].close()


def test_a_websocket_jwt_never_reaches_a_span(settings, serve, make_client, spans):
    """The browser's socket sends its JWT as `?token=`: the upgrade request makes no span at all."""
    import websocket

    from functions.combined import create_app as combined_app

    server = serve(combined_app(with_(settings, tracing=True, run_background_workers=False)))
    api = make_client(server).signup()
    spans.clear()
    ws = websocket.create_connection(
        f"{server.url.replace('http', 'ws', 1)}/ws/user/{api.user_id}/tasks?token={api.token}", timeout=5
    )
    ws.close()
    api.request("GET", "/api/{me}/tasks")
    finished = spans.get_finished_spans()
    assert not [s for s in finished if s.name.startswith("GET /ws/")], "no span for the upgrade request"
    assert any(s.kind == trace.SpanKind.SERVER for s in finished), "tracing is on"
    for span in finished:
        assert api.token not in span.name and all(api.token not in str(v) for v in span.attributes.values())
    assert tracing._redacted("/x?a=1&token=abc.def&b=2") == "/x?a=1&token=<redacted>&b=2"


# -- found by the review in other files, fixed at merge ---------------------------------------------


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


def test_a_stored_title_with_a_line_break_still_gives_a_one_line_subject(settings):
    from functions.notifications.channels import reminder_email

    event = {
        "event_id": "e1",
        "data": {"task_id": "t1", "task_title": "pay\r\nBcc: victim@example.com rent", "due_date": None},
    }
    message = reminder_email(
        with_(settings, smtp_from="TaskFlow <noreply@taskflow.test>"), "a@example.com", event, "UTC"
    )
    assert message["Subject"] == "Reminder: pay Bcc: victim@example.com rent"
    assert message["Bcc"] is None


@pytest.mark.parametrize("name", ["localtime", "right/UTC", "posix/Europe/Paris", "posixrules"])
def test_every_zone_entry_point_takes_iana_names_only(name):
    from shared.domain.times import BadValue, parse_timezone

    with pytest.raises(BadValue):
        parse_timezone(name)
    assert parse_timezone("Europe/Paris") == "Europe/Paris"


def test_the_web_page_allows_only_its_own_origin(api):
    import requests

    page = requests.get(api.base + "/", timeout=10)
    assert page.status_code == 200 and "<title>TaskFlow</title>" in page.text
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";") if part.strip()
    )
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"] == "no-referrer"
