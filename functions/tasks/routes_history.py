"""Event history from the audit log: per user, per task, and a task rebuilt from its events."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from functions.tasks import validation as v
from shared.errors import NotFound
from shared.events import TOPIC_OF
from shared.models import EventLog
from shared.timeutil import BadValue, parse_datetime, rfc3339
from shared.web import require_path_user, runtime

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


def _event_type(value: str) -> str:
    if value not in TOPIC_OF:
        raise BadValue(f"must be one of {', '.join(TOPIC_OF)}")
    return value


def _cursor(value: str) -> int:
    try:
        row_id = int(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        raise BadValue("is not a cursor this API issued") from None
    if not 0 <= row_id < 2**63:  # a bigint column: anything else overflows the query
        raise BadValue("is not a cursor this API issued")
    return row_id


def _encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(str(row_id).encode()).decode().rstrip("=")


def _text(value: str) -> str:
    if len(value) > 64:
        raise BadValue("is too long")
    return value


@bp.get("/events")
def list_events(user_id: str) -> ResponseReturnValue:
    """The user's events, oldest first, filtered and paginated by cursor."""
    allowed = {"event_type", "aggregate_id", "since", "until", "limit", "cursor"}
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise v.ValidationFailed(
            "Unknown query parameters.", errors={k[:100]: "unknown parameter" for k in unknown[:20]}
        )
    errors = v.FieldErrors()
    args = request.args
    event_type = errors.check("event_type", _event_type, args["event_type"]) if "event_type" in args else None
    aggregate_id = errors.check("aggregate_id", _text, args["aggregate_id"]) if "aggregate_id" in args else None
    since = errors.check("since", parse_datetime, args["since"]) if "since" in args else None
    until = errors.check("until", parse_datetime, args["until"]) if "until" in args else None
    limit = errors.check("limit", v._query_limit, args["limit"]) if "limit" in args else 100
    after_id = errors.check("cursor", _cursor, args["cursor"]) if "cursor" in args else None
    errors.raise_if_any()
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
    next_cursor = _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
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
def replay_task(user_id: str, task_id: str) -> ResponseReturnValue:
    """The task as rebuilt from its events ({"deleted": true, "task": …} once deleted)."""
    return jsonify(replay(task_events(user_id, task_id)))
