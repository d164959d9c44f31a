"""Event history from the audit log: a user's events, a task's events, and a task rebuilt from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.schemas.history import EventQuery
from functions.tasks.schemas.paging import encode_row_cursor
from shared.domain import events
from shared.domain.errors import NotFound
from shared.domain.times import rfc3339
from shared.persistence.models import EventLog

if TYPE_CHECKING:
    from shared.runtime.process import Runtime

#: The events that change a task (reminder events are about a task but leave it as it is).
TASK_EVENTS = (
    events.TASK_CREATED,
    events.TASK_UPDATED,
    events.TASK_COMPLETED,
    events.TASK_UNCOMPLETED,
    events.TASK_DELETED,
    events.RECURRING_SPAWNED,
)


def page(rt: Runtime, user_id: str, query: EventQuery) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the user's events, oldest first, filtered, and the cursor of the next page (None: the last)."""
    stmt = sa.select(EventLog).where(EventLog.user_id == user_id)
    if query.event_type:
        stmt = stmt.where(EventLog.event_type == query.event_type)
    if query.aggregate_id:
        stmt = stmt.where(EventLog.aggregate_id == query.aggregate_id)
    if query.since:
        stmt = stmt.where(EventLog.timestamp >= query.since)
    if query.until:
        stmt = stmt.where(EventLog.timestamp < query.until)
    if query.cursor is not None:
        stmt = stmt.where(EventLog.id > query.cursor)
    limit = query.limit
    with rt.uow() as uow:
        found = list(uow.session.scalars(stmt.order_by(EventLog.id).limit(limit + 1)))
    next_cursor = encode_row_cursor(found[limit - 1].id) if len(found) > limit else None
    return [event_view(r) for r in found[:limit]], next_cursor


def of_task(rt: Runtime, user_id: str, task_id: str) -> list[dict[str, Any]]:
    """A task's events in order, as the API shows them (kept after the task is deleted)."""
    return [event_view(r) for r in _task_events(rt, user_id, task_id)]


def replay(rt: Runtime, user_id: str, task_id: str) -> dict[str, Any]:
    """The task rebuilt from its events ({"deleted": true, "task": …} once deleted)."""
    return fold(_task_events(rt, user_id, task_id))


def event_view(row: EventLog) -> dict[str, Any]:
    """An audit log row as the API shows it."""
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


def _task_events(rt: Runtime, user_id: str, task_id: str) -> list[EventLog]:
    """A task's audit log rows in order; none at all is a task that never was (404)."""
    with rt.uow() as uow:
        found = list(
            uow.session.scalars(
                sa.select(EventLog)
                .where(EventLog.user_id == user_id, EventLog.aggregate_id == task_id)
                .order_by(EventLog.timestamp, EventLog.id)
            )
        )
    if not found:
        raise NotFound("No such task.")
    return found


def fold(found: list[EventLog]) -> dict[str, Any]:
    """Fold a task's events into its state: created/spawned start it, updates apply their changes."""
    state: dict[str, Any] | None = None
    for row in found:
        if row.event_type not in TASK_EVENTS:
            continue  # reminder events are about the task but do not change it
        # Events written before all-day tasks existed had no all_day: their tasks were timed.
        snapshot = {
            "all_day": False,
            **{k: v for k, v in row.data.items() if k not in ("changes", "deleted", "series_id", "cascade")},
        }
        if row.event_type in (events.TASK_CREATED, events.RECURRING_SPAWNED) or state is None:
            state = snapshot
        elif row.event_type == events.TASK_UPDATED:
            state = {
                **state,
                **{f: c["new"] for f, c in row.data.get("changes", {}).items()},
                "version": snapshot["version"],
                "updated_at": snapshot["updated_at"],
            }
        else:
            state = {**state, **snapshot}
        if row.event_type == events.TASK_DELETED:
            return {"deleted": True, "task": state}
    if state is None:
        raise NotFound("No such task.")
    return state
