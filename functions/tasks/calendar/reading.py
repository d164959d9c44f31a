"""Read an .ics component's properties into a task's values: times in their zones, the task API's
limits, its alarms as reminders, and a report of everything TaskFlow does not keep, with its line
(functions/tasks/calendar/plan.py plans tasks and series from these values)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import icalendar

from functions.tasks.calendar.planned import PlannedReminder, PlannedTask
from functions.tasks.calendar.scan import BadCalendar, ScannedComponent
from shared.domain.times import UTC, BadValue, zone
from shared.web.schemas import iana_timezone

# The task API's own limits (title, description, tags, reminder offsets).
TITLE_MAX, DESCRIPTION_MAX, TAG_MAX, TAGS_MAX = 500, 10_000, 50, 20
MINUTES_BEFORE_MAX = 527_040  # one year
MAX_UNSUPPORTED = 200
MAX_REMINDERS = 20
_ALARM_KEPT = frozenset(("ACTION", "TRIGGER", "DESCRIPTION", "SUMMARY", "UID", "X-WR-ALARMUID"))
# RFC 5545 §3.8.1.9: 1-4 high, 5 medium, 6-9 low (1 is TaskFlow's "urgent"), 0 undefined.
_PRIORITIES = {0: "none", 1: "urgent", 2: "high", 3: "high", 4: "high", 5: "medium", 6: "low", 7: "low", 8: "low"}
_PRIORITIES[9] = "low"


class ComponentReader:
    """Reads the values of one file's components; what TaskFlow does not keep goes to `unsupported`."""

    def __init__(self, scanned: ScannedComponent, default_tz: str, now: dt.datetime, day_clock: dt.time = dt.time(9)):
        self.scanned = scanned
        #: The importing person's time of day relative reminders of all-day tasks count from.
        self.day_clock = day_clock
        self.default_tz = default_tz
        self.now = now
        self.unsupported: list[dict[str, Any]] = []
        self.dropped = 0

    def report(self, line: int | None, component: str, prop: str, reason: str) -> None:
        """Note something in the file TaskFlow does not keep, with its line (beyond MAX_UNSUPPORTED, only counted)."""
        if len(self.unsupported) >= MAX_UNSUPPORTED:
            self.dropped += 1
            return
        self.unsupported.append({"line": line, "component": component, "property": prop, "reason": reason})

    def check_errors(self, component: icalendar.Component, where: ScannedComponent) -> None:
        """Refuse a component the library could not read cleanly, naming the property's line."""
        for name, message in getattr(component, "errors", []):
            raise BadCalendar(f"{name} {str(message)[:200]}", where.properties.get(str(name).upper(), where.line))

    def field(self, parse: Any, value: Any, where: ScannedComponent, name: str) -> Any:
        """Check a value with one of the field checks below; a refusal names the property's line."""
        # Any: the field checks below, each with its own type.
        try:
            return parse(value)
        except BadValue as exc:
            raise BadCalendar(f"{name} {exc}", where.properties.get(name, where.line)) from None

    def priority(self, component: icalendar.Component, where: ScannedComponent) -> str:
        """The task priority a PRIORITY (0-9) stands for."""
        if "PRIORITY" not in component:
            return "none"
        try:
            return _PRIORITIES[int(component["PRIORITY"])]
        except (KeyError, ValueError, TypeError):
            raise BadCalendar("PRIORITY must be a number from 0 to 9", where.properties.get("PRIORITY")) from None

    def when(
        self, component: icalendar.Component, name: str, where: ScannedComponent, kind: str
    ) -> tuple[dt.datetime | None, str]:
        """The DATE / DATE-TIME property `name` (None when absent) with the zone it was stated in."""
        prop = component.get(name)
        if prop is None:
            return None, self.default_tz
        return self.moment(prop, where.properties.get(name, where.line), kind, name)

    def moment(self, prop: Any, line: int, kind: str, name: str) -> tuple[dt.datetime, str]:
        """A DATE / DATE-TIME property value as aware UTC, with the IANA zone it was stated in."""
        # Any: an icalendar property value (vDDDTypes) as the library hands it over.
        value = getattr(prop, "dt", None)
        tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                tz = self.default_tz
                if tzid:
                    self.report(line, kind, name, f"unknown TZID {str(tzid)[:64]!r}: read as local time in {tz}")
                return placed(value, tz, line), tz
            named = zone_name(value, tzid)
            if named is None:
                self.report(line, kind, name, f"TZID {str(tzid)[:64]!r} is not an IANA zone: kept in UTC")
            tz = named or "UTC"
            if not 1900 <= value.year <= 9999:
                raise BadCalendar("the year must be between 1900 and 9999", line)
            try:
                return value.astimezone(UTC), tz
            except OverflowError:
                raise BadCalendar("the date-time is out of range", line) from None
        if isinstance(value, dt.date):
            return placed(dt.datetime.combine(value, dt.time()), self.default_tz, line), self.default_tz
        raise BadCalendar(f"{name} must be a DATE or DATE-TIME", line)

    def utc(self, component: icalendar.Component, name: str, where: ScannedComponent) -> dt.datetime | None:
        """The DATE / DATE-TIME property `name` as aware UTC (None when absent)."""
        prop = component.get(name)
        if prop is None:
            return None
        return self.moment(prop, where.properties.get(name, where.line), component.name.upper(), name)[0]

    def pairs(
        self, components: list[icalendar.Component], scanned: list[ScannedComponent]
    ) -> list[tuple[icalendar.Component, ScannedComponent]]:
        """Each parsed component with its place in the file (both lists are in file order)."""
        if len(components) != len(scanned) or any(
            c.name.upper() != s.name for c, s in zip(components, scanned, strict=True)
        ):
            raise BadCalendar("has components the parser could not read")
        return list(zip(components, scanned, strict=True))

    def alarms(
        self, component: icalendar.Component, where: ScannedComponent, planned: PlannedTask
    ) -> list[PlannedReminder]:
        """A component's VALARMs as reminders (each once, at most MAX_REMINDERS)."""
        kind = component.name.upper()
        reminders: list[PlannedReminder] = []
        for alarm, place in self.pairs(component.subcomponents, where.children):
            if alarm.name.upper() != "VALARM":
                self.report(place.line, alarm.name.upper(), "", "not kept")
                continue
            self.check_errors(alarm, place)
            for name in alarm:
                if name.upper() not in _ALARM_KEPT:
                    self.report(place.properties.get(name.upper()), "VALARM", name.upper(), "not kept")
            reminder = self._reminder(alarm, place, planned, kind)
            if reminder is None:
                continue
            if len(reminders) >= MAX_REMINDERS:
                self.report(place.line, "VALARM", "", f"more than {MAX_REMINDERS} reminders: not kept")
                continue
            if reminder not in reminders:
                reminders.append(reminder)
        return reminders

    def _reminder(
        self, alarm: icalendar.Component, place: ScannedComponent, planned: PlannedTask, kind: str
    ) -> PlannedReminder | None:
        """One VALARM's TRIGGER as a reminder: whole minutes before the start, or a time ahead."""
        trigger = alarm.get("TRIGGER")
        line = place.properties.get("TRIGGER", place.line)
        value = getattr(trigger, "dt", None)
        if isinstance(value, dt.timedelta):
            if planned.all_day:  # counted from the start of the day: as a lead before the person's time of day
                value -= dt.timedelta(hours=self.day_clock.hour, minutes=self.day_clock.minute)
            if value > dt.timedelta(0) or value % dt.timedelta(minutes=1):
                self.report(line, "VALARM", "TRIGGER", "only reminders whole minutes before the start are kept")
                return None
            if planned.due_date is None:
                self.report(line, "VALARM", "TRIGGER", f"a relative reminder needs the {kind}'s start")
                return None
            minutes = int(-value.total_seconds() // 60)
            return PlannedReminder(minutes_before=self.field(minutes_before, minutes, place, "TRIGGER"))
        if isinstance(value, dt.datetime):
            remind_at = self.moment(trigger, line, "VALARM", "TRIGGER")[0]
            if remind_at <= self.now:
                self.report(line, "VALARM", "TRIGGER", "a reminder in the past is not kept")
                return None
            return PlannedReminder(remind_at=remind_at)
        raise BadCalendar("TRIGGER must be a duration or a UTC date-time", line)


def zone_name(value: dt.datetime, tzid: object) -> str | None:
    """The IANA name of an aware time's zone (UTC included), or None for a zone only the file defines."""
    if value.utcoffset() == dt.timedelta(0) and (tzid is None or str(tzid).upper() in ("UTC", "Z", "ETC/UTC")):
        return "UTC"
    for name in (getattr(value.tzinfo, "key", None), tzid):
        if isinstance(name, str):
            try:
                return iana_timezone(name)
            except BadValue:
                continue
    return None


def placed(naive: dt.datetime, tz_name: str, line: int) -> dt.datetime:
    """Wall-clock time in a zone as UTC (fold=0: a gap time takes the offset before the gap, RFC 5545 §3.3.5)."""
    if not 1900 <= naive.year <= 9999:
        raise BadCalendar("the year must be between 1900 and 9999", line)
    try:
        return naive.replace(tzinfo=zone(tz_name)).astimezone(UTC)
    except OverflowError:
        raise BadCalendar("the date-time is out of range", line) from None


def wall_text(prop: Any, tz_name: str) -> str | None:
    """The wall-clock time a DATE-TIME states in the task's zone (naive ISO), so a gap time keeps it."""
    # Any: an icalendar property value (vDDDTypes).
    value = getattr(prop, "dt", None)
    if not isinstance(value, dt.datetime):
        return None
    key = getattr(value.tzinfo, "key", None)
    if value.tzinfo is None or (key == tz_name and tz_name != "UTC"):
        return value.replace(tzinfo=None).isoformat()
    return None


def title(value: str) -> str:
    """A SUMMARY as a task title: one line, not blank, within the API's limit."""
    # A SUMMARY may hold line breaks (escaped \n); a task title is one line (the API refuses control characters).
    value = re.sub(r"[\x00-\x08\x0A-\x1F\x7F]+", " ", value).strip() or "(no title)"
    if len(value) > TITLE_MAX:
        raise BadValue(f"must be at most {TITLE_MAX} characters")
    return value


def description(value: str | None) -> str | None:
    """A DESCRIPTION within the API's limit."""
    if value is not None and len(value) > DESCRIPTION_MAX:
        raise BadValue(f"must be at most {DESCRIPTION_MAX} characters")
    return value


def tags(values: list[str]) -> list[str]:
    """CATEGORIES as tags: stripped, each once, within the API's limits."""
    kept: list[str] = []
    for tag in (v.strip() for v in values):
        if not tag or len(tag) > TAG_MAX:
            raise BadValue(f"each category must be a non-empty text of at most {TAG_MAX} characters")
        if tag not in kept:
            kept.append(tag)
    if len(kept) > TAGS_MAX:
        raise BadValue(f"must name at most {TAGS_MAX} categories")
    return kept


def minutes_before(value: int) -> int:
    """A relative TRIGGER as minutes before the start, at most a year."""
    if not 0 <= value <= MINUTES_BEFORE_MAX:
        raise BadValue("must be at most one year before the start")
    return value


def text(value: object) -> str | None:
    """A text property's value, or None."""
    return None if value is None else str(value)


def categories(component: icalendar.Component) -> list[str]:
    """Every CATEGORIES value of a component, in order."""
    values = component.get("CATEGORIES")
    if values is None:
        return []
    out: list[str] = []
    for item in values if isinstance(values, list) else [values]:
        out.extend(str(c) for c in getattr(item, "cats", []))
    return out
