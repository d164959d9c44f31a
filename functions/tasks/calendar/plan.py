"""Read an .ics file (RFC 5545) into an import plan: tasks, series, instances and reminders.

The file is checked line by line first (functions/tasks/calendar/scan.py: content-line syntax, nesting, size and
component limits) so a bad file is refused with the number of the line at fault, then parsed
with the icalendar library. VEVENT and VTODO become tasks; RRULE (checked like any task rule:
RFC 5545 only, bounded, the 15-minute flood guard) makes a series; an EXDATE (or a cancelled
overridden instance) becomes a skipped occurrence of the series, as TaskFlow's own feeds write one,
and a completed or moved overridden instance (RECURRENCE-ID) an instance, so the calendar's view
of the series survives a round trip; VALARM becomes reminders. Everything TaskFlow does not keep is
listed in `unsupported` with its line, never dropped silently (calendar/reading.py reads the values;
calendar/planned.py holds the plan).

Times: a TZID that is an IANA zone is kept as the task's zone; UTC stays UTC; a floating time
is wall-clock time in the calendar's X-WR-TIMEZONE, else the importing user's zone. A DATE
DUE (or DTSTART) makes an all-day task, or an all-day series: planned from the start of that day
in that zone, stored as the date (functions/tasks/calendar/apply.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import icalendar

from functions.tasks.calendar import reading
from functions.tasks.calendar.planned import ImportPlan, PlannedInstance, PlannedTask
from functions.tasks.calendar.reading import ComponentReader
from functions.tasks.calendar.scan import BadCalendar, ScannedComponent, decode, scan
from shared.domain.recurrence import Rule, budget
from shared.domain.rule_parsing import check_flood_guard, parse_rule
from shared.domain.times import BadValue, zone
from shared.services.series import MAX_SKIPPED_AHEAD, over_skip_cap
from shared.web.schemas import iana_timezone

MAX_TASKS = 500
MAX_INSTANCES = 1000
#: Exceptions (EXDATE values, overridden instances) of all series together: each is a row (an instance
#: with its event, or a skipped occurrence).
MAX_INSTANCES_TOTAL = 2000
#: CPU one import may spend checking and expanding its rules, all together.
IMPORT_CPU_SECONDS = 2.0
_TASK_COMPONENTS = ("VEVENT", "VTODO")
# Properties a task keeps (or that only identify the component); anything else is reported.
_KEPT = frozenset(
    ("UID", "DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "SUMMARY", "DESCRIPTION", "DTSTART", "DUE")
    + ("RRULE", "EXDATE", "RECURRENCE-ID", "STATUS", "COMPLETED", "PRIORITY", "CATEGORIES", "RELATED-TO")
)
#: Levels of sub-tasks (functions.tasks.core.subtasks.MAX_DEPTH; calendar may not import core).
_MAX_DEPTH = 4
_CALENDAR_KEPT = frozenset(("VERSION", "PRODID", "CALSCALE", "METHOD", "X-WR-TIMEZONE", "X-WR-CALNAME"))
_CALENDAR_KEPT |= {"REFRESH-INTERVAL", "X-PUBLISHED-TTL", "NAME"}


def plan_import(data: bytes, default_tz: str, now: dt.datetime, day_clock: dt.time = dt.time(9)) -> ImportPlan:
    """Read the file into what an import would create; raise BadCalendar (422) when it cannot be read."""
    text = decode(data)
    scanned = scan(text)
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError) as exc:
        # The library's own failures on a file the line check let through (e.g. a VTIMEZONE it cannot read).
        raise BadCalendar(f"cannot be parsed: {str(exc)[:200]}") from None
    with budget(steps=1_000_000, cpu_seconds=IMPORT_CPU_SECONDS):
        return _Planner(scanned, default_tz, now, day_clock).plan(calendar)


class _Planner(ComponentReader):
    """Plans the tasks, series, exceptions and reminders of one file."""

    def __init__(self, scanned: ScannedComponent, default_tz: str, now: dt.datetime, day_clock: dt.time):
        super().__init__(scanned, default_tz, now, day_clock)
        self.instances = 0  # exceptions planned so far, all series together

    def plan(self, calendar: icalendar.Calendar) -> ImportPlan:
        """Plan every task component of the calendar, then the overridden instances of its series."""
        self._calendar_properties(calendar)
        masters: dict[str, PlannedTask] = {}
        overrides: list[tuple[icalendar.Component, ScannedComponent]] = []
        tasks: list[PlannedTask] = []
        for component, where in self.pairs(calendar.subcomponents, self.scanned.children):
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
            tasks.extend(self._series(component, where, planned))
            if len(tasks) > MAX_TASKS:
                raise BadCalendar(f"the file has more than {MAX_TASKS} tasks", where.line)
            if planned.uid and planned.rule is not None:
                masters[planned.uid] = planned
        cancelled: list[tuple[PlannedTask, dt.datetime, int, str]] = []
        for component, where in overrides:
            self._override(component, where, masters, cancelled)
        self._skip_cancelled(cancelled)
        tasks = self._link_subtasks(tasks)
        if self.dropped:
            self.report(None, "", "", f"{self.dropped} more unsupported items not listed")
        return ImportPlan(tasks, self.unsupported)

    def _calendar_properties(self, calendar: icalendar.Calendar) -> None:
        """Read X-WR-TIMEZONE (the zone of floating times) and report the calendar properties not kept."""
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

    def _task(self, component: icalendar.Component, where: ScannedComponent) -> PlannedTask | None:
        """A VEVENT or VTODO as a planned task (None: a cancelled one), with its rule and reminders."""
        self.check_errors(component, where)
        kind = component.name.upper()
        status = str(component.get("STATUS", "")).upper()
        if status == "CANCELLED":
            self.report(where.line, kind, "STATUS", "a cancelled component is not imported")
            return None
        for name in component:
            if name.upper() == "DTEND" and _one_day(component):
                continue  # an all-day event's end, the day after: what the date already says
            if name.upper() not in _KEPT:
                reason = "tasks have no end or duration" if name.upper() in ("DTEND", "DURATION") else "not kept"
                self.report(where.properties.get(name.upper()), kind, name.upper(), reason)
        due_prop = "DUE" if kind == "VTODO" and "DUE" in component else "DTSTART"
        due, tz = self.when(component, due_prop, where, kind)
        completed = status == "COMPLETED" or "COMPLETED" in component
        planned = PlannedTask(
            all_day=_is_date(component.get(due_prop)),
            uid=str(component["UID"]) if "UID" in component else None,
            line=where.line,
            title=self.field(reading.title, str(component.get("SUMMARY", "")), where, "SUMMARY"),
            description=self.field(
                reading.description, reading.text(component.get("DESCRIPTION")), where, "DESCRIPTION"
            ),
            due_date=due,
            timezone=tz,
            priority=self.priority(component, where),
            tags=self.field(reading.tags, reading.categories(component), where, "CATEGORIES"),
            completed=completed,
            completed_at=self.utc(component, "COMPLETED", where) if completed else None,
        )
        if completed and planned.completed_at is None:
            planned.completed_at = self.now
        self._rule(component, where, planned)
        self._related_to(component, where, planned)
        if not completed:
            planned.reminders = self.alarms(component, where, planned)
        elif component.subcomponents:
            self.report(where.line, kind, "VALARM", "a completed task gets no reminders")
        return planned

    def _related_to(self, component: icalendar.Component, where: ScannedComponent, planned: PlannedTask) -> None:
        """RELATED-TO with RELTYPE=PARENT (the default) names the parent; other relations are reported."""
        related = component.get("RELATED-TO")
        if related is None:
            return
        line = where.properties.get("RELATED-TO")
        values = related if isinstance(related, list) else [related]
        parents = [v for v in values if str(getattr(v, "params", {}).get("RELTYPE", "PARENT")).upper() == "PARENT"]
        if len(parents) != len(values):
            self.report(line, component.name.upper(), "RELATED-TO", "only RELTYPE=PARENT is kept (sub-tasks)")
        if len(parents) > 1:
            self.report(line, component.name.upper(), "RELATED-TO", "a task has one parent: the first is kept")
        if parents:
            planned.parent_uid = str(parents[0]).strip() or None
            planned.parent_at = (line, component.name.upper())

    def _link_subtasks(self, tasks: list[PlannedTask]) -> list[PlannedTask]:
        """Keep the parents found in this file (a sub-task of an unknown, recurring or too deep one goes to the
        top level, reported) and order the tasks so that a parent is created before its sub-tasks."""
        by_uid = {t.uid: t for t in tasks if t.uid and t.rule is None}
        for task in tasks:
            if task.parent_uid is None:
                continue
            reason = None
            if task.rule is not None:
                reason = "a recurring task cannot be a sub-task: imported at the top level"
            elif task.parent_uid not in by_uid:
                reason = "its parent is not a one-off task in this file: imported at the top level"
            if reason is not None:
                self.report(*task.parent_at, "RELATED-TO", reason)
                task.parent_uid = None
        depth: dict[int, int] = {}

        def level(task: PlannedTask, seen: tuple[int, ...] = ()) -> int:
            if id(task) in depth:
                return depth[id(task)]
            parent = by_uid.get(task.parent_uid) if task.parent_uid else None
            if parent is not None and id(parent) in seen + (id(task),):
                self.report(*task.parent_at, "RELATED-TO", "its parents make a cycle: imported at the top level")
                task.parent_uid, parent = None, None
            found = 1 if parent is None else level(parent, (*seen, id(task))) + 1
            if found > _MAX_DEPTH:
                self.report(
                    task.line, "", "RELATED-TO", f"sub-tasks nest at most {_MAX_DEPTH} deep: imported at the top level"
                )
                task.parent_uid, found = None, 1
            depth[id(task)] = found
            return found

        return sorted(tasks, key=level)  # stable: the file's order within a level

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
        """Split a DTSTART that is not an occurrence of the rule off as a task of its own (see _unmatched_start)."""
        first = rule.first()
        if first == due:
            return None
        alone = dataclasses.replace(planned, rule=None, instances=[], skips=[], reminders=list(planned.reminders))
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

    def _rule(self, component: icalendar.Component, where: ScannedComponent, planned: PlannedTask) -> None:
        """Read the RRULE (the first of several) as the planned task's rule, checked like any task rule."""
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
        start = reading.wall_text(component.get(due_name), planned.timezone) or planned.due_date.isoformat()
        if planned.all_day:  # an all-day series: from the start of its first day in the zone
            start = planned.due_date.astimezone(zone(planned.timezone)).replace(tzinfo=None).isoformat()
        try:
            rule = parse_rule(text, planned.timezone, start)
            check_flood_guard(rule, self.now)
        except BadValue as exc:
            raise BadCalendar(f"RRULE {exc}", line) from None
        planned.rule = rule

    def _series(
        self, component: icalendar.Component, where: ScannedComponent, planned: PlannedTask
    ) -> list[PlannedTask]:
        """The planned task, with its DTSTART split off (see _unmatched_start) and its EXDATEs as skips."""
        if planned.rule is None:
            return [planned]
        exdates = self._exdates(component, where)
        start = planned.due_date
        alone = self._unmatched_start(planned, where)
        one_off = not _is_series(planned)  # the rule had no occurrence besides DTSTART
        if alone is not None or one_off:  # DTSTART is off the rule: split off (or all there is)
            line = where.properties.get("DTSTART", where.line)
            if start in exdates:  # and excluded (RFC 5545 §3.8.5.1): the calendar never shows it
                exdates.remove(start)
                self.report(line, where.name, "DTSTART", "not an occurrence of the RRULE, and an EXDATE: not imported")
                if one_off:
                    return []
                alone = None
            else:
                self.report(
                    line, where.name, "DTSTART", "not an occurrence of the RRULE: imported as a task of its own"
                )
        self._skip_exdates(planned, exdates, where.name, where.properties.get("EXDATE", where.line))
        return [planned] if alone is None else [planned, alone]

    def _exdates(self, component: icalendar.Component, where: ScannedComponent) -> list[dt.datetime]:
        """The EXDATE values of a series in file order, each once, counted against the exception limits."""
        kind = component.name.upper()
        rrule_line = where.properties.get("RRULE", where.line)  # where the limits are reported, as before
        line = where.properties.get("EXDATE", rrule_line)
        exdates = component.get("EXDATE")
        values: dict[dt.datetime, None] = {}  # ordered, each once
        for item in exdates if isinstance(exdates, list) else [exdates] if exdates is not None else []:
            for value in item.dts:
                moment, _ = self.moment(value, line, kind, "EXDATE")
                if moment in values:
                    continue
                if len(values) >= MAX_INSTANCES:
                    raise BadCalendar(f"a series has more than {MAX_INSTANCES} exceptions", rrule_line)
                self._count_exception(rrule_line)
                values[moment] = None
        return list(values)

    def _skip_exdates(self, planned: PlannedTask, exdates: list[dt.datetime], kind: str, line: int) -> None:
        """Skip each EXDATE that is an occurrence of the rule; report the others and those over the cap ahead."""
        beyond: list[dt.datetime] = []
        occurrences = self._occurrences_among(planned, exdates, line)
        for moment in sorted(exdates):
            if moment not in occurrences:
                self.report(line, kind, "EXDATE", f"{moment.isoformat()} is not an occurrence of the RRULE: ignored")
            elif not self._add_skip(planned, moment, line):
                beyond.append(moment)
        if beyond:
            self.report(
                line,
                kind,
                "EXDATE",
                f"a series can skip at most {MAX_SKIPPED_AHEAD} occurrences ahead: {len(beyond)} later EXDATEs"
                f" (from {beyond[0].isoformat()}) not kept, those occurrences stay in the series",
            )

    def _occurrences_among(self, planned: PlannedTask, moments: list[dt.datetime], line: int) -> set[dt.datetime]:
        """Those of `moments` that are occurrences of the series' rule."""
        rule, wanted = planned.rule, set(moments)
        if rule is None or not wanted:
            return set()
        try:
            if "COUNT=" not in rule.text:  # each check expands from near its moment
                return {m for m in wanted if rule.is_occurrence(m)}
            # A COUNT rule is expanded from DTSTART every time: one walk, lengthened until it passes the last.
            first, last, size = min(wanted), max(wanted), 64
            while True:
                found = rule.occurrences(first, size)
                if len(found) < size or found[-1] >= last:
                    return wanted & set(found)
                size *= 2
        except BadValue as exc:  # the import's expansion budget is spent
            raise BadCalendar(f"RRULE {exc}", line) from None

    def _count_exception(self, line: int) -> None:
        """Count one more series exception against MAX_INSTANCES_TOTAL."""
        if self.instances >= MAX_INSTANCES_TOTAL:
            raise BadCalendar(f"the file has more than {MAX_INSTANCES_TOTAL} series exceptions in all", line)
        self.instances += 1

    def _add_skip(self, planned: PlannedTask, occurrence: dt.datetime, line: int) -> bool:
        """Skip an occurrence (once); False when the series already skips MAX_SKIPPED_AHEAD ahead of now."""
        if occurrence in planned.skips:
            return True
        if over_skip_cap(planned.skips, occurrence, self.now):
            return False  # the cap skip_occurrence enforces (it keeps next_occurrence's expansion bounded)
        if len(planned.instances) + len(planned.skips) >= MAX_INSTANCES:
            raise BadCalendar(f"a series has more than {MAX_INSTANCES} exceptions", line)
        planned.skips.append(occurrence)
        return True

    def _add_instance(
        self,
        planned: PlannedTask,
        occurrence: dt.datetime,
        due: dt.datetime,
        completed: bool,
        completed_at: dt.datetime | None,
        line: int,
    ) -> None:
        """Plan an overridden instance of a series (once per occurrence)."""
        if any(i.occurrence_at == occurrence for i in planned.instances):
            return
        if len(planned.instances) + len(planned.skips) >= MAX_INSTANCES:
            raise BadCalendar(f"a series has more than {MAX_INSTANCES} exceptions", line)
        self._count_exception(line)
        planned.instances.append(PlannedInstance(occurrence, due, completed, completed_at if completed else None))

    def _override(
        self,
        component: icalendar.Component,
        where: ScannedComponent,
        masters: dict[str, PlannedTask],
        cancelled: list[tuple[PlannedTask, dt.datetime, int, str]],
    ) -> None:
        """An overridden instance (RECURRENCE-ID): an instance of its series, or a skip when cancelled."""
        self.check_errors(component, where)
        kind = component.name.upper()
        master = masters.get(str(component.get("UID", "")))
        if master is None:
            self.report(where.line, kind, "RECURRENCE-ID", "an instance whose series is not in the file")
            return
        line = where.properties["RECURRENCE-ID"]
        occurrence, _ = self.moment(component["RECURRENCE-ID"], line, kind, "RID")
        status = str(component.get("STATUS", "")).upper()
        if occurrence in master.skips:
            self.report(line, kind, "RECURRENCE-ID", "an instance of an occurrence the series skips: ignored")
            return
        if status == "CANCELLED":  # a cancelled occurrence is a skipped one (an EXDATE when TaskFlow exports it)
            self._count_exception(line)
            cancelled.append((master, occurrence, line, kind))
            return
        completed = status == "COMPLETED" or "COMPLETED" in component
        due_name = "DUE" if kind == "VTODO" and "DUE" in component else "DTSTART"
        due = self.when(component, due_name, where, kind)[0] or occurrence
        completed_at = (self.utc(component, "COMPLETED", where) or self.now) if completed else None
        self._add_instance(master, occurrence, due, completed, completed_at, where.line)

    def _skip_cancelled(self, cancelled: list[tuple[PlannedTask, dt.datetime, int, str]]) -> None:
        """Skip the cancelled overridden instances that are occurrences of their series (checked per series)."""
        by_series: dict[int, list[tuple[PlannedTask, dt.datetime, int, str]]] = {}
        for item in cancelled:
            by_series.setdefault(id(item[0]), []).append(item)
        for items in by_series.values():
            master = items[0][0]
            occurrences = self._occurrences_among(master, [o for _, o, _, _ in items], items[0][2])
            for _, occurrence, line, kind in sorted(items, key=lambda item: item[1]):
                if any(i.occurrence_at == occurrence for i in master.instances):
                    self.report(line, kind, "RECURRENCE-ID", "the occurrence has another overridden instance: ignored")
                elif occurrence not in occurrences:
                    self.report(line, kind, "RECURRENCE-ID", "not an occurrence of the RRULE: ignored")
                elif not self._add_skip(master, occurrence, line):
                    reason = f"a series can skip at most {MAX_SKIPPED_AHEAD} occurrences ahead: this one stays"
                    self.report(line, kind, "STATUS", reason)


def _is_date(prop: object) -> bool:
    """Whether a DTSTART or DUE holds a DATE (all day) rather than a DATE-TIME."""
    value = getattr(prop, "dt", None)
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _one_day(component: icalendar.Component) -> bool:
    """An all-day event one day long: DTSTART and DTEND are DATEs, the end the day after the start."""
    start, end = component.get("DTSTART"), component.get("DTEND")
    if not (_is_date(start) and _is_date(end)):
        return False
    return bool(end.dt - start.dt == dt.timedelta(days=1))


def _is_series(planned: PlannedTask) -> bool:
    """Whether the planned task is (still) a series (a call, so a check after _unmatched_start is not narrowed)."""
    return planned.rule is not None


def _alone(planned: PlannedTask) -> None:
    """Make a planned series a one-off task (its rule has no occurrence besides DTSTART)."""
    planned.rule, planned.instances, planned.skips = None, [], []
