"""Export everything of an account as one JSON document: user, preferences, lists, sections, tasks (with
their parent task, section and all-day), comments, reminders and saved filters."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.core.comments import view as comment_view
from functions.tasks.core.lists import view as list_view
from functions.tasks.core.sections import view as section_view
from shared.domain.times import rfc3339
from shared.persistence.db import utcnow
from shared.persistence.models import Comment, Preferences, Reminder, SavedFilter, Section, Task, TaskList, User
from shared.services.snapshots import NO_SUBTASKS, reminder_view, snapshot

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

VERSION = 1


def task_view(task: Task) -> dict[str, Any]:
    """A task as the import's events show it when created: the snapshot (no sub-tasks yet), parent and section."""
    return {**snapshot(task, NO_SUBTASKS), "parent_task_id": task.parent_task_id, "section_id": task.section_id}


def exported_task(task: Task) -> dict[str, Any]:
    """A task in the export: its fields, parent and section (the sub-task counts follow from `parent_task_id`)."""
    view = task_view(task)
    del view["subtasks"]
    return view


def export(rt: Runtime, user_id: str) -> dict[str, Any]:
    """The account's document (Any: JSON values)."""
    with rt.uow() as uow:
        return document(uow.session, user_id)


def document(session: orm.Session, user_id: str) -> dict[str, Any]:
    """Every row of the user, one list per kind, in a stable order."""
    user = session.get(User, user_id)
    prefs = session.get(Preferences, user_id)
    zones = {
        row.id: row.timezone
        for row in session.execute(sa.select(Task.id, Task.timezone).where(Task.user_id == user_id))
    }
    return {
        "version": VERSION,
        "exported_at": rfc3339(utcnow()),
        "user": {
            "id": user_id,
            "email": user.email if user else None,
            "timezone": user.timezone if user else None,
            "created_at": rfc3339(user.created_at) if user else None,
        },
        "preferences": _columns(prefs, skip=("user_id",)) if prefs is not None else None,
        "lists": [list_view(row) for row in _owned(session, TaskList, user_id, TaskList.position, TaskList.created_at)],
        "sections": [section_view(row) for row in _owned(session, Section, user_id, Section.list_id, Section.position)],
        "tasks": [exported_task(row) for row in _owned(session, Task, user_id, Task.created_at, Task.id)],
        "comments": [comment_view(row) for row in _owned(session, Comment, user_id, Comment.created_at, Comment.id)],
        "reminders": [
            {**reminder_view(row, zones.get(row.task_id, "UTC")), "created_at": rfc3339(row.created_at)}
            for row in _owned(session, Reminder, user_id, Reminder.remind_at, Reminder.id)
        ],
        "filters": [
            _columns(row, skip=("user_id", "field_versions"))
            for row in _owned(session, SavedFilter, user_id, SavedFilter.position, SavedFilter.id)
        ],
    }


def _owned(session: orm.Session, model: Any, user_id: str, *order: Any) -> Any:
    """The user's rows of one kind, read in batches (Any: a mapped class and its columns)."""
    return session.scalars(sa.select(model).where(model.user_id == user_id).order_by(*order)).yield_per(500)


def _columns(row: Any, skip: tuple[str, ...]) -> dict[str, Any]:
    """A row's columns as JSON values (times as RFC 3339). Any: a mapped row and its values."""
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        if column.key in skip:
            continue
        value = getattr(row, column.key)
        out[column.key] = rfc3339(value) if isinstance(value, dt.datetime) else value
    return out
