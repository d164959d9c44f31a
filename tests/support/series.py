"""Recurring series for the tests: made through the API, their instances and events read from the database."""

from __future__ import annotations

import sqlalchemy as sa

from shared.persistence.models import Outbox, Task


def make_series(api, rule, *, dtstart, tz="UTC", repeat_from="schedule", title="series", **extra):
    """Make a task, then give it a rule through POST …/recurrence; the series as answered."""
    task = api.create_task(title=title, **extra)
    resp = api.request(
        "POST",
        f"/api/{{me}}/tasks/{task['id']}/recurrence",
        json={"recurrence_rule": rule, "timezone": tz, "dtstart": dtstart, "repeat_from": repeat_from},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def instances(rt, series_id):
    """The series' spawned instances, by occurrence."""
    with rt.sessions() as s:
        return list(s.scalars(sa.select(Task).where(Task.parent_id == series_id).order_by(Task.occurrence_at)))


def event_types(rt, event_type):
    """The payloads of every `event_type` event in the outbox, oldest first."""
    with rt.sessions() as s:
        return list(s.scalars(sa.select(Outbox.payload).where(Outbox.event_type == event_type).order_by(Outbox.id)))
