"""SQLAlchemy 2.0 typed models: users, tasks, reminders, outbox and event_log.

Models never open or commit sessions; the unit of work at the edge does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.db import UTCDateTime, utcnow

# SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def new_id() -> str:
    return str(uuid.uuid4())


class Base(orm.DeclarativeBase):
    # Every model maps one Table (no mapped joins or selects), which core insert() needs to know.
    __table__: ClassVar[sa.Table]
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Tokens and session cookies carry the generation they were issued in; "sign out everywhere" bumps it.
    session_generation: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


class FieldVersions:
    """Rows a PATCH merges into: `field_versions` notes the version at which each field last changed."""

    if TYPE_CHECKING:  # the mapped classes declare both columns; here only their types
        version: int
        field_versions: dict[str, int] | None

    def note_changed(self, fields: Iterable[str]) -> None:
        """Record that `fields` changed at the row's current (just bumped) version."""
        # A new dict, not an update in place: the JSON column sees assignments only.
        self.field_versions = {**(self.field_versions or {}), **dict.fromkeys(fields, self.version)}


class TaskList(FieldVersions, Base):
    """A list (Todoist's project): a named, coloured group of tasks; a task is in at most one."""

    __tablename__ = "lists"
    __table_args__ = (sa.Index("ix_lists_user_position", "user_id", "position"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    color: Mapped[str] = mapped_column(sa.String(7), default="#808080")
    archived: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    position: Mapped[float] = mapped_column(sa.Float, default=0.0)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    # {field: the version that last changed it}, as on tasks (PATCH merges by it).
    field_versions: Mapped[dict[str, int] | None] = mapped_column(Json)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Section(FieldVersions, Base):
    """A named part of a list (Todoist's section): its tasks show under it, in its position's order."""

    __tablename__ = "sections"
    __table_args__ = (sa.Index("ix_sections_list_position", "list_id", "position"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    list_id: Mapped[str] = mapped_column(sa.ForeignKey("lists.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    position: Mapped[float] = mapped_column(sa.Float, default=0.0)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    field_versions: Mapped[dict[str, int] | None] = mapped_column(Json)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    """A plain-text note on a task (never HTML): added, edited and deleted through the outbox like tasks."""

    __tablename__ = "comments"
    __table_args__ = (sa.Index("ix_comments_task_created", "task_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SavedFilter(FieldVersions, Base):
    """A saved query in the filter language, shown in the navigation as a view with its count."""

    __tablename__ = "filters"
    __table_args__ = (sa.Index("ix_filters_user_position", "user_id", "position"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    query: Mapped[str] = mapped_column(sa.String(1000))
    color: Mapped[str] = mapped_column(sa.String(7), default="#808080")
    position: Mapped[float] = mapped_column(sa.Float, default=0.0)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    field_versions: Mapped[dict[str, int] | None] = mapped_column(Json)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Task(FieldVersions, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        sa.UniqueConstraint("parent_id", "occurrence_at"),
        sa.Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        sa.Index("ix_tasks_user_due", "user_id", "due_date"),
        sa.Index("ix_tasks_list", "list_id"),
        sa.Index("ix_tasks_parent_task", "parent_task_id"),
        sa.Index("ix_tasks_section", "section_id"),
        sa.Index(  # the series the recurrence sweep may spawn for (a completed series spawns nothing)
            "ix_tasks_next_occurrence",
            "next_occurrence",
            postgresql_where=sa.text("next_occurrence IS NOT NULL AND completed = false"),
            sqlite_where=sa.text("next_occurrence IS NOT NULL AND completed = 0"),
        ),
        sa.CheckConstraint("repeat_from IN ('schedule', 'completion')", name="repeat_from"),
        sa.CheckConstraint("priority IN ('none', 'low', 'medium', 'high', 'urgent')", name="priority"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str | None] = mapped_column(sa.Text)
    completed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[str] = mapped_column(sa.String(10), default="none")
    tags: Mapped[list[str]] = mapped_column(Json, default=list)
    due_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A date-only due date (due that calendar day wherever the person is): due_date holds 00:00 UTC of the date.
    all_day: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    recurrence_rule: Mapped[str | None] = mapped_column(sa.String(1000))
    dtstart: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The series' wall-clock start when UTC cannot say it: a start in a spring-forward gap
    # (02:30 on the day 02:00 jumps to 03:00) is stored as 03:30's instant, but the series runs at 02:30.
    # A plain task keeps its due date's wall-clock time here too, for when it is made recurring.
    dtstart_wall: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=False))
    repeat_from: Mapped[str] = mapped_column(sa.String(10), default="schedule")
    next_occurrence: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    parent_id: Mapped[str | None] = mapped_column(sa.ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    occurrence_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The list it is in (deleting a list deletes its tasks, each with its task.deleted event).
    list_id: Mapped[str | None] = mapped_column(sa.ForeignKey("lists.id", ondelete="CASCADE"))
    # A sub-task's parent (same user, at most 4 deep; deleting the parent deletes it, through the rules).
    parent_task_id: Mapped[str | None] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    # The section of its list it sits in (null = the list's top; a deleted section's tasks move there).
    section_id: Mapped[str | None] = mapped_column(sa.ForeignKey("sections.id", ondelete="SET NULL"))
    # Manual order within a view (drag to reorder); null = after the ordered ones, by creation.
    position: Mapped[float | None] = mapped_column(sa.Float)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    # {field: the version that last changed it}; a field missing changed last at creation (version 1).
    # A PATCH based on version N conflicts on a field only when that field changed after N.
    field_versions: Mapped[dict[str, int] | None] = mapped_column(Json)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    reminders: Mapped[list[Reminder]] = orm.relationship(
        back_populates="task", cascade="all, delete-orphan", passive_deletes=True, order_by="Reminder.remind_at"
    )


class Reminder(Base):
    __tablename__ = "reminders"
    __table_args__ = (
        sa.UniqueConstraint("task_id", "remind_at"),
        sa.Index(
            "ix_reminders_pending",
            "remind_at",
            postgresql_where=sa.text("notified = false"),
            sqlite_where=sa.text("notified = 0"),
        ),
        sa.Index("ix_reminders_user", "user_id", "remind_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    task_id: Mapped[str] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    remind_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    minutes_before: Mapped[int | None] = mapped_column(sa.Integer)
    notified: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))  # triggered | missed | cancelled | passed (never rings)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task] = orm.relationship(back_populates="reminders")


class Outbox(Base):
    """One row per event, written in the same transaction as the change it describes."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        ),
        # The event stream's order: the relay numbers rows as it publishes them (commit order,
        # one relay at a time), so a reader at position N never misses a row committed later.
        sa.Index("ix_outbox_seq", "seq", unique=True),
        # A socket resuming with `since` reads its user's part of the stream.
        sa.Index(
            "ix_outbox_user_seq",
            "user_id",
            "seq",
            postgresql_where=sa.text("seq IS NOT NULL"),
            sqlite_where=sa.text("seq IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    topic: Mapped[str] = mapped_column(sa.String(100))
    event_type: Mapped[str] = mapped_column(sa.String(100))
    user_id: Mapped[str] = mapped_column(sa.String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    seq: Mapped[int | None] = mapped_column(BigId)
    # The W3C trace context of the change that wrote the event (shared/observability/tracing.py).
    traceparent: Mapped[str | None] = mapped_column(sa.String(128))


class ConsumerOffset(Base):
    """Where an in-process consumer has read the event stream up to (its stored position)."""

    __tablename__ = "consumer_offsets"

    consumer: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    position: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lease(Base):
    """A lease that expires (shared.runtime.leader): who holds it, its fencing token, until when (server clock)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    token: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DeadLetter(Base):
    """An event a consumer failed on after its retries: parked with the error, replayable."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        sa.UniqueConstraint("consumer", "event_id"),
        sa.Index(
            "ix_dead_letters_open",
            "consumer",
            "id",
            postgresql_where=sa.text("replayed_at IS NULL"),
            sqlite_where=sa.text("replayed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(sa.String(100))
    event_id: Mapped[str] = mapped_column(sa.String(36))
    seq: Mapped[int | None] = mapped_column(BigId)
    topic: Mapped[str] = mapped_column(sa.String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    error: Mapped[str] = mapped_column(sa.String(2000))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    replayed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class EventLog(Base):
    """The audit log: every event once, with the request metadata that caused it."""

    __tablename__ = "event_log"
    __table_args__ = (
        sa.Index("ix_event_log_user_id", "user_id", "id"),
        sa.Index("ix_event_log_aggregate", "aggregate_id", "id"),
        sa.Index("ix_event_log_timestamp", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    event_type: Mapped[str] = mapped_column(sa.String(100))
    topic: Mapped[str] = mapped_column(sa.String(100))
    user_id: Mapped[str] = mapped_column(sa.String(36))
    aggregate_id: Mapped[str | None] = mapped_column(sa.String(36))
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    correlation_id: Mapped[str | None] = mapped_column(sa.String(128))
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    client_ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(512))
    data: Mapped[dict[str, Any]] = mapped_column(Json)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Preferences(Base):
    """Per-user notification preferences (one row per user, created on first PUT)."""

    __tablename__ = "preferences"

    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email_reminders: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # The reminder quick add and the side panel offer first (minutes before the due date).
    default_reminder_minutes: Mapped[int | None] = mapped_column(sa.Integer)
    # "HH:MM" in `timezone`: when a relative reminder of an all-day task counts from (null: 09:00).
    all_day_reminder_time: Mapped[str | None] = mapped_column(sa.String(5))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (sa.Index("ix_webhook_endpoints_user", "user_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[str]] = mapped_column(Json, default=list)
    secret: Mapped[str] = mapped_column(sa.String(100))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500))
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One event to one channel (a webhook endpoint or the user's email), with its retry state."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("channel", "target_id", "event_id"),
        sa.Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_deliveries_target", "target_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(sa.String(10))  # webhook | email
    target_id: Mapped[str] = mapped_column(sa.String(36))  # endpoint id, or user id for email
    user_id: Mapped[str] = mapped_column(sa.String(36))
    event_id: Mapped[str] = mapped_column(sa.String(36))
    event_type: Mapped[str] = mapped_column(sa.String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")  # pending | succeeded | dead
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The trace context of the consumer that queued it: the webhook request joins the event's trace.
    traceparent: Mapped[str | None] = mapped_column(sa.String(128))


class IdempotencyKey(Base):
    """The first response to a creating request sent with an `Idempotency-Key`, kept until it expires.

    `status` is null while the first request runs; the fingerprint (method, path, body) tells
    a retry (same request: replay the response) from a key reused for another request (422).
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.Index("ix_idempotency_keys_expires_at", "expires_at"),)

    user_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int | None] = mapped_column(sa.Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CalendarFeed(Base):
    """A user's calendar subscription URL: only the token's SHA-256 is stored (one feed per user)."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The token is HMAC(server secret, seed): shown again on request; null for feeds made before 0012.
    seed: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class SkippedOccurrence(Base):
    """An occurrence of a series the user skipped (deleted its instance, or skipped it ahead).

    It is never spawned again, the series' next occurrence passes over it, and the calendar feed
    lists it as an EXDATE, so calendars show what TaskFlow shows.
    """

    __tablename__ = "skipped_occurrences"

    series_id: Mapped[str] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    occurrence_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
