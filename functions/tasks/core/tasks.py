"""Task handlers: change rows and stage their events in the caller's unit of work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from functions.tasks.schemas.tasks import TaskQuery, encode_cursor
from shared.domain import events
from shared.domain.errors import NotFound, ValidationFailed
from shared.domain.events import Event
from shared.domain.recurrence import UnusableRule
from shared.messaging.outbox import add_event
from shared.persistence.db import utcnow
from shared.persistence.models import Reminder, Task, TaskList, new_id
from shared.services import series
from shared.services.snapshots import snapshot as snapshot  # re-exported for the routes

Owned = TypeVar("Owned", Task, TaskList, Reminder)


def emit(session: orm.Session, event_type: str, task: Task, **extra: Any) -> Event:
    """Stage a task event carrying the full snapshot after the change."""
    return add_event(
        session,
        Event(event_type=event_type, user_id=task.user_id, aggregate_id=task.id, data={**snapshot(task), **extra}),
    )


def get_owned(
    session: orm.Session, model: type[Owned], user_id: str, row_id: str, what: str, *, for_update: bool = False
) -> Owned:
    """Load a user's task, list or reminder by id; another user's is simply not found (404, never 403)."""
    stmt = sa.select(model).where(model.id == row_id, model.user_id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound(f"No such {what}.")
    return found


def get_task(session: orm.Session, user_id: str, task_id: str, *, for_update: bool = False) -> Task:
    return get_owned(session, Task, user_id, task_id, "task", for_update=for_update)


def new_task(user_id: str, given: Mapping[str, Any]) -> Task:
    """Build a new (not yet stored) task from validated fields (TaskFields.given)."""
    now = utcnow()
    return Task(
        id=new_id(),
        user_id=user_id,
        title=given["title"],
        description=given.get("description"),
        due_date=given.get("due_date"),
        timezone=given.get("timezone") or "UTC",
        priority=given.get("priority") or "none",
        tags=given.get("tags") or [],
        list_id=given.get("list_id"),
        position=given.get("position"),
        completed=False,
        repeat_from="schedule",
        version=1,
        created_at=now,
        updated_at=now,
    )


def created_event(task: Task) -> Event:
    return Event(event_type=events.TASK_CREATED, user_id=task.user_id, aggregate_id=task.id, data=snapshot(task))


def _json_value(task: Task, field: str) -> Any:
    return snapshot(task)[field]


def check_list(session: orm.Session, user_id: str, list_id: Any) -> None:
    """A task may only join one of its owner's open lists: another user's list id is a 422, never linked,
    and an archived list takes no new tasks (unarchive it first), as in Todoist."""
    if not isinstance(list_id, str):
        return
    archived = session.scalar(sa.select(TaskList.archived).where(TaskList.id == list_id, TaskList.user_id == user_id))
    if archived is None:
        raise ValidationFailed("No such list.", errors={"list_id": "no such list"})
    if archived:
        raise ValidationFailed("The list is archived: unarchive it to add tasks.", errors={"list_id": "is archived"})


def update_task(session: orm.Session, task: Task, given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply the given fields (TaskFields.given); emit task.updated with {field: {old, new}} when anything changed."""
    if given.get("list_id") != task.list_id:  # a task already in an archived list stays editable
        check_list(session, task.user_id, given.get("list_id"))
    changes: dict[str, dict[str, Any]] = {}
    for field, value in given.items():
        if getattr(task, field) == value:
            continue
        old = _json_value(task, field)
        setattr(task, field, value)
        changes[field] = {"old": old, "new": _json_value(task, field)}
    if "due_date" in changes:
        move_relative_reminders(session, task)
    if changes:
        task.version += 1
        task.updated_at = utcnow()
        session.flush()
        emit(session, events.TASK_UPDATED, task, changes=changes)
    return changes


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
        at = task.due_date - dt.timedelta(minutes=reminder.minutes_before or 0)
        if at in times.taken(reminder) or (now is not None and at <= now):
            times.rest(reminder, utcnow())
        else:
            times.move(reminder, at)


def set_completed(session: orm.Session, task: Task, completed: bool) -> bool:
    """Complete or reopen a task; completing cancels its pending reminders. Return whether it changed."""
    if task.completed == completed:
        return False
    now = utcnow()
    task.completed = completed
    task.completed_at = now if completed else None
    task.version += 1
    task.updated_at = now
    if completed:
        cancel_pending_reminders(session, task.id, now)
    session.flush()
    if not completed:  # a reopened series rings again before its next occurrences
        series.arm_relative_reminders(session, task, now)
    emit(session, events.TASK_COMPLETED if completed else events.TASK_UNCOMPLETED, task)
    if completed:
        series.spawn_after_completion(session, task, now)
    _series_follows_instance_ahead(session, task, now)
    return True


def _series_follows_instance_ahead(session: orm.Session, instance: Task, now: dt.datetime) -> None:
    """An instance whose time has not come (ticked ahead, then reopened by Undo, or ticked again) moves
    its series: reopened, the series is due at it again; completed as the series' next, the series moves
    past it. Either way the series' reminders are placed anew (they ring for what is still to do)."""
    occurrence = instance.occurrence_at
    if instance.parent_id is None or occurrence is None or occurrence <= now:
        return
    parent = session.get(Task, instance.parent_id, with_for_update=True)
    if parent is None or parent.completed or not series.is_scheduled_series(parent):
        return
    before = snapshot(parent)
    if not instance.completed and (parent.next_occurrence is None or occurrence < parent.next_occurrence):
        parent.next_occurrence = occurrence
    elif instance.completed and parent.next_occurrence == occurrence:
        try:
            parent.next_occurrence = series.next_to_do(session, parent, occurrence, now)
        except UnusableRule:  # stored before rules were bounded: left as it is
            return
    series.arm_relative_reminders(session, parent, now, anew=True)
    after = snapshot(parent)
    if before["next_occurrence"] != after["next_occurrence"]:
        parent.version += 1
        parent.updated_at = now
        session.flush()
        changes = {"next_occurrence": {"old": before["next_occurrence"], "new": after["next_occurrence"]}}
        emit(session, events.TASK_UPDATED, parent, changes=changes)


def cancel_pending_reminders(session: orm.Session, task_id: str, now: dt.datetime) -> None:
    session.execute(
        sa.update(Reminder)
        .where(Reminder.task_id == task_id, Reminder.notified.is_(False))
        .values(notified=True, notified_at=now, outcome="cancelled")
        .execution_options(synchronize_session=False)
    )


def delete_task(session: orm.Session, task: Task) -> None:
    """Delete a task; deleting an instance of a scheduled series skips that occurrence for good."""
    if task.parent_id is not None and task.occurrence_at is not None:
        parent = session.get(Task, task.parent_id)
        if series.is_scheduled_series(parent):
            # Remembered, so it is never respawned and the calendar feed shows it as an EXDATE.
            series.record_skip(session, task.parent_id, task.occurrence_at, utcnow())
    emit(session, events.TASK_DELETED, task, deleted=True)
    session.delete(task)
    session.flush()


def _has_tag(session: orm.Session, tag: str) -> sa.ColumnElement[bool]:
    """JSON containment: `@>` on PostgreSQL's JSONB, json_each on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.type_coerce(Task.tags, postgresql.JSONB).contains([tag])
    each = sa.func.json_each(Task.tags).table_valued("value")
    return sa.exists().where(each.c.value == tag)


def list_tasks(session: orm.Session, user_id: str, query: TaskQuery) -> tuple[list[Task], str | None]:
    """List a user's tasks, newest first, with keyset pagination."""
    stmt = sa.select(Task).where(Task.user_id == user_id)
    if query.completed is not None:
        stmt = stmt.where(Task.completed.is_(query.completed))
    if query.due_before is not None:
        stmt = stmt.where(Task.due_date < query.due_before)
    if query.due_after is not None:
        stmt = stmt.where(Task.due_date >= query.due_after)
    if query.priority is not None:
        stmt = stmt.where(Task.priority == query.priority)
    if query.q:
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(Task.title.ilike(pattern, escape="\\"), Task.description.ilike(pattern, escape="\\")))
    if query.tag:
        stmt = stmt.where(_has_tag(session, query.tag))
    if query.list_id == "none":
        stmt = stmt.where(Task.list_id.is_(None))
    elif query.list_id is not None:
        stmt = stmt.where(Task.list_id == query.list_id)
    if query.cursor is not None:
        created_at, task_id = query.cursor
        stmt = stmt.where(
            sa.or_(Task.created_at < created_at, sa.and_(Task.created_at == created_at, Task.id < task_id))
        )
    stmt = stmt.order_by(Task.created_at.desc(), Task.id.desc()).limit(query.limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor
