"""A parent's completion event names the sub-tasks it completed (`cascade`): the replay keeps the task's shape."""

from __future__ import annotations

from functions.tasks.core.history import fold
from functions.tasks.schemas.tasks import TASK_EXAMPLE, TaskOut
from shared.persistence.models import EventLog


def test_a_cascade_in_a_completion_event_is_not_part_of_the_replayed_task():
    created = EventLog(event_type="task.created", data=dict(TASK_EXAMPLE))
    completed = EventLog(
        event_type="task.completed",
        data={**TASK_EXAMPLE, "completed": True, "version": 2, "cascade": ["a-sub-task"]},
    )
    state = fold([created, completed])
    assert "cascade" not in state and state["completed"] is True
    TaskOut.model_validate(state)  # extra fields are forbidden: the replay is a task as the API shows it
