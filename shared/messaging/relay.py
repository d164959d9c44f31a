"""The outbox relay: publish unpublished outbox rows in order, and number them into the event stream."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy import orm

from shared.concurrency.loops import Loop, RetryLater
from shared.messaging import fencing
from shared.messaging.cloudevents import Outgoing
from shared.messaging.fencing import Fencing, LeaseMovedOn, psycopg_sql, statement
from shared.messaging.transports import Transport
from shared.messaging.wakeups import STREAM_CHANNEL
from shared.observability import tracing
from shared.persistence.db import driver_autocommit, utcnow
from shared.persistence.models import Outbox

log = logging.getLogger(__name__)

# One relay at a time across every replica keeps per-user order (PostgreSQL advisory lock key).
RELAY_LOCK_KEY = 0x7A5F10
#: The envelope fields a broker's headers and key carry, read with its stored text (_RELAY_PG names
#: the same ones in its SQL).
_HEADER_FIELDS = ("event_type", "user_id", "aggregate_id", "timestamp")


# -- the relay's statements on PostgreSQL (`:fence`: the lease check, shared/messaging/fencing.py) ---------
# The in-process stream: one statement, in autocommit, takes the relay lock, checks the lease, numbers
# the oldest unpublished rows after the stream's head and NOTIFYs the followers (sent at its commit).
# The lock is taken inside the statement, after its snapshot: a relay granted it just as another one
# committed reads a stale head, but the rows it locks FOR UPDATE are re-checked on their newest version
# and its positions then overlap the other's, so the unique index on `seq` refuses the whole statement
# (nothing numbered; `relay_batch` reports the relay busy and the next try reads afresh).
_NUMBER_UNPUBLISHED_PG = """
WITH relay_lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(:lock) AS got),
fence AS MATERIALIZED (SELECT :fence AS ok),
batch AS (
    SELECT id FROM outbox
    WHERE published_at IS NULL AND (SELECT got FROM relay_lock) AND (SELECT ok FROM fence)
    ORDER BY id LIMIT :limit
    FOR UPDATE
),
head AS (SELECT coalesce(max(seq), 0) AS seq FROM outbox),
numbered AS (
    UPDATE outbox SET seq = head.seq + ranked.rn, published_at = :now
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM batch) AS ranked, head
    WHERE outbox.id = ranked.id
    RETURNING outbox.topic
),
notified AS (SELECT pg_notify(:channel, '') FROM (SELECT 1 FROM numbered LIMIT 1) AS any_row)
SELECT relay_lock.got, fence.ok, counts.topic, counts.n, (SELECT count(*) FROM notified)
FROM relay_lock CROSS JOIN fence
LEFT JOIN (SELECT topic, count(*) AS n FROM numbered GROUP BY topic) AS counts ON true
"""

# A broker transport publishes before numbering (never mark what did not go out). On PostgreSQL the relay
# runs a pipeline on one connection in autocommit, each statement atomic on its own and checking the lease.
# The first statement takes the relay lock as a session lock (held until the run ends) and reads a batch.
# Each one after it numbers the rows the broker acknowledged (`:sent`: the next positions in id order; the
# NOTIFY goes as it commits) and reads the batch after the one in flight (ids `> :after`; a row committed
# late with a lower id waits for the next run, which starts from the oldest), so the next batch is ready
# when the broker has taken this one. `published_at IS NULL` keeps a row another relay numbered (our first
# statement read it just before our lock was granted) from being numbered twice: it was only published
# twice, which consumers absorb. The envelope is read as its JSON text and sent as it is (with the few
# fields its headers need), never decoded and encoded again; the text is made outside the batch's LIMIT,
# so only for the rows in it.
_RELAY_PG = """
WITH relay_lock AS MATERIALIZED (SELECT {lock} AS got),
fence AS MATERIALIZED (SELECT :fence AS ok),
ranked AS (
    SELECT id, row_number() OVER (ORDER BY id) AS rn FROM outbox
    WHERE id = ANY(CAST(:sent AS bigint[])) AND published_at IS NULL AND (SELECT ok FROM fence)
),
head AS (SELECT coalesce(max(seq), 0) AS seq FROM outbox),
numbered AS (
    UPDATE outbox SET seq = head.seq + ranked.rn, published_at = :now
    FROM ranked, head WHERE outbox.id = ranked.id
    RETURNING 1
),
notified AS (SELECT pg_notify(:channel, '') FROM (SELECT 1 FROM numbered LIMIT 1) AS any_row)
SELECT relay_lock.got, fence.ok, (SELECT count(*) FROM notified) AS notified,
       batch.id, batch.event_id, batch.topic, batch.traceparent,
       batch.payload::text AS data, batch.payload->>'event_type' AS event_type,
       batch.payload->>'user_id' AS user_id, batch.payload->>'aggregate_id' AS aggregate_id,
       batch.payload->>'timestamp' AS timestamp
FROM relay_lock CROSS JOIN fence
LEFT JOIN LATERAL (
    SELECT id, event_id, topic, traceparent, payload FROM outbox
    WHERE published_at IS NULL AND relay_lock.got AND fence.ok AND id > :after
    ORDER BY id LIMIT :limit
) AS batch ON true
ORDER BY batch.id
"""
_RELAY_FIRST_PG = _RELAY_PG.replace("{lock}", "pg_try_advisory_lock(:lock)")
_RELAY_NEXT_PG = _RELAY_PG.replace("{lock}", "true")  # the lock is ours until the run ends

#: The first row a broker refused waits with one more attempt counted (both databases).
_COUNT_ATTEMPT = "UPDATE outbox SET attempts = attempts + 1, last_error = :error WHERE id = :id"

# -- on SQLite (one writer at a time: no lock; no NOTIFY, the followers poll; the lease is a file lock) -----
_NUMBER_UNPUBLISHED_SQLITE = """
WITH batch AS (SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :limit),
ranked AS (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM batch),
head AS (SELECT coalesce(max(seq), 0) AS seq FROM outbox)
UPDATE outbox SET seq = head.seq + ranked.rn, published_at = :now
FROM ranked, head WHERE outbox.id = ranked.id
RETURNING outbox.topic
"""

_NUMBER_SENT_SQLITE = """
WITH ranked AS (
    SELECT id, row_number() OVER (ORDER BY id) AS rn FROM outbox WHERE id IN :ids AND published_at IS NULL
),
head AS (SELECT coalesce(max(seq), 0) AS seq FROM outbox)
UPDATE outbox SET seq = head.seq + ranked.rn, published_at = :now
FROM ranked, head WHERE outbox.id = ranked.id
"""


def _let_go(driver: Any) -> None:
    """Release the relay's session lock; a connection that cannot is closed (the pool then discards it), so
    the lock never stays behind on a pooled connection."""
    try:
        released = driver.execute("SELECT pg_advisory_unlock(%s)", (RELAY_LOCK_KEY,)).fetchone()[0]
    except Exception:
        driver.close()
        raise
    if not released:  # not held here after all (a failed first statement): nothing else to let go of
        log.debug("relay lock was not held on this connection")


class OutboxRelay:
    """Publish unpublished outbox rows, oldest first, and mark what went out."""

    def __init__(
        self,
        sessions: orm.sessionmaker[orm.Session],
        transport: Transport,
        batch_size: int = 500,
        on_published: Callable[[list[str]], object] | None = None,
        fence: Callable[[orm.Session], None] | None = None,
        fencing: Callable[[], Fencing | None] | None = None,
    ):
        if fence is not None and fencing is None:
            raise ValueError("a fenced relay needs `fencing` too: its PostgreSQL statements check the lease themselves")
        self._sessions = sessions
        self._transport = transport
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._on_published = on_published
        #: Raises (a RetryLater) inside the batch's transaction when this process no longer leads.
        self._fence = fence
        #: The same check for a statement to fold in (the lease's name and our token; None: none to check).
        self._fencing = fencing
        self.busy = False

    @property
    def transport_name(self) -> str:
        return self._transport.name

    @property
    def _refused(self) -> str:
        """Why a message the broker refused waits (its outbox row's last error, its span's status)."""
        return f"{self._transport.name} publish failed"

    def relay_batch(self) -> tuple[int, bool, bool]:
        """Publish up to one batch; return (published, more_may_be_waiting, transport_failed).

        Published rows get the next positions of the event stream (`seq`) as they are marked; one
        relay at a time (an advisory lock) makes positions follow commit order. A leader that woke up
        after losing its lease numbers nothing (the fencing token is checked in the statements themselves).
        """
        return self._relay(1)

    def drain(self, max_batches: int = 1000) -> tuple[int, bool]:
        """Relay batches until nothing is left or the transport fails; return (published, failed)."""
        published, _, failed = self._relay(max_batches)
        return published, failed

    def _relay(self, max_batches: int) -> tuple[int, bool, bool]:
        engine: sa.Engine = self._sessions.kw["bind"]
        broker = getattr(self._transport, "needs_payload", True)
        with self._lock:
            self.busy = False  # set by a statement that found another replica relaying
            if broker and engine.dialect.name == "postgresql":
                return self._pipeline(engine, max_batches)
            total, more = 0, False
            for _ in range(max_batches):
                if broker:
                    topics, claimed = self._publish_and_number_sqlite()
                else:
                    topics = self._number_unpublished(engine)
                    claimed = len(topics)
                sent = len(topics)
                total += sent
                if sent and self._on_published:
                    self._on_published(topics)
                if sent < claimed:
                    return total, False, True
                more = sent == self._batch_size
                if not more:
                    break
            return total, more, False

    def _may_go_on(self, got: bool, ok: bool) -> bool:
        """What a statement found: False when another replica holds the relay lock (this one is `busy` and
        tries again shortly); LeaseMovedOn when the lease moved on (it changed nothing)."""
        if not got:
            self.busy = True
            return False
        if not ok:
            raise LeaseMovedOn("the leader lease moved on: this process publishes and numbers nothing")
        return True

    # -- the in-process stream: numbering is publishing ----------------------------------------------
    def _number_unpublished(self, engine: sa.Engine) -> list[str]:
        """Number the oldest unpublished rows in one statement; return their topics (in no order)."""
        if engine.dialect.name != "postgresql":
            with self._sessions.begin() as session:
                if self._fence is not None:
                    self._fence(session)
                return list(
                    session.scalars(statement(_NUMBER_UNPUBLISHED_SQLITE), {"limit": self._batch_size, "now": utcnow()})
                )
        fenced, params = fencing.fence_params(self._fencing)
        params.update(lock=RELAY_LOCK_KEY, limit=self._batch_size, now=utcnow(), channel=STREAM_CHANNEL)
        try:
            with driver_autocommit(engine) as driver:
                sql = psycopg_sql(_NUMBER_UNPUBLISHED_PG, fenced, engine.dialect)
                rows = driver.execute(sql, params, prepare=True).fetchall()
        except sa.exc.IntegrityError:
            # Another relay committed positions between this statement's snapshot and its lock: nothing
            # was numbered; the next try reads the new head.
            self.busy = True
            return []
        if not self._may_go_on(got=rows[0][0], ok=rows[0][1]):
            return []
        return [row[2] for row in rows if row[2] is not None for _ in range(row[3])]

    # -- a broker on PostgreSQL: publish first, then number what went out, batches overlapping ------------
    def _pipeline(self, engine: sa.Engine, max_batches: int) -> tuple[int, bool, bool]:
        """Relay up to `max_batches` batches (see _RELAY_PG); return (published, more_may_be_waiting, failed).

        A batch is handed to the broker only once every message of the one before is acknowledged, so
        per-user order is what it is batch by batch; a failure leaves that batch's rest and everything
        after it waiting in the outbox. While a batch is handed over (the producer's work, in this
        thread), a helper thread numbers the one before it and reads the one after it (PostgreSQL's work).
        """
        fenced, fence_params = fencing.fence_params(self._fencing)
        step = functools.partial(self._step_pg, engine.dialect, fenced, fence_params)
        total, n, size = 0, 0, self._batch_size
        on_its_way: Callable[[], int] | None = None
        booked: Future[list[Any]] | None = None
        with driver_autocommit(engine) as driver, ThreadPoolExecutor(1, thread_name_prefix="relay") as helper:
            try:
                going = step(driver, _RELAY_FIRST_PG, (), (), size)
                acked: Sequence[Any] = ()  # on the broker, not numbered yet
                while going:
                    n += 1
                    read_on = n < max_batches and len(going) == size  # a short batch was the last one waiting
                    after: list[Any] = []
                    if acked or read_on:  # while `going` is handed over, a helper numbers `acked` and reads on
                        booked = helper.submit(step, driver, _RELAY_NEXT_PG, acked, going, size * read_on)
                        time.sleep(0)  # let the helper send its statement first (under gevent, a greenlet)
                    on_its_way = self._send(going)
                    if booked is not None:
                        after, booked = booked.result(), None
                    total += self._published(acked)
                    sent, on_its_way = on_its_way(), None
                    if sent < len(going):  # the broker failed: number what it took, the rest waits
                        if sent:
                            step(driver, _RELAY_NEXT_PG, going[:sent], (), 0)
                        sql = psycopg_sql(_COUNT_ATTEMPT, False, engine.dialect)
                        driver.execute(sql, {"error": self._refused, "id": going[sent].id})
                        return total + self._published(going[:sent]), False, True
                    acked, going = going, after
                if acked:
                    step(driver, _RELAY_NEXT_PG, acked, (), 0)
                    total += self._published(acked)
                return total, len(acked) == size and n >= max_batches, False
            finally:
                try:
                    if booked is not None:  # an error left the helper at work on this connection: let it end
                        booked.exception()
                    if on_its_way is not None:  # and a batch on its way: let it land (it is sent again)
                        on_its_way()
                finally:
                    if not self.busy:  # the lock is ours (or this connection is gone, and the lock with it)
                        _let_go(driver)

    def _published(self, rows: Sequence[Any]) -> int:
        if rows and self._on_published:
            self._on_published([r.topic for r in rows])
        return len(rows)

    def _step_pg(
        self,
        dialect: sa.Dialect,
        fenced: bool,
        fence_params: dict[str, Any],
        driver: Any,
        sql: str,
        sent: Sequence[Any],
        going: Sequence[Any],
        limit: int,
    ) -> list[Any]:
        """Number the rows `sent` and read up to `limit` rows after those `going` out, in one statement
        (see _RELAY_PG); return the rows read."""
        params = {
            "lock": RELAY_LOCK_KEY,
            "sent": [r.id for r in sent],
            "after": max((r.id for r in (*sent, *going)), default=0),
            "limit": limit,
            "now": utcnow(),
            "channel": STREAM_CHANNEL,
            **fence_params,
        }
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            rows = cursor.execute(psycopg_sql(sql, fenced, dialect), params, prepare=True).fetchall()
        if not self._may_go_on(got=rows[0].got, ok=rows[0].ok):
            return []
        return [r for r in rows if r.id is not None]

    def _send(self, rows: Sequence[Any]) -> Callable[[], int]:
        """Hand the claimed rows (id, event_id, topic, traceparent, data and the _HEADER_FIELDS) to the
        transport, one traced publish per message; the call returned waits for them (the spans end then)."""
        name = self._transport.name
        with contextlib.ExitStack() as stack:
            spans = stack.enter_context(tracing.publishing(name, [(r.event_id, r.topic, r.traceparent) for r in rows]))
            waiting = self._transport.send(
                [
                    Outgoing(
                        r.topic, r.data.encode(), r.event_id, r.event_type, r.user_id, r.aggregate_id, r.timestamp, tp
                    )
                    for r, tp in zip(rows, spans.traceparents, strict=True)
                ]
            )
            spans_open = stack.pop_all()  # handed over: the spans end when the batch lands

        def landed() -> int:
            with spans_open:
                sent = waiting()
                spans.unsent(sent, self._refused)
                return sent

        return landed

    # -- a broker on SQLite (one writer at a time): a batch per transaction ---------------------------------
    def _publish_and_number_sqlite(self) -> tuple[list[str], int]:
        """Claim a batch, publish it, number what went out, commit; return (topics sent, rows claimed)."""
        with self._sessions() as session, session.begin():
            rows = self._claim_sqlite(session)
            if not rows:
                return [], 0
            sent = self._send(rows)()
            if sent:
                ids = [r.id for r in rows[:sent]]
                session.execute(statement(_NUMBER_SENT_SQLITE), {"ids": ids, "now": utcnow()})
            if sent < len(rows):
                session.execute(statement(_COUNT_ATTEMPT), {"error": self._refused, "id": rows[sent].id})
        return [r.topic for r in rows[:sent]], len(rows)

    def _claim_sqlite(self, session: orm.Session) -> list[Any]:
        """SQLite (one writer at a time): the oldest unpublished rows, after the lease check."""
        rows = session.execute(
            sa.select(
                Outbox.id,
                Outbox.event_id,
                Outbox.topic,
                Outbox.traceparent,
                sa.type_coerce(Outbox.payload, sa.Text).label("data"),  # the stored JSON text, undecoded
                *(Outbox.payload[field].as_string().label(field) for field in _HEADER_FIELDS),
            )
            .where(Outbox.published_at.is_(None))
            .order_by(Outbox.id)
            .limit(self._batch_size)
        ).all()
        if rows and self._fence is not None:
            self._fence(session)  # a leader that woke up after losing the lease publishes nothing
        return list(rows)

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


def relay_loop(relay: OutboxRelay, idle: float = 2.0) -> Loop:
    """Drain the outbox when woken (after each commit) and on an idle tick; back off while the transport is down."""

    def step() -> float | None:
        _, failed = relay.drain()
        if failed:
            raise RetryLater(f"{relay.transport_name} publish failed; rows wait in the outbox")
        if relay.busy:
            return 0.1  # another process holds the relay lock (for its whole run) and may have missed our rows
        return None

    # Retried every second at most while the transport is down: when the broker is back the backlog goes
    # out (and the sockets catch up) within about a second, not after a 30 s back-off.
    return Loop("outbox-relay", step, idle=idle, max_backoff=1.0)
