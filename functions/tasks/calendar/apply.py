"""Apply an import plan: create its tasks, series, instances, skipped occurrences and reminders with their events."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from functions.tasks.calendar.planned import PlannedTask
from shared.domain.days import day_instant, local_day
from shared.messaging.outbox import add_event
from shared.persistence.models import SkippedOccurrence, Task
from shared.services import series
from shared.services.day_clock import remind_before
from shared.services.tasks import created_event, deleted_event, new_reminder, new_task


def create_all(
    session: orm.Session,
    user_id: str,
    planned: list[PlannedTask],
    now: dt.datetime,
    ids_by_uid: dict[str, str] | None = None,
) -> list[str]:
    """Create every planned task in the caller's unit of work, each with its task.created event; return their ids.

    A sub-task (RELATED-TO) hangs from its parent's row: created before it, in this call or an earlier
    one that shared `ids_by_uid` (the ids stored so far by UID).

    A series' skipped occurrences (its EXDATEs) are stored with it: never spawned, passed over by
    next_occurrence and its reminders, and EXDATEs again in the calendar feeds.
    """
    # One flush for the whole plan, not one per task: a 240-series file held SQLite's one writer (and
    # the worker) for seconds when every task flushed on its own.
    skips: list[dict[str, object]] = []
    to_arm: list[Task] = []
    created: list[str] = []
    by_uid = {} if ids_by_uid is None else ids_by_uid  # the plan puts parents first (plan._link_subtasks)
    for item in planned:
        task = _task(user_id, item, now)
        if item.parent_uid is not None:
            task.parent_task_id = by_uid.get(item.parent_uid)
        if item.uid:
            by_uid.setdefault(item.uid, task.id)
        if item.rule is not None:
            # The planner keeps skips ahead within MAX_SKIPPED_AHEAD, so finding the next occurrence is bounded.
            series.start_series(task, item.rule, "schedule", now, item.skips)
        session.add(task)
        created.append(task.id)
        skips += [{"series_id": task.id, "occurrence_at": o, "created_at": now} for o in item.skips]
        for reminder in item.reminders:
            remind_at = reminder.remind_at
            if reminder.minutes_before is not None and task.due_date is not None:
                remind_at = remind_before(session, task, task.due_date, reminder.minutes_before)
            if remind_at is None:
                continue
            # A reminder already past never rings ("passed"); a series' relative one is armed
            # again below for its next occurrence.
            task.reminders.append(new_reminder(task, remind_at, reminder.minutes_before, now, passed=remind_at <= now))
        add_event(session, created_event(task))
        for planned_instance in item.instances:
            instance = _task(user_id, item, now)
            instance.parent_id = task.id
            instance.occurrence_at = planned_instance.occurrence_at
            instance.due_date = _due(item, planned_instance.due_date)
            instance.completed = planned_instance.completed
            instance.completed_at = planned_instance.completed_at
            session.add(instance)
            created.append(instance.id)
            add_event(session, created_event(instance))
        if series.is_scheduled_series(task) and any(r.minutes_before is not None for r in item.reminders):
            to_arm.append(task)
    session.flush()
    if skips:
        session.execute(sa.insert(SkippedOccurrence.__table__), skips)
    # Armed once the instances and skipped occurrences are stored: those occurrences are passed over.
    # Its reads (skips, completed instances) never depend on the reminders armed before: no flush each time.
    with session.no_autoflush:
        for task in to_arm:
            series.arm_relative_reminders(session, task, now, anew=True)
    session.flush()
    return created


def remove_all(session: orm.Session, user_id: str, task_ids: list[str]) -> None:
    """Take back what an import stored before it failed: each task goes with its task.deleted event."""
    doomed = list(session.scalars(sa.select(Task).where(Task.user_id == user_id, Task.id.in_(task_ids))))
    for task in doomed:
        add_event(session, deleted_event(task))
    session.execute(sa.delete(Task).where(Task.user_id == user_id, Task.id.in_(task_ids)))


def _task(user_id: str, item: PlannedTask, now: dt.datetime) -> Task:
    """The planned task's row (a series' instances start from it too)."""
    return new_task(
        user_id,
        item.title,
        now,
        description=item.description,
        due_date=_due(item, item.due_date),
        all_day=item.all_day,
        timezone=item.timezone,
        priority=item.priority,
        tags=item.tags,
        completed=item.completed,
        completed_at=item.completed_at,
    )


def _due(item: PlannedTask, due: dt.datetime | None) -> dt.datetime | None:
    """A planned due date as stored: an all-day one (planned at the start of its day in the zone) as its date."""
    if due is None or not item.all_day:
        return due
    return day_instant(local_day(due, item.timezone))
