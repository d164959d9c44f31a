"""Apply a Todoist import plan in the caller's unit of work: the list, its sections, tasks (sub-tasks and
series) and comments, each with its event through the outbox (list.created, section.created,
task.created with parent_task_id and section_id, comment.added).

The rows go in as multi-row INSERTs (one per table, events in order in one more), not one ORM object
each: 5,000 rows through the unit of work held SQLite's one writer for seconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import orm

from functions.tasks.core.comments import view as comment_view
from functions.tasks.core.export import task_view
from functions.tasks.core.lists import MAX_LISTS
from functions.tasks.core.lists import view as list_view
from functions.tasks.core.sections import view as section_view
from functions.tasks.todoist.plan import PlannedTask, TodoistPlan
from shared.domain import events
from shared.domain.days import day_instant, local_day
from shared.domain.errors import ValidationFailed
from shared.domain.events import Event
from shared.messaging.outbox import add_event, outbox_values
from shared.persistence.models import Comment, Outbox, Section, Task, TaskList, new_id
from shared.services import series

_TASK_COLUMNS = tuple(c.key for c in Task.__table__.columns)


@dataclasses.dataclass
class Rows:
    """The rows an import inserts, built before its transaction begins (SQLite's one writer waits for none of it)."""

    list_id: str
    sections: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    events: list[dict[str, Any]]  # outbox rows, in order


#: INSERT statements in the driver's own words, each with its rows as the driver takes them.
Prepared = list[tuple[str, list[Any]]]


def build(user_id: str, plan: TodoistPlan, now: dt.datetime) -> Rows:
    """Every row and event of the plan for a new list (its id chosen here); no database."""
    list_id = new_id()
    outbox: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    for position, planned_section in enumerate(plan.sections, start=1):
        section: dict[str, Any] = {
            "id": new_id(),
            "user_id": user_id,
            "list_id": list_id,
            "name": planned_section.name,
            "position": float(position),
            "version": 1,
            "field_versions": None,
            "created_at": now,
            "updated_at": now,
        }
        sections.append(section)
        view = section_view(cast("Section", types.SimpleNamespace(**section)))
        outbox.append(_event(events.SECTION_CREATED, user_id, section["id"], view))
    tasks: list[dict[str, Any]] = []
    comments: list[dict[str, Any]] = []
    for position, item in enumerate(plan.tasks, start=1):
        parent = tasks[item.parent]["id"] if item.parent is not None else None
        section_id = sections[item.section]["id"] if item.section is not None else None
        task = _task_row(user_id, list_id, item, float(position), parent, section_id, now)
        tasks.append({key: task.get(key) for key in _TASK_COLUMNS})
        outbox.append(_event(events.TASK_CREATED, user_id, task["id"], task_view(_as_task(task))))
        for planned_comment in item.comments:
            comment: dict[str, Any] = {
                "id": new_id(),
                "user_id": user_id,
                "task_id": task["id"],
                "text": planned_comment.text,
                "version": 1,
                "created_at": now,
                "edited_at": None,
            }
            comments.append(comment)
            view = comment_view(cast("Comment", types.SimpleNamespace(**comment)))
            # Filed under its task, as the API files it: the task's history shows it.
            outbox.append(_event(events.COMMENT_ADDED, user_id, task["id"], view))
    return Rows(list_id, sections, tasks, comments, outbox)


def store(
    session: orm.Session, user_id: str, list_name: str, rows: Rows, prepared: Prepared, now: dt.datetime
) -> TaskList:
    """Insert the list (with list.created), then its rows and their events, in the caller's transaction.

    Sections, then tasks (parents before their sub-tasks, as planned), then comments, then the events in
    order: one executemany each, of the values `prepare` converted before the transaction began.
    """
    count = session.scalar(sa.select(sa.func.count()).select_from(TaskList).where(TaskList.user_id == user_id)) or 0
    if count >= MAX_LISTS:
        raise ValidationFailed(f"At most {MAX_LISTS} lists.", errors={"list": "too many lists"})
    last = session.scalar(sa.select(sa.func.max(TaskList.position)).where(TaskList.user_id == user_id))
    task_list = TaskList(
        id=rows.list_id,
        user_id=user_id,
        name=list_name,
        color="#808080",
        archived=False,
        position=(last or 0) + 1,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(task_list)
    session.flush()
    add_event(session, Event(events.LIST_CREATED, user_id, task_list.id, list_view(task_list)))
    session.flush()
    connection = session.connection()
    for statement, params in prepared:
        connection.exec_driver_sql(statement, params)
    return task_list


def prepare(rows: Rows, dialect: sa.Dialect) -> Prepared:
    """The INSERTs of sections, tasks, comments and events with their values converted for the driver (JSON
    encoded, times as it stores them), before the transaction: SQLite's one writer then waits for the driver alone.
    """
    prepared: Prepared = []
    for model, values in (
        (Section, rows.sections),
        (Task, rows.tasks),
        (Comment, rows.comments),
        (Outbox, rows.events),
    ):
        if not values:
            continue
        table = model.__table__
        keys = list(values[0])
        insert = sa.insert(table).values({key: sa.bindparam(key, type_=table.c[key].type) for key in keys})
        compiled = insert.compile(dialect=dialect)
        processors = [table.c[key].type._cached_bind_processor(dialect) for key in keys]  # noqa: SLF001
        converted = [
            {key: (p(row[key]) if p else row[key]) for key, p in zip(keys, processors, strict=True)} for row in values
        ]
        if compiled.positional:
            order = list(compiled.positiontup or [])
            prepared.append((str(compiled), [tuple(row[key] for key in order) for row in converted]))
        else:
            prepared.append((str(compiled), converted))
    return prepared


def _task_row(
    user_id: str,
    list_id: str,
    item: PlannedTask,
    position: float,
    parent: str | None,
    section_id: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """A planned task's row (a series started as the API starts one: its next occurrence from now)."""
    due = item.due
    if due is not None and item.all_day:
        due = day_instant(local_day(due, item.timezone))
    row: dict[str, Any] = {
        "id": new_id(),
        "user_id": user_id,
        "title": item.title,
        "description": item.description,
        "completed": False,
        "completed_at": None,
        "priority": item.priority,
        "tags": list(item.tags),
        "due_date": due.astimezone(dt.UTC) if due is not None else None,
        "all_day": item.all_day,
        "timezone": item.timezone,
        "recurrence_rule": None,
        "dtstart": None,
        "dtstart_wall": None,
        "repeat_from": "schedule",
        "next_occurrence": None,
        "parent_id": None,
        "occurrence_at": None,
        "list_id": list_id,
        "parent_task_id": parent,
        "section_id": section_id,
        "position": position,
        "version": 1,
        "field_versions": None,
        "created_at": now,
        "updated_at": now,
    }
    if item.rule is not None:
        task = types.SimpleNamespace(**row)
        series.start_series(cast("Task", task), item.rule, item.repeat_from, now)
        row.update(vars(task))
    return row


def _as_task(row: dict[str, Any]) -> Task:
    """A row read like a Task by the snapshot builder (the row is inserted as a dict, never an ORM object)."""
    return cast("Task", types.SimpleNamespace(**row))


def _event(event_type: str, user_id: str, aggregate_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return outbox_values(Event(event_type=event_type, user_id=user_id, aggregate_id=aggregate_id, data=data))
