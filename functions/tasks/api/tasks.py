"""The task routes under /api/<user_id>/tasks: thin adapters over functions.tasks.core.tasks."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request

from functions.tasks.api import versions
from functions.tasks.core import series, tasks
from functions.tasks.schemas.tasks import Completion, DueDate, TaskCreate, TaskOut, TaskPage, TaskQuery, TaskUpdate
from shared.domain import events
from shared.domain.errors import Unauthorized, ValidationFailed
from shared.messaging.outbox import insert_with_event
from shared.persistence.db import utcnow
from shared.services import preferences
from shared.web.app import require_path_user, runtime
from shared.web.idempotency import idempotent
from shared.web.operations import operation
from shared.web.schemas import localize

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from shared.domain.recurrence import Rule
    from shared.persistence.models import Task
    from shared.runtime.process import Runtime

bp = Blueprint("tasks", __name__, url_prefix="/api/<user_id>")


bp.before_request(require_path_user)


def task_response(task: Task, status: int = 200) -> Response:
    return versions.versioned_response(tasks.snapshot(task), task.version, status)


def check_if_match(task: Task) -> None:
    """Refuse a write based on a stale version of the task (If-Match, 412)."""
    versions.check_if_match(task.version, "task")


@bp.post("/tasks")
@operation(body=TaskCreate, responses={201: TaskOut}, summary="Create a task", tags=["tasks"])
@idempotent
def create(user_id: str, body: TaskCreate) -> ResponseReturnValue:
    """Create a task (optionally recurring, optionally with reminders)."""
    if {"recurrence_rule", "repeat_from", "reminders"} & body.model_fields_set or body.list_id is not None:
        return create_scheduled(user_id, body)
    rt = runtime()
    task = tasks.new_task(user_id, _fields_in_the_users_zone(rt, user_id, body))
    task.dtstart_wall = series.gap_wall(body.due_date, task.due_date, task.timezone)
    event = tasks.created_event(task)
    try:
        insert_with_event(rt.engine, rt.sessions, task, event)
    except sa.exc.IntegrityError:
        raise Unauthorized("This account no longer exists.") from None
    rt.after_commit()
    response = jsonify(event.data)
    response.status_code = 201
    response.set_etag(str(task.version))
    response.headers["Location"] = f"/api/{user_id}/tasks/{task.id}"
    return response


def _fields_in_the_users_zone(rt: Runtime, user_id: str, body: TaskCreate) -> dict[str, Any]:
    """The task's fields; without a `timezone`, the one in the user's preferences (set once, from the
    web app's first sign-in or PUT /preferences), else UTC. A wall-clock due date is read in it."""
    if "timezone" in body.model_fields_set:
        return body.given(body.timezone)
    tz = preferences.preferred_timezone(rt.engine, user_id)
    return {**body.given(tz), "timezone": tz}


def create_scheduled(user_id: str, body: TaskCreate) -> Response:
    """The general create path: the task, its rule and its reminders in one transaction."""
    rt = runtime()
    now = utcnow()
    task = tasks.new_task(user_id, _fields_in_the_users_zone(rt, user_id, body))
    rule: Rule | None = None
    if body.recurrence_rule is not None:
        # A wall-clock due date starts the series as given: one in a DST gap keeps its wall-clock time.
        wall = body.due_date if body.due_date is not None and body.due_date.tzinfo is None else None
        if "DTSTART" in body.recurrence_rule.upper():
            wall = None
        rule = series.parse_task_rule(body.recurrence_rule, task.timezone, wall, task.due_date or now)
    elif "repeat_from" in body.model_fields_set:
        raise ValidationFailed("repeat_from needs a recurrence_rule.", errors={"repeat_from": "needs recurrence_rule"})
    else:
        task.dtstart_wall = series.gap_wall(body.due_date, task.due_date, task.timezone)
    with rt.uow() as uow:
        tasks.check_list(uow.session, user_id, task.list_id)
        uow.session.add(task)
        uow.session.flush()
        if rule is not None:
            task.recurrence_rule, task.dtstart, task.repeat_from = rule.text, rule.dtstart, body.repeat_from
            task.dtstart_wall = rule.wall
            upcoming = rule.occurrences(now, 1)
            task.next_occurrence = upcoming[0] if upcoming else None
        for spec in body.reminders:
            series.add_reminder(uow.session, task, spec, now)
        uow.session.flush()
        tasks.emit(uow.session, events.TASK_CREATED, task)
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Unauthorized("This account no longer exists.") from None
        response = task_response(task, 201)
    response.headers["Location"] = f"/api/{user_id}/tasks/{task.id}"
    rt.wake("recurrence")
    rt.wake("reminders")
    return response


@bp.get("/tasks")
@operation(query=TaskQuery, responses={200: TaskPage}, summary="List tasks (newest first)", tags=["tasks"])
def list_(user_id: str, query: TaskQuery) -> ResponseReturnValue:
    """List tasks with filters and cursor pagination."""
    with runtime().uow() as uow:
        page, next_cursor = tasks.list_tasks(uow.session, user_id, query)
        return jsonify(items=[tasks.snapshot(t) for t in page], next_cursor=next_cursor)


@bp.get("/tasks/<id:task_id>")
@operation(responses={200: TaskOut, 304: None}, summary="Get a task (with its ETag)", tags=["tasks"])
def get(user_id: str, task_id: str) -> ResponseReturnValue:
    """Fetch one task with its ETag."""
    with runtime().uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id)
        response = task_response(task)
        return response.make_conditional(request)


@bp.put("/tasks/<id:task_id>")
@operation(body=TaskUpdate, responses={200: TaskOut}, if_match=True, summary="Change fields of a task", tags=["tasks"])
def update(user_id: str, task_id: str, body: TaskUpdate) -> ResponseReturnValue:
    """Change some fields of a task."""
    with runtime().uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        tasks.update_task(uow.session, task, body.given(task.timezone))
        if "due_date" in body.model_fields_set:
            _keep_gap_wall(task, body.due_date)
        uow.commit()
        return task_response(task)


@bp.delete("/tasks/<id:task_id>")
@operation(responses={204: None}, if_match=True, summary="Delete a task", tags=["tasks"])
def delete(user_id: str, task_id: str) -> ResponseReturnValue:
    """Delete a task (its reminders go with it)."""
    with runtime().uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        tasks.delete_task(uow.session, task)
        uow.commit()
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
    with runtime().uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        tasks.set_completed(uow.session, task, body.completed)
        uow.commit()
        return task_response(task)


@bp.put("/tasks/<task_id>/due-date")
@operation(body=DueDate, responses={200: TaskOut}, if_match=True, summary="Set or clear the due date", tags=["tasks"])
def set_due_date(user_id: str, task_id: str, body: DueDate) -> ResponseReturnValue:
    """Set or clear a task's due date."""
    with runtime().uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        due = None if body.due_date is None else localize(body.due_date, task.timezone, "due_date")
        tasks.update_task(uow.session, task, {"due_date": due})
        _keep_gap_wall(task, body.due_date)
        uow.commit()
        return task_response(task)


def _keep_gap_wall(task: Task, given: dt.datetime | None) -> None:
    """A plain task keeps the wall-clock time of a due date given in a DST gap (a series keeps its own start)."""
    if task.recurrence_rule is None:
        task.dtstart_wall = series.gap_wall(given, task.due_date, task.timezone)
