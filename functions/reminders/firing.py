"""Fire due reminders exactly once: claim, mark notified and stage the event in one transaction."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy import orm

from shared.domain import events
from shared.domain.days import local_day, stored_day
from shared.domain.events import Event
from shared.domain.times import rfc3339
from shared.messaging.outbox import add_event
from shared.persistence.db import utcnow
from shared.persistence.models import Reminder, Task
from shared.runtime.process import Runtime
from shared.services import series
from shared.services.day_clock import day_clock

log = logging.getLogger(__name__)


def fire_due(rt: Runtime, now: dt.datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """Fire every reminder due at `now`; return counts of triggered, missed and cancelled."""
    now = now or utcnow()
    grace = dt.timedelta(minutes=rt.settings.reminder_grace_minutes)
    counts = {"triggered": 0, "missed": 0, "cancelled": 0}
    while True:
        fired: list[tuple[str, float]] = []
        with rt.uow() as uow:
            rows = uow.session.execute(
                sa.select(Reminder, Task)
                .join(Task, Task.id == Reminder.task_id)
                .where(Reminder.notified.is_(False), Reminder.remind_at <= now)
                .order_by(Reminder.remind_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True, of=Reminder)
            ).all()
            for reminder, task in rows:
                outcome = _fire(uow.session, reminder, task, now, grace)
                counts[outcome] += 1
                fired.append((outcome, (now - reminder.remind_at).total_seconds()))
            rt.fence(uow.session)  # a leader that lost its lease while frozen commits nothing
            uow.commit()
        for outcome, lateness in fired:  # counted once committed: a rolled-back claim fired nothing
            rt.metrics.reminders_fired.labels(outcome).inc()
            if outcome != "cancelled":
                rt.metrics.reminder_lag.observe(max(0.0, lateness))
        if len(rows) < batch_size:
            break
    if any(counts.values()):
        log.info("reminders fired", extra=counts)
    return counts


def _fire(session: orm.Session, reminder: Reminder, task: Task, now: dt.datetime, grace: dt.timedelta) -> str:
    reminder.notified = True
    reminder.notified_at = now
    if task.completed:
        reminder.outcome = "cancelled"  # reminders of completed tasks never fire
        return "cancelled"
    late = now - reminder.remind_at > grace
    reminder.outcome = "missed" if late else "triggered"
    due = task.due_date
    ringing_series = reminder.minutes_before is not None and series.is_scheduled_series(task)
    if ringing_series:  # a series rings before each occurrence: this one is for remind_at + lead
        due = reminder.remind_at + dt.timedelta(minutes=reminder.minutes_before or 0)
    add_event(
        session,
        Event(
            event_type=events.REMINDER_MISSED if late else events.REMINDER_TRIGGERED,
            user_id=task.user_id,
            aggregate_id=task.id,
            data={
                "reminder_id": reminder.id,
                "task_id": task.id,
                "task_title": task.title,
                "remind_at": rfc3339(reminder.remind_at, task.timezone),
                "due_date": _due_shown(session, task, due),
                "all_day": bool(task.all_day),
                "fired_at": rfc3339(now),
            },
        ),
    )
    outcome = reminder.outcome
    if ringing_series:
        series.arm_relative_reminders(session, task, now, after=due, only=reminder)  # for the next occurrence
    return outcome


def _due_shown(session: orm.Session, task: Task, due: dt.datetime | None) -> str | None:
    """The due date a reminder rings for, as the API shows due dates: an all-day task's as its date alone
    (a series' occurrence: the date of the person's time of day it rang before)."""
    if not task.all_day or due is None:
        return rfc3339(due, task.timezone)
    if series.is_scheduled_series(task):
        return local_day(due, day_clock(session, task.user_id).timezone).isoformat()
    return stored_day(due).isoformat()


def pending_counts(rt: Runtime, now: dt.datetime | None = None) -> tuple[int, int]:
    """(reminders not fired yet, those of them already due): the second should stay near 0."""
    now = now or utcnow()
    with rt.sessions() as session:
        pending, due = session.execute(
            sa.select(sa.func.count(), sa.func.count().filter(Reminder.remind_at <= now)).where(
                Reminder.notified.is_(False)
            )
        ).one()
    return int(pending), int(due)


def next_due(rt: Runtime) -> dt.datetime | None:
    with rt.sessions() as session:
        return session.scalar(sa.select(sa.func.min(Reminder.remind_at)).where(Reminder.notified.is_(False)))
