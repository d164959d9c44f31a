"""Event history from the audit log: per user, per task, and a task rebuilt from its events."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from functions.tasks.schemas.tasks import EventList, EventPage, EventQuery, Replay, encode_row_cursor
from shared.domain.errors import NotFound
from shared.domain.times import rfc3339
from shared.persistence.models import EventLog
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

bp = Blueprint("history", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)

TASK_EVENTS = (
    "task.created",
    "task.updated",
    "task.completed",
    "task.uncompleted",
    "task.deleted",
    "recurring.spawned",
)


def event_view(row: EventLog) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "event_type": row.event_type,
        "aggregate_id": row.aggregate_id,
        "timestamp": rfc3339(row.timestamp),
        "correlation_id": row.correlation_id,
        "request_id": row.request_id,
        "client_ip": row.client_ip,
        "user_agent": row.user_agent,
        "data": row.data,
        "version": row.version,
    }


@bp.get("/events")
@operation(query=EventQuery, responses={200: EventPage}, summary="The user's events, oldest first", tags=["events"])
def list_events(user_id: str, query: EventQuery) -> ResponseReturnValue:
    """The user's events, oldest first, filtered and paginated by cursor."""
    event_type, aggregate_id, since, until = query.event_type, query.aggregate_id, query.since, query.until
    limit, after_id = query.limit, query.cursor
    stmt = sa.select(EventLog).where(EventLog.user_id == user_id)
    if event_type:
        stmt = stmt.where(EventLog.event_type == event_type)
    if aggregate_id:
        stmt = stmt.where(EventLog.aggregate_id == aggregate_id)
    if since:
        stmt = stmt.where(EventLog.timestamp >= since)
    if until:
        stmt = stmt.where(EventLog.timestamp < until)
    if after_id is not None:
        stmt = stmt.where(EventLog.id > after_id)
    with runtime().uow() as uow:
        rows = list(uow.session.scalars(stmt.order_by(EventLog.id).limit(limit + 1)))
    next_cursor = encode_row_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return jsonify(items=[event_view(r) for r in rows[:limit]], next_cursor=next_cursor)


def task_events(user_id: str, task_id: str) -> list[EventLog]:
    with runtime().uow() as uow:
        rows = list(
            uow.session.scalars(
                sa.select(EventLog)
                .where(EventLog.user_id == user_id, EventLog.aggregate_id == task_id)
                .order_by(EventLog.timestamp, EventLog.id)
            )
        )
    if not rows:
        raise NotFound("No such task.")
    return rows


@bp.get("/tasks/<task_id>/events")
@operation(responses={200: EventList}, summary="A task's events in order", tags=["events"])
def list_task_events(user_id: str, task_id: str) -> ResponseReturnValue:
    """A task's events in order (kept after the task is deleted)."""
    return jsonify(items=[event_view(r) for r in task_events(user_id, task_id)])


def replay(rows: list[EventLog]) -> dict[str, Any]:
    """Fold a task's events into its state: created/spawned start it, updates apply their changes."""
    state: dict[str, Any] | None = None
    for row in rows:
        if row.event_type not in TASK_EVENTS:
            continue  # reminder events are about the task but do not change it
        snapshot = {k: val for k, val in row.data.items() if k not in ("changes", "deleted", "series_id")}
        if row.event_type in ("task.created", "recurring.spawned") or state is None:
            state = snapshot
        elif row.event_type == "task.updated":
            state = {
                **state,
                **{f: c["new"] for f, c in row.data.get("changes", {}).items()},
                "version": snapshot["version"],
                "updated_at": snapshot["updated_at"],
            }
        else:
            state = {**state, **snapshot}
        if row.event_type == "task.deleted":
            return {"deleted": True, "task": state}
    if state is None:
        raise NotFound("No such task.")
    return state


@bp.get("/tasks/<task_id>/replay")
@operation(responses={200: Replay}, summary="The task rebuilt from its events", tags=["events"])
def replay_task(user_id: str, task_id: str) -> ResponseReturnValue:
    """The task as rebuilt from its events ({"deleted": true, "task": …} once deleted)."""
    return jsonify(replay(task_events(user_id, task_id)))
