"""Recurrence routes under /api/<user_id>: each parses, makes one call into functions.tasks.core.series, answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify

from functions.tasks.api import versions
from functions.tasks.core import series
from functions.tasks.schemas.series import (
    OccurrenceDone,
    Occurrences,
    Preview,
    RecurrenceSet,
    Series,
    SeriesList,
    Skip,
    Skipped,
)
from shared.domain.times import rfc3339
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("recurrence", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)


@bp.post("/tasks/<task_id>/recurrence")
@operation(body=RecurrenceSet, responses={200: Series}, if_match=True, summary="Make a task recur", tags=["recurrence"])
def set_recurrence(user_id: str, task_id: str, body: RecurrenceSet) -> ResponseReturnValue:
    """Make a task recur (RFC 5545 RRULE in its IANA timezone)."""
    return jsonify(series.set_rule(runtime(), user_id, task_id, body, versions.if_match("task")))


@bp.delete("/tasks/<task_id>/recurrence")
@operation(responses={204: None}, summary="Stop a task recurring", tags=["recurrence"])
def clear_recurrence(user_id: str, task_id: str) -> ResponseReturnValue:
    """Stop a task recurring (instances already spawned stay)."""
    series.clear_rule(runtime(), user_id, task_id)
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
    return jsonify(series.skip(runtime(), user_id, task_id, body.occurrence_at, versions.if_match("task")))


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
    check = versions.if_match("task")
    return jsonify(series.complete_occurrence(runtime(), user_id, task_id, body.occurrence_at, check))


@bp.get("/tasks/recurring")
@operation(responses={200: SeriesList}, summary="List recurring series", tags=["recurrence"])
def list_recurring(user_id: str) -> ResponseReturnValue:
    """List the user's recurring series with their next occurrence."""
    return jsonify(items=series.list_recurring(runtime(), user_id))


@bp.post("/recurrence/preview")
@operation(body=Preview, responses={200: Occurrences}, summary="Preview a rule's occurrences", tags=["recurrence"])
def preview(user_id: str, body: Preview) -> ResponseReturnValue:
    """Expand any valid rule: the occurrences at or after `after` (default now), at most `count`."""
    return jsonify(occurrences=[rfc3339(o, body.timezone) for o in series.preview(body)])
