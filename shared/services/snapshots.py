"""How tasks and reminders look in API responses and in event data (one definition for both)."""

from __future__ import annotations

from typing import Any

from shared.domain.days import stored_day
from shared.domain.times import rfc3339
from shared.persistence.models import Reminder, Task


def snapshot(task: Task) -> dict[str, Any]:
    """The task as the API and its events show it (times with offsets, due dates in its zone)."""
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
        "list_id": task.list_id,
        "section_id": task.section_id,
        "position": task.position,
        "version": task.version,
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
    }


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
