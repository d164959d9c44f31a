"""All-day dates (shared/domain/days.py) and the due date a request body gives (DayOrWallClock)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from functions.tasks.schemas.tasks import DueDate, TaskCreate, due_fields
from shared.domain.days import (
    at_time_of_day,
    day_instant,
    first_day_from,
    is_overdue,
    local_day,
    parse_clock,
    relative_remind_at,
    start_of_day,
    stored_day,
)
from shared.domain.times import BadValue

UTC = dt.UTC
XMAS = dt.date(2026, 12, 24)


def test_an_all_day_date_is_stored_at_midnight_utc_and_read_back_in_any_zone():
    assert day_instant(XMAS) == dt.datetime(2026, 12, 24, tzinfo=UTC)
    assert stored_day(day_instant(XMAS)) == XMAS
    assert stored_day(day_instant(XMAS).astimezone(dt.timezone(dt.timedelta(hours=-10)))) == XMAS


def test_days_start_and_times_of_day_are_placed_in_the_zone():
    assert start_of_day(XMAS, "America/New_York") == dt.datetime(2026, 12, 24, 5, tzinfo=UTC)
    assert start_of_day(XMAS, "Asia/Tokyo") == dt.datetime(2026, 12, 23, 15, tzinfo=UTC)
    assert at_time_of_day(XMAS, dt.time(9), "Europe/Berlin") == dt.datetime(2026, 12, 24, 8, tzinfo=UTC)
    # Across a DST change: 09:00 on the day the clocks go forward is 09:00 of the new offset.
    assert at_time_of_day(dt.date(2027, 3, 28), dt.time(9), "Europe/Berlin") == dt.datetime(2027, 3, 28, 7, tzinfo=UTC)
    assert local_day(dt.datetime(2026, 12, 24, 3, tzinfo=UTC), "America/New_York") == dt.date(2026, 12, 23)


def test_relative_reminders_count_from_the_persons_time_of_day():
    assert relative_remind_at(XMAS, 0, dt.time(9), "Europe/Berlin") == dt.datetime(2026, 12, 24, 8, tzinfo=UTC)
    assert relative_remind_at(XMAS, 24 * 60, dt.time(9), "America/New_York") == dt.datetime(
        2026, 12, 23, 14, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("now", "tz", "overdue"),
    [
        (dt.datetime(2026, 12, 24, 23, 0, tzinfo=UTC), "Europe/Berlin", True),  # 00:00 on the 25th in Berlin
        (dt.datetime(2026, 12, 24, 22, 59, tzinfo=UTC), "Europe/Berlin", False),
        (dt.datetime(2026, 12, 25, 4, 59, tzinfo=UTC), "America/New_York", False),  # 23:59 on the 24th there
        (dt.datetime(2026, 12, 25, 5, 0, tzinfo=UTC), "America/New_York", True),
        (dt.datetime(2026, 12, 25, 0, 0, tzinfo=UTC), "Europe/Berlin", True),
    ],
)
def test_an_all_day_task_is_overdue_only_from_the_start_of_the_next_day_where_the_person_is(now, tz, overdue):
    due = day_instant(XMAS)
    assert is_overdue(due, True, now, tz) is overdue


def test_a_timed_task_is_overdue_once_its_time_has_passed():
    due = dt.datetime(2026, 12, 24, 9, tzinfo=UTC)
    assert not is_overdue(due, False, due, "UTC") and is_overdue(due, False, due + dt.timedelta(seconds=1), "UTC")


def test_a_bound_counts_an_all_day_task_from_the_start_of_its_day():
    ny = "America/New_York"
    assert first_day_from(dt.datetime(2026, 12, 24, 5, tzinfo=UTC), ny) == XMAS  # exactly the 24th's start
    assert first_day_from(dt.datetime(2026, 12, 24, 5, 1, tzinfo=UTC), ny) == dt.date(2026, 12, 25)
    assert first_day_from(dt.datetime(2026, 12, 24, 4, 59, tzinfo=UTC), ny) == XMAS


@pytest.mark.parametrize("bad", ["9:00", "24:00", "09:60", "0900", "", None, 900])
def test_a_time_of_day_is_hh_mm(bad):
    with pytest.raises(BadValue):
        parse_clock(bad)
    assert parse_clock("07:30") == dt.time(7, 30)


def test_a_date_alone_is_all_day_and_a_datetime_is_not():
    assert due_fields(DueDate.model_validate({"due_date": "2026-12-24"}).due_date, "Europe/Berlin") == (
        day_instant(XMAS),
        True,
    )
    timed = DueDate.model_validate({"due_date": "2026-12-24T09:00:00"}).due_date
    assert due_fields(timed, "Europe/Berlin") == (dt.datetime(2026, 12, 24, 8, tzinfo=UTC), False)
    assert due_fields(None, "UTC") == (None, False)
    given = TaskCreate.model_validate({"title": "x", "due_date": "2026-12-24"}).given("Asia/Tokyo")
    assert given["due_date"] == day_instant(XMAS) and given["all_day"] is True


@pytest.mark.parametrize("bad", ["2026-02-29", "2026-00-10", "1899-12-31", "2026-12-24T25:00", 20261224])
def test_an_impossible_date_is_refused(bad):
    with pytest.raises(ValidationError):
        DueDate.model_validate({"due_date": bad})
