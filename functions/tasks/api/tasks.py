"""The task routes under /api/<user_id>/tasks: each parses, makes one call into functions.tasks.core.tasks, answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify, request

from functions.tasks.api import versions
from functions.tasks.core import subtasks, tasks
from functions.tasks.schemas.tasks import (
    Completion,
    DueDate,
    SubtaskList,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskPatch,
    TaskQuery,
    TaskUpdate,
)
from shared.web.accounts import account_checked_by_the_view, deferred_account
from shared.web.app import require_path_user, runtime
from shared.web.idempotency import idempotent
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("tasks", __name__, url_prefix="/api/<user_id>")


bp.before_request(require_path_user)


@bp.post("/tasks")
@account_checked_by_the_view
@operation(body=TaskCreate, responses={201: TaskOut}, summary="Create a task", tags=["tasks"])
@idempotent
def create(user_id: str, body: TaskCreate) -> ResponseReturnValue:
    """Create a task (optionally recurring, optionally with reminders)."""
    task = tasks.create(runtime(), user_id, body, deferred_account())
    response = versions.versioned_response(task, 201)
    response.headers["Location"] = f"/api/{user_id}/tasks/{task['id']}"
    return response


@bp.get("/tasks")
@operation(query=TaskQuery, responses={200: TaskPage}, summary="List tasks (newest first)", tags=["tasks"])
def list_(user_id: str, query: TaskQuery) -> ResponseReturnValue:
    """List tasks with filters and cursor pagination."""
    items, next_cursor = tasks.page(runtime(), user_id, query)
    return jsonify(items=items, next_cursor=next_cursor)


@bp.get("/tasks/<id:task_id>")
@operation(responses={200: TaskOut, 304: None}, summary="Get a task (with its ETag)", tags=["tasks"])
def get(user_id: str, task_id: str) -> ResponseReturnValue:
    """Fetch one task with its ETag."""
    return versions.versioned_response(tasks.get(runtime(), user_id, task_id)).make_conditional(request)


@bp.put("/tasks/<id:task_id>")
@operation(body=TaskUpdate, responses={200: TaskOut}, if_match=True, summary="Change fields of a task", tags=["tasks"])
def update(user_id: str, task_id: str, body: TaskUpdate) -> ResponseReturnValue:
    """Change some fields of a task."""
    return versions.versioned_response(tasks.update(runtime(), user_id, task_id, body, versions.if_match("task")))


@bp.patch("/tasks/<id:task_id>")
@operation(
    body=TaskPatch,
    responses={200: TaskOut},
    problems=[409],
    summary="Change the fields a person changed, merged with changes made meanwhile (409 names conflicts)",
    tags=["tasks"],
)
def patch(user_id: str, task_id: str, body: TaskPatch) -> ResponseReturnValue:
    """Merge a person's changes from the version they started from."""
    return versions.versioned_response(tasks.merge(runtime(), user_id, task_id, body))


@bp.delete("/tasks/<id:task_id>")
@operation(responses={204: None}, if_match=True, summary="Delete a task", tags=["tasks"])
def delete(user_id: str, task_id: str) -> ResponseReturnValue:
    """Delete a task (its reminders go with it)."""
    tasks.delete(runtime(), user_id, task_id, versions.if_match("task"))
    return Response(status=204)


@bp.patch("/tasks/<task_id>/complete")
@operation(
    body=Completion,
    body_required=False,
    responses={200: TaskOut},
    if_match=True,
    summary="Complete or reopen a task (no body: complete)",
    tags=["tasks"],
)
def complete(user_id: str, task_id: str, body: Completion) -> ResponseReturnValue:
    """Mark a task completed (default) or not completed."""
    task = tasks.complete(runtime(), user_id, task_id, body.completed, versions.if_match("task"))
    return versions.versioned_response(task)


@bp.put("/tasks/<task_id>/due-date")
@operation(body=DueDate, responses={200: TaskOut}, if_match=True, summary="Set or clear the due date", tags=["tasks"])
def set_due_date(user_id: str, task_id: str, body: DueDate) -> ResponseReturnValue:
    """Set or clear a task's due date."""
    task = tasks.set_due_date(runtime(), user_id, task_id, body.due_date, versions.if_match("task"))
    return versions.versioned_response(task)


@bp.get("/tasks/<id:task_id>/subtasks")
@operation(
    responses={200: SubtaskList}, summary="A task's direct sub-tasks (manual order, then oldest first)", tags=["tasks"]
)
def list_subtasks(user_id: str, task_id: str) -> ResponseReturnValue:
    """List the direct sub-tasks of one of the user's tasks."""
    return jsonify(items=subtasks.children(runtime(), user_id, task_id))
