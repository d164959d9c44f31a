"""A new task's columns (new_task_row) show as the API shows the Task they make: one view, two inputs."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.persistence.models import Task
from shared.services.snapshots import NO_SUBTASKS, new_task_view, snapshot
from shared.services.tasks import PLAIN_TASK_COLUMNS, new_task, new_task_row, row_created_event

NOW = dt.datetime(2026, 12, 3, 14, 5, 7, 123456, tzinfo=dt.UTC)

ROWS = [
    {},
    {"description": "by transfer", "priority": "high", "tags": ["home", "money"], "position": 2.5},
    {"due_date": dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC), "timezone": "Europe/Paris"},
    {"due_date": dt.datetime(2026, 12, 24, tzinfo=dt.UTC), "all_day": True, "timezone": "America/New_York"},
    {
        "due_date": dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC),
        "timezone": "Europe/Paris",
        "dtstart_wall": dt.datetime(2026, 3, 29, 2, 30),
    },
]


@pytest.mark.parametrize("fields", ROWS)
def test_the_view_of_a_new_row_is_the_snapshot_of_its_task(fields):
    row = new_task_row("u1", "Pay rent", NOW, **fields)
    assert tuple(row) == PLAIN_TASK_COLUMNS
    view = new_task_view(row)
    shown = snapshot(Task(**row), NO_SUBTASKS)
    assert view == shown
    assert list(view) == list(shown)  # the same order: the same bytes in a response


def test_new_task_is_the_row_as_an_orm_object():
    task = new_task("u1", "Pay rent", NOW, priority="low", list_id="l1", completed=True, completed_at=NOW)
    assert (task.priority, task.list_id, task.completed, task.completed_at, task.version) == ("low", "l1", True, NOW, 1)
    assert snapshot(task, NO_SUBTASKS) == new_task_view(
        {**new_task_row("u1", "Pay rent", NOW, priority="low"), "id": task.id, "list_id": "l1", "completed": True}
        | {"completed_at": NOW}
    )


def test_the_created_event_of_a_row_carries_its_view_at_its_instant():
    row = new_task_row("u1", "Pay rent", NOW)
    event = row_created_event(row)
    assert (event.event_type, event.user_id, event.aggregate_id, event.timestamp) == (
        "task.created",
        "u1",
        row["id"],
        NOW,
    )
    assert event.data == new_task_view(row)
