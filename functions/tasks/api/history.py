"""Event history routes: each parses, makes one call into functions.tasks.core.history, answers."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from functions.tasks.core import history
from functions.tasks.schemas.history import EventList, EventPage, EventQuery, Replay
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

bp = Blueprint("history", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)


@bp.get("/events")
@operation(query=EventQuery, responses={200: EventPage}, summary="The user's events, oldest first", tags=["events"])
def list_events(user_id: str, query: EventQuery) -> ResponseReturnValue:
    """The user's events, oldest first, filtered and paginated by cursor."""
    items, next_cursor = history.page(runtime(), user_id, query)
    return jsonify(items=items, next_cursor=next_cursor)


@bp.get("/tasks/<task_id>/events")
@operation(responses={200: EventList}, summary="A task's events in order", tags=["events"])
def list_task_events(user_id: str, task_id: str) -> ResponseReturnValue:
    """A task's events in order (kept after the task is deleted)."""
    return jsonify(items=history.of_task(runtime(), user_id, task_id))


@bp.get("/tasks/<task_id>/replay")
@operation(responses={200: Replay}, summary="The task rebuilt from its events", tags=["events"])
def replay_task(user_id: str, task_id: str) -> ResponseReturnValue:
    """The task as rebuilt from its events ({"deleted": true, "task": …} once deleted)."""
    return jsonify(history.replay(runtime(), user_id, task_id))
