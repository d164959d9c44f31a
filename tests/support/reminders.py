"""Reminders for the tests: instants as the API writes them, reminders and their events read from the database."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from shared.domain.events import REMINDERS_TOPIC
from shared.persistence.models import Outbox, Reminder


def iso(moment: dt.datetime) -> str:
    """The instant in UTC, as ISO 8601 text."""
    return moment.astimezone(dt.UTC).isoformat()


def reminder_events(rt):
    """Every reminder event in the outbox, oldest first."""
    with rt.sessions() as s:
        return [
            p
            for (p,) in s.execute(sa.select(Outbox.payload).where(Outbox.topic == REMINDERS_TOPIC).order_by(Outbox.id))
        ]


def reminders_of(rt, task_id):
    """The task's reminders, earliest first."""
    with rt.sessions() as s:
        return list(s.scalars(sa.select(Reminder).where(Reminder.task_id == task_id).order_by(Reminder.remind_at)))
