"""When relative reminders of all-day tasks ring: at the person's chosen time of day, in their zone.

An all-day task has no time of its own, so "at due time" or "1 day before" counts from the time of
day the person chose (preferences.all_day_reminder_time, 09:00 unless changed) on the task's date, in
the zone of their preferences. Used by the tasks function, the recurrence sweep and PUT /preferences.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import orm

from shared.domain.days import DEFAULT_REMINDER_TIME, parse_clock, relative_remind_at, stored_day
from shared.persistence.models import Preferences, Task


@dataclasses.dataclass(frozen=True)
class DayClock:
    """The person's zone and the time of day their all-day reminders count from."""

    timezone: str
    time: dt.time

    def remind_at(self, day: dt.date, minutes_before: int) -> dt.datetime:
        """A relative reminder of an all-day task dated `day`."""
        return relative_remind_at(day, minutes_before, self.time, self.timezone)


def day_clock(session: orm.Session, user_id: str) -> DayClock:
    """The user's DayClock (no preferences yet: UTC, 09:00)."""
    prefs = session.get(Preferences, user_id)
    tz = prefs.timezone if prefs is not None else "UTC"
    clock = (prefs.all_day_reminder_time if prefs is not None else None) or DEFAULT_REMINDER_TIME
    return DayClock(tz, parse_clock(clock))


def remind_before(session: orm.Session, task: Task, due: dt.datetime, minutes_before: int) -> dt.datetime:
    """When a reminder `minutes_before` a task's due date rings: for an all-day task, counted from the
    person's time of day on its date (DayClock); otherwise from the due date itself."""
    if task.all_day:
        return day_clock(session, task.user_id).remind_at(stored_day(due), minutes_before)
    return due - dt.timedelta(minutes=minutes_before)
