"""Planning an .ics import without storing it: bounded, total on damaged files, zones only IANA names.

The scan and the plan are pure: every file gives a plan or a BadCalendar naming the line (a 422),
never another exception (a 500).
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from functions.tasks.calendar.plan import plan_import
from functions.tasks.calendar.scan import MAX_LINE_CHARS, MAX_LINES, BadCalendar, scan
from tests.support.calendar import (
    IMPORT,
    calendar,
)
from tests.support.examples import examples

UTC = dt.UTC
NOW = dt.datetime(2054, 12, 1, tzinfo=dt.UTC)


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


@hsettings(max_examples=examples(int(os.environ.get("FUZZ_EXAMPLES", "300"))), deadline=None, derandomize=True)
@given(data=damaged_files())
def test_a_damaged_file_is_read_or_refused_never_crashes(data):
    """Whatever the damage: an import plan, or BadCalendar (422) — no other exception (a 500)."""
    try:
        plan = plan_import(data, "Europe/Paris", dt.datetime(2054, 11, 29, tzinfo=UTC))
    except BadCalendar:
        return
    assert len(plan.tasks) <= 500
    assert all(t.rule is None or t.due_date is not None for t in plan.tasks)


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
