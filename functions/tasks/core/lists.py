"""Lists (Todoist's projects): create, read, change and delete them, each change with its list.* event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.core import rows
from functions.tasks.schemas.lists import ListCreate, ListPatch, ListUpdate
from shared.domain import events
from shared.domain.errors import Unauthorized, ValidationFailed
from shared.domain.events import Event
from shared.domain.times import rfc3339
from shared.messaging.outbox import add_event
from shared.persistence.db import utcnow
from shared.persistence.models import Task, TaskList, new_id
from shared.services.tasks import deleted_event

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

MAX_LISTS = 300

# -- what the routes call ----------------------------------------------------------------------


def index(rt: Runtime, user_id: str) -> list[dict[str, Any]]:
    """Every list of the user, in order, each with its number of open tasks."""
    with rt.uow() as uow:
        return all_lists(uow.session, user_id)


def create(rt: Runtime, user_id: str, body: ListCreate) -> dict[str, Any]:
    """Create a list; return it as the API shows it."""
    with rt.uow() as uow:
        task_list = create_list(uow.session, user_id, body)
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Unauthorized("This account no longer exists.") from None
    return view(task_list)


def get(rt: Runtime, user_id: str, list_id: str) -> dict[str, Any]:
    """One of the user's lists as the API shows it."""
    with rt.uow() as uow:
        return view(rows.get_owned(uow.session, TaskList, user_id, list_id, "list"))


def update(
    rt: Runtime, user_id: str, list_id: str, body: ListUpdate, check_version: rows.VersionCheck
) -> dict[str, Any]:
    """Rename, recolour, archive or move a list."""
    with rows.editing(rt, TaskList, user_id, list_id, "list", check_version) as (session, task_list):
        update_list(session, task_list, body.given())
    return view(task_list)


def merge(rt: Runtime, user_id: str, list_id: str, patch: ListPatch) -> dict[str, Any]:
    """Apply the fields a person changed since `base_version`, keeping others' changes; 409 on a conflict."""
    with rows.editing(rt, TaskList, user_id, list_id, "list") as (session, task_list):
        sent = patch.changes.model_fields_set
        changed = rows.changed_after(task_list, patch.base_version, sent)
        theirs = view(task_list)
        update_list(session, task_list, patch.changes.given())
        rows.refuse_conflicts("list", sent, changed, theirs, view(task_list))
    return view(task_list)


def delete(rt: Runtime, user_id: str, list_id: str, check_version: rows.VersionCheck) -> None:
    """Delete a list and its tasks (each with its task.deleted event)."""
    with rows.editing(rt, TaskList, user_id, list_id, "list", check_version) as (session, task_list):
        delete_list(session, task_list)


# -- the rules, in the caller's unit of work ---------------------------------------------------


def view(task_list: TaskList, task_count: int | None = None) -> dict[str, Any]:
    """The list as the API and its events show it."""
    out = {
        "id": task_list.id,
        "user_id": task_list.user_id,
        "name": task_list.name,
        "color": task_list.color,
        "archived": task_list.archived,
        "position": task_list.position,
        "version": task_list.version,
        "created_at": rfc3339(task_list.created_at),
        "updated_at": rfc3339(task_list.updated_at),
    }
    if task_count is not None:
        out["task_count"] = task_count
    return out


def _emit(session: orm.Session, event_type: str, task_list: TaskList, **extra: Any) -> None:
    """Stage a list event: the list as the API shows it after the change, plus what the change adds."""
    add_event(
        session,
        Event(
            event_type=event_type,
            user_id=task_list.user_id,
            aggregate_id=task_list.id,
            data={**view(task_list), **extra},
        ),
    )


def all_lists(session: orm.Session, user_id: str) -> list[dict[str, Any]]:
    """Every list of a user in order, each with its number of open tasks."""
    open_count = (
        sa.select(sa.func.count(Task.id))
        .where(Task.list_id == TaskList.id, Task.completed.is_(False))
        .correlate(TaskList)
        .scalar_subquery()
    )
    rows = session.execute(
        sa.select(TaskList, open_count)
        .where(TaskList.user_id == user_id)
        .order_by(TaskList.position, TaskList.created_at)
    )
    return [view(task_list, count) for task_list, count in rows]


def create_list(session: orm.Session, user_id: str, fields: ListCreate) -> TaskList:
    """Add a list at the end (or at its given position); at most MAX_LISTS per user."""
    count = session.scalar(sa.select(sa.func.count()).select_from(TaskList).where(TaskList.user_id == user_id)) or 0
    if count >= MAX_LISTS:
        raise ValidationFailed(f"At most {MAX_LISTS} lists.", errors={"name": "too many lists"})
    last = session.scalar(sa.select(sa.func.max(TaskList.position)).where(TaskList.user_id == user_id))
    now = utcnow()
    task_list = TaskList(
        id=new_id(),
        user_id=user_id,
        name=fields.name,
        color=fields.color,
        archived=False,
        position=fields.position if fields.position is not None else (last or 0) + 1,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(task_list)
    session.flush()
    _emit(session, events.LIST_CREATED, task_list)
    return task_list


def update_list(session: orm.Session, task_list: TaskList, fields: dict[str, Any]) -> None:
    """Rename, recolour, archive or move a list; emit list.updated with {field: {old, new}}."""
    changes = rows.apply_fields(session, task_list, view, fields)
    if changes:
        _emit(session, events.LIST_UPDATED, task_list, changes=changes.fields)


def delete_list(session: orm.Session, task_list: TaskList) -> int:
    """Delete a list with its tasks: one task.deleted per task, then list.deleted.

    The tasks go in one DELETE (their reminders by ON DELETE CASCADE, their series' instances
    elsewhere keep living with parent_id SET NULL), not one flush per task.
    """
    doomed = list(session.scalars(sa.select(Task).where(Task.list_id == task_list.id).with_for_update()))
    for task in doomed:
        add_event(session, deleted_event(task))
    _emit(session, events.LIST_DELETED, task_list, deleted=True, tasks_deleted=len(doomed))
    session.flush()
    session.execute(sa.delete(Task).where(Task.list_id == task_list.id).execution_options(synchronize_session=False))
    for task in doomed:
        session.expunge(task)
    session.delete(task_list)
    session.flush()
    return len(doomed)
