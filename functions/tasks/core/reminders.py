"""Reminders of tasks: add, list and remove them, and keep relative ones at their task's due date.

A scheduled series rings its relative reminders itself before each occurrence (shared/services/series.py
arms them); every other task's relative reminders follow its due date (`move_relative_reminders`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.core.rows import editing, get_owned
from functions.tasks.schemas.reminders import ReminderSpec
from shared.domain.errors import ValidationFailed
from shared.domain.times import rfc3339
from shared.persistence.db import utcnow
from shared.persistence.models import Reminder, Task
from shared.services import series
from shared.services.day_clock import remind_before
from shared.services.snapshots import due_view, reminder_view
from shared.services.tasks import new_reminder
from shared.web.schemas import localize

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime


# -- what the routes call ----------------------------------------------------------------------


def add(rt: Runtime, user_id: str, task_id: str, spec: ReminderSpec) -> tuple[dict[str, Any], bool]:
    """Add a reminder to a task; return it as the API shows it and whether it is new (the same time twice is not)."""
    with editing(rt, Task, user_id, task_id, "task") as (session, task):
        reminder, created = add_reminder(session, task, spec, utcnow())
    if created:
        rt.wake("reminders")
    return reminder_view(reminder, task.timezone), created


def of_task(rt: Runtime, user_id: str, task_id: str) -> list[dict[str, Any]]:
    """A task's reminders as the API shows them, soonest first."""
    with rt.uow() as uow:
        task = get_owned(uow.session, Task, user_id, task_id, "task")
        return [reminder_view(r, task.timezone) for r in task.reminders]


def remove(rt: Runtime, user_id: str, reminder_id: str) -> None:
    """Remove one of the user's reminders."""
    with rt.uow() as uow:
        uow.session.delete(get_owned(uow.session, Reminder, user_id, reminder_id, "reminder"))
        uow.commit()


def pending(rt: Runtime, user_id: str) -> list[dict[str, Any]]:
    """The user's reminders still to ring, soonest first, each with its task's title."""
    with rt.uow() as uow:
        rows = uow.session.execute(
            sa.select(Reminder, Task)
            .join(Task, Task.id == Reminder.task_id)
            .where(Reminder.user_id == user_id, Reminder.notified.is_(False))
            .order_by(Reminder.remind_at, Reminder.id)
        ).all()
        return [
            {
                "id": r.id,
                "task_id": t.id,
                "task_title": t.title,
                "remind_at": rfc3339(r.remind_at, t.timezone),
                "due_date": due_view(t),
                "all_day": t.all_day,
            }
            for r, t in rows
        ]


# -- the rules, in the caller's unit of work ---------------------------------------------------


def add_reminder(session: orm.Session, task: Task, spec: ReminderSpec, now: dt.datetime) -> tuple[Reminder, bool]:
    """Add a reminder; the same task and time twice returns the existing one (created=False)."""
    if task.completed:
        raise ValidationFailed("A completed task gets no reminders.", errors={"task": "is completed"})
    minutes: int | None
    if spec.minutes_before is not None and series.is_scheduled_series(task):
        same = [r for r in task.reminders if r.minutes_before == spec.minutes_before]
        if same:  # a series' relative reminder is one per lead, wherever its alarm stands now
            return same[0], False
        remind_at, minutes = _series_alarm(session, task, spec.minutes_before, now), spec.minutes_before
    else:
        remind_at, minutes = _resolve(session, task, spec, now)
    existing = session.scalars(
        sa.select(Reminder).where(Reminder.task_id == task.id, Reminder.remind_at == remind_at)
    ).one_or_none()
    if existing is not None:
        return existing, False
    reminder = new_reminder(task, remind_at, minutes, now)
    task.reminders.append(reminder)  # (the next reminder added in this unit of work sees it)
    session.flush()
    return reminder, True


def _resolve(session: orm.Session, task: Task, spec: ReminderSpec, now: dt.datetime) -> tuple[dt.datetime, int | None]:
    """Turn a spec into an absolute time; refuse times in the past and relative ones without a due date.

    A relative reminder of an all-day task counts from the person's time of day on its date (day_clock).
    """
    if spec.minutes_before is not None:
        if task.due_date is None:
            raise ValidationFailed(
                "A relative reminder needs the task to have a due date.",
                errors={"minutes_before": "the task has no due date"},
            )
        remind_at = remind_before(session, task, task.due_date, spec.minutes_before)
        field = "minutes_before"
    elif spec.remind_at is not None:
        remind_at, field = localize(spec.remind_at, task.timezone, "remind_at"), "remind_at"
    else:  # the parser gives exactly one of the two
        raise ValueError("a reminder spec without remind_at or minutes_before")
    if remind_at <= now:
        raise ValidationFailed("A reminder must be in the future.", errors={field: "is in the past"})
    return remind_at, spec.minutes_before


def _series_alarm(session: orm.Session, task: Task, minutes_before: int, now: dt.datetime) -> dt.datetime:
    """A series rings a relative reminder before each occurrence: the first alarm still ahead.

    "1 day before" on a monthly series added on the last day before the 1st is not refused: it
    rings first before the following month's occurrence.
    """
    taken = {r.remind_at for r in task.reminders}
    alarm = series.first_alarm(session, task, minutes_before, now, taken)
    if alarm is None:
        raise ValidationFailed(
            "The series has no occurrence left to remind of.", errors={"minutes_before": "no occurrence ahead"}
        )
    return alarm


def move_relative_reminders(session: orm.Session, task: Task, *, now: dt.datetime | None = None) -> None:
    """Relative reminders follow the due date; they go when it is cleared.

    A scheduled series' relative reminders follow its occurrences instead (shared/services/series.py). One
    that would land on a time another reminder of the task holds rests as `passed` (that one rings
    then; the times are unique per task), and so does one already past when `now` is given (a
    stopped series). Resting ones follow again when the due date next moves.
    """
    if series.is_scheduled_series(task):
        return
    movable = [r for r in task.reminders if r.minutes_before is not None and (not r.notified or r.outcome == "passed")]
    times = series.ReminderTimes(task)
    for reminder in movable:
        if task.due_date is None:
            session.delete(reminder)
            continue
        at = remind_before(session, task, task.due_date, reminder.minutes_before or 0)
        if at in times.taken(reminder) or (now is not None and at <= now):
            times.rest(reminder, utcnow())
        else:
            times.move(reminder, at)


def cancel_pending_reminders(session: orm.Session, task_id: str, now: dt.datetime) -> None:
    """Cancel a task's reminders still to ring (it was completed)."""
    session.execute(
        sa.update(Reminder)
        .where(Reminder.task_id == task_id, Reminder.notified.is_(False))
        .values(notified=True, notified_at=now, outcome="cancelled")
        .execution_options(synchronize_session=False)
    )
