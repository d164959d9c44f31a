"""The event catalog and envelope (DESIGN.md "Event envelope")."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from shared.domain import request_meta

TASKS_TOPIC = "tasks.events"
REMINDERS_TOPIC = "reminders.events"

TASK_CREATED = "task.created"
TASK_UPDATED = "task.updated"
TASK_COMPLETED = "task.completed"
TASK_UNCOMPLETED = "task.uncompleted"
TASK_DELETED = "task.deleted"
RECURRING_SPAWNED = "recurring.spawned"
LIST_CREATED = "list.created"
LIST_UPDATED = "list.updated"
LIST_DELETED = "list.deleted"
SECTION_CREATED = "section.created"
SECTION_UPDATED = "section.updated"
SECTION_DELETED = "section.deleted"
COMMENT_ADDED = "comment.added"
COMMENT_UPDATED = "comment.updated"
COMMENT_DELETED = "comment.deleted"
FILTER_CREATED = "filter.created"
FILTER_UPDATED = "filter.updated"
FILTER_DELETED = "filter.deleted"
REMINDER_TRIGGERED = "reminder.triggered"
REMINDER_MISSED = "reminder.missed"

#: One table: event type -> topic it is published on.
TOPIC_OF: dict[str, str] = {
    TASK_CREATED: TASKS_TOPIC,
    TASK_UPDATED: TASKS_TOPIC,
    TASK_COMPLETED: TASKS_TOPIC,
    TASK_UNCOMPLETED: TASKS_TOPIC,
    TASK_DELETED: TASKS_TOPIC,
    RECURRING_SPAWNED: TASKS_TOPIC,
    LIST_CREATED: TASKS_TOPIC,
    LIST_UPDATED: TASKS_TOPIC,
    LIST_DELETED: TASKS_TOPIC,
    SECTION_CREATED: TASKS_TOPIC,
    SECTION_UPDATED: TASKS_TOPIC,
    SECTION_DELETED: TASKS_TOPIC,
    COMMENT_ADDED: TASKS_TOPIC,
    COMMENT_UPDATED: TASKS_TOPIC,
    COMMENT_DELETED: TASKS_TOPIC,
    FILTER_CREATED: TASKS_TOPIC,
    FILTER_UPDATED: TASKS_TOPIC,
    FILTER_DELETED: TASKS_TOPIC,
    REMINDER_TRIGGERED: REMINDERS_TOPIC,
    REMINDER_MISSED: REMINDERS_TOPIC,
}
TOPICS = (TASKS_TOPIC, REMINDERS_TOPIC)
CE_SOURCE = "/taskflow"
ENVELOPE_VERSION = 1


class MalformedEvent(ValueError):
    """An envelope that cannot be handled, ever (DROP, never RETRY)."""


def iso(ts: dt.datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with milliseconds and a Z."""
    return ts.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _current_metadata() -> dict[str, str]:
    meta = request_meta.current()
    return meta.as_dict() if meta else {}


@dataclasses.dataclass(frozen=True)
class Event:
    """One domain event in the envelope every transport and consumer shares."""

    event_type: str
    user_id: str
    aggregate_id: str | None
    data: dict[str, Any]
    event_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    correlation_id: str = dataclasses.field(default_factory=lambda: request_meta.correlation_id() or str(uuid.uuid4()))
    metadata: dict[str, str] = dataclasses.field(default_factory=_current_metadata)
    version: int = ENVELOPE_VERSION
    #: The W3C trace context the event travelled with (outbox row, record header, CloudEvent
    #: extension); not part of the envelope, so it never changes what is stored or replayed.
    traceparent: str | None = dataclasses.field(default=None, compare=False, repr=False)
    #: The event stream position it was read at (the numbered outbox); None when it did not come from
    #: the stream. Like the trace context, not part of the envelope.
    seq: int | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def topic(self) -> str:
        return TOPIC_OF[self.event_type]

    def with_traceparent(self, traceparent: str | None) -> Event:
        """The same event, carrying another trace context."""
        return dataclasses.replace(self, traceparent=traceparent)

    def to_dict(self) -> dict[str, Any]:
        body = {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "user_id": self.user_id,
            "aggregate_id": self.aggregate_id,
            "timestamp": iso(self.timestamp),
            "correlation_id": self.correlation_id,
            "data": self.data,
            "version": self.version,
        }
        if self.metadata:
            body["metadata"] = self.metadata
        return body

    @classmethod
    def from_dict(cls, body: Any) -> Event:
        """Parse an envelope, refusing anything malformed with MalformedEvent."""
        if not isinstance(body, dict):
            raise MalformedEvent("envelope must be a JSON object")
        try:
            event_id = str(uuid.UUID(str(body["event_id"])))
            event_type = body["event_type"]
            user_id = body["user_id"]
            data = body.get("data") or {}
            ts = dt.datetime.fromisoformat(str(body["timestamp"]).replace("Z", "+00:00"))
        except (KeyError, ValueError, TypeError) as exc:
            raise MalformedEvent(f"bad envelope: {exc}") from exc
        if event_type not in TOPIC_OF:
            raise MalformedEvent(f"unknown event_type {event_type!r}")
        if not isinstance(user_id, str) or not user_id or len(user_id) > 36:
            raise MalformedEvent("bad user_id")
        if not isinstance(data, dict):
            raise MalformedEvent("data must be an object")
        if ts.tzinfo is None:
            raise MalformedEvent("timestamp needs an offset")
        aggregate_id = body.get("aggregate_id")
        if aggregate_id is not None and (not isinstance(aggregate_id, str) or len(aggregate_id) > 36):
            raise MalformedEvent("bad aggregate_id")
        metadata = body.get("metadata") or {}
        return cls(
            event_type=event_type,
            user_id=user_id,
            aggregate_id=aggregate_id,
            data=data,
            event_id=event_id,
            timestamp=ts,
            correlation_id=str(body.get("correlation_id") or event_id)[:128],
            metadata={str(k): str(v)[:512] for k, v in metadata.items()} if isinstance(metadata, dict) else {},
            version=int(body.get("version") or ENVELOPE_VERSION),
        )
