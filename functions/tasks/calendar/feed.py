"""Build a user's iCalendar feed (RFC 5545) from their tasks with the icalendar library.

What a calendar shows is what TaskFlow shows:

- a dated task is a VEVENT (`type=event`, what Google and Apple Calendar display) or a VTODO
  (`type=todo`, with STATUS and COMPLETED);
- a recurring series is one component with DTSTART;TZID at its first occurrence, its RRULE and
  a VTIMEZONE for its zone, so clients expand it themselves in the right zone across DST;
- an occurrence completed in TaskFlow is an EXDATE of the series in the event feed (it leaves
  the calendar as it leaves the to-do list) and an overridden, completed instance
  (RECURRENCE-ID, STATUS:COMPLETED) in the to-do feed; an instance moved to another time is
  an overridden instance at its new time; a skipped occurrence (its instance deleted, or skipped
  ahead) is an EXDATE in both feeds;
- reminders are VALARMs (relative ones as a TRIGGER before the start, absolute ones in UTC);
- an all-day task (or series) is dated, not timed: DUE;VALUE=DATE in a VTODO, DTSTART;VALUE=DATE and
  DTEND;VALUE=DATE (the next day) in a VEVENT, its RRULE from a DATE DTSTART and its EXDATEs as DATEs;
  its relative reminders count from the person's time of day (TRIGGER after the day's start, less the lead).

Completed one-off tasks are left out of the event feed and kept (completed) in the to-do feed.
The output depends only on the rows (DTSTAMP is the task's last change), so its ETag is stable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import icalendar

from shared.domain.days import local_day, stored_day
from shared.domain.recurrence import RecurrenceTooComplex, UnusableRule, budget
from shared.domain.times import UTC, zone
from shared.persistence.models import Reminder, Task
from shared.services.series import rule_of

PRODID = "-//TaskFlow//Calendar feed//EN"
UID_DOMAIN = "taskflow"
#: CPU one feed may spend expanding rules, all series together (a 422 beyond it, never a partial feed).
FEED_CPU_SECONDS = 2.0
#: How often clients should poll (REFRESH-INTERVAL, X-PUBLISHED-TTL and Cache-Control agree).
REFRESH = dt.timedelta(minutes=15)
# RFC 5545 §3.8.1.9 PRIORITY: 1 highest … 9 lowest, 0 undefined; CUA ranges 1-4 high, 5 medium, 6-9 low.
PRIORITY_TO_ICAL = {"urgent": 1, "high": 3, "medium": 5, "low": 7, "none": 0}


@dataclasses.dataclass(frozen=True)
class FeedTask:
    """A task with what the feed needs beside it: its reminders and, for a series, its instances."""

    task: Task
    reminders: list[Reminder]
    instances: list[Task] = dataclasses.field(default_factory=list)
    #: Occurrences of a series the user skipped (deleted their instance, or skipped them ahead).
    skipped: list[dt.datetime] = dataclasses.field(default_factory=list)
    #: The person's time of day relative reminders of all-day tasks count from.
    day_clock: dt.time = dt.time(9)


def uid(task_id: str) -> str:
    """The calendar UID of a task."""
    return f"{task_id}@{UID_DOMAIN}"


def build_feed(items: list[FeedTask], kind: str, name: str = "TaskFlow") -> bytes:
    """The whole VCALENDAR for `kind` ("event" or "todo")."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    # As RFC 5545 DURATION text (PT15M): a timedelta would be written as "0:15:00", which clients ignore.
    cal.add("refresh-interval", icalendar.vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", icalendar.vDuration(REFRESH))
    with budget(steps=2_000_000, cpu_seconds=FEED_CPU_SECONDS):
        for item in items:
            for component in _components(item, kind):
                cal.add_component(component)
    # One VTIMEZONE per TZID used, generated from the IANA database (RFC 5545 §3.6.5).
    for tzid in sorted(cal.get_missing_tzids()):
        cal.add_component(vtimezone(tzid))
    return bytes(cal.to_ical())


#: The years a VTIMEZONE describes. icalendar stops at 2038 by default, after which a client that
#: reads the VTIMEZONE (rather than its own zone database) would keep one offset all year.
VTIMEZONE_YEARS = (dt.date(1970, 1, 1), dt.date(2100, 1, 1))


@functools.lru_cache(maxsize=128)
def vtimezone(tzid: str) -> icalendar.Timezone:
    """The VTIMEZONE for an IANA zone, 1970-2100, each onset as RFC 5545 §3.6.5 writes it.

    Built once per zone and shared by every feed: calendars only add and serialize it, never change it.
    """
    component = icalendar.Timezone.from_tzid(tzid, first_date=VTIMEZONE_YEARS[0], last_date=VTIMEZONE_YEARS[1])
    for sub in component.subcomponents:
        _onsets_in_offset_from(sub, zone(tzid))
    return component


def _onsets_in_offset_from(sub: icalendar.cal.Component, tz: dt.tzinfo) -> None:
    """RFC 5545 §3.6.5: DTSTART (and each RDATE) of a STANDARD or DAYLIGHT part is the onset "in
    local time", the time in effect before it (TZOFFSETFROM): 02:00 for New York's spring change.
    icalendar writes some onsets in the time after (03:00). Each onset is kept where, read with
    TZOFFSETFROM, it names the instant the zone database changes offset, and moved there otherwise.
    """
    offset_from: dt.timedelta = sub["TZOFFSETFROM"].td
    offset_to: dt.timedelta = sub["TZOFFSETTO"].td
    if offset_from == offset_to:
        return

    def onset(local: dt.datetime) -> dt.datetime:
        for offset in (offset_from, offset_to):  # as the RFC says, else as icalendar wrote it
            instant = (local - offset).replace(tzinfo=UTC)
            before, after = (instant - dt.timedelta(seconds=1)).astimezone(tz), instant.astimezone(tz)
            if before.utcoffset() == offset_from and after.utcoffset() == offset_to:
                return (instant + offset_from).replace(tzinfo=None)
        return local  # not a change the zone database knows: left as written

    start = onset(sub.decoded("DTSTART"))
    rdates = [onset(d) for d in _rdates(sub)]
    sub.pop("DTSTART")
    sub.add("DTSTART", start)
    if "RDATE" in sub:
        sub.pop("RDATE")
        if rdates:
            sub.add("RDATE", rdates)


def _rdates(sub: icalendar.cal.Component) -> list[dt.datetime]:
    value = sub.get("RDATE")
    if value is None:
        return []
    return [period.dt for entry in (value if isinstance(value, list) else [value]) for period in entry.dts]


def _components(item: FeedTask, kind: str) -> list[icalendar.Component]:
    task = item.task
    if task.recurrence_rule and task.dtstart and task.repeat_from == "schedule":
        return _series(item, kind)
    if task.due_date is None and kind == "event":
        return []
    if task.completed and kind == "event":
        return []
    return [_component(task, item.reminders, kind)]


def _series(item: FeedTask, kind: str) -> list[icalendar.Component]:
    task = item.task
    rule = rule_of(task)
    try:
        first = rule.first_wall()
    except RecurrenceTooComplex:
        raise  # the feed's budget is spent: refuse the feed rather than leave series out
    except UnusableRule:
        first = None
    if first is None:  # a rule with no occurrence shows nothing
        return []
    # The wall-clock time, not the placed instant: clients expand the rule from DTSTART's local time.
    start = first.replace(tzinfo=zone(task.timezone)) if task.timezone != "UTC" else first.replace(tzinfo=UTC)
    relative = [r for r in item.reminders if r.minutes_before is not None]
    master = _component(
        task, relative, kind, start=start, day=first.date() if task.all_day else None, clock=item.day_clock
    )
    master.add("rrule", icalendar.vRecur.from_ical(rule.export_text()))
    overrides: list[icalendar.Component] = []
    # A skipped occurrence is gone from TaskFlow: an EXDATE in both feeds (RFC 5545 allows EXDATE in
    # VTODO as in VEVENT), so no calendar or to-do client shows it.
    exdates: list[dt.datetime] = list(item.skipped)
    for instance in item.instances:
        occurrence = instance.occurrence_at
        if occurrence is None:
            continue
        moved = instance.due_date is not None and instance.due_date != occurrence
        if instance.all_day and instance.due_date is not None:
            moved = stored_day(instance.due_date) != local_day(occurrence, task.timezone)
        if instance.completed and kind == "event":
            exdates.append(occurrence)
        elif instance.completed or moved:
            override = _component(instance, [], kind, start=instance.due_date or occurrence, uid_of=task)
            override.add("recurrence-id", _occurrence(task, occurrence))
            overrides.append(override)
    if exdates:
        master.add("exdate", [_occurrence(task, o) for o in sorted(set(exdates))])
    return [master, *overrides]


def _occurrence(series: Task, occurrence: dt.datetime) -> dt.date | dt.datetime:
    """An occurrence as EXDATE and RECURRENCE-ID name it: its date for an all-day series."""
    return local_day(occurrence, series.timezone) if series.all_day else _local(occurrence, series.timezone)


def _component(
    task: Task,
    reminders: list[Reminder],
    kind: str,
    *,
    start: dt.datetime | None = None,
    uid_of: Task | None = None,
    day: dt.date | None = None,
    clock: dt.time = dt.time(9),
) -> icalendar.Component:
    component: icalendar.Component = icalendar.Event() if kind == "event" else icalendar.Todo()
    component.add("uid", uid((uid_of or task).id))
    component.add("dtstamp", task.updated_at.astimezone(UTC))
    component.add("last-modified", task.updated_at.astimezone(UTC))
    component.add("created", task.created_at.astimezone(UTC))
    component.add("sequence", max(task.version - 1, 0))
    component.add("summary", task.title)
    if task.description:
        component.add("description", task.description)
    if task.tags:
        component.add("categories", list(task.tags))
    if task.parent_task_id is not None:  # a sub-task (RFC 5545 §3.8.4.5: RELTYPE=PARENT is the default)
        component.add("related-to", uid(task.parent_task_id))
    if PRIORITY_TO_ICAL.get(task.priority):
        component.add("priority", PRIORITY_TO_ICAL[task.priority])
    when = start or task.due_date
    if day is None and task.all_day and when is not None:
        day = stored_day(when)
    if day is not None:  # all day: DATE values (RFC 5545 §3.3.4), the event one day long
        if kind == "event":
            component.add("dtstart", day)
            component.add("dtend", day + dt.timedelta(days=1))
        else:
            if start is not None:  # a series' RRULE counts from DTSTART
                component.add("dtstart", day)
            component.add("due", day)
    elif when is not None:
        local = _local(when, task.timezone)
        component.add("dtstart", local)
        if kind == "todo":
            component.add("due", local)
    if kind == "todo":
        component.add("status", "COMPLETED" if task.completed else "NEEDS-ACTION")
        if task.completed and task.completed_at is not None:
            component.add("completed", task.completed_at.astimezone(UTC))
    for reminder in reminders:
        if reminder.outcome == "cancelled":
            continue
        component.add_component(_alarm(task, reminder, clock if day is not None else None))
    return component


def _alarm(task: Task, reminder: Reminder, clock: dt.time | None = None) -> icalendar.Alarm:
    """A VALARM; a relative one of an all-day task (`clock`) rings the lead before that time of the day."""
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", task.title)
    if reminder.minutes_before is not None:
        after_start = dt.timedelta(hours=clock.hour, minutes=clock.minute) if clock is not None else dt.timedelta(0)
        alarm.add("trigger", after_start - dt.timedelta(minutes=reminder.minutes_before))
    else:
        alarm.add("trigger", reminder.remind_at.astimezone(UTC))
    return alarm


def _local(moment: dt.datetime, tz_name: str) -> dt.datetime:
    """The time as the task's zone shows it: UTC (…Z) for UTC tasks, else with a TZID."""
    if moment.tzinfo is not UTC and moment.tzinfo == zone(tz_name):
        return moment  # already wall-clock time in the zone (a series' DTSTART)
    if tz_name == "UTC":
        return moment.astimezone(UTC)
    return moment.astimezone(zone(tz_name))
