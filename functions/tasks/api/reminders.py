"""Reminder routes under /api/<user_id>: each parses, makes one call into functions.tasks.core.reminders, answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify

from functions.tasks.core import reminders
from functions.tasks.schemas.reminders import PendingReminders, ReminderList, ReminderOut, ReminderSpec
from shared.web.app import require_path_user, runtime
from shared.web.idempotency import idempotent
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("reminders", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)


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
    reminder, created = reminders.add(runtime(), user_id, task_id, body)
    return jsonify(reminder), 201 if created else 200


@bp.get("/tasks/<task_id>/reminders")
@operation(responses={200: ReminderList}, summary="List a task's reminders", tags=["reminders"])
def list_reminders(user_id: str, task_id: str) -> ResponseReturnValue:
    """List a task's reminders, soonest first."""
    return jsonify(items=reminders.of_task(runtime(), user_id, task_id))


@bp.delete("/reminders/<id:reminder_id>")
@operation(responses={204: None}, summary="Remove a reminder", tags=["reminders"])
def delete_reminder(user_id: str, reminder_id: str) -> ResponseReturnValue:
    """Remove a reminder."""
    reminders.remove(runtime(), user_id, reminder_id)
    return Response(status=204)


@bp.get("/reminders/pending")
@operation(responses={200: PendingReminders}, summary="Reminders still to fire, soonest first", tags=["reminders"])
def pending(user_id: str) -> ResponseReturnValue:
    """List reminders still to fire, soonest first, with their task's title."""
    return jsonify(items=reminders.pending(runtime(), user_id))
