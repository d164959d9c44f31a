"""Apply an import plan: create its tasks, series, instances, skipped occurrences and reminders with their events."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from functions.tasks.calendar.plan import PlannedTask
from shared.domain import events
from shared.messaging.outbox import add_event
from shared.persistence.models import Reminder, SkippedOccurrence, Task, new_id
from shared.services import series
from shared.services.snapshots import snapshot


def create_all(session: orm.Session, user_id: str, planned: list[PlannedTask], now: dt.datetime) -> None:
    """Create every planned task in the caller's unit of work, each with its task.created event.

    A series' skipped occurrences (its EXDATEs) are stored with it: never spawned, passed over by
    next_occurrence and its reminders, and EXDATEs again in the calendar feeds.
    """
    for item in planned:
        task = _task(user_id, item, now)
        if item.rule is not None:
            task.recurrence_rule, task.dtstart, task.repeat_from = item.rule.text, item.rule.dtstart, "schedule"
            task.dtstart_wall = item.rule.wall
            # As set_recurrence does; the planner keeps skips ahead within MAX_SKIPPED_AHEAD, so this is bounded.
            task.next_occurrence = series.next_kept(item.rule, now, set(item.skips), inclusive=True)
        session.add(task)
        session.flush()
        if item.skips:
            rows = [{"series_id": task.id, "occurrence_at": o, "created_at": now} for o in item.skips]
            session.execute(sa.insert(SkippedOccurrence.__table__), rows)
        for reminder in item.reminders:
            remind_at = reminder.remind_at
            if reminder.minutes_before is not None and task.due_date is not None:
                remind_at = task.due_date - dt.timedelta(minutes=reminder.minutes_before)
            if remind_at is None:
                continue
            # A reminder already past never rings ("passed"); a series' relative one is armed
            # again below for its next occurrence.
            past = remind_at <= now
            task.reminders.append(
                Reminder(
                    id=new_id(),
                    task_id=task.id,
                    user_id=user_id,
                    remind_at=remind_at,
                    minutes_before=reminder.minutes_before,
                    notified=past,
                    notified_at=now if past else None,
                    outcome="passed" if past else None,
                    created_at=now,
                )
            )
        _emit_created(session, task)
        for planned_instance in item.instances:
            instance = _task(user_id, item, now)
            instance.parent_id = task.id
            instance.occurrence_at = planned_instance.occurrence_at
            instance.due_date = planned_instance.due_date
            instance.completed = planned_instance.completed
            instance.completed_at = planned_instance.completed_at
            session.add(instance)
            _emit_created(session, instance)
        if series.is_scheduled_series(task) and any(r.minutes_before is not None for r in item.reminders):
            session.flush()  # the instances and skipped occurrences (stored above) are passed over when arming
            series.arm_relative_reminders(session, task, now, anew=True)
    session.flush()


def _task(user_id: str, item: PlannedTask, now: dt.datetime) -> Task:
    return Task(
        id=new_id(),
        user_id=user_id,
        title=item.title,
        description=item.description,
        due_date=item.due_date,
        timezone=item.timezone,
        priority=item.priority,
        tags=list(item.tags),
        completed=item.completed,
        completed_at=item.completed_at,
        repeat_from="schedule",
        version=1,
        created_at=now,
        updated_at=now,
    )


def _emit_created(session: orm.Session, task: Task) -> None:
    add_event(
        session,
        events.Event(event_type=events.TASK_CREATED, user_id=task.user_id, aggregate_id=task.id, data=snapshot(task)),
    )
