"""How tasks and reminders look in API responses and in event data (one definition for both)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from shared.domain.days import stored_day
from shared.domain.times import rfc3339
from shared.persistence.models import Reminder, Task


def snapshot(task: Task, subtasks: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The task as the API and its events show it (times with offsets, due dates in its zone).

    `subtasks` ({open, done}: its direct sub-tasks) is counted in the task's session when not given
    (a page counts them for all its tasks in one query: subtask_counts).
    """
    tz = task.timezone
    return {
        "id": task.id,
        "user_id": task.user_id,
        "title": task.title,
        "description": task.description,
        "completed": task.completed,
        "completed_at": rfc3339(task.completed_at),
        "priority": task.priority,
        "tags": list(task.tags or []),
        "due_date": due_view(task),
        "all_day": bool(task.all_day),
        "timezone": tz,
        "recurrence_rule": task.recurrence_rule,
        "repeat_from": task.repeat_from,
        "next_occurrence": rfc3339(task.next_occurrence, tz),
        "parent_id": task.parent_id,
        "occurrence_at": rfc3339(task.occurrence_at, tz),
        "parent_task_id": task.parent_task_id,
        "subtasks": dict(subtasks) if subtasks is not None else _counted(task),
        "list_id": task.list_id,
        "section_id": task.section_id,
        "position": task.position,
        "version": task.version,
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
    }


NO_SUBTASKS: Mapping[str, int] = {"open": 0, "done": 0}


def new_task_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """snapshot() of a task not stored yet, from its columns ({column: value}; absent ones are NULL).

    The same fields, in the same order, with the same values as snapshot() of the Task those columns
    make (tests/unit/services/test_task_rows.py holds them together); a new task has no sub-tasks.
    """
    tz = row["timezone"]
    due = row.get("due_date")
    all_day = bool(row.get("all_day"))
    get = row.get
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "title": row["title"],
        "description": get("description"),
        "completed": row["completed"],
        "completed_at": rfc3339(get("completed_at")),
        "priority": row["priority"],
        "tags": list(row["tags"] or []),
        "due_date": stored_day(due).isoformat() if all_day and due is not None else rfc3339(due, tz),
        "all_day": all_day,
        "timezone": tz,
        "recurrence_rule": get("recurrence_rule"),
        "repeat_from": row["repeat_from"],
        "next_occurrence": rfc3339(get("next_occurrence"), tz),
        "parent_id": get("parent_id"),
        "occurrence_at": rfc3339(get("occurrence_at"), tz),
        "parent_task_id": get("parent_task_id"),
        "subtasks": dict(NO_SUBTASKS),
        "list_id": get("list_id"),
        "section_id": get("section_id"),
        "position": get("position"),
        "version": row["version"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


def subtask_counts(session: orm.Session, task_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """{task id: {open, done}} of the tasks' direct sub-tasks, in one grouped query (absent: none)."""
    ids = list(task_ids)
    counts: dict[str, dict[str, int]] = {}
    if not ids:
        return counts
    found = session.execute(
        sa.select(Task.parent_task_id, Task.completed, sa.func.count())
        .where(Task.parent_task_id.in_(ids))
        .group_by(Task.parent_task_id, Task.completed)
    )
    for parent_id, completed, count in found:
        counts.setdefault(str(parent_id), dict(NO_SUBTASKS))["done" if completed else "open"] = count
    return counts


def _counted(task: Task) -> dict[str, int]:
    """The task's sub-task counts from its session; a task in none (being inserted, or detached) has none yet."""
    session = orm.object_session(task)
    if session is None or task not in session or task in session.new:
        return dict(NO_SUBTASKS)
    return subtask_counts(session, [task.id]).get(task.id, dict(NO_SUBTASKS))


def fields_view(task: Task) -> dict[str, Any]:
    """The task's fields as snapshot shows them, its sub-task counts left uncounted: for change sets."""
    return snapshot(task, NO_SUBTASKS)


def due_view(task: Task) -> str | None:
    """The due date as the API shows it: a date alone ("2026-12-24") for an all-day task, else with its offset."""
    if task.all_day and task.due_date is not None:
        return stored_day(task.due_date).isoformat()
    return rfc3339(task.due_date, task.timezone)


def reminder_view(reminder: Reminder, tz: str = "UTC") -> dict[str, Any]:
    return {
        "id": reminder.id,
        "task_id": reminder.task_id,
        "remind_at": rfc3339(reminder.remind_at, tz),
        "minutes_before": reminder.minutes_before,
        "notified": reminder.notified,
        "outcome": reminder.outcome,
    }
