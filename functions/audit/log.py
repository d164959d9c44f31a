"""Write events to the audit log, each once (idempotent by event_id), and purge old ones."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import sqlite

from shared.domain import request_meta
from shared.domain.events import Event
from shared.persistence.db import utcnow
from shared.persistence.models import EventLog

if TYPE_CHECKING:
    import psycopg


def audit_row(event: Event) -> dict[str, Any]:  # Any: column values of one event_log row
    meta = event.metadata or {}
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "topic": event.topic,
        "user_id": event.user_id,
        "aggregate_id": event.aggregate_id,
        "timestamp": event.timestamp,
        "correlation_id": request_meta.bounded(event.correlation_id, 128),
        "request_id": request_meta.bounded(meta.get("request_id"), request_meta.MAX_REQUEST_ID),
        "client_ip": request_meta.clean_ip(meta.get("client_ip")),
        "user_agent": request_meta.bounded(meta.get("user_agent"), request_meta.MAX_USER_AGENT),
        "data": event.data,
        "version": event.version,
        "recorded_at": utcnow(),
    }


_COLUMNS = (
    "event_id",
    "event_type",
    "topic",
    "user_id",
    "aggregate_id",
    "timestamp",
    "correlation_id",
    "request_id",
    "client_ip",
    "user_agent",
    "data",
    "version",
    "recorded_at",
)
_PG_INSERT = (
    # Built once from the constant column names above; every value is a bound parameter.
    f"INSERT INTO event_log ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "  # noqa: S608
    "ON CONFLICT (event_id) DO NOTHING"
)


def record(session: orm.Session, events: Sequence[Event]) -> collections.Counter[str]:
    """Insert events not seen before; a redelivered event is a no-op. Return how many were new, per event type."""
    if not events:
        return collections.Counter()
    if session.get_bind().dialect.name == "postgresql":
        return _record_pg(session, events)
    insert = sqlite.insert
    stmt = (
        insert(EventLog.__table__)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(EventLog.__table__.c.event_type)
    )
    return collections.Counter(t for (t,) in session.connection().execute(stmt, [audit_row(e) for e in events]))


def _record_pg(session: orm.Session, events: Sequence[Event]) -> collections.Counter[str]:
    """psycopg's pipelined, prepared executemany: the ingest hot path (no giant VALUES list to build)."""
    from psycopg.types.json import Jsonb

    started = utcnow()
    rows = []
    for event in events:
        row = audit_row(event)
        row["data"] = Jsonb(row["data"])
        rows.append(tuple(row[c] for c in _COLUMNS))
    dbapi = cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)  # PostgreSQL here
    with dbapi.cursor() as cursor:
        cursor.executemany(_PG_INSERT, rows)
        added = max(cursor.rowcount, 0)
    if added == len(events):  # the usual case: every event is new
        return collections.Counter(e.event_type for e in events)
    if added == 0:
        return collections.Counter()
    # Some were redeliveries: the new rows are those this batch stamped (recorded_at from `started`).
    new = session.execute(
        sa.select(EventLog.event_type, sa.func.count())
        .where(EventLog.event_id.in_([e.event_id for e in events]), EventLog.recorded_at >= started)
        .group_by(EventLog.event_type)
    ).all()
    return collections.Counter({event_type: count for event_type, count in new})


def purge_older_than(session: orm.Session, cutoff: dt.datetime, batch_size: int = 5000) -> int:
    """Delete one bounded batch of events older than `cutoff`; return how many went."""
    oldest = sa.select(EventLog.id).where(EventLog.timestamp < cutoff).order_by(EventLog.id).limit(batch_size)
    result = cast("sa.CursorResult[Any]", session.execute(sa.delete(EventLog).where(EventLog.id.in_(oldest))))
    return result.rowcount or 0
