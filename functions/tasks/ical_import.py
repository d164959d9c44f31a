"""Read an .ics file (RFC 5545) into an import plan: tasks, series, instances and reminders.

The file is checked line by line first (functions/tasks/ical_scan.py: content-line syntax, nesting, size and
component limits) so a bad file is refused with the number of the line at fault, then parsed
with the icalendar library. VEVENT and VTODO become tasks; RRULE (checked like any task rule:
RFC 5545 only, bounded, the 15-minute flood guard) makes a series; EXDATE and completed
overridden instances (RECURRENCE-ID) become completed instances, so the calendar's view of the
series survives a round trip; VALARM becomes reminders. Everything TaskFlow does not keep is
listed in `unsupported` with its line, never dropped silently.

Times: a TZID that is an IANA zone is kept as the task's zone; UTC stays UTC; a floating time
is wall-clock time in the calendar's X-WR-TIMEZONE, else the importing user's zone. A DATE
(all-day) value is the start of that day in that zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import icalendar

from functions.tasks.ical_scan import BadCalendar, ScannedComponent, decode, scan
from shared.recurrence import Rule, budget, check_flood_guard, parse_rule
from shared.schemas import iana_timezone
from shared.timeutil import UTC, BadValue, zone

# The task API's own limits (title, description, tags, reminder offsets).
TITLE_MAX, DESCRIPTION_MAX, TAG_MAX, TAGS_MAX = 500, 10_000, 50, 20
MINUTES_BEFORE_MAX = 527_040  # one year
MAX_TASKS = 500
MAX_REMINDERS = 20
MAX_INSTANCES = 1000
#: Exceptions (EXDATE values, overridden instances) of all series together: each is a task row and an event.
MAX_INSTANCES_TOTAL = 2000
MAX_UNSUPPORTED = 200
#: CPU one import may spend checking and expanding its rules, all together.
IMPORT_CPU_SECONDS = 2.0
_TASK_COMPONENTS = ("VEVENT", "VTODO")
# Properties a task keeps (or that only identify the component); anything else is reported.
_KEPT = frozenset(
    ("UID", "DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "SUMMARY", "DESCRIPTION", "DTSTART", "DUE")
    + ("RRULE", "EXDATE", "RECURRENCE-ID", "STATUS", "COMPLETED", "PRIORITY", "CATEGORIES")
)
_ALARM_KEPT = frozenset(("ACTION", "TRIGGER", "DESCRIPTION", "SUMMARY", "UID", "X-WR-ALARMUID"))
_CALENDAR_KEPT = frozenset(("VERSION", "PRODID", "CALSCALE", "METHOD", "X-WR-TIMEZONE", "X-WR-CALNAME"))
_CALENDAR_KEPT |= {"REFRESH-INTERVAL", "X-PUBLISHED-TTL", "NAME"}
# RFC 5545 §3.8.1.9: 1-4 high, 5 medium, 6-9 low (1 is TaskFlow's "urgent"), 0 undefined.
_PRIORITIES = {0: "none", 1: "urgent", 2: "high", 3: "high", 4: "high", 5: "medium", 6: "low", 7: "low", 8: "low"}
_PRIORITIES[9] = "low"


@dataclasses.dataclass
class PlannedReminder:
    minutes_before: int | None = None
    remind_at: dt.datetime | None = None


@dataclasses.dataclass
class PlannedInstance:
    occurrence_at: dt.datetime
    due_date: dt.datetime
    completed: bool
    completed_at: dt.datetime | None


@dataclasses.dataclass
class PlannedTask:
    uid: str | None
    line: int
    title: str
    description: str | None
    due_date: dt.datetime | None
    timezone: str
    priority: str
    tags: list[str]
    completed: bool
    completed_at: dt.datetime | None
    rule: Rule | None = None
    reminders: list[PlannedReminder] = dataclasses.field(default_factory=list)
    instances: list[PlannedInstance] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ImportPlan:
    tasks: list[PlannedTask]
    unsupported: list[dict[str, Any]]  # Any: JSON values ({line, component, property, reason})

    def counts(self) -> dict[str, int]:
        series = sum(1 for t in self.tasks if t.rule is not None)
        instances = sum(len(t.instances) for t in self.tasks)
        reminders = sum(len(t.reminders) for t in self.tasks)
        return {"tasks": len(self.tasks) - series + instances, "series": series, "reminders": reminders}


def plan_import(data: bytes, default_tz: str, now: dt.datetime) -> ImportPlan:
    """Read the file into what an import would create; raise BadCalendar (422) when it cannot be read."""
    text = decode(data)
    scanned = scan(text)
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError) as exc:
        # The library's own failures on a file the line check let through (e.g. a VTIMEZONE it cannot read).
        raise BadCalendar(f"cannot be parsed: {str(exc)[:200]}") from None
    with budget(steps=1_000_000, cpu_seconds=IMPORT_CPU_SECONDS):
        return _Planner(scanned, default_tz, now).plan(calendar)


class _Planner:
    def __init__(self, scanned: ScannedComponent, default_tz: str, now: dt.datetime):
        self.scanned = scanned
        self.default_tz = default_tz
        self.now = now
        self.unsupported: list[dict[str, Any]] = []
        self.dropped = 0
        self.instances = 0  # exceptions planned so far, all series together

    def report(self, line: int | None, component: str, prop: str, reason: str) -> None:
        if len(self.unsupported) >= MAX_UNSUPPORTED:
            self.dropped += 1
            return
        self.unsupported.append({"line": line, "component": component, "property": prop, "reason": reason})

    def plan(self, calendar: icalendar.Calendar) -> ImportPlan:
        self._calendar_properties(calendar)
        masters: dict[str, PlannedTask] = {}
        overrides: list[tuple[icalendar.Component, ScannedComponent]] = []
        tasks: list[PlannedTask] = []
        for component, where in self._pairs(calendar.subcomponents, self.scanned.children):
            name = component.name.upper()
            if name == "VTIMEZONE":
                continue
            if name not in _TASK_COMPONENTS:
                self.report(where.line, name, "", "TaskFlow imports VEVENT and VTODO only")
                continue
            if "RECURRENCE-ID" in component:
                overrides.append((component, where))
                continue
            planned = self._task(component, where)
            if planned is None:
                continue
            tasks.append(planned)
            unmatched = self._unmatched_start(planned, where)
            if unmatched is not None:
                tasks.append(unmatched)
            if len(tasks) > MAX_TASKS:
                raise BadCalendar(f"the file has more than {MAX_TASKS} tasks", where.line)
            if planned.uid and planned.rule is not None:
                masters[planned.uid] = planned
        for component, where in overrides:
            self._override(component, where, masters)
        if self.dropped:
            self.report(None, "", "", f"{self.dropped} more unsupported items not listed")
        return ImportPlan(tasks, self.unsupported)

    def _pairs(
        self, components: list[icalendar.Component], scanned: list[ScannedComponent]
    ) -> list[tuple[icalendar.Component, ScannedComponent]]:
        """Each parsed component with its place in the file (both lists are in file order)."""
        if len(components) != len(scanned) or any(
            c.name.upper() != s.name for c, s in zip(components, scanned, strict=True)
        ):
            raise BadCalendar("has components the parser could not read")
        return list(zip(components, scanned, strict=True))

    def _calendar_properties(self, calendar: icalendar.Calendar) -> None:
        wr_tz = calendar.get("X-WR-TIMEZONE")
        if wr_tz is not None:
            try:
                self.default_tz = iana_timezone(str(wr_tz))
            except BadValue:
                line = self.scanned.properties.get("X-WR-TIMEZONE")
                self.report(line, "VCALENDAR", "X-WR-TIMEZONE", "not an IANA zone; floating times use your zone")
        for name in calendar:
            if name.upper() not in _CALENDAR_KEPT:
                self.report(self.scanned.properties.get(name.upper()), "VCALENDAR", name.upper(), "not kept")

    def _check_errors(self, component: icalendar.Component, where: ScannedComponent) -> None:
        for name, message in getattr(component, "errors", []):
            raise BadCalendar(f"{name} {str(message)[:200]}", where.properties.get(str(name).upper(), where.line))

    def _task(self, component: icalendar.Component, where: ScannedComponent) -> PlannedTask | None:
        self._check_errors(component, where)
        kind = component.name.upper()
        status = str(component.get("STATUS", "")).upper()
        if status == "CANCELLED":
            self.report(where.line, kind, "STATUS", "a cancelled component is not imported")
            return None
        for name in component:
            if name.upper() not in _KEPT:
                reason = "tasks have no end or duration" if name.upper() in ("DTEND", "DURATION") else "not kept"
                self.report(where.properties.get(name.upper()), kind, name.upper(), reason)
        due_prop = "DUE" if kind == "VTODO" and "DUE" in component else "DTSTART"
        due, tz = self._when(component, due_prop, where, kind)
        completed = status == "COMPLETED" or "COMPLETED" in component
        planned = PlannedTask(
            uid=str(component["UID"]) if "UID" in component else None,
            line=where.line,
            title=self._field(_title, str(component.get("SUMMARY", "")), where, "SUMMARY"),
            description=self._field(_description, _text(component.get("DESCRIPTION")), where, "DESCRIPTION"),
            due_date=due,
            timezone=tz,
            priority=self._priority(component, where),
            tags=self._field(_tags, _categories(component), where, "CATEGORIES"),
            completed=completed,
            completed_at=self._utc(component, "COMPLETED", where) if completed else None,
        )
        if completed and planned.completed_at is None:
            planned.completed_at = self.now
        self._rule(component, where, planned)
        if not completed:
            planned.reminders = self._alarms(component, where, planned)
        elif component.subcomponents:
            self.report(where.line, kind, "VALARM", "a completed task gets no reminders")
        return planned

    def _unmatched_start(self, planned: PlannedTask, where: ScannedComponent) -> PlannedTask | None:
        """A DTSTART that is not an occurrence of its RRULE, as a task of its own.

        RFC 5545 §3.8.5.3: "The "DTSTART" property value always counts as the first occurrence",
        and calendar clients show it; TaskFlow's series are the rule's dates only (dateutil's
        reading), so that first date becomes a separate task and the series starts at the
        rule's first occurrence.
        """
        if planned.rule is None or planned.due_date is None:
            return None
        try:
            return self._split_start(planned, planned.rule, planned.due_date, where)
        except BadValue as exc:  # the import's expansion budget is spent
            raise BadCalendar(f"RRULE {exc}", where.properties.get("RRULE", where.line)) from None

    def _split_start(
        self, planned: PlannedTask, rule: Rule, due: dt.datetime, where: ScannedComponent
    ) -> PlannedTask | None:
        first = rule.first()
        if first == due:
            return None
        line = where.properties.get("DTSTART", where.line)
        self.report(line, where.name, "DTSTART", "not an occurrence of the RRULE: imported as a task of its own")
        alone = dataclasses.replace(planned, rule=None, instances=[], reminders=list(planned.reminders))
        count = re.search(r"COUNT=(\d+)", rule.text)
        if count is not None:  # DTSTART was one of the COUNT occurrences: the series has one fewer
            if int(count.group(1)) <= 1:
                _alone(planned)
                return None
            fewer = dataclasses.replace(rule, text=re.sub(r"COUNT=\d+", f"COUNT={int(count.group(1)) - 1}", rule.text))
            planned.rule, first = fewer, fewer.first()
        if first is None:
            _alone(planned)
            return None
        planned.due_date = first
        return alone

    def _field(self, parse: Any, value: Any, where: ScannedComponent, name: str) -> Any:
        # Any: the field checks below, each with its own type.
        try:
            return parse(value)
        except BadValue as exc:
            raise BadCalendar(f"{name} {exc}", where.properties.get(name, where.line)) from None

    def _priority(self, component: icalendar.Component, where: ScannedComponent) -> str:
        if "PRIORITY" not in component:
            return "none"
        try:
            return _PRIORITIES[int(component["PRIORITY"])]
        except (KeyError, ValueError, TypeError):
            raise BadCalendar("PRIORITY must be a number from 0 to 9", where.properties.get("PRIORITY")) from None

    def _when(
        self, component: icalendar.Component, name: str, where: ScannedComponent, kind: str
    ) -> tuple[dt.datetime | None, str]:
        prop = component.get(name)
        if prop is None:
            return None, self.default_tz
        return self._moment(prop, where.properties.get(name, where.line), kind, name)

    def _moment(self, prop: Any, line: int, kind: str, name: str) -> tuple[dt.datetime, str]:
        """A DATE / DATE-TIME property value as aware UTC, with the IANA zone it was stated in."""
        # Any: an icalendar property value (vDDDTypes) as the library hands it over.
        value = getattr(prop, "dt", None)
        tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                tz = self.default_tz
                if tzid:
                    self.report(line, kind, name, f"unknown TZID {str(tzid)[:64]!r}: read as local time in {tz}")
                return _placed(value, tz, line), tz
            named = _zone_name(value, tzid)
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
            return _placed(dt.datetime.combine(value, dt.time()), self.default_tz, line), self.default_tz
        raise BadCalendar(f"{name} must be a DATE or DATE-TIME", line)

    def _utc(self, component: icalendar.Component, name: str, where: ScannedComponent) -> dt.datetime | None:
        prop = component.get(name)
        if prop is None:
            return None
        return self._moment(prop, where.properties.get(name, where.line), component.name.upper(), name)[0]

    def _rule(self, component: icalendar.Component, where: ScannedComponent, planned: PlannedTask) -> None:
        kind = component.name.upper()
        rules = component.get("RRULE")
        exdates = component.get("EXDATE")
        if rules is None:
            if exdates is not None:
                self.report(where.properties.get("EXDATE"), kind, "EXDATE", "EXDATE without RRULE: ignored")
            return
        line = where.properties.get("RRULE", where.line)
        if isinstance(rules, list):
            self.report(line, kind, "RRULE", "more than one RRULE: only the first is kept")
            rules = rules[0]
        if planned.due_date is None:
            raise BadCalendar("a recurring component needs DTSTART (or DUE)", where.line)
        text = rules.to_ical().decode()
        due_name = "DUE" if kind == "VTODO" and "DUE" in component else "DTSTART"
        start = _wall_text(component.get(due_name), planned.timezone) or planned.due_date.isoformat()
        try:
            rule = parse_rule(text, planned.timezone, start)
            check_flood_guard(rule, self.now)
        except BadValue as exc:
            raise BadCalendar(f"RRULE {exc}", line) from None
        planned.rule = rule
        for item in exdates if isinstance(exdates, list) else [exdates] if exdates is not None else []:
            for value in item.dts:
                moment, _ = self._moment(value, where.properties.get("EXDATE", line), kind, "EXDATE")
                self._add_instance(planned, moment, moment, True, planned.completed_at or self.now, line)

    def _add_instance(
        self,
        planned: PlannedTask,
        occurrence: dt.datetime,
        due: dt.datetime,
        completed: bool,
        completed_at: dt.datetime | None,
        line: int,
    ) -> None:
        if any(i.occurrence_at == occurrence for i in planned.instances):
            return
        if len(planned.instances) >= MAX_INSTANCES:
            raise BadCalendar(f"a series has more than {MAX_INSTANCES} exceptions", line)
        if self.instances >= MAX_INSTANCES_TOTAL:
            raise BadCalendar(f"the file has more than {MAX_INSTANCES_TOTAL} series exceptions in all", line)
        self.instances += 1
        planned.instances.append(PlannedInstance(occurrence, due, completed, completed_at if completed else None))

    def _override(
        self, component: icalendar.Component, where: ScannedComponent, masters: dict[str, PlannedTask]
    ) -> None:
        self._check_errors(component, where)
        kind = component.name.upper()
        master = masters.get(str(component.get("UID", "")))
        if master is None:
            self.report(where.line, kind, "RECURRENCE-ID", "an instance whose series is not in the file")
            return
        occurrence, _ = self._moment(component["RECURRENCE-ID"], where.properties["RECURRENCE-ID"], kind, "RID")
        status = str(component.get("STATUS", "")).upper()
        completed = status in ("COMPLETED", "CANCELLED") or "COMPLETED" in component
        due_name = "DUE" if kind == "VTODO" and "DUE" in component else "DTSTART"
        due = self._when(component, due_name, where, kind)[0] or occurrence
        completed_at = (self._utc(component, "COMPLETED", where) or self.now) if completed else None
        self._add_instance(master, occurrence, due, completed, completed_at, where.line)

    def _alarms(
        self, component: icalendar.Component, where: ScannedComponent, planned: PlannedTask
    ) -> list[PlannedReminder]:
        kind = component.name.upper()
        reminders: list[PlannedReminder] = []
        for alarm, place in self._pairs(component.subcomponents, where.children):
            if alarm.name.upper() != "VALARM":
                self.report(place.line, alarm.name.upper(), "", "not kept")
                continue
            self._check_errors(alarm, place)
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
        trigger = alarm.get("TRIGGER")
        line = place.properties.get("TRIGGER", place.line)
        value = getattr(trigger, "dt", None)
        if isinstance(value, dt.timedelta):
            if value > dt.timedelta(0) or value % dt.timedelta(minutes=1):
                self.report(line, "VALARM", "TRIGGER", "only reminders whole minutes before the start are kept")
                return None
            if planned.due_date is None:
                self.report(line, "VALARM", "TRIGGER", f"a relative reminder needs the {kind}'s start")
                return None
            minutes = int(-value.total_seconds() // 60)
            return PlannedReminder(minutes_before=self._field(_minutes_before, minutes, place, "TRIGGER"))
        if isinstance(value, dt.datetime):
            remind_at = self._moment(trigger, line, "VALARM", "TRIGGER")[0]
            if remind_at <= self.now:
                self.report(line, "VALARM", "TRIGGER", "a reminder in the past is not kept")
                return None
            return PlannedReminder(remind_at=remind_at)
        raise BadCalendar("TRIGGER must be a duration or a UTC date-time", line)


def _alone(planned: PlannedTask) -> None:
    """Make a planned series a one-off task (its rule has no occurrence besides DTSTART)."""
    planned.rule, planned.instances = None, []


def _zone_name(value: dt.datetime, tzid: object) -> str | None:
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


def _placed(naive: dt.datetime, tz_name: str, line: int) -> dt.datetime:
    """Wall-clock time in a zone as UTC (fold=0: a gap time takes the offset before the gap, RFC 5545 §3.3.5)."""
    if not 1900 <= naive.year <= 9999:
        raise BadCalendar("the year must be between 1900 and 9999", line)
    try:
        return naive.replace(tzinfo=zone(tz_name)).astimezone(UTC)
    except OverflowError:
        raise BadCalendar("the date-time is out of range", line) from None


def _wall_text(prop: Any, tz_name: str) -> str | None:
    """The wall-clock time a DATE-TIME states in the task's zone (naive ISO), so a gap time keeps it."""
    # Any: an icalendar property value (vDDDTypes).
    value = getattr(prop, "dt", None)
    if not isinstance(value, dt.datetime):
        return None
    key = getattr(value.tzinfo, "key", None)
    if value.tzinfo is None or (key == tz_name and tz_name != "UTC"):
        return value.replace(tzinfo=None).isoformat()
    return None


def _title(value: str) -> str:
    # A SUMMARY may hold line breaks (escaped \n); a task title is one line (the API refuses control characters).
    value = re.sub(r"[\x00-\x08\x0A-\x1F\x7F]+", " ", value).strip() or "(no title)"
    if len(value) > TITLE_MAX:
        raise BadValue(f"must be at most {TITLE_MAX} characters")
    return value


def _description(value: str | None) -> str | None:
    if value is not None and len(value) > DESCRIPTION_MAX:
        raise BadValue(f"must be at most {DESCRIPTION_MAX} characters")
    return value


def _tags(values: list[str]) -> list[str]:
    tags: list[str] = []
    for tag in (v.strip() for v in values):
        if not tag or len(tag) > TAG_MAX:
            raise BadValue(f"each category must be a non-empty text of at most {TAG_MAX} characters")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise BadValue(f"must name at most {TAGS_MAX} categories")
    return tags


def _minutes_before(value: int) -> int:
    if not 0 <= value <= MINUTES_BEFORE_MAX:
        raise BadValue("must be at most one year before the start")
    return value


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _categories(component: icalendar.Component) -> list[str]:
    values = component.get("CATEGORIES")
    if values is None:
        return []
    out: list[str] = []
    for item in values if isinstance(values, list) else [values]:
        out.extend(str(c) for c in getattr(item, "cats", []))
    return out
