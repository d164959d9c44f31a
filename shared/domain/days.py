"""All-day tasks: a date-only due date, due on that calendar day wherever the person is.

Stored as 00:00 UTC of the date (so no zone ever shifts it); its day starts and ends in the
person's zone, its relative reminders count from the person's chosen time of day on it, and it is
overdue only once the day after has begun there.
"""

from __future__ import annotations

import datetime as dt
import re

from shared.domain.times import UTC, BadValue, zone

#: When a relative reminder of an all-day task counts from, unless the person chose another time.
DEFAULT_REMINDER_TIME = "09:00"
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def day_instant(day: dt.date) -> dt.datetime:
    """How an all-day due date is stored: 00:00 UTC of the date."""
    return dt.datetime.combine(day, dt.time(), UTC)


def stored_day(due: dt.datetime) -> dt.date:
    """The date of an all-day due date as stored (see day_instant)."""
    return due.astimezone(UTC).date()


def start_of_day(day: dt.date, tz: str) -> dt.datetime:
    """The instant the day begins in the zone (aware UTC)."""
    return dt.datetime.combine(day, dt.time(), zone(tz)).astimezone(UTC)


def local_day(moment: dt.datetime, tz: str) -> dt.date:
    """The calendar date a moment falls on in the zone."""
    return moment.astimezone(zone(tz)).date()


def parse_clock(value: object) -> dt.time:
    """A time of day written "HH:MM" (24-hour), or BadValue."""
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise BadValue("must be a time of day written HH:MM (24-hour), such as 09:00")
    return dt.time(int(match.group(1)), int(match.group(2)))


def at_time_of_day(day: dt.date, clock: dt.time, tz: str) -> dt.datetime:
    """The instant the clock shows `clock` on `day` in the zone (aware UTC)."""
    return dt.datetime.combine(day, clock, zone(tz)).astimezone(UTC)


def relative_remind_at(day: dt.date, minutes_before: int, clock: dt.time, tz: str) -> dt.datetime:
    """A relative reminder of an all-day task: `minutes_before` the person's time of day on that day, in their zone."""
    return at_time_of_day(day, clock, tz) - dt.timedelta(minutes=minutes_before)


def is_overdue(due: dt.datetime, all_day: bool, now: dt.datetime, tz: str) -> bool:
    """Whether a due date has passed: an all-day one only once the day after has begun in the zone."""
    if all_day:
        return now >= start_of_day(stored_day(due) + dt.timedelta(days=1), tz)
    return due < now


def first_day_from(bound: dt.datetime, tz: str) -> dt.date:
    """The first all-day date whose day, in the zone, starts at or after `bound`.

    So "due before B" holds an all-day task dated before this day, and "due at or after B" one dated
    this day or later: each all-day task counts from the start of its day where the person is.
    """
    local = bound.astimezone(zone(tz))
    return local.date() if local.time() == dt.time() else local.date() + dt.timedelta(days=1)
