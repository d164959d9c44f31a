"""Recurrence and reminder routes under /api/<user_id>: thin adapters over functions.tasks.core.series."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify

from functions.tasks.api.tasks import check_if_match
from functions.tasks.core import series, tasks
from functions.tasks.schemas.series import OccurrenceDone, Skip, Skipped
from functions.tasks.schemas.tasks import (
    Occurrences,
    PendingReminders,
    Preview,
    RecurrenceSet,
    ReminderList,
    ReminderOut,
    ReminderSpec,
    Series,
    SeriesList,
)
from shared.concurrency.offload import offload
from shared.domain.errors import ValidationFailed
from shared.domain.recurrence import parse_rule
from shared.domain.times import BadValue, rfc3339
from shared.persistence.db import utcnow
from shared.services.snapshots import reminder_view
from shared.web.app import require_path_user, runtime
from shared.web.idempotency import idempotent
from shared.web.operations import operation
from shared.web.schemas import localize

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    from flask.typing import ResponseReturnValue
    from sqlalchemy import orm

    from shared.persistence.models import Task

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
@operation(body=RecurrenceSet, responses={200: Series}, if_match=True, summary="Make a task recur", tags=["recurrence"])
def set_recurrence(user_id: str, task_id: str, body: RecurrenceSet) -> ResponseReturnValue:
    """Make a task recur (RFC 5545 RRULE in its IANA timezone)."""
    rt = runtime()
    with rt.uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        now = utcnow()
        tz = body.timezone or task.timezone
        dtstart = body.dtstart
        if dtstart is None and tz == task.timezone and "DTSTART" not in body.recurrence_rule.upper():
            # A due date given in a DST gap keeps its wall-clock time, as on the create route.
            dtstart = series.due_wall(task)
        rule = series.parse_task_rule(body.recurrence_rule, tz, dtstart, task.due_date or now)
        series.set_recurrence(uow.session, task, rule, body.repeat_from, now)
        uow.commit()
    rt.wake("recurrence")
    return jsonify(series_view(task))


@bp.delete("/tasks/<task_id>/recurrence")
@operation(responses={204: None}, summary="Stop a task recurring", tags=["recurrence"])
def clear_recurrence(user_id: str, task_id: str) -> ResponseReturnValue:
    """Stop a task recurring (instances already spawned stay)."""
    with runtime().uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id, for_update=True)
        series.clear_recurrence(uow.session, task)
        uow.commit()
    return Response(status=204)


@bp.post("/tasks/<task_id>/skip")
@operation(
    body=Skip,
    body_required=False,
    responses={200: Skipped},
    if_match=True,
    summary="Skip one occurrence of a series (an instance, or the series' next or given occurrence)",
    tags=["recurrence"],
)
def skip(user_id: str, task_id: str, body: Skip) -> ResponseReturnValue:
    """Skip an occurrence for good: never spawned again, an EXDATE in the calendar feed."""
    return jsonify(_on_occurrence(user_id, task_id, body, series.skip_occurrence))


def _on_occurrence(
    user_id: str,
    task_id: str,
    body: Skip,
    act: Callable[[orm.Session, Task, dt.datetime | None, dt.datetime], dict[str, Any]],
) -> dict[str, Any]:
    """Skip or complete one occurrence (`occurrence_at` in the series' zone, default its next) and commit."""
    rt = runtime()
    with rt.uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id, for_update=True)
        check_if_match(task)
        occurrence = (
            None if body.occurrence_at is None else localize(body.occurrence_at, task.timezone, "occurrence_at")
        )
        result = act(uow.session, task, occurrence, utcnow())
        uow.commit()
    rt.wake("recurrence")
    rt.wake("reminders")
    return result


@bp.post("/tasks/<task_id>/complete-occurrence")
@operation(
    body=Skip,
    body_required=False,
    responses={200: OccurrenceDone},
    if_match=True,
    summary="Complete one occurrence of a series (its next, or the given one); the series moves on",
    tags=["recurrence"],
)
def complete_occurrence(user_id: str, task_id: str, body: Skip) -> ResponseReturnValue:
    """Tick a recurring task as Todoist does: that occurrence is done, the series stays open."""
    return jsonify(_on_occurrence(user_id, task_id, body, series.complete_occurrence))


@bp.get("/tasks/recurring")
@operation(responses={200: SeriesList}, summary="List recurring series", tags=["recurrence"])
def list_recurring(user_id: str) -> ResponseReturnValue:
    """List the user's recurring series with their next occurrence."""
    with runtime().uow() as uow:
        return jsonify(items=[series_view(t) for t in series.list_series(uow.session, user_id)])


@bp.post("/recurrence/preview")
@operation(body=Preview, responses={200: Occurrences}, summary="Preview a rule's occurrences", tags=["recurrence"])
def preview(user_id: str, body: Preview) -> ResponseReturnValue:
    """Expand any valid rule: the occurrences at or after `after` (default now), at most `count`."""
    tz = body.timezone
    after = utcnow() if body.after is None else localize(body.after, tz, "after")
    dtstart = None if body.dtstart is None else body.dtstart.isoformat()  # naive: wall-clock time in tz
    try:
        # RRULE expansion is CPU work: on the bounded thread pool, so the worker's sockets keep moving.
        rule = offload(parse_rule, body.recurrence_rule, tz, dtstart)
    except BadValue as exc:
        raise ValidationFailed("Some fields are invalid.", errors={"recurrence_rule": str(exc)}) from None
    return jsonify(occurrences=[rfc3339(o, tz) for o in offload(rule.occurrences, after, body.count)])


@bp.post("/tasks/<task_id>/reminders")
@operation(
    body=ReminderSpec,
    responses={201: ReminderOut, 200: ReminderOut},
    summary="Add a reminder (the same time twice answers 200 with the existing one)",
    tags=["reminders"],
)
@idempotent
def add_reminder(user_id: str, task_id: str, body: ReminderSpec) -> ResponseReturnValue:
    """Add a reminder at a time or some minutes before the due date (same time twice: 200)."""
    rt = runtime()
    with rt.uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id, for_update=True)
        reminder, created = series.add_reminder(uow.session, task, body, utcnow())
        uow.commit()
        view = reminder_view(reminder, task.timezone)
    if created:
        rt.wake("reminders")
    return jsonify(view), 201 if created else 200


@bp.get("/tasks/<task_id>/reminders")
@operation(responses={200: ReminderList}, summary="List a task's reminders", tags=["reminders"])
def list_reminders(user_id: str, task_id: str) -> ResponseReturnValue:
    """List a task's reminders, soonest first."""
    with runtime().uow() as uow:
        task = tasks.get_task(uow.session, user_id, task_id)
        return jsonify(items=[reminder_view(r, task.timezone) for r in task.reminders])


@bp.delete("/reminders/<id:reminder_id>")
@operation(responses={204: None}, summary="Remove a reminder", tags=["reminders"])
def delete_reminder(user_id: str, reminder_id: str) -> ResponseReturnValue:
    """Remove a reminder."""
    with runtime().uow() as uow:
        uow.session.delete(series.get_reminder(uow.session, user_id, reminder_id))
        uow.commit()
    return Response(status=204)


@bp.get("/reminders/pending")
@operation(responses={200: PendingReminders}, summary="Reminders still to fire, soonest first", tags=["reminders"])
def pending(user_id: str) -> ResponseReturnValue:
    """List reminders still to fire, soonest first, with their task's title."""
    with runtime().uow() as uow:
        rows = series.pending_reminders(uow.session, user_id)
        return jsonify(
            items=[
                {"id": r.id, "task_id": t.id, "task_title": t.title, "remind_at": rfc3339(r.remind_at, t.timezone)}
                for r, t in rows
            ]
        )
