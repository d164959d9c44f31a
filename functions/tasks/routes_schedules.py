"""Recurrence and reminder routes under /api/<user_id>: thin adapters over functions.tasks.schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify

from functions.tasks import schedules, service
from functions.tasks import validation as v
from functions.tasks.routes_tasks import check_if_match
from shared.cpu import offload
from shared.db import utcnow
from shared.idempotency import idempotent
from shared.recurrence import parse_rule
from shared.snapshots import reminder_view
from shared.timeutil import parse_datetime, parse_timezone, rfc3339
from shared.web import require_path_user, runtime

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from shared.models import Task

bp = Blueprint("schedules", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)


def series_view(task: Task) -> dict[str, Any]:  # Any: a JSON object
    return {
        "id": task.id,
        "title": task.title,
        "recurrence_rule": task.recurrence_rule,
        "timezone": task.timezone,
        "repeat_from": task.repeat_from,
        "next_occurrence": rfc3339(task.next_occurrence, task.timezone),
    }


@bp.post("/tasks/<task_id>/recurrence")
def set_recurrence(user_id: str, task_id: str) -> ResponseReturnValue:
    """Make a task recur (RFC 5545 RRULE in its IANA timezone)."""
    body = v.json_body({"recurrence_rule", "timezone", "dtstart", "repeat_from"})
    rt = runtime()
    with rt.uow() as uow:
        task = service.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        now = utcnow()
        rule, repeat = v.parse_task_rule(body, task.timezone, task.due_date or now)
        schedules.set_recurrence(uow.session, task, rule, repeat, now)
        uow.commit()
    rt.wake("recurrence")
    return jsonify(series_view(task))


@bp.delete("/tasks/<task_id>/recurrence")
def clear_recurrence(user_id: str, task_id: str) -> ResponseReturnValue:
    """Stop a task recurring (instances already spawned stay)."""
    with runtime().uow() as uow:
        task = service.get_task(uow.session, user_id, task_id, for_update=True)
        schedules.clear_recurrence(uow.session, task)
        uow.commit()
    return Response(status=204)


@bp.get("/tasks/recurring")
def list_recurring(user_id: str) -> ResponseReturnValue:
    """List the user's recurring series with their next occurrence."""
    with runtime().uow() as uow:
        return jsonify(items=[series_view(t) for t in schedules.list_series(uow.session, user_id)])


@bp.post("/recurrence/preview")
def preview(user_id: str) -> ResponseReturnValue:
    """Expand any valid rule: the occurrences at or after `after` (default now), at most `count`."""
    body = v.json_body({"recurrence_rule", "dtstart", "timezone", "count", "after"})
    errors = v.FieldErrors()
    tz = errors.check("timezone", parse_timezone, body.get("timezone", "UTC"))
    count = errors.check("count", v.preview_count, body.get("count", 5))
    after = (
        errors.check("after", parse_datetime, body["after"], tz if isinstance(tz, str) else "UTC")
        if "after" in body
        else utcnow()
    )
    errors.raise_if_any()
    # RRULE expansion is CPU work: on the bounded thread pool, so the worker's sockets keep moving.
    rule = errors.check("recurrence_rule", offload, parse_rule, body.get("recurrence_rule"), tz, body.get("dtstart"))
    errors.raise_if_any()
    return jsonify(occurrences=[rfc3339(o, tz) for o in offload(rule.occurrences, after, count)])


@bp.post("/tasks/<task_id>/reminders")
@idempotent
def add_reminder(user_id: str, task_id: str) -> ResponseReturnValue:
    """Add a reminder at a time or some minutes before the due date (same time twice: 200)."""
    body = v.json_body({"remind_at", "minutes_before"})
    rt = runtime()
    with rt.uow() as uow:
        task = service.get_task(uow.session, user_id, task_id, for_update=True)
        errors = v.FieldErrors()
        spec = errors.check(next(iter(body), "remind_at"), v.reminder_spec, body, task.timezone)
        errors.raise_if_any()
        reminder, created = schedules.add_reminder(uow.session, task, spec, utcnow())
        uow.commit()
        view = reminder_view(reminder, task.timezone)
    if created:
        rt.wake("reminders")
    return jsonify(view), 201 if created else 200


@bp.get("/tasks/<task_id>/reminders")
def list_reminders(user_id: str, task_id: str) -> ResponseReturnValue:
    """List a task's reminders, soonest first."""
    with runtime().uow() as uow:
        task = service.get_task(uow.session, user_id, task_id)
        return jsonify(items=[reminder_view(r, task.timezone) for r in task.reminders])


@bp.delete("/reminders/<id:reminder_id>")
def delete_reminder(user_id: str, reminder_id: str) -> ResponseReturnValue:
    """Remove a reminder."""
    with runtime().uow() as uow:
        uow.session.delete(schedules.get_reminder(uow.session, user_id, reminder_id))
        uow.commit()
    return Response(status=204)


@bp.get("/reminders/pending")
def pending(user_id: str) -> ResponseReturnValue:
    """List reminders still to fire, soonest first, with their task's title."""
    with runtime().uow() as uow:
        rows = schedules.pending_reminders(uow.session, user_id)
        return jsonify(
            items=[
                {"id": r.id, "task_id": t.id, "task_title": t.title, "remind_at": rfc3339(r.remind_at, t.timezone)}
                for r, t in rows
            ]
        )
