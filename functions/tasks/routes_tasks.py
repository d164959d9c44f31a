"""The task routes under /api/<user_id>/tasks: thin adapters over functions.tasks.service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request

from functions.tasks import schedules, service
from functions.tasks import validation as v
from shared import events
from shared.db import utcnow
from shared.errors import PreconditionFailed, Unauthorized
from shared.idempotency import idempotent
from shared.outbox import insert_with_event
from shared.web import require_path_user, runtime

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from shared.models import Task
    from shared.recurrence import Rule

bp = Blueprint("tasks", __name__, url_prefix="/api/<user_id>")


bp.before_request(require_path_user)


def task_response(task: Task, status: int = 200) -> Response:
    response = jsonify(service.snapshot(task))
    response.status_code = status
    response.set_etag(str(task.version))
    return response


def check_if_match(task: Task) -> None:
    """Refuse a write based on a stale version (If-Match, 412)."""
    if "If-Match" in request.headers:
        if not (request.if_match.star_tag or request.if_match.contains(str(task.version))):
            raise PreconditionFailed(
                f"The task is at version {task.version}; reload it and try again.",
                headers={"ETag": f'"{task.version}"'},
            )


@bp.post("/tasks")
@idempotent
def create(user_id: str) -> ResponseReturnValue:
    """Create a task (optionally recurring, optionally with reminders)."""
    body = v.json_body(v.TASK_FIELDS | {"recurrence_rule", "repeat_from", "reminders"})
    fields = v.task_fields({k: body[k] for k in v.TASK_FIELDS if k in body}, default_tz="UTC", require_title=True)
    if {"recurrence_rule", "repeat_from", "reminders"} & set(body):
        return create_scheduled(user_id, body, fields)
    rt = runtime()
    task = service.new_task(user_id, fields)
    event = service.created_event(task)
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


def create_scheduled(user_id: str, body: dict[str, Any], fields: v.TaskFields) -> Response:
    """The general create path: the task, its rule and its reminders in one transaction."""
    # Any (body): values of the client's JSON body.
    rt = runtime()
    now = utcnow()
    task = service.new_task(user_id, fields)
    rule: Rule | None
    repeat: str | None
    rule = repeat = None
    if "recurrence_rule" in body:
        rule_body: dict[str, Any] = {k: body[k] for k in ("recurrence_rule", "repeat_from") if k in body}
        if isinstance(body.get("due_date"), str) and "DTSTART" not in str(body["recurrence_rule"]).upper():
            rule_body["dtstart"] = body["due_date"]  # as given: a wall-clock due date keeps its wall-clock time
        rule, repeat = v.parse_task_rule(rule_body, task.timezone, task.due_date or now)
    elif "repeat_from" in body:
        raise v.ValidationFailed(
            "repeat_from needs a recurrence_rule.", errors={"repeat_from": "needs recurrence_rule"}
        )
    errors = v.FieldErrors()
    specs = errors.check("reminders", v.reminder_specs, body.get("reminders", []), task.timezone)
    errors.raise_if_any()
    with rt.uow() as uow:
        uow.session.add(task)
        uow.session.flush()
        if rule is not None:
            # repeat is set together with rule (parse_task_rule returns both).
            task.recurrence_rule, task.dtstart, task.repeat_from = rule.text, rule.dtstart, cast(str, repeat)
            task.dtstart_wall = rule.wall
            upcoming = rule.occurrences(now, 1)
            task.next_occurrence = upcoming[0] if upcoming else None
        for spec in specs:
            schedules.add_reminder(uow.session, task, spec, now)
        uow.session.flush()
        service.emit(uow.session, events.TASK_CREATED, task)
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
def list_(user_id: str) -> ResponseReturnValue:
    """List tasks with filters and cursor pagination."""
    query = v.task_query(request.args)
    with runtime().uow() as uow:
        tasks, next_cursor = service.list_tasks(uow.session, user_id, query)
        return jsonify(items=[service.snapshot(t) for t in tasks], next_cursor=next_cursor)


@bp.get("/tasks/<id:task_id>")
def get(user_id: str, task_id: str) -> ResponseReturnValue:
    """Fetch one task with its ETag."""
    with runtime().uow() as uow:
        task = service.get_task(uow.session, user_id, task_id)
        response = task_response(task)
        return response.make_conditional(request)


@bp.put("/tasks/<id:task_id>")
def update(user_id: str, task_id: str) -> ResponseReturnValue:
    """Change some fields of a task."""
    body = v.json_body(v.TASK_FIELDS)
    with runtime().uow() as uow:
        task = service.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        fields = v.task_fields(body, default_tz=task.timezone, require_title=False)
        service.update_task(uow.session, task, fields)
        uow.commit()
        return task_response(task)


@bp.delete("/tasks/<id:task_id>")
def delete(user_id: str, task_id: str) -> ResponseReturnValue:
    """Delete a task (its reminders go with it)."""
    with runtime().uow() as uow:
        task = service.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        service.delete_task(uow.session, task)
        uow.commit()
    return Response(status=204)


@bp.patch("/tasks/<task_id>/complete")
def complete(user_id: str, task_id: str) -> ResponseReturnValue:
    """Mark a task completed (default) or not completed."""
    body = v.json_body({"completed"}) if request.content_length else {}
    errors = v.FieldErrors()
    completed = errors.check("completed", v.boolean, body.get("completed", True))
    errors.raise_if_any()
    with runtime().uow() as uow:
        task = service.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        service.set_completed(uow.session, task, completed)
        uow.commit()
        return task_response(task)


@bp.put("/tasks/<task_id>/due-date")
def set_due_date(user_id: str, task_id: str) -> ResponseReturnValue:
    """Set or clear a task's due date."""
    body = v.json_body({"due_date"})
    if "due_date" not in body:
        raise v.ValidationFailed("Give due_date (a date-time, or null to clear it).", errors={"due_date": "required"})
    with runtime().uow() as uow:
        task = service.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        fields = v.task_fields({"due_date": body["due_date"]}, default_tz=task.timezone, require_title=False)
        service.update_task(uow.session, task, fields)
        uow.commit()
        return task_response(task)
