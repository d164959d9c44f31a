"""Quick add: a table of plain-English lines and the task each one means (no server, no database).

The reference time is Sunday 2026-11-29 16:00 in Europe/Paris; the user has lists Home and Work
and a default reminder of 30 minutes. Due dates are wall-clock times in Paris.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from functions.tasks.quickadd.parser import MAX_TEXT, QuickAdd, as_json
from shared.domain.rule_parsing import parse_rule

NOW = dt.datetime(2026, 11, 29, 15, 0, tzinfo=dt.UTC)
TZ = "Europe/Paris"
LISTS = {"L1": "Home", "L2": "Work"}

# (line, title, due date in Paris, RRULE, other fields that differ from the defaults)
TABLE: list[tuple[str, str, str | None, str | None, dict[str, Any]]] = [
    (
        "Pay rent every month on the 1st at 9am #home !high remind 1 day before",
        "Pay rent",
        "2026-12-01 09:00",
        "FREQ=MONTHLY;BYMONTHDAY=1",
        {"priority": "high", "list": "Home", "reminders": [1440]},
    ),
    (
        "standup every weekday at 9:30 until March",
        "standup",
        "2026-11-30 09:30",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20270228T225959Z",
        {},
    ),
    ("call mom tomorrow 6pm", "call mom", "2026-11-30 18:00", None, {}),
    (
        "water plants every! 3 days",
        "water plants",
        "2026-11-30 09:00",
        "FREQ=DAILY;INTERVAL=3",
        {"repeat_from": "completion"},
    ),
    ("run every other day for 10 times", "run", "2026-11-30 09:00", "FREQ=DAILY;INTERVAL=2;COUNT=10", {}),
    ("gym every monday, wednesday and friday at 7am", "gym", "2026-11-30 07:00", "FREQ=WEEKLY;BYDAY=MO,WE,FR", {}),
    ("report every last friday", "report", "2026-12-25 09:00", "FREQ=MONTHLY;BYDAY=-1FR", {}),
    (
        "meeting every first monday of the month at 10:00 ~Work",
        "meeting",
        "2026-12-07 10:00",
        "FREQ=MONTHLY;BYDAY=1MO",
        {"list": "Work"},
    ),
    ("taxes every year on april 15", "taxes", "2027-04-15 09:00", "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=15", {}),
    ("bday every march 3", "bday", "2027-03-03 09:00", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=3", {}),
    ("anniversary every 3rd of june", "anniversary", "2027-06-03 09:00", "FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=3", {}),
    ("pay card every 15th", "pay card", "2026-12-15 09:00", "FREQ=MONTHLY;BYMONTHDAY=15", {}),
    (
        "review every 2 months on the last day",
        "review",
        "2026-11-30 09:00",
        "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1",
        {},
    ),
    ("clean every weekend", "clean", "2026-12-05 09:00", "FREQ=WEEKLY;BYDAY=SA,SU", {}),
    ("bins every tuesday evening", "bins", "2026-12-01 19:00", "FREQ=WEEKLY;BYDAY=TU", {}),
    (
        "team sync every 2 weeks on tuesday starting dec 8",
        "team sync",
        "2026-12-08 09:00",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
        {},
    ),
    (
        "call every weekday at 9:30 for 5 times remind me",
        "call",
        "2026-11-30 09:30",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=5",
        {"reminders": [30]},
    ),
    ("backup every 4 hours", "backup", "2026-11-30 09:00", "FREQ=HOURLY;INTERVAL=4", {}),
    ("stretch every hour", "stretch", "2026-11-30 09:00", "FREQ=HOURLY", {}),
    ("newsletter weekly", "newsletter", "2026-11-30 09:00", "FREQ=WEEKLY", {}),
    ("journal daily at 21:00", "journal", "2026-11-29 21:00", "FREQ=DAILY", {}),
    ("invoice monthly", "invoice", "2026-11-30 09:00", "FREQ=MONTHLY", {}),
    ("insurance yearly", "insurance", "2026-11-30 09:00", "FREQ=YEARLY", {}),
    ("payroll biweekly", "payroll", "2026-11-30 09:00", "FREQ=WEEKLY;INTERVAL=2", {}),
    ("check mail weekdays at 8am", "check mail", "2026-11-30 08:00", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", {}),
    ("brunch weekends at 11am", "brunch", "2026-12-05 11:00", "FREQ=WEEKLY;BYDAY=SA,SU", {}),
    ("read every 3 weeks", "read", "2026-11-30 09:00", "FREQ=WEEKLY;INTERVAL=3", {}),
    ("gym every mon and thu", "gym", "2026-11-30 09:00", "FREQ=WEEKLY;BYDAY=MO,TH", {}),
    ("water every! week", "water", "2026-11-30 09:00", "FREQ=WEEKLY", {"repeat_from": "completion"}),
    ("every day at 6pm take pills", "take pills", "2026-11-29 18:00", "FREQ=DAILY", {}),
    (
        "yoga every tuesday and thursday at 6:30pm until dec 31",
        "yoga",
        "2026-12-01 18:30",
        "FREQ=WEEKLY;BYDAY=TU,TH;UNTIL=20261231T225959Z",
        {},
    ),
    ("daily standup every day at 9:15 for 20 times", "daily standup", "2026-11-30 09:15", "FREQ=DAILY;COUNT=20", {}),
    (
        "call bob on dec 24 at 18:00 p1 @phone",
        "call bob",
        "2026-12-24 18:00",
        None,
        {"priority": "urgent", "tags": ["phone"]},
    ),
    ("Sync 2026-12-24 14:30", "Sync", "2026-12-24 14:30", None, {}),
    ("lunch at noon", "lunch", "2026-11-30 12:00", None, {}),
    ("buy milk today", "buy milk", "2026-11-29 23:59", None, {}),
    ("tonight watch movie", "watch movie", "2026-11-29 20:00", None, {}),
    ("fix bug in 3 days !urgent", "fix bug", "2026-12-02 09:00", None, {"priority": "urgent"}),
    ("x next week", "x", "2026-11-30 09:00", None, {}),
    ("read next friday", "read", "2026-12-04 09:00", None, {}),
    ("sleep in 2 hours", "sleep", "2026-11-29 18:00", None, {}),
    ("dentist friday at 3pm", "dentist", "2026-12-04 15:00", None, {}),
    ("pick up kids tmrw 4:30pm", "pick up kids", "2026-11-30 16:30", None, {}),
    ("party on the 5th of december at 8pm", "party", "2026-12-05 20:00", None, {}),
    ("flight dec 20 2027 at 7am", "flight", "2027-12-20 07:00", None, {}),
    ("pay bills by monday", "pay bills", "2026-11-30 09:00", None, {}),
    ("submit report due friday !2", "submit report", "2026-12-04 09:00", None, {"priority": "high"}),
    ("walk dog in 30 minutes", "walk dog", "2026-11-29 16:30", None, {}),
    ("call in the afternoon", "call", "2026-11-30 15:00", None, {}),
    ("dinner tomorrow at 7:45 pm #home", "dinner", "2026-11-30 19:45", None, {"list": "Home"}),
    ("email Alice @work @urgent", "email Alice", None, None, {"tags": ["work", "urgent"]}),
    ("plan trip #travel !low", "plan trip", None, None, {"priority": "low", "tags": ["travel"]}),
    ("prepare slides p2 #Work", "prepare slides", None, None, {"priority": "high", "list": "Work"}),
    ("read a book", "read a book", None, None, {}),
    ("the day after tomorrow visit grandma", "visit grandma", "2026-12-01 09:00", None, {}),
    ("midnight deploy", "deploy", "2026-11-30 00:00", None, {}),
    ("dentist at 6", "dentist", None, None, {"questions": ["due_date"]}),
    ("meet 3/4", "meet", None, None, {"questions": ["due_date"]}),
    ("every tuesday", "", "2026-12-01 09:00", "FREQ=WEEKLY;BYDAY=TU", {"questions": ["title"]}),
    ("remind me to call", "to call", None, None, {"reminders": [30], "questions": ["reminders"]}),
    ("x every 10 minutes", "x every 10 minutes", None, None, {"questions": ["recurrence_rule"]}),
    ("may I go", "may I go", None, None, {}),
    ("groceries tomorrow remind 2 hours before", "groceries", "2026-11-30 09:00", None, {"reminders": [120]}),
    ("doctor next monday at 10am remind 30 min before", "doctor", "2026-11-30 10:00", None, {"reminders": [30]}),
    ("haircut in 2 weeks", "haircut", "2026-12-13 09:00", None, {}),
    (
        "pay rent every month on the 28th at 9am remind 1 day before !high #home",
        "pay rent",
        "2026-12-28 09:00",
        "FREQ=MONTHLY;BYMONTHDAY=28",
        {"priority": "high", "list": "Home", "reminders": [1440]},
    ),
    ("water every! 2 days at 8am", "water", "2026-11-30 08:00", "FREQ=DAILY;INTERVAL=2", {"repeat_from": "completion"}),
]


def parser() -> QuickAdd:
    return QuickAdd(TZ, NOW, LISTS, default_reminder=30)


@pytest.mark.parametrize(("line", "title", "due", "rule", "extra"), TABLE, ids=[row[0][:40] for row in TABLE])
def test_line_becomes_task(line: str, title: str, due: str | None, rule: str | None, extra: dict[str, Any]) -> None:
    parsed = parser().parse(line)
    assert parsed.title == title
    assert (parsed.due.strftime("%Y-%m-%d %H:%M") if parsed.due else None) == due
    assert parsed.rule == rule
    assert parsed.priority == extra.get("priority", "none")
    assert parsed.tags == extra.get("tags", [])
    assert parsed.list_name == extra.get("list")
    assert parsed.repeat_from == extra.get("repeat_from", "schedule")
    assert parsed.reminders == extra.get("reminders", [])
    assert [q["field"] for q in parsed.questions] == extra.get("questions", [])


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 60


@pytest.mark.parametrize("line", [row[0] for row in TABLE if row[3]])
def test_series_due_date_is_the_rules_first_occurrence(line: str) -> None:
    """What the client sends back (due_date + rule) makes the same series the preview showed."""
    parsed = parser().parse(line)
    assert parsed.rule and parsed.due and parsed.occurrences
    rule = parse_rule(parsed.rule, TZ, parsed.due.replace(tzinfo=None).isoformat())
    assert rule.occurrences(parsed.due, 5) == [o.astimezone(dt.UTC) for o in parsed.occurrences]
    assert parsed.occurrences[0] >= NOW


def test_chips_point_at_the_words_they_came_from() -> None:
    line = "Pay rent every month on the 1st at 9am #home !high remind 1 day before"
    body = as_json(parser().parse(line), TZ)
    kinds = [(c["kind"], c["text"]) for c in body["chips"]]
    assert kinds == [
        ("recurrence", "every month on the 1st"),
        ("time", "at 9am"),
        ("list", "#home"),
        ("priority", "!high"),
        ("reminder", "remind 1 day before"),
    ]
    for chip in body["chips"]:
        assert line[chip["start"] : chip["end"]].strip() == chip["text"]
    assert body["list_id"] == "L1"
    assert body["occurrences"][0] == "2026-12-01T09:00:00+01:00"


def test_dates_follow_the_users_zone() -> None:
    """ "tomorrow 8am" in Tokyo is already Monday the 30th there; in Los Angeles too but at a different instant."""
    tokyo = QuickAdd("Asia/Tokyo", dt.datetime(2026, 11, 29, 20, 0, tzinfo=dt.UTC)).parse("x tomorrow 8am")
    la = QuickAdd("America/Los_Angeles", dt.datetime(2026, 11, 29, 20, 0, tzinfo=dt.UTC)).parse("x tomorrow 8am")
    assert tokyo.due is not None and la.due is not None
    assert tokyo.due.isoformat() == "2026-12-01T08:00:00+09:00"
    assert la.due.isoformat() == "2026-11-30T08:00:00-08:00"


def test_hostile_line_is_bounded() -> None:
    parsed = parser().parse("every " * 400 + "#a " * 400 + "9:30 " * 400)
    assert len(parsed.title) <= MAX_TEXT
    assert len(parsed.tags) <= 20


def test_a_date_past_the_calendars_end_becomes_a_question_not_an_exception():
    """The parser itself stays total: a schedule that would leave year 9999 asks which day."""
    quick_add = QuickAdd("UTC", dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC))
    for text in ("call mom at 9pm", "standup every day at 9pm"):
        parsed = quick_add.parse(text)
        assert parsed.due is None and parsed.rule is None, text
        assert parsed.questions, text


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
    parsed = QuickAdd("Europe/Paris", dt.datetime(2054, 12, 1, 12, tzinfo=dt.UTC)).parse(text)
    assert (parsed.title, parsed.rule, parsed.due and parsed.due.isoformat()) == (title, rule, due)
    assert not parsed.questions
