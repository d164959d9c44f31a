"""Write events to the audit log, each once (idempotent by event_id), and purge old ones."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from shared.db import utcnow
from shared.events import Event
from shared.models import EventLog


def audit_row(event: Event) -> dict:
    meta = event.metadata or {}
    return {
        "event_id": event.event_id, "event_type": event.event_type, "topic": event.topic,
        "user_id": event.user_id, "aggregate_id": event.aggregate_id, "timestamp": event.timestamp,
        "correlation_id": event.correlation_id, "request_id": meta.get("request_id"),
        "client_ip": meta.get("client_ip"), "user_agent": meta.get("user_agent"),
        "data": event.data, "version": event.version, "recorded_at": utcnow(),
    }


def record(session: orm.Session, events: Sequence[Event]) -> int:
    """Insert events not seen before; a redelivered event is a no-op. Return how many were new."""
    if not events:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(EventLog.__table__).on_conflict_do_nothing(index_elements=["event_id"]).returning(
        EventLog.__table__.c.event_id)
    return len(session.connection().execute(stmt, [audit_row(e) for e in events]).all())


def purge_older_than(session: orm.Session, cutoff: dt.datetime, batch_size: int = 5000) -> int:
    """Delete one bounded batch of events older than `cutoff`; return how many went."""
    oldest = sa.select(EventLog.id).where(EventLog.timestamp < cutoff).order_by(EventLog.id).limit(batch_size)
    result = session.execute(sa.delete(EventLog).where(EventLog.id.in_(oldest)))
    return result.rowcount or 0
