"""How a Task, its reminders and its events are built (one builder each), and how a change to a task is recorded.

A task is built here whether it comes from the API, an .ics import or a series' occurrence; every
task event (task.created, task.updated, task.completed, task.uncompleted, task.deleted,
recurring.spawned) carries the task as the API shows it after the change (`snapshot`), plus what
the change adds. Used by the tasks function and by the recurrence sweep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import orm

from shared.domain import events
from shared.domain.changes import ChangeSet
from shared.domain.days import day_instant, local_day
from shared.domain.events import Event
from shared.messaging.outbox import add_event
from shared.persistence.db import utcnow
from shared.persistence.models import Reminder, Task, new_id
from shared.services.snapshots import new_task_view, snapshot


def new_task_row(
    user_id: str,
    title: str,
    now: dt.datetime,
    *,
    description: str | None = None,
    due_date: dt.datetime | None = None,
    all_day: bool = False,
    timezone: str | None = None,
    priority: str | None = None,
    tags: Iterable[str] | None = None,
    position: float | None = None,
    dtstart_wall: dt.datetime | None = None,
) -> dict[str, Any]:
    """The columns of a new task at version 1 ({column: value}); left out, its zone is UTC and its priority none.

    These are the columns a plain create sets (PLAIN_TASK_COLUMNS); every other one starts NULL.
    """
    return {
        "id": new_id(),
        "user_id": user_id,
        "title": title,
        "description": description,
        "completed": False,
        "priority": priority or "none",
        "tags": list(tags or []),
        "due_date": due_date,
        "all_day": all_day,
        "timezone": timezone or "UTC",
        "repeat_from": "schedule",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "dtstart_wall": dtstart_wall,
        "position": position,
    }


#: The columns a plain create inserts (always all of them, so that it is one prepared statement).
PLAIN_TASK_COLUMNS = tuple(new_task_row("", "", utcnow()))


def new_task(
    user_id: str,
    title: str,
    now: dt.datetime,
    *,
    description: str | None = None,
    due_date: dt.datetime | None = None,
    all_day: bool = False,
    timezone: str | None = None,
    priority: str | None = None,
    tags: Iterable[str] | None = None,
    list_id: str | None = None,
    section_id: str | None = None,
    position: float | None = None,
    completed: bool = False,
    completed_at: dt.datetime | None = None,
) -> Task:
    """Build a new (not yet stored) task at version 1, as an ORM object (new_task_row's columns and these)."""
    row = new_task_row(
        user_id,
        title,
        now,
        description=description,
        due_date=due_date,
        all_day=all_day,
        timezone=timezone,
        priority=priority,
        tags=tags,
        position=position,
    )
    row["completed"] = completed
    return Task(**row, list_id=list_id, section_id=section_id, completed_at=completed_at)


def instance_of(series: Task, occurrence: dt.datetime, now: dt.datetime) -> Task:
    """Build the instance of a series for one occurrence: its fields, due at the occurrence.

    An all-day series' occurrences are the starts of their days in its zone: each instance is all day, on that date.
    """
    instance = new_task(
        series.user_id,
        series.title,
        now,
        description=series.description,
        due_date=day_instant(local_day(occurrence, series.timezone)) if series.all_day else occurrence,
        all_day=bool(series.all_day),
        timezone=series.timezone,
        priority=series.priority,
        tags=series.tags,
        list_id=series.list_id,
        section_id=series.section_id,
    )
    instance.parent_id, instance.occurrence_at = series.id, occurrence
    return instance


def new_reminder(
    task: Task, remind_at: dt.datetime, minutes_before: int | None, now: dt.datetime, *, passed: bool = False
) -> Reminder:
    """Build a pending reminder of a task; `passed`, one that rests and never rings (its time is gone)."""
    return Reminder(
        id=new_id(),
        task_id=task.id,
        user_id=task.user_id,
        remind_at=remind_at,
        minutes_before=minutes_before,
        notified=passed,
        notified_at=now if passed else None,
        outcome="passed" if passed else None,
        created_at=now,
    )


def _task_event(event_type: str, task: Task, **extra: Any) -> Event:
    """A task's event: the task as the API shows it after the change, plus what the change adds."""
    return Event(event_type=event_type, user_id=task.user_id, aggregate_id=task.id, data={**snapshot(task), **extra})


def created_event(task: Task) -> Event:
    """task.created: a task made by a person (the API, an .ics import)."""
    return _task_event(events.TASK_CREATED, task)


def row_created_event(row: Mapping[str, Any]) -> Event:
    """task.created of a plain task built by new_task_row, straight from its columns (no ORM object)."""
    return Event(
        event_type=events.TASK_CREATED,
        user_id=row["user_id"],
        aggregate_id=row["id"],
        data=new_task_view(row),
        timestamp=row["created_at"],
    )


def updated_event(task: Task, changes: dict[str, dict[str, Any]], **extra: Any) -> Event:
    """task.updated with its change set ({field: {old, new}}) and anything else the change tells."""
    return _task_event(events.TASK_UPDATED, task, changes=changes, **extra)


def completion_event(task: Task, **extra: Any) -> Event:
    """task.completed or task.uncompleted, as the task now stands (`extra`: a parent's `cascade` of sub-task ids)."""
    return _task_event(events.TASK_COMPLETED if task.completed else events.TASK_UNCOMPLETED, task, **extra)


def deleted_event(task: Task) -> Event:
    """task.deleted: the task as it was, marked deleted."""
    return _task_event(events.TASK_DELETED, task, deleted=True)


def bump_version(task: Task, fields: Iterable[str], at: dt.datetime) -> None:
    """Count one change of the task, noting the version at which each of `fields` changed (PATCH merges by it)."""
    task.version += 1
    task.updated_at = at
    task.note_changed(fields)


def record_update(
    session: orm.Session, task: Task, changes: ChangeSet[Task], *, at: dt.datetime | None = None, **extra: Any
) -> None:
    """Bump a changed task's version and stage task.updated with its change set.

    Nothing happens when nothing changed; `extra` facts (a skipped occurrence) count as a change.
    """
    if not changes and not extra:
        return
    bump_version(task, changes.fields, at or utcnow())
    session.flush()
    add_event(session, updated_event(task, changes.fields, **extra))


def spawned_event(instance: Task, series_id: str) -> Event:
    """recurring.spawned: a series' new instance, naming its series."""
    return _task_event(events.RECURRING_SPAWNED, instance, series_id=series_id)
