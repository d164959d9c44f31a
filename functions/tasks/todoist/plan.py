"""Plan a Todoist project CSV import: its sections, tasks (sub-tasks by INDENT) and notes, read from the
rows functions/tasks/todoist/scan.py checked; stored by apply.py.

- `section` rows become sections of the new list; the task rows after one go in it.
- `task` rows: CONTENT is the title, its `@labels` become tags (taken out of the title); DESCRIPTION
  the description; PRIORITY 1 (p1, highest) → urgent, 2 → high, 3 → medium, 4 (Todoist's "no
  priority") or empty → none; INDENT 1 is top level, 2–4 a sub-task of the nearest task above one level up.
- `note` rows become comments on the task above.
- DATE is read by quick add (functions/tasks/quickadd): "every …" makes a series, "every! …" one
  that repeats from completion, a date without a time an all-day task. DATE_LANG other than English
  and dates quick add cannot read are reported (the task is imported without a due date), never dropped.
  TIMEZONE (an IANA zone) is the zone the date is read in, else the person's.
- Columns TaskFlow does not keep (AUTHOR, RESPONSIBLE, DURATION, DEADLINE…) are reported when used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from functions.tasks.quickadd.parser import QuickAdd
from functions.tasks.todoist.scan import READ, BadTodoist, Row, decode, scan
from shared.domain.recurrence import Rule
from shared.domain.rule_parsing import check_flood_guard, parse_rule
from shared.domain.times import BadValue, zone

MAX_DEPTH = 4
TITLE_MAX = 500
DESCRIPTION_MAX = 10_000
COMMENT_MAX = 10_000
TAG_MAX = 50
TAGS_MAX = 20
#: Entries of `unsupported` listed one by one; past it, one line says how many more there were.
MAX_REPORTED = 100
_PRIORITIES = {"": "none", "1": "urgent", "2": "high", "3": "medium", "4": "none"}
#: A label: `@name` at the start or after a space (an e-mail address's @ is not one).
_LABEL = re.compile(r"(?<!\S)@([^\s@]+)")
_CONTROL = re.compile(r"[\x00-\x08\x0A-\x1F\x7F]+")


@dataclasses.dataclass
class PlannedSection:
    line: int
    name: str


@dataclasses.dataclass
class PlannedComment:
    line: int
    text: str


@dataclasses.dataclass
class PlannedTask:
    line: int
    title: str
    description: str | None
    priority: str
    tags: list[str]
    depth: int  # 1 = top level
    parent: int | None = None  # index of the parent task in the plan
    section: int | None = None  # index of the section in the plan
    due: dt.datetime | None = None  # aware; 00:00 of the day in `timezone` when all_day
    all_day: bool = False
    timezone: str = "UTC"
    rule: Rule | None = None
    repeat_from: str = "schedule"
    comments: list[PlannedComment] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class TodoistPlan:
    sections: list[PlannedSection]
    tasks: list[PlannedTask]
    unsupported: list[dict[str, Any]]  # Any: JSON values ({line, column, reason})

    def counts(self) -> dict[str, int]:
        """What the import creates: top-level tasks, sub-tasks, sections, comments, and how many tasks are series."""
        subtasks = sum(1 for t in self.tasks if t.parent is not None)
        return {
            "tasks": len(self.tasks) - subtasks,
            "subtasks": subtasks,
            "sections": len(self.sections),
            "comments": sum(len(t.comments) for t in self.tasks),
            "series": sum(1 for t in self.tasks if t.rule is not None),
        }


def plan_import(data: bytes, default_tz: str, now: dt.datetime) -> TodoistPlan:
    """Read the file into what the import would create; raise BadTodoist (422) naming the line at fault."""
    columns, rows = scan(decode(data))
    return _Planner(default_tz, now).plan(columns, rows)


class _Planner:
    def __init__(self, default_tz: str, now: dt.datetime):
        self.default_tz = default_tz
        self.now = now
        self.unsupported: list[dict[str, Any]] = []
        self.dropped = 0
        self.readers: dict[str, QuickAdd] = {}
        #: (date words, zone) → what quick add made of them: files repeat the same few dates.
        self.dates: dict[tuple[str, str], tuple[dt.datetime | None, bool, Rule | None, str, str | None]] = {}

    def report(self, line: int | None, column: str, reason: str) -> None:
        if len(self.unsupported) >= MAX_REPORTED:
            self.dropped += 1
            return
        self.unsupported.append({"line": line, "column": column, "reason": reason})

    def plan(self, columns: list[str], rows: list[Row]) -> TodoistPlan:
        sections: list[PlannedSection] = []
        tasks: list[PlannedTask] = []
        # The task last seen at each depth (index into tasks); cleared below a new task's depth and by a section.
        chain: list[int] = []
        last_row: str | None = None
        other_columns = [c for c in columns if c and c not in READ]
        for row in rows:
            self._unused(row, other_columns)
            if row.type == "section":
                name = _one_line(row.get("CONTENT"))
                if not name:
                    raise BadTodoist("a section needs a name in CONTENT", row.line)
                if len(name) > 100:
                    raise BadTodoist("a section name must be at most 100 characters", row.line)
                sections.append(PlannedSection(row.line, name))
                chain = []
            elif row.type == "note":
                if last_row is None or not tasks or last_row == "section":
                    raise BadTodoist("a note must come after the task it comments on", row.line)
                text = row.cells.get("CONTENT", "").strip()
                if not text:
                    raise BadTodoist("a note needs its text in CONTENT", row.line)
                if len(text) > COMMENT_MAX:
                    raise BadTodoist(f"a note must be at most {COMMENT_MAX} characters", row.line)
                tasks[chain[-1] if chain else -1].comments.append(PlannedComment(row.line, text))
                continue  # a note does not change which task is "above"
            else:
                task = self._task(row, len(sections) - 1 if sections else None)
                if task.depth > len(chain) + 1:
                    raise BadTodoist(
                        f"INDENT {task.depth} needs a task of INDENT {task.depth - 1} above it"
                        + (" in the same section" if sections and not chain else ""),
                        row.line,
                    )
                chain = chain[: task.depth - 1]
                task.parent = chain[-1] if chain else None
                tasks.append(task)
                chain.append(len(tasks) - 1)
            last_row = row.type
        if self.dropped:
            self.report(None, "", f"{self.dropped} more unsupported items not listed")
        return TodoistPlan(sections, tasks, self.unsupported)

    def _unused(self, row: Row, other_columns: list[str]) -> None:
        for column in other_columns:
            if row.get(column):
                self.report(row.line, column, "TaskFlow does not keep this column")

    def _task(self, row: Row, section: int | None) -> PlannedTask:
        content = _one_line(row.get("CONTENT"))
        tags: list[str] = []
        for match in _LABEL.finditer(content):
            label = match.group(1)
            if len(label) > TAG_MAX:
                raise BadTodoist(f"the label @{label[:20]}… is longer than {TAG_MAX} characters", row.line)
            if label not in tags:
                tags.append(label)
        if len(tags) > TAGS_MAX:
            raise BadTodoist(f"a task may have at most {TAGS_MAX} labels", row.line)
        title = " ".join(_LABEL.sub(" ", content).split())
        if not title:
            raise BadTodoist("a task needs its name in CONTENT (besides its @labels)", row.line)
        if len(title) > TITLE_MAX:
            raise BadTodoist(f"a task's name must be at most {TITLE_MAX} characters", row.line)
        description = row.cells.get("DESCRIPTION", "").strip() or None
        if description is not None and len(description) > DESCRIPTION_MAX:
            raise BadTodoist(f"DESCRIPTION must be at most {DESCRIPTION_MAX} characters", row.line)
        priority = row.get("PRIORITY")
        if priority not in _PRIORITIES:
            raise BadTodoist(f"PRIORITY is {priority[:20]!r}: it must be 1 (p1, highest), 2, 3 or 4", row.line)
        indent = row.get("INDENT") or "1"
        if indent not in ("1", "2", "3", "4"):
            raise BadTodoist(f"INDENT is {indent[:20]!r}: it must be 1 (top level), 2, 3 or 4", row.line)
        task = PlannedTask(
            line=row.line,
            title=title,
            description=description,
            priority=_PRIORITIES[priority],
            tags=tags,
            depth=int(indent),
            section=section,
            timezone=self._zone(row),
        )
        self._date(row, task)
        return task

    def _zone(self, row: Row) -> str:
        name = row.get("TIMEZONE")
        if not name:
            return self.default_tz
        try:
            zone(name)
        except BadValue:
            self.report(row.line, "TIMEZONE", f"{name[:64]!r} is not an IANA zone: the date is read in your zone")
            return self.default_tz
        return name

    def _date(self, row: Row, task: PlannedTask) -> None:
        words = _one_line(row.get("DATE"))
        if not words:
            return
        lang = row.get("DATE_LANG").lower()
        if lang not in ("", "en"):
            self.report(row.line, "DATE_LANG", f"dates in {lang[:10]!r} are not read (English only): no due date")
            return
        key = (words.casefold(), task.timezone)
        if key not in self.dates:
            self.dates[key] = self._read_date(words, task.timezone)
        due, all_day, rule, repeat_from, problem = self.dates[key]
        if problem is not None:
            self.report(row.line, "DATE", f"{words[:100]!r} {problem}: no due date")
            return
        task.due, task.all_day, task.rule, task.repeat_from = due, all_day, rule, repeat_from

    def _read_date(self, words: str, tz: str) -> tuple[dt.datetime | None, bool, Rule | None, str, str | None]:
        """Quick add's reading of DATE: (due, all day, rule, repeat_from, why it cannot be used or None)."""
        reader = self.readers.get(tz)
        if reader is None:
            reader = self.readers[tz] = QuickAdd(tz, self.now)
        parsed = reader.parse(words)
        left = parsed.title.strip(" ,.")
        if parsed.questions and any(q["field"] != "title" for q in parsed.questions):
            return None, False, None, "schedule", "is ambiguous or not understood"
        if left or parsed.tags or parsed.priority != "none" or parsed.reminders:
            return None, False, None, "schedule", "is not understood as a date"
        if parsed.due is None:
            return None, False, None, "schedule", "is not understood as a date"
        rule: Rule | None = None
        if parsed.rule is not None:
            try:
                rule = parse_rule(parsed.rule, tz, parsed.due.replace(tzinfo=None).isoformat())
                check_flood_guard(rule, self.now)
            except BadValue as exc:
                return None, False, None, "schedule", f"makes a rule TaskFlow refuses ({exc})"
        return parsed.due, parsed.all_day, rule, parsed.repeat_from, None


def _one_line(value: str) -> str:
    """A title or name: control characters and line breaks as spaces, trimmed."""
    return _CONTROL.sub(" ", value).strip()
