"""Sub-tasks: where a task may sit under another, and what a parent's change does to those under it.

A sub-task shares its parent's owner and list; trees are at most MAX_DEPTH levels deep (a top-level
task is level 1) and have no cycles. Recurring tasks stay out of trees: a series or one of its
instances is neither a parent nor a sub-task (its instances spawn on their own, outside any parent,
and completing a parent could not say which occurrence it completed).

Cascades, each with one event per task: completing a parent completes its open sub-tasks (all
levels) at the same instant, and reopening it reopens exactly those (a sub-task completed at the
parent's `completed_at` was completed by it; one completed before or after keeps its own state);
deleting a parent deletes its sub-tasks; moving a parent to another list moves them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.core import rows
from shared.domain.changes import ChangeSet
from shared.domain.errors import ValidationFailed
from shared.persistence.models import Task
from shared.services.snapshots import NO_SUBTASKS, fields_view, snapshot, subtask_counts
from shared.services.tasks import record_update

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

#: Levels a tree may have: a task, its sub-task, theirs, and one more.
MAX_DEPTH = 4


def children(rt: Runtime, user_id: str, task_id: str) -> list[dict[str, Any]]:
    """A task's direct sub-tasks as the API shows them: manual order, then oldest first."""
    with rt.uow() as uow:
        rows.get_owned(uow.session, Task, user_id, task_id, "task")
        found = list(
            uow.session.scalars(
                sa.select(Task)
                .where(Task.parent_task_id == task_id, Task.user_id == user_id)
                .order_by(Task.position.is_(None), Task.position, Task.created_at, Task.id)
            )
        )
        counts = subtask_counts(uow.session, [t.id for t in found])
        return [snapshot(t, counts.get(t.id, NO_SUBTASKS)) for t in found]


def _refuse(message: str, reason: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"parent_task_id": reason})


def is_recurring(task: Task) -> bool:
    """A series (it has a rule) or one of its instances."""
    return task.recurrence_rule is not None or task.parent_id is not None


def check_parent(session: orm.Session, user_id: str, parent_id: str, task: Task | None = None) -> Task:
    """The parent a task may move under (a new one: `task` None), or 422 naming why not; nothing is changed.

    Another user's task or a missing one is "no such task" (never linked); a recurring one cannot be a
    parent; a task cannot go under itself or its own sub-tasks; the whole tree must stay MAX_DEPTH deep.
    """
    parent = session.scalars(sa.select(Task).where(Task.id == parent_id, Task.user_id == user_id)).one_or_none()
    if parent is None:
        raise _refuse("No such parent task.", "no such task")
    if is_recurring(parent):
        raise _refuse("A recurring task cannot have sub-tasks.", "is a recurring task")
    if task is not None and is_recurring(task):
        raise _refuse("A recurring task cannot be a sub-task.", "this task is recurring")
    chain = ancestors(session, parent)
    if task is not None and (parent.id == task.id or task.id in chain):
        raise _refuse("A task cannot go under itself or one of its sub-tasks.", "would make a cycle")
    height = 1 if task is None else 1 + len(levels_below(session, task.id))
    if len(chain) + 1 + height > MAX_DEPTH:
        raise _refuse(f"Sub-tasks nest at most {MAX_DEPTH} levels deep.", f"deeper than {MAX_DEPTH} levels")
    return parent


def ancestors(session: orm.Session, task: Task) -> list[str]:
    """The ids above a task, its parent first (bounded: a broken chain never loops)."""
    chain: list[str] = []
    current = task.parent_task_id
    while current is not None and current not in chain and len(chain) <= MAX_DEPTH + 1:
        chain.append(current)
        current = session.scalar(sa.select(Task.parent_task_id).where(Task.id == current))
    return chain


def levels_below(session: orm.Session, task_id: str) -> list[list[Task]]:
    """The task's sub-tasks level by level (one query a level, at most MAX_DEPTH levels)."""
    levels: list[list[Task]] = []
    ids = [task_id]
    seen = {task_id}
    while ids and len(levels) <= MAX_DEPTH:
        found = [t for t in session.scalars(sa.select(Task).where(Task.parent_task_id.in_(ids))) if t.id not in seen]
        if not found:
            break
        levels.append(found)
        seen.update(t.id for t in found)
        ids = [t.id for t in found]
    return levels


def descendants(session: orm.Session, task_id: str) -> list[Task]:
    """Every task under this one, nearest first."""
    return [t for level in levels_below(session, task_id) for t in level]


def check_new_task(session: orm.Session, task: Task, recurring: bool, *, list_given: bool) -> None:
    """A new sub-task: its parent must take it (check_parent); it joins its parent's list (another: 422)."""
    if task.parent_task_id is None:
        return
    if recurring:
        raise _refuse("A recurring task cannot be a sub-task.", "a sub-task cannot recur")
    parent = check_parent(session, task.user_id, task.parent_task_id)
    if not list_given:
        task.list_id = parent.list_id
    elif task.list_id != parent.list_id:
        raise ValidationFailed(
            "A sub-task is in its parent's list.", errors={"list_id": "differs from the parent task's list"}
        )


def placed(session: orm.Session, task: Task, given: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a change with its place in a tree settled (checked, and the list kept in step).

    Moving under a parent joins the parent's list; moving a sub-task alone to another list makes it a
    top-level task there (as in Todoist).
    """
    given = dict(given)
    if "parent_task_id" in given and given["parent_task_id"] != task.parent_task_id:
        if given["parent_task_id"] is not None:
            parent = check_parent(session, task.user_id, given["parent_task_id"], task)
            given["list_id"] = parent.list_id
    elif "list_id" in given and given["list_id"] != task.list_id and task.parent_task_id is not None:
        given["parent_task_id"] = None
    return given


def move_subtasks_to_list(session: orm.Session, task: Task, at: dt.datetime) -> None:
    """A parent moved to another list takes its sub-tasks along (task.updated each)."""
    for sub in descendants(session, task.id):
        if sub.list_id != task.list_id:
            changes = ChangeSet(sub, fields_view)
            changes.set("list_id", task.list_id)
            record_update(session, sub, changes, at=at)


def to_complete(session: orm.Session, task: Task) -> list[Task]:
    """The open tasks under a parent being completed, deepest first (each completed before the ones above)."""
    return [t for level in reversed(levels_below(session, task.id)) for t in level if not t.completed]


def to_reopen(session: orm.Session, task: Task) -> list[Task]:
    """The tasks under a parent being reopened that its completion completed (same `completed_at`)."""
    if task.completed_at is None:
        return []
    return [t for t in descendants(session, task.id) if t.completed and t.completed_at == task.completed_at]


def to_delete(session: orm.Session, task: Task) -> list[Task]:
    """The tasks under a parent being deleted, deepest first (a row goes before the one it hangs from)."""
    return [t for level in reversed(levels_below(session, task.id)) for t in level]
