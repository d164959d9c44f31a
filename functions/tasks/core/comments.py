"""Comments on a task: add, list, edit and delete them, each with its comment.* event.

A comment's events name its task as their aggregate (aggregate_id = the task's id), so the task's
history (GET …/tasks/{id}/events) shows them in order with the task's own; the comment's id is in
data.id. Deleting a task deletes its comments (ON DELETE CASCADE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.core import rows
from shared.domain import events
from shared.domain.errors import NotFound
from shared.domain.events import Event
from shared.domain.times import rfc3339
from shared.messaging.outbox import add_event
from shared.persistence.db import utcnow
from shared.persistence.models import Comment, Task, new_id

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

# -- what the routes call ----------------------------------------------------------------------


def index(rt: Runtime, user_id: str, task_id: str) -> list[dict[str, Any]]:
    """A task's comments, oldest first."""
    with rt.uow() as uow:
        rows.get_owned(uow.session, Task, user_id, task_id, "task")
        found = uow.session.scalars(
            sa.select(Comment).where(Comment.task_id == task_id).order_by(Comment.created_at, Comment.id)
        )
        return [view(c) for c in found]


def counts(rt: Runtime, user_id: str) -> dict[str, int]:
    """How many comments each of the user's commented tasks has ({task_id: n}; tasks with none left out)."""
    with rt.uow() as uow:
        found = uow.session.execute(
            sa.select(Comment.task_id, sa.func.count()).where(Comment.user_id == user_id).group_by(Comment.task_id)
        )
        return {task_id: n for task_id, n in found}


def add(rt: Runtime, user_id: str, task_id: str, text: str) -> dict[str, Any]:
    """Add a comment to one of the user's tasks."""
    with rt.uow() as uow:
        task = rows.get_owned(uow.session, Task, user_id, task_id, "task", for_update=True)
        comment = add_comment(uow.session, task, text)
        uow.commit()
        return view(comment)


def edit(rt: Runtime, user_id: str, comment_id: str, text: str) -> dict[str, Any]:
    """Change a comment's text (comment.updated with its old text; nothing when the text is the same)."""
    with rt.uow() as uow:
        comment = _owned(uow.session, user_id, comment_id)
        if comment.text != text:
            old = comment.text
            comment.text = text
            comment.version += 1
            comment.edited_at = utcnow()
            uow.session.flush()
            _emit(uow.session, events.COMMENT_UPDATED, comment, changes={"text": {"old": old, "new": text}})
        uow.commit()
        return view(comment)


def delete(rt: Runtime, user_id: str, comment_id: str) -> None:
    """Delete a comment (comment.deleted, with the comment as it was)."""
    with rt.uow() as uow:
        comment = _owned(uow.session, user_id, comment_id)
        _emit(uow.session, events.COMMENT_DELETED, comment, deleted=True)
        uow.session.delete(comment)
        uow.session.flush()
        uow.commit()


# -- the rules, in the caller's unit of work ---------------------------------------------------


def view(comment: Comment) -> dict[str, Any]:
    """The comment as the API and its events show it."""
    return {
        "id": comment.id,
        "task_id": comment.task_id,
        "text": comment.text,
        "version": comment.version,
        "created_at": rfc3339(comment.created_at),
        "edited_at": rfc3339(comment.edited_at),
    }


def add_comment(session: orm.Session, task: Task, text: str) -> Comment:
    """Add a comment to a task the caller loaded (its owner's), with comment.added; also what an import calls."""
    comment = Comment(
        id=new_id(), user_id=task.user_id, task_id=task.id, text=text, version=1, created_at=utcnow(), edited_at=None
    )
    session.add(comment)
    session.flush()
    _emit(session, events.COMMENT_ADDED, comment)
    return comment


def _emit(session: orm.Session, event_type: str, comment: Comment, **extra: Any) -> None:
    """Stage a comment event on its task's history: the comment as the API shows it, plus what the change adds."""
    add_event(
        session,
        Event(
            event_type=event_type,
            user_id=comment.user_id,
            aggregate_id=comment.task_id,
            data={**view(comment), **extra},
        ),
    )


def _owned(session: orm.Session, user_id: str, comment_id: str) -> Comment:
    """One of the user's comments, locked for a change (another user's is not found)."""
    found = session.scalars(
        sa.select(Comment).where(Comment.id == comment_id, Comment.user_id == user_id).with_for_update()
    ).one_or_none()
    if found is None:
        raise NotFound("No such comment.")
    return found
