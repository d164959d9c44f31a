"""Transactional outbox: write events with the change, relay them in order afterwards."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from shared.db import utcnow
from shared.events import Event
from shared.models import Outbox
from shared.transports import Transport

log = logging.getLogger(__name__)

# One relay at a time across every replica keeps per-user order (PostgreSQL advisory lock key).
RELAY_LOCK_KEY = 0x7A5F10


def outbox_values(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "topic": event.topic,
        "event_type": event.event_type,
        "user_id": event.user_id,
        "payload": event.to_dict(),
        "created_at": event.timestamp,
        "attempts": 0,
    }


def add_event(session: orm.Session, event: Event) -> Event:
    """Stage an event in the caller's transaction; it is published only if that commits."""
    session.add(Outbox(**outbox_values(event)))
    return event


@functools.cache
def _row_and_event_statement(table: sa.Table) -> sa.Insert:
    """Build once per table: WITH new_row AS (INSERT INTO table …) INSERT INTO outbox …, all bound."""
    row = {c.key: sa.bindparam(f"r_{c.key}", type_=c.type) for c in table.columns}
    out = {
        c.key: sa.bindparam(f"o_{c.key}", type_=c.type)
        for c in Outbox.__table__.columns
        if c.key in _OUTBOX_INSERT_COLUMNS
    }
    new_row = sa.insert(table).values(row).cte("new_row")
    return sa.insert(Outbox.__table__).values(out).add_cte(new_row)


_OUTBOX_INSERT_COLUMNS = ("event_id", "topic", "event_type", "user_id", "payload", "created_at", "attempts")


def insert_with_event(engine: sa.Engine, sessions: orm.sessionmaker[orm.Session], row: object, event: Event) -> None:
    """Insert a new, fully populated row and its event atomically.

    On PostgreSQL this is one prepared `WITH new_row AS (INSERT …) INSERT INTO outbox …` statement
    run in autocommit: a single statement is atomic, and it costs one round trip instead of four
    (BEGIN, two INSERTs, COMMIT) on the hot path of task creation. Elsewhere, one transaction.
    """
    if engine.dialect.name != "postgresql":
        with sessions.begin() as session:
            session.add(row)
            add_event(session, event)
        return
    table = sa.inspect(type(row)).local_table
    params = {f"r_{c.key}": getattr(row, c.key) for c in table.columns}
    params.update({f"o_{k}": v for k, v in outbox_values(event).items()})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(_row_and_event_statement(table), params)


class OutboxRelay:
    """Publish unpublished outbox rows, oldest first, and mark what went out."""

    def __init__(
        self,
        sessions: orm.sessionmaker[orm.Session],
        transport: Transport,
        batch_size: int = 500,
        on_published: Callable[[float], None] | None = None,
    ):
        self._sessions = sessions
        self._transport = transport
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._on_published = on_published
        self.busy = False

    def relay_batch(self) -> tuple[int, bool, bool]:
        """Publish up to one batch; return (published, more_may_be_waiting, transport_failed)."""
        self.busy = False
        with self._lock, self._sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                got = session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))).scalar()
                if not got:
                    self.busy = True  # another replica is relaying right now: try again shortly
                    return 0, False, False
            rows = session.execute(
                sa.select(Outbox.id, Outbox.topic, Outbox.payload)
                .where(Outbox.published_at.is_(None))
                .order_by(Outbox.id)
                .limit(self._batch_size)
            ).all()
            if not rows:
                return 0, False, False
            sent = self._transport.publish([(r.topic, r.payload) for r in rows])
            if sent:
                session.execute(
                    sa.update(Outbox).where(Outbox.id.in_([r.id for r in rows[:sent]])).values(published_at=utcnow())
                )
            if sent < len(rows):
                session.execute(
                    sa.update(Outbox)
                    .where(Outbox.id == rows[sent].id)
                    .values(attempts=Outbox.attempts + 1, last_error=f"{self._transport.name} publish failed")
                )
        if sent and self._on_published:
            self._on_published(sent)
        return sent, sent == len(rows) == self._batch_size, sent < len(rows)

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
        with self._sessions() as session:
            count = session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(Outbox.published_at.is_(None)))
            return count or 0


class RelayWorker:
    """Background thread: drain the outbox when woken (after each commit) and on an idle tick."""

    def __init__(self, relay: OutboxRelay, idle_seconds: float = 2.0, max_backoff: float = 30.0):
        self._relay = relay
        self._idle = idle_seconds
        self._max_backoff = max_backoff
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> RelayWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            if backoff:
                # The broker (or database) is down: retry on a growing timer, not on every commit.
                self._stop.wait(backoff)
            else:
                self._wake.wait(self._idle)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                _, failed = self._relay.drain()
                if self._relay.busy:
                    # Another process holds the relay lock and may have missed our rows: look again soon.
                    self._stop.wait(0.01)
                    self._wake.set()
            except Exception:  # the database may be down; keep the thread alive and back off
                log.exception("outbox relay failed")
                failed = True
            backoff = min(self._max_backoff, max(0.2, backoff * 2)) if failed else 0.0
