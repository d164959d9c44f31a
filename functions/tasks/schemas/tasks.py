"""Request and response bodies and query strings of the task routes (/api/<user_id>/tasks), described once.

The routes validate with these models (shared.web.operations.operation) and /openapi.json is generated
from them: change a contract here, nowhere else. The other features' bodies sit beside this module
(accounts, lists, series, reminders, history, calendar).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema

from functions.tasks.schemas.paging import TaskCursor
from functions.tasks.schemas.reminders import ReminderSpec
from shared.domain.days import day_instant
from shared.web.schemas import Body, DayOrWallClock, Out, Query, Timezone, UtcTime, example, localize

Priority = Literal["none", "low", "medium", "high", "urgent"]
RepeatFrom = Literal["schedule", "completion"]


def _tags(value: list[str] | None) -> list[str]:
    """Stripped, without duplicates, in the given order."""
    return list(dict.fromkeys(tag.strip() for tag in value or []))


#: One line: a title ends up in an email's Subject header and in calendar SUMMARYs, where a line
#: break or another control character (tab aside) cannot go.
_ONE_LINE = r"^[^\x00-\x08\x0A-\x1F\x7F]*[^\s\x00-\x1F\x7F][^\x00-\x08\x0A-\x1F\x7F]*$"
Title = Annotated[str, Field(min_length=1, max_length=500, pattern=_ONE_LINE), AfterValidator(str.strip)]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"\S")]
Tags = Annotated[Annotated[list[Tag], Field(max_length=20)] | None, AfterValidator(_tags)]


class TaskFields(Body):
    """The fields a create or update may set; unset ones are left alone."""

    model_config = example({"title": "Water the plants", "due_date": "2026-03-01T09:00:00", "priority": "low"})
    title: Title | SkipJsonSchema[None] = None  # never null (Body): the default only lets an update omit it
    description: Annotated[str | None, Field(max_length=10_000)] = None
    due_date: DayOrWallClock | None = None
    timezone: Timezone = Field(
        default="UTC",
        description="IANA zone of the due date and rule; on create, left out: the user's preferred zone, else UTC",
    )
    priority: Priority = "none"
    tags: Tags = None
    list_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,64}$")] | None = Field(
        default=None, description="One of the user's lists (another user's list: 422), or null for the Inbox"
    )
    section_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,64}$")] | None = Field(
        default=None,
        description="A section of the task's list (another list's: 422), or null; moving to another list clears it",
    )
    position: Annotated[float, Field(gt=-1e12, lt=1e12)] | None = Field(
        default=None, description="Manual order (drag to reorder); null sorts after the ordered ones"
    )
    parent_task_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,64}$")] | None = Field(
        default=None,
        description="Makes it a sub-task of one of the user's tasks (at most 4 levels deep, not under a recurring"
        " task; it joins the parent's list); null: a top-level task",
    )

    def given(self, default_tz: str) -> dict[str, Any]:
        """The fields the client sent, with a due date read in the (new) task timezone; Any: their types vary.

        A due date comes with `all_day` (one field to the API): a date alone is stored at 00:00 UTC of it.
        """
        values = {name: getattr(self, name) for name in self.model_fields_set}
        tz = values.get("timezone", default_tz)
        if "due_date" in values:
            values["due_date"], values["all_day"] = due_fields(values["due_date"], tz)
        if "tags" in values:
            values["tags"] = values["tags"] or []
        return values


def due_fields(due: dt.date | dt.datetime | None, tz: str) -> tuple[dt.datetime | None, bool]:
    """A DayOrWallClock due date as stored: (due_date in UTC, all_day)."""
    if due is None:
        return None, False
    if isinstance(due, dt.datetime):
        return localize(due, tz, "due_date"), False
    return day_instant(due), True


class TaskCreate(TaskFields):
    model_config = example(
        {"title": "Water the plants"},
        {
            "title": "Stand-up",
            "due_date": "2026-03-02T09:00:00",
            "timezone": "Europe/Paris",
            "priority": "medium",
            "tags": ["work"],
            "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            "reminders": [{"minutes_before": 10}],
        },
    )
    title: Title
    recurrence_rule: Annotated[str, Field(min_length=1, max_length=2000)] | SkipJsonSchema[None] = None
    repeat_from: RepeatFrom = "schedule"
    reminders: Annotated[list[ReminderSpec], Field(max_length=20)] = []

    def given(self, default_tz: str) -> dict[str, Any]:
        """The task row's own fields (its rule, repeat_from and reminders are stored apart)."""
        values = super().given(default_tz)
        return {k: v for k, v in values.items() if k not in ("recurrence_rule", "repeat_from", "reminders")}


class TaskUpdate(TaskFields):
    model_config = example({"title": "Water the plants twice", "priority": "high"})


class TaskChanges(TaskFields):
    """The fields a person changed, and only those (a PATCH); `completed` ticks or reopens the task."""

    model_config = example({"priority": "high", "tags": ["admin"]})
    completed: bool | SkipJsonSchema[None] = None


class TaskPatch(Body):
    """Changes a person made from the version they started from: merged with what others changed meanwhile."""

    model_config = example({"base_version": 3, "changes": {"description": "Bring the old passport"}})
    base_version: Annotated[int, Field(ge=1, le=2**31 - 1, description="The task's version the person started from")]
    changes: TaskChanges


class Completion(Body):
    model_config = example({"completed": True})
    completed: bool = True


class DueDate(Body):
    model_config = example({"due_date": "2026-03-01T09:00:00+01:00"}, {"due_date": "2026-12-24"}, {"due_date": None})
    due_date: DayOrWallClock | None


TASK_EXAMPLE: dict[str, Any] = {
    "id": "0b9e8f3a-6c1d-4e2f-9a8b-7c6d5e4f3a2b",
    "user_id": "2b7e1516-28ae-4d2a-a6d2-abf7158809cf",
    "title": "Water the plants",
    "description": None,
    "completed": False,
    "completed_at": None,
    "priority": "low",
    "tags": ["home"],
    "due_date": "2026-03-01T09:00:00+01:00",
    "all_day": False,
    "timezone": "Europe/Paris",
    "recurrence_rule": None,
    "repeat_from": "schedule",
    "next_occurrence": None,
    "parent_id": None,
    "occurrence_at": None,
    "parent_task_id": None,
    "subtasks": {"open": 2, "done": 1},
    "list_id": None,
    "section_id": None,
    "position": None,
    "version": 1,
    "created_at": "2026-02-14T15:30:45.123Z",
    "updated_at": "2026-02-14T15:30:45.123Z",
}


class SubtaskCounts(Out):
    """How many direct sub-tasks a task has, open and done (progress "1/3" is done/(open + done))."""

    model_config = example({"open": 2, "done": 1})
    open: int
    done: int


class TaskOut(Out):
    """A task as the API and its events show it."""

    model_config = example(TASK_EXAMPLE, extra="forbid")
    id: str
    user_id: str
    title: str
    description: str | None
    completed: bool
    completed_at: dt.datetime | None
    priority: Priority
    tags: list[str]
    due_date: dt.datetime | dt.date | None = Field(
        description="A date alone (YYYY-MM-DD) when all_day: due that calendar day wherever the person is"
    )
    all_day: bool
    timezone: str
    recurrence_rule: str | None
    repeat_from: RepeatFrom
    next_occurrence: dt.datetime | None
    parent_id: str | None
    occurrence_at: dt.datetime | None
    parent_task_id: str | None = Field(default=None, description="The task this one is a sub-task of (null: top level)")
    subtasks: SubtaskCounts = Field(
        default_factory=lambda: SubtaskCounts(open=0, done=0), description="Its direct sub-tasks, open and done"
    )
    list_id: str | None
    section_id: str | None
    position: float | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- listing tasks ----------------------------------------------------------------------------

SearchText = Annotated[str, Field(max_length=200)]


class TaskQuery(Query):
    model_config = example({"completed": False, "tag": "home", "limit": 20}, extra="forbid")
    completed: bool | None = None
    due_before: UtcTime | None = None
    due_after: UtcTime | None = None
    q: SearchText | None = Field(default=None, description="Text in the title or description")
    tag: SearchText | None = None
    priority: Priority | None = None
    list_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,64}$")] | None = Field(
        default=None, description="A list's id, or `none` for the Inbox (tasks in no list)"
    )
    filter: Annotated[str, Field(max_length=1000)] | None = Field(
        default=None,
        description="A query in the filter language (Todoist's), e.g. `(today | overdue) & p1 & !@waiting`;"
        " one that does not read is a 422 naming the position and what was expected",
    )
    parent_task_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,64}$")] | None = Field(
        default=None, description="A task's id: its direct sub-tasks; `none`: top-level tasks only"
    )
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: TaskCursor | None = None


class SubtaskList(Out):
    model_config = example({"items": [TASK_EXAMPLE]})
    items: list[TaskOut]


class TaskPage(Out):
    model_config = example({"items": [], "next_cursor": None})
    items: list[TaskOut]
    next_cursor: str | None
