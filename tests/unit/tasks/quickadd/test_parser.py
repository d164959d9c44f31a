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
        "2026-11-29",
        "FREQ=DAILY;INTERVAL=3",
        {"repeat_from": "completion"},
    ),
    ("run every other day for 10 times", "run", "2026-11-29", "FREQ=DAILY;INTERVAL=2;COUNT=10", {}),
    ("gym every monday, wednesday and friday at 7am", "gym", "2026-11-30 07:00", "FREQ=WEEKLY;BYDAY=MO,WE,FR", {}),
    ("report every last friday", "report", "2026-12-25", "FREQ=MONTHLY;BYDAY=-1FR", {}),
    (
        "meeting every first monday of the month at 10:00 ~Work",
        "meeting",
        "2026-12-07 10:00",
        "FREQ=MONTHLY;BYDAY=1MO",
        {"list": "Work"},
    ),
    ("taxes every year on april 15", "taxes", "2027-04-15", "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=15", {}),
    ("bday every march 3", "bday", "2027-03-03", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=3", {}),
    ("anniversary every 3rd of june", "anniversary", "2027-06-03", "FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=3", {}),
    ("pay card every 15th", "pay card", "2026-12-15", "FREQ=MONTHLY;BYMONTHDAY=15", {}),
    (
        "review every 2 months on the last day",
        "review",
        "2026-11-30",
        "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1",
        {},
    ),
    ("clean every weekend", "clean", "2026-11-29", "FREQ=WEEKLY;BYDAY=SA,SU", {}),
    ("bins every tuesday evening", "bins", "2026-12-01 19:00", "FREQ=WEEKLY;BYDAY=TU", {}),
    (
        "team sync every 2 weeks on tuesday starting dec 8",
        "team sync",
        "2026-12-08",
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
    ("newsletter weekly", "newsletter", "2026-11-29", "FREQ=WEEKLY", {}),
    ("journal daily at 21:00", "journal", "2026-11-29 21:00", "FREQ=DAILY", {}),
    ("invoice monthly", "invoice", "2026-11-29", "FREQ=MONTHLY", {}),
    ("insurance yearly", "insurance", "2026-11-29", "FREQ=YEARLY", {}),
    ("payroll biweekly", "payroll", "2026-11-29", "FREQ=WEEKLY;INTERVAL=2", {}),
    ("check mail weekdays at 8am", "check mail", "2026-11-30 08:00", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", {}),
    ("brunch weekends at 11am", "brunch", "2026-12-05 11:00", "FREQ=WEEKLY;BYDAY=SA,SU", {}),
    ("read every 3 weeks", "read", "2026-11-29", "FREQ=WEEKLY;INTERVAL=3", {}),
    ("gym every mon and thu", "gym", "2026-11-30", "FREQ=WEEKLY;BYDAY=MO,TH", {}),
    ("water every! week", "water", "2026-11-29", "FREQ=WEEKLY", {"repeat_from": "completion"}),
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
    ("buy milk today", "buy milk", "2026-11-29", None, {}),
    ("tonight watch movie", "watch movie", "2026-11-29 20:00", None, {}),
    ("fix bug in 3 days !urgent", "fix bug", "2026-12-02", None, {"priority": "urgent"}),
    ("x next week", "x", "2026-11-30", None, {}),
    ("read next friday", "read", "2026-12-04", None, {}),
    ("sleep in 2 hours", "sleep", "2026-11-29 18:00", None, {}),
    ("dentist friday at 3pm", "dentist", "2026-12-04 15:00", None, {}),
    ("pick up kids tmrw 4:30pm", "pick up kids", "2026-11-30 16:30", None, {}),
    ("party on the 5th of december at 8pm", "party", "2026-12-05 20:00", None, {}),
    ("flight dec 20 2027 at 7am", "flight", "2027-12-20 07:00", None, {}),
    ("pay bills by monday", "pay bills", "2026-11-30", None, {}),
    ("submit report due friday !2", "submit report", "2026-12-04", None, {"priority": "high"}),
    ("walk dog in 30 minutes", "walk dog", "2026-11-29 16:30", None, {}),
    ("call in the afternoon", "call", "2026-11-30 15:00", None, {}),
    ("dinner tomorrow at 7:45 pm #home", "dinner", "2026-11-30 19:45", None, {"list": "Home"}),
    ("email Alice @work @urgent", "email Alice", None, None, {"tags": ["work", "urgent"]}),
    ("plan trip #travel !low", "plan trip", None, None, {"priority": "low", "tags": ["travel"]}),
    ("prepare slides p2 #Work", "prepare slides", None, None, {"priority": "high", "list": "Work"}),
    ("read a book", "read a book", None, None, {}),
    ("the day after tomorrow visit grandma", "visit grandma", "2026-12-01", None, {}),
    ("midnight deploy", "deploy", "2026-11-30 00:00", None, {}),
    ("dentist at 6", "dentist", None, None, {"questions": ["due_date"]}),
    ("meet 3/4", "meet", "2027-04-03", None, {}),  # Paris writes day/month: the chip says "3 April 2027"
    ("every tuesday", "", "2026-12-01", "FREQ=WEEKLY;BYDAY=TU", {"questions": ["title"]}),
    ("remind me to call", "to call", None, None, {"reminders": [30], "questions": ["reminders"]}),
    ("x every 10 minutes", "x every 10 minutes", None, None, {"questions": ["recurrence_rule"]}),
    ("may I go", "may I go", None, None, {}),
    ("groceries tomorrow remind 2 hours before", "groceries", "2026-11-30", None, {"reminders": [120]}),
    ("doctor next monday at 10am remind 30 min before", "doctor", "2026-11-30 10:00", None, {"reminders": [30]}),
    ("haircut in 2 weeks", "haircut", "2026-12-13", None, {}),
    (
        "pay rent every month on the 28th at 9am remind 1 day before !high #home",
        "pay rent",
        "2026-12-28 09:00",
        "FREQ=MONTHLY;BYMONTHDAY=28",
        {"priority": "high", "list": "Home", "reminders": [1440]},
    ),
    ("water every! 2 days at 8am", "water", "2026-11-30 08:00", "FREQ=DAILY;INTERVAL=2", {"repeat_from": "completion"}),
]


def shown(parsed) -> str | None:
    """The due date as the table writes it: "2026-12-24" for an all-day task, "2026-12-24 18:00" for a time."""
    if parsed.due is None:
        return None
    return parsed.due.strftime("%Y-%m-%d" if parsed.all_day else "%Y-%m-%d %H:%M")


def parser() -> QuickAdd:
    return QuickAdd(TZ, NOW, LISTS, default_reminder=30)


@pytest.mark.parametrize(("line", "title", "due", "rule", "extra"), TABLE, ids=[row[0][:40] for row in TABLE])
def test_line_becomes_task(line: str, title: str, due: str | None, rule: str | None, extra: dict[str, Any]) -> None:
    parsed = parser().parse(line)
    assert parsed.title == title
    assert shown(parsed) == due
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
    if parsed.all_day:  # an all-day series may start today: its first day is not before today
        assert parsed.occurrences[0].date() >= NOW.astimezone(parsed.due.tzinfo).date()
    else:
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
        ("backup every last day of the month", "backup", "FREQ=MONTHLY;BYMONTHDAY=-1", "2054-12-31"),
        ("stretch every morning", "stretch", "FREQ=DAILY", "2054-12-02T09:00:00+01:00"),
        ("journal every evening", "journal", "FREQ=DAILY", "2054-12-01T19:00:00+01:00"),
    ],
)
def test_quick_add_reads_the_last_day_and_parts_of_the_day_as_series(text, title, rule, due):
    """Todoist phrases the grammar missed ("Every what?"): the last day of the month, every morning."""
    parsed = QuickAdd("Europe/Paris", dt.datetime(2054, 12, 1, 12, tzinfo=dt.UTC)).parse(text)
    assert (parsed.title, parsed.rule, as_json(parsed, "Europe/Paris")["due_date"]) == (title, rule, due)
    assert not parsed.questions


# Issue 24: quick add that is right or asks. Reference: Wednesday 2026-12-02 10:00 UTC (11:00 in Berlin,
# 05:00 in New York). Columns: zone, line, title, due ("YYYY-MM-DD" = all-day), RRULE, question fields,
# chip notes (how words were read: typos, the zone's day/month order, shorter months).
BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
WEDNESDAY = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
RIGHT_OR_ASKS: list[tuple[str, str, str, str | None, str | None, list[str], list[str]]] = [
    (BERLIN, "Laundry sat 10am", "Laundry", "2026-12-05 10:00", None, [], []),
    (BERLIN, "Team retro on the 15th at 3pm", "Team retro", "2026-12-15 15:00", None, [], []),
    (BERLIN, "call bob tomorow 5pm", "call bob", "2026-12-03 17:00", None, [], ["read as “tomorrow”"]),
    (BERLIN, "report due 32/12", "report", None, None, ["due_date"], []),
    (BERLIN, "x 31/02", "x", None, None, ["due_date"], []),
    (BERLIN, "x 3/4", "x", "2027-04-03", None, [], ["read as day/month: 3 April 2027"]),
    (BERLIN, "x 4/3/2027", "x", "2027-03-04", None, [], ["read as day/month: 4 March 2027"]),
    (BERLIN, "Buy milk today", "Buy milk", "2026-12-02", None, [], []),
    (BERLIN, "x in 2 weeks", "x", "2026-12-16", None, [], []),
    (BERLIN, "x next week", "x", "2026-12-07", None, [], []),
    (BERLIN, "x end of month", "x", "2026-12-31", None, [], []),
    (BERLIN, "x this weekend", "x", "2026-12-05", None, [], []),
    (
        BERLIN,
        "Pay rent every month on the 31st",
        "Pay rent",
        "2026-12-31",
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        [],
        ["every month on the 31st (last day in shorter months)"],
    ),
    (BERLIN, "x every monday", "x", "2026-12-07", "FREQ=WEEKLY;BYDAY=MO", [], []),
    (BERLIN, "x in 3 hours", "x", "2026-12-02 14:00", None, [], []),
    (BERLIN, "Laundry sun", "Laundry", "2026-12-06", None, [], []),
    (BERLIN, "groceries thu", "groceries", "2026-12-03", None, [], []),
    (BERLIN, "call tues 9am", "call", "2026-12-08 09:00", None, [], []),
    (BERLIN, "gym weds 7pm", "gym", "2026-12-09 19:00", None, [], []),
    (BERLIN, "x thurs", "x", "2026-12-03", None, [], []),
    (BERLIN, "pay on the 1st", "pay", "2027-01-01", None, [], []),
    (BERLIN, "dentist the 22nd", "dentist", "2026-12-22", None, [], []),
    (BERLIN, "x on the 2nd", "x", "2026-12-02", None, [], []),
    (BERLIN, "x on the 31st", "x", "2026-12-31", None, [], []),
    (BERLIN, "x tommorow", "x", "2026-12-03", None, [], ["read as “tomorrow”"]),
    (BERLIN, "x tommorrow", "x", "2026-12-03", None, [], ["read as “tomorrow”"]),
    (BERLIN, "x tmrw", "x", "2026-12-03", None, [], ["read as “tomorrow”"]),
    (BERLIN, "x tmr 8am", "x", "2026-12-03 08:00", None, [], ["read as “tomorrow”"]),
    (BERLIN, "x wedensday", "x", "2026-12-09", None, [], ["read as “wednesday”"]),
    (BERLIN, "x thurday", "x", "2026-12-03", None, [], ["read as “thursday”"]),
    (BERLIN, "x firday 4pm", "x", "2026-12-04 16:00", None, [], ["read as “friday”"]),
    (BERLIN, "x next wedensday", "x", "2026-12-09", None, [], ["read as “next wednesday”"]),
    (BERLIN, "x 30/02/2027", "x", None, None, ["due_date"], []),
    (BERLIN, "x 13/13", "x", None, None, ["due_date"], []),
    (BERLIN, "x 25/12", "x", "2026-12-25", None, [], ["read as 25 December 2026"]),
    (BERLIN, "x 12/25", "x", "2026-12-25", None, [], ["read as 25 December 2026"]),
    (BERLIN, "x 29/02", "x", "2028-02-29", None, [], ["read as 29 February 2028"]),
    (BERLIN, "x end of the month", "x", "2026-12-31", None, [], []),
    (BERLIN, "x next weekend", "x", "2026-12-12", None, [], []),
    (BERLIN, "x today at 17:00", "x", "2026-12-02 17:00", None, [], []),
    (BERLIN, "x tomorrow at 5pm", "x", "2026-12-03 17:00", None, [], []),
    (
        BERLIN,
        "Pay rent every month on the 30th",
        "Pay rent",
        "2026-12-30",
        "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1",
        [],
        ["every month on the 30th (last day in shorter months)"],
    ),
    (
        BERLIN,
        "x every month on the 29th at 9am",
        "x",
        "2026-12-29 09:00",
        "FREQ=MONTHLY;BYMONTHDAY=28,29;BYSETPOS=-1",
        [],
        ["every month on the 29th (last day in shorter months)"],
    ),
    (
        BERLIN,
        "x every 31st",
        "x",
        "2026-12-31",
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        [],
        ["every 31st (last day in shorter months)"],
    ),
    (BERLIN, "x every monday at 9am", "x", "2026-12-07 09:00", "FREQ=WEEKLY;BYDAY=MO", [], []),
    (BERLIN, "x tomorrow tomorrow", "x", "2026-12-03", None, [], []),
    (BERLIN, "x tomorrow friday", "x", None, None, ["due_date"], []),
    (BERLIN, "x sat sat", "x", "2026-12-05", None, [], []),
    (BERLIN, "dentist tomorrow at 6", "dentist", None, None, ["due_date"], []),
    (BERLIN, "x tonight", "x", "2026-12-02 20:00", None, [], []),
    (BERLIN, "x this friday", "x", "2026-12-04", None, [], []),
    (BERLIN, "x wed", "x", "2026-12-09", None, [], []),
    (BERLIN, "x next sat", "x", "2026-12-05", None, [], []),
    (BERLIN, "x at 5pm at 5pm", "x", "2026-12-02 17:00", None, [], []),
    (BERLIN, "x at 5pm at 6pm", "x", None, None, ["due_date"], []),
    (BERLIN, "x every sat", "x", "2026-12-05", "FREQ=WEEKLY;BYDAY=SA", [], []),
    (NEW_YORK, "Laundry sat 10am", "Laundry", "2026-12-05 10:00", None, [], []),
    (NEW_YORK, "Team retro on the 15th at 3pm", "Team retro", "2026-12-15 15:00", None, [], []),
    (NEW_YORK, "call bob tomorow 5pm", "call bob", "2026-12-03 17:00", None, [], ["read as “tomorrow”"]),
    (NEW_YORK, "report due 32/12", "report", None, None, ["due_date"], []),
    (NEW_YORK, "x 31/02", "x", None, None, ["due_date"], []),
    (NEW_YORK, "x 3/4", "x", "2027-03-04", None, [], ["read as month/day: 4 March 2027"]),
    (NEW_YORK, "x 4/3/2027", "x", "2027-04-03", None, [], ["read as month/day: 3 April 2027"]),
    (NEW_YORK, "Buy milk today", "Buy milk", "2026-12-02", None, [], []),
    (NEW_YORK, "x in 2 weeks", "x", "2026-12-16", None, [], []),
    (NEW_YORK, "x next week", "x", "2026-12-07", None, [], []),
    (NEW_YORK, "x end of month", "x", "2026-12-31", None, [], []),
    (NEW_YORK, "x this weekend", "x", "2026-12-05", None, [], []),
    (
        NEW_YORK,
        "Pay rent every month on the 31st",
        "Pay rent",
        "2026-12-31",
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        [],
        ["every month on the 31st (last day in shorter months)"],
    ),
    (NEW_YORK, "x every monday", "x", "2026-12-07", "FREQ=WEEKLY;BYDAY=MO", [], []),
    (NEW_YORK, "x in 3 hours", "x", "2026-12-02 08:00", None, [], []),
]


@pytest.mark.parametrize(
    ("tz", "line", "title", "due", "rule", "questions", "notes"),
    RIGHT_OR_ASKS,
    ids=[f"{row[0][:6]}-{row[1][:36]}" for row in RIGHT_OR_ASKS],
)
def test_right_or_asks(tz, line, title, due, rule, questions, notes) -> None:
    parsed = QuickAdd(tz, WEDNESDAY).parse(line)
    body = as_json(parsed, tz)
    assert (parsed.title, shown(parsed), parsed.rule) == (title, due, rule)
    assert [q["field"] for q in parsed.questions] == questions
    assert [c["note"] for c in body["chips"] if c["note"]] == notes
    assert body["all_day"] == (due is not None and len(due) == 10)
    if body["all_day"]:
        assert body["due_date"] == due and all(len(o) == 10 for o in body["occurrences"])
    kinds = [c["kind"] for c in body["chips"]]
    assert kinds.count("date") <= 1 and kinds.count("time") <= 1, "the date chip appears once"
    if "due_date" in questions:  # no guessed day while the question is pending
        assert body["due_date"] is None and "date" not in kinds and "time" not in kinds
    for question in body["questions"]:
        assert len(question.get("options") or []) == len(set(question.get("options") or []))


def test_an_impossible_date_is_asked_never_moved_to_another_year() -> None:
    for tz in (BERLIN, NEW_YORK, "Asia/Tokyo", "UTC"):
        for line in ("report due 32/12", "x 31/02", "x 0/5", "x 12/32/2027"):
            body = as_json(QuickAdd(tz, WEDNESDAY).parse(line), tz)
            assert body["due_date"] is None, (tz, line)
            assert "There is no date" in body["questions"][0]["question"], (tz, line)


def test_an_ambiguous_slashed_date_is_asked_where_the_zone_has_no_convention() -> None:
    body = as_json(QuickAdd("Asia/Tokyo", WEDNESDAY).parse("meet 3/4"), "Asia/Tokyo")
    assert body["due_date"] is None and body["chips"] == []
    assert body["questions"] == [
        {"field": "due_date", "question": "Is 3/4 month/day or day/month?", "options": ["March 4", "April 3"]}
    ]


def test_rent_on_the_31st_falls_on_the_last_day_of_shorter_months_never_skipping_one() -> None:
    parsed = QuickAdd(BERLIN, WEDNESDAY).parse("Pay rent every month on the 31st")
    assert parsed.rule is not None and parsed.due is not None
    rule = parse_rule(parsed.rule, BERLIN, parsed.due.replace(tzinfo=None).isoformat())
    days = [o.astimezone(parsed.due.tzinfo).date().isoformat() for o in rule.occurrences(parsed.due, 6)]
    assert days == ["2026-12-31", "2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]
    thirtieth = QuickAdd(BERLIN, WEDNESDAY).parse("rent every month on the 30th")
    assert [o.date().isoformat() for o in thirtieth.occurrences[:3]] == ["2026-12-30", "2027-01-30", "2027-02-28"]


def test_two_different_days_ask_with_each_option_once_and_no_day_until_answered() -> None:
    body = as_json(QuickAdd(BERLIN, WEDNESDAY).parse("x tomorrow friday tomorrow"), BERLIN)
    assert body["questions"] == [
        {"field": "due_date", "question": "Which day did you mean?", "options": ["tomorrow", "friday"]}
    ]
    assert body["title"] == "x" and body["due_date"] is None


def test_a_time_keeps_the_datetime_and_a_date_alone_is_all_day() -> None:
    timed = as_json(QuickAdd(BERLIN, WEDNESDAY).parse("call mom friday 17:00"), BERLIN)
    assert (timed["due_date"], timed["all_day"]) == ("2026-12-04T17:00:00+01:00", False)
    day = as_json(QuickAdd(BERLIN, WEDNESDAY).parse("call mom friday"), BERLIN)
    assert (day["due_date"], day["all_day"]) == ("2026-12-04", True)
    series = as_json(QuickAdd(BERLIN, WEDNESDAY).parse("bins every tuesday"), BERLIN)
    assert (series["due_date"], series["all_day"], series["occurrences"][:2]) == (
        "2026-12-08",
        True,
        ["2026-12-08", "2026-12-15"],
    )
