"""An import plan: what importing an .ics file would create (tasks, series with their instances and
skipped occurrences, reminders), made by functions/tasks/calendar/plan.py and stored by apply.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from shared.domain.recurrence import Rule


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
    #: DUE (or DTSTART) was a DATE: an all-day task (due_date is the start of that day in `timezone` while planning)
    all_day: bool = False
    reminders: list[PlannedReminder] = dataclasses.field(default_factory=list)
    instances: list[PlannedInstance] = dataclasses.field(default_factory=list)
    #: Occurrences of the series skipped (EXDATE, a cancelled overridden instance): no task row, an EXDATE again.
    skips: list[dt.datetime] = dataclasses.field(default_factory=list)
    #: RELATED-TO (RELTYPE=PARENT): the UID of its parent task in the same file (a sub-task of it).
    parent_uid: str | None = None
    #: Where RELATED-TO is (its line, its component's name), to report a parent that cannot be kept.
    parent_at: tuple[int | None, str] = (None, "")


@dataclasses.dataclass
class ImportPlan:
    tasks: list[PlannedTask]
    unsupported: list[dict[str, Any]]  # Any: JSON values ({line, component, property, reason})

    def counts(self) -> dict[str, int]:
        """The rows the import stores: tasks (one-off tasks and instances), series, skipped occurrences, reminders."""
        series = sum(1 for t in self.tasks if t.rule is not None)
        instances = sum(len(t.instances) for t in self.tasks)
        skipped = sum(len(t.skips) for t in self.tasks)
        reminders = sum(len(t.reminders) for t in self.tasks)
        return {
            "tasks": len(self.tasks) - series + instances,
            "series": series,
            "skipped": skipped,
            "reminders": reminders,
        }
