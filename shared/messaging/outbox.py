"""Transactional outbox: write events with the change, relay them in order afterwards."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy import orm

from shared.concurrency.loops import Loop, RetryLater
from shared.domain.events import Event
from shared.messaging.stream import stream_head
from shared.messaging.transports import Transport
from shared.messaging.wakeups import STREAM_CHANNEL
from shared.observability import tracing
from shared.persistence.db import driver_autocommit, utcnow
from shared.persistence.models import ConsumerOffset, Outbox

log = logging.getLogger(__name__)

# One relay at a time across every replica keeps per-user order (PostgreSQL advisory lock key).
RELAY_LOCK_KEY = 0x7A5F10


def outbox_values(event: Event) -> dict[str, Any]:
    """The outbox row for an event, with the trace context of the change that wrote it."""
    return {
        "event_id": event.event_id,
        "topic": event.topic,
        "event_type": event.event_type,
        "user_id": event.user_id,
        "payload": event.to_dict(),
        "created_at": event.timestamp,
        "attempts": 0,
        "traceparent": event.traceparent or tracing.current_traceparent(),
    }


def add_event(session: orm.Session, event: Event) -> Event:
    """Stage an event in the caller's transaction; it is published only if that commits."""
    session.add(Outbox(**outbox_values(event)))
    return event


@functools.cache
def _row_and_event_statement(table: sa.Table, columns: tuple[str, ...]) -> sa.Insert:
    """Build once per table and column set: WITH new_row AS (INSERT INTO table …) INSERT INTO outbox …, all bound."""
    row = {key: sa.bindparam(f"r_{key}", type_=table.c[key].type) for key in columns}
    out = {
        c.key: sa.bindparam(f"o_{c.key}", type_=c.type)
        for c in Outbox.__table__.columns
        if c.key in _OUTBOX_INSERT_COLUMNS
    }
    new_row = sa.insert(table).values(row).cte("new_row")
    return sa.insert(Outbox.__table__).values(out).add_cte(new_row)


_OUTBOX_INSERT_COLUMNS = (
    "event_id",
    "topic",
    "event_type",
    "user_id",
    "payload",
    "created_at",
    "attempts",
    "traceparent",
)


def insert_with_event(
    engine: sa.Engine, table: sa.Table, values: dict[str, Any], event: Event, columns: tuple[str, ...]
) -> None:
    """Insert a new row ({column: value} of `columns`; the others take their defaults) and its event atomically.

    On PostgreSQL this is one prepared `WITH new_row AS (INSERT …) INSERT INTO outbox …` statement
    in autocommit, on the engine's autocommit companion: a single statement is atomic, and it costs
    one round trip instead of four (BEGIN, two INSERTs, COMMIT) on the hot path of task creation.
    Elsewhere (SQLite), the two inserts in one transaction.
    The caller wakes the relay after it returns (`Runtime.after_commit`).
    """
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.insert(table), [values])
            conn.execute(sa.insert(Outbox.__table__), [outbox_values(event)])
        return
    sql, json_params = _compiled_for_psycopg(table, columns, engine.dialect)
    params = {f"r_{key}": values[key] for key in columns}
    params.update({f"o_{k}": v for k, v in outbox_values(event).items()})
    for name in json_params:
        params[name] = Jsonb(params[name])
    # Straight on the pooled psycopg connection: SQLAlchemy's per-execute work (parameter processing,
    # result setup) was a fifth of the write path's CPU.
    with driver_autocommit(engine) as driver:
        driver.execute(sql, params, prepare=True)


@functools.cache
def _compiled_for_psycopg(
    table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect
) -> tuple[str, tuple[str, ...]]:
    """The insert as psycopg SQL (named parameters) and which parameters are JSON (wrapped as Jsonb)."""
    compiled = _row_and_event_statement(table, columns).compile(dialect=dialect)
    json_params = tuple(name for name, bind in compiled.binds.items() if isinstance(bind.type, sa.JSON))
    return str(compiled), json_params


class OutboxRelay:
    """Publish unpublished outbox rows, oldest first, and mark what went out."""

    def __init__(
        self,
        sessions: orm.sessionmaker[orm.Session],
        transport: Transport,
        batch_size: int = 500,
        on_published: Callable[[list[str]], object] | None = None,
        fence: Callable[[orm.Session], None] | None = None,
    ):
        self._sessions = sessions
        self._transport = transport
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._on_published = on_published
        #: Raises (a RetryLater) inside the batch's transaction when this process no longer leads.
        self._fence = fence
        self.busy = False

    @property
    def transport_name(self) -> str:
        return self._transport.name

    def relay_batch(self) -> tuple[int, bool, bool]:
        """Publish up to one batch; return (published, more_may_be_waiting, transport_failed).

        Published rows get the next positions of the event stream (`seq`) in the same
        transaction; one relay at a time (an advisory lock) makes positions follow commit order.
        """
        self.busy = False
        with self._lock, self._sessions() as session, session.begin():
            postgres = session.get_bind().dialect.name == "postgresql"
            if postgres:
                got = session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))).scalar()
                if not got:
                    self.busy = True  # another replica is relaying right now: try again shortly
                    return 0, False, False
            # The in-process stream needs no payload here (its consumers read the rows themselves):
            # not decoding 500 JSON documents a batch is most of that relay's cost.
            payload = Outbox.payload if getattr(self._transport, "needs_payload", True) else sa.null().label("payload")
            rows = session.execute(
                sa.select(Outbox.id, Outbox.event_id, Outbox.topic, Outbox.traceparent, payload)
                .where(Outbox.published_at.is_(None))
                .order_by(Outbox.id)
                .limit(self._batch_size)
            ).all()
            if not rows:
                return 0, False, False
            if self._fence is not None:
                self._fence(session)  # a leader that woke up after losing the lease publishes nothing
            sent = self._publish(rows)
            if sent:
                self._number(session, [r.id for r in rows[:sent]])
                if postgres:
                    session.execute(sa.select(sa.func.pg_notify(STREAM_CHANNEL, "")))
            if sent < len(rows):
                session.execute(
                    sa.update(Outbox)
                    .where(Outbox.id == rows[sent].id)
                    .values(attempts=Outbox.attempts + 1, last_error=f"{self._transport.name} publish failed")
                )
        if sent and self._on_published:
            self._on_published([r.topic for r in rows[:sent]])
        return sent, sent == len(rows) == self._batch_size, sent < len(rows)

    def _publish(self, rows: Sequence[Any]) -> int:  # Any: result rows (id, event_id, topic, traceparent, payload)
        """Hand the rows to the transport; a broker transport gets one traced publish per message.

        The in-process stream publishes nothing (its consumers read the rows, and their stored
        trace context, themselves), so it gets no publish spans.
        """
        if not getattr(self._transport, "needs_payload", True):
            return self._transport.publish([(r.topic, r.payload, r.traceparent) for r in rows])
        name = self._transport.name
        with tracing.publishing(name, [(r.event_id, r.topic, r.traceparent) for r in rows]) as spans:
            sent = self._transport.publish(
                [(r.topic, r.payload, tp) for r, tp in zip(rows, spans.traceparents, strict=True)]
            )
            spans.unsent(sent, f"{name} publish failed")
        return sent

    @staticmethod
    def _number(session: orm.Session, ids: list[int]) -> None:
        """Mark rows published and give them the next stream positions, in id order, in one statement."""
        base = stream_head(session)
        table = Outbox.__table__
        if ids[-1] - ids[0] == len(ids) - 1:  # contiguous ids (the usual case): plain arithmetic on a range
            session.execute(
                sa.update(table)
                .where(table.c.id.between(ids[0], ids[-1]))
                .values(seq=table.c.id + (base + 1 - ids[0]), published_at=utcnow())
            )
            return
        ranked = (
            sa.select(table.c.id.label("rid"), sa.func.row_number().over(order_by=table.c.id).label("rn"))
            .where(table.c.id.in_(ids))
            .subquery()
        )
        session.execute(
            sa.update(table).where(table.c.id == ranked.c.rid).values(seq=base + ranked.c.rn, published_at=utcnow())
        )

    def drain(self, max_batches: int = 1000) -> tuple[int, bool]:
        """Relay batches until nothing is left or the transport fails; return (published, failed)."""
        total = 0
        for _ in range(max_batches):
            sent, more, failed = self.relay_batch()
            total += sent
            if failed:
                return total, True
            if not more:
                break
        return total, False

    def pending(self) -> int:
        """Count the rows not published yet."""
        with self._sessions() as session:
            unpublished = sa.select(sa.func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))
            return session.scalar(unpublished) or 0

    def oldest_pending_age(self) -> float:
        """Seconds the oldest unpublished row has waited (0 when none waits)."""
        with self._sessions() as session:
            oldest = session.scalar(
                sa.select(Outbox.created_at).where(Outbox.published_at.is_(None)).order_by(Outbox.id).limit(1)
            )
        return max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0


def purge_published(session: orm.Session, cutoff: dt.datetime, batch_size: int = 5000) -> int:
    """Delete one bounded batch of rows published before `cutoff` that every stored consumer has read."""
    read_by_all = sa.select(sa.func.min(ConsumerOffset.position)).scalar_subquery()
    oldest = (
        sa.select(Outbox.id)
        .where(
            Outbox.published_at < cutoff,
            sa.or_(Outbox.seq.is_(None), Outbox.seq <= sa.func.coalesce(read_by_all, Outbox.seq)),
        )
        .order_by(Outbox.id)
        .limit(batch_size)
    )
    result = session.execute(sa.delete(Outbox).where(Outbox.id.in_(oldest)))
    return cast("sa.CursorResult[Any]", result).rowcount or 0


def relay_loop(relay: OutboxRelay, idle: float = 2.0) -> Loop:
    """Drain the outbox when woken (after each commit) and on an idle tick; back off while the transport is down."""

    def step() -> float | None:
        _, failed = relay.drain()
        if failed:
            raise RetryLater(f"{relay.transport_name} publish failed; rows wait in the outbox")
        if relay.busy:
            return 0.01  # another process holds the relay lock and may have missed our rows
        return None

    # Retried every second at most while the transport is down: when the broker is back the backlog goes
    # out (and the sockets catch up) within about a second, not after a 30 s back-off.
    return Loop("outbox-relay", step, idle=idle, max_backoff=1.0)
