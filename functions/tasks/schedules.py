"""Recurrence rules and reminders of tasks: handlers that change rows and stage events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from functions.tasks.schemas import ReminderSpec
from functions.tasks.service import emit
from shared import events
from shared.cpu import offload
from shared.db import utcnow
from shared.errors import NotFound, ValidationFailed
from shared.models import Reminder, Task, new_id
from shared.recurrence import Rule, check_flood_guard, parse_rule
from shared.schemas import localize
from shared.snapshots import snapshot
from shared.timeutil import BadValue

RECURRENCE_FIELDS = ("recurrence_rule", "timezone", "repeat_from", "next_occurrence")


def parse_task_rule(text: str, tz: str, dtstart: dt.datetime | None, default_start: dt.datetime) -> Rule:
    """Parse a task's rule in its timezone, flood guard on; errors name recurrence_rule (and dtstart)."""

    def rule_with_guard() -> Rule:
        start = None if dtstart is None else dtstart.isoformat()  # naive: wall-clock time in tz
        rule = parse_rule(text, tz, start, default_start=default_start)
        check_flood_guard(rule)
        return rule

    try:
        # RRULE expansion is CPU work: on the bounded thread pool, so the worker's sockets keep moving.
        return offload(rule_with_guard)
    except BadValue as exc:
        errors = {"recurrence_rule": str(exc)}
        if dtstart is not None and "contradicts dtstart" in str(exc):
            errors["dtstart"] = "contradicts the DTSTART inside recurrence_rule"
        raise ValidationFailed("Some fields are invalid.", errors=errors) from None


def set_recurrence(session: orm.Session, task: Task, rule: Rule, repeat_from: str, now: dt.datetime) -> None:
    """Make a task a series (or change its rule); its next occurrence is the first at or after now."""
    if task.parent_id is not None:
        raise ValidationFailed(
            "An instance of a recurring series cannot have its own rule.",
            errors={"recurrence_rule": "this task is an instance of a series"},
        )
    before = snapshot(task)
    task.recurrence_rule = rule.text
    task.timezone = rule.timezone
    task.dtstart = rule.dtstart
    task.dtstart_wall = rule.wall
    task.repeat_from = repeat_from
    upcoming = rule.occurrences(now, 1)
    task.next_occurrence = upcoming[0] if upcoming else None
    _updated(session, task, before, RECURRENCE_FIELDS)


def clear_recurrence(session: orm.Session, task: Task) -> None:
    before = snapshot(task)
    task.recurrence_rule = None
    task.dtstart = None
    task.dtstart_wall = None
    task.next_occurrence = None
    task.repeat_from = "schedule"
    _updated(session, task, before, RECURRENCE_FIELDS)


def _updated(session: orm.Session, task: Task, before: dict[str, Any], fields: Iterable[str]) -> None:
    after = snapshot(task)
    changes = {f: {"old": before[f], "new": after[f]} for f in fields if before[f] != after[f]}
    if changes:
        task.version += 1
        task.updated_at = utcnow()
        session.flush()
        emit(session, events.TASK_UPDATED, task, changes=changes)


def list_series(session: orm.Session, user_id: str) -> list[Task]:
    return list(
        session.scalars(
            sa.select(Task)
            .where(Task.user_id == user_id, Task.recurrence_rule.is_not(None), Task.parent_id.is_(None))
            .order_by(Task.next_occurrence.is_(None), Task.next_occurrence, Task.id)
        )
    )


def resolve_reminder(task: Task, spec: ReminderSpec, now: dt.datetime) -> tuple[dt.datetime, int | None]:
    """Turn a spec into an absolute time; refuse times in the past and relative ones without a due date."""
    if spec.minutes_before is not None:
        if task.due_date is None:
            raise ValidationFailed(
                "A relative reminder needs the task to have a due date.",
                errors={"minutes_before": "the task has no due date"},
            )
        remind_at = task.due_date - dt.timedelta(minutes=spec.minutes_before)
        field = "minutes_before"
    elif spec.remind_at is not None:
        remind_at, field = localize(spec.remind_at, task.timezone, "remind_at"), "remind_at"
    else:  # the parser gives exactly one of the two
        raise ValueError("a reminder spec without remind_at or minutes_before")
    if remind_at <= now:
        raise ValidationFailed("A reminder must be in the future.", errors={field: "is in the past"})
    return remind_at, spec.minutes_before


def add_reminder(session: orm.Session, task: Task, spec: ReminderSpec, now: dt.datetime) -> tuple[Reminder, bool]:
    """Add a reminder; the same task and time twice returns the existing one (created=False)."""
    if task.completed:
        raise ValidationFailed("A completed task gets no reminders.", errors={"task": "is completed"})
    remind_at, minutes = resolve_reminder(task, spec, now)
    existing = session.scalars(
        sa.select(Reminder).where(Reminder.task_id == task.id, Reminder.remind_at == remind_at)
    ).one_or_none()
    if existing is not None:
        return existing, False
    reminder = Reminder(
        id=new_id(),
        task_id=task.id,
        user_id=task.user_id,
        remind_at=remind_at,
        minutes_before=minutes,
        notified=False,
        created_at=now,
    )
    session.add(reminder)
    session.flush()
    return reminder, True


def get_reminder(session: orm.Session, user_id: str, reminder_id: str) -> Reminder:
    reminder = session.scalars(
        sa.select(Reminder).where(Reminder.id == reminder_id, Reminder.user_id == user_id)
    ).one_or_none()
    if reminder is None:
        raise NotFound("No such reminder.")
    return reminder


def pending_reminders(session: orm.Session, user_id: str) -> list[tuple[Reminder, Task]]:
    return list(
        session.execute(
            sa.select(Reminder, Task)
            .join(Task, Task.id == Reminder.task_id)
            .where(Reminder.user_id == user_id, Reminder.notified.is_(False))
            .order_by(Reminder.remind_at, Reminder.id)
        ).all()
    )
