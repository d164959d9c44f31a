"""The in-process pipeline as a consumer group over the event stream (the numbered outbox).

The relay numbers each outbox row as it publishes it (`outbox.seq`), in commit order. Every
consumer then reads the stream on its own:

- a `StreamConsumer` (audit, notifications) runs once per deployment, on the leader, keeps its
  position in `consumer_offsets` (a restart resumes exactly there), handles events in batches,
  and when one event keeps failing it parks it in `dead_letters` with the error and moves on;
- a `StreamFollower` (the socket fan-out) runs in every worker, from the stream's head when it
  starts, and keeps no stored position: sockets resume with `since` instead.

No consumer waits for another, and none blocks the relay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import orm

from shared.concurrency.loops import Loop, RetryLater
from shared.domain.events import Event
from shared.messaging.fencing import Fencing, LeaseMovedOn, fence_params, psycopg_sql
from shared.messaging.stream_reads import StreamRow, parse, read_stream_after, read_stream_for, stream_head
from shared.messaging.subscriptions import BatchHandler, Subscription
from shared.observability import tracing
from shared.persistence.db import driver_autocommit, is_database_outage, utcnow
from shared.persistence.models import ConsumerOffset, DeadLetter

log = logging.getLogger(__name__)

T = TypeVar("T")


def is_outage(exc: BaseException) -> bool:
    """True when the failure is the database connection, not the event: retry, never dead-letter."""
    return isinstance(exc, RetryLater) or is_database_outage(exc)


def handle_traced(handle: BatchHandler, consumer: str, system: str, events: Sequence[Event]) -> object:
    """Call `handle` inside one consumer span per event, each a child of the context the event came with."""
    with tracing.consuming(consumer, system, events) as traced:
        return handle(traced)


def handle_with_retries(
    handle: BatchHandler,
    items: Sequence[tuple[T, Event]],
    *,
    name: str,
    max_attempts: int,
    retry_base: float,
    system: str = "taskflow-stream",
) -> list[tuple[T, str]]:
    """Handle a batch; if that fails (not an outage), each event alone with bounded retries and backoff.

    Returns the (item, error) pairs that still fail, for the caller to park (a dead-letter row, a
    `.dlq` record). An outage (the database away) is raised instead: it is not the events' fault.
    Every attempt is traced (`system` names the transport the events came through).
    """
    try:
        handle_traced(handle, name, system, [event for _, event in items])
        return []
    except Exception as exc:
        if is_outage(exc):
            raise
        log.warning("consumer batch failed; retrying event by event", extra={"consumer": name, "error": str(exc)[:500]})
    failed: list[tuple[T, str]] = []
    for item, event in items:
        error = ""
        for attempt in range(max_attempts):
            try:
                handle_traced(handle, name, system, [event])
                break
            except Exception as exc:
                if is_outage(exc):
                    raise
                error = f"{type(exc).__name__}: {exc}"
                if attempt + 1 < max_attempts:
                    time.sleep(retry_base * 2**attempt)
        else:
            failed.append((item, error))
    return failed


#: A consumer's position on PostgreSQL (`:fence`: the lease check, shared/messaging/fencing.py): no row
#: comes back when another process leads now.
_STORE_POSITION_PG = """
INSERT INTO consumer_offsets (consumer, position, updated_at)
SELECT :consumer, :position, :now WHERE :fence
ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
RETURNING 1
"""


class StreamConsumer:
    """One named consumer of the stream with a stored position, batches, retries and dead letters."""

    def __init__(
        self,
        sessions: orm.sessionmaker[orm.Session],
        name: str,
        topics: Sequence[str],
        handle: BatchHandler,
        *,
        batch_size: int = 500,
        max_attempts: int = 3,
        retry_base: float = 0.2,
        idle: float = 1.0,
        fence: Callable[[orm.Session], None] | None = None,
        fencing: Callable[[], Fencing | None] | None = None,
    ):
        self.name = name
        self.topics = tuple(topics)
        #: Raises inside the position's transaction when this process no longer leads (its loop only).
        self._fence = fence
        #: The same check for the position's statement to fold in on PostgreSQL (the lease and our token).
        self._fencing = fencing
        self._sessions = sessions
        self._handle = handle
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._retry_base = retry_base
        self._position: int | None = None
        #: Called with the consumer's name for each parked event (the runtime counts it in /metrics).
        self.on_dead_letter: Callable[[str], None] = lambda _name: None
        self.loop = Loop(f"consumer-{name}", self.step, idle=idle)

    # -- position -------------------------------------------------------------------------
    def position(self) -> int:
        """Return the stored position (read once, then kept in memory)."""
        if self._position is None:
            with self._sessions() as session:
                self._position = (
                    session.scalar(sa.select(ConsumerOffset.position).where(ConsumerOffset.consumer == self.name)) or 0
                )
        return self._position

    def _store_position(self, position: int, check_lease: bool) -> None:
        engine: sa.Engine = self._sessions.kw["bind"]
        if engine.dialect.name == "postgresql":
            self._store_position_pg(engine, position, check_lease)
            return
        with self._sessions.begin() as session:
            if self._fence is not None and check_lease:
                self._fence(session)  # a leader that woke up after losing the lease moves no position back
            result = session.execute(
                sa.update(ConsumerOffset)
                .where(ConsumerOffset.consumer == self.name)
                .values(position=position, updated_at=utcnow())
            )
            updated = cast("sa.CursorResult[Any]", result).rowcount
            if not updated:
                session.add(ConsumerOffset(consumer=self.name, position=position, updated_at=utcnow()))
        self._position = position

    def _store_position_pg(self, engine: sa.Engine, position: int, check_lease: bool) -> None:
        """One statement in autocommit, the lease check folded in (no session, no separate check)."""
        fenced, params = fence_params(self._fencing if check_lease else None)
        params.update(consumer=self.name, position=position, now=utcnow())
        with driver_autocommit(engine) as driver:
            stored = driver.execute(psycopg_sql(_STORE_POSITION_PG, fenced, engine.dialect), params, prepare=True)
            if stored.fetchone() is None:
                raise LeaseMovedOn(f"the leader lease moved on: consumer {self.name} keeps its position")
        self._position = position

    def lag(self, head: int) -> int:
        """Count the events between the last handled position and `head`."""
        return max(0, head - (self._position if self._position is not None else 0))

    # -- one step ---------------------------------------------------------------------------
    def step(self) -> float | None:
        """The loop's step: handle the next batch; 0 when more is waiting, None when caught up.

        Its position is stored only while this process holds the leader lease, when one is configured
        (also in a step that was under way as the loop was told to stop: the lease may have moved on).
        """
        return self._step(check_lease=True)

    def _step(self, check_lease: bool) -> float | None:
        rows = read_stream_after(self._sessions, self.position(), self._batch_size)
        if not rows:
            return None
        wanted = [r for r in rows if r.topic in self.topics]
        events, malformed = parse(wanted)
        for row, error in malformed:
            self._park(row, error, attempts=1)
        if events:
            for row, error in handle_with_retries(
                self._handle, events, name=self.name, max_attempts=self._max_attempts, retry_base=self._retry_base
            ):
                self._park(row, error, attempts=self._max_attempts)
        self._store_position(rows[-1].seq, check_lease)
        return 0.0 if len(rows) == self._batch_size else None

    def _park(self, row: StreamRow, error: str, attempts: int) -> None:
        self.on_dead_letter(self.name)
        log.error(
            "event parked in dead letters",
            extra={"consumer": self.name, "event_id": row.event_id, "seq": row.seq, "error": error[:500]},
        )
        with self._sessions.begin() as session:
            exists = session.scalar(
                sa.select(DeadLetter.id).where(DeadLetter.consumer == self.name, DeadLetter.event_id == row.event_id)
            )
            if exists is None:
                session.add(
                    DeadLetter(
                        consumer=self.name,
                        event_id=row.event_id[:36],
                        seq=row.seq,
                        topic=row.topic,
                        payload=row.payload,
                        error=error[:2000],
                        attempts=attempts,
                        created_at=utcnow(),
                    )
                )

    def replay(self, letter: DeadLetter) -> None:
        """Hand a parked event to the handler again (raises if it still fails)."""
        self._handle([Event.from_dict(letter.payload)])

    def catch_up(self, max_steps: int = 10_000) -> None:
        """Run steps in the caller's thread until the consumer has read the whole stream (tests, CLI: no
        lease check, like any work a person starts by hand)."""
        for _ in range(max_steps):
            if self._step(check_lease=False) is None:
                return


class StreamFollower:
    """Read the stream from its head as it grows and hand each batch on (every worker, no stored position)."""

    def __init__(
        self,
        sessions: orm.sessionmaker[orm.Session],
        name: str,
        handle: BatchHandler,
        *,
        batch_size: int = 1000,
        idle: float = 1.0,
        audience: Callable[[], Collection[str]] | None = None,
    ):
        self.name = name
        self._sessions = sessions
        self._handle = handle
        #: The users whose events this process hands on (None: everyone's); the rest is skipped unread.
        self._audience = audience
        self._batch_size = batch_size
        self.position: int | None = None
        self.loop = Loop(f"follower-{name}", self.step, idle=idle)

    def step(self) -> float | None:
        """Hand on the next batch from the position (the head at first); 0 when more is waiting, None when caught up."""
        if self.position is None:
            with self._sessions() as session:
                self.position = stream_head(session)
            return 0.0
        if self._audience is None:
            rows = read_stream_after(self._sessions, self.position, self._batch_size)
            last = rows[-1].seq if rows else None
        else:
            last, rows = read_stream_for(self._sessions, self.position, self._batch_size, self._audience)
        if last is None:
            return None
        full = last - self.position >= self._batch_size
        self.position = last
        if not rows:
            return 0.0 if full else None
        events, malformed = parse(rows)
        for row, error in malformed:
            log.warning("follower skipped a malformed event", extra={"seq": row.seq, "error": error})
        try:
            handle_traced(self._handle, self.name, "taskflow-stream", [e for _, e in events])
        except Exception:  # fan-out is best effort: a client that missed it resumes with `since`
            log.exception("follower handler failed", extra={"follower": self.name})
        return 0.0 if full else None


class Pipeline:
    """The subscriptions of one process and, with the local transport, the loops that feed them."""

    def __init__(
        self,
        sessions: orm.sessionmaker[orm.Session],
        *,
        idle: float = 1.0,
        on_dead_letter: Callable[[str], None] | None = None,
        fence: Callable[[orm.Session], None] | None = None,
        fencing: Callable[[], Fencing | None] | None = None,
    ):
        self._sessions = sessions
        self._idle = idle
        self._fence = fence
        self._fencing = fencing
        self._on_dead_letter = on_dead_letter
        self.subscriptions: list[Subscription] = []
        self.consumers: dict[str, StreamConsumer] = {}
        self.followers: dict[str, StreamFollower] = {}
        self._run_once: Callable[[Loop], Loop] | None = None
        self._run_here: Callable[[Loop], Loop] | None = None

    def subscribe(self, subscription: Subscription, **options: Any) -> Subscription:
        """Feed `subscription` from the stream: now when the pipeline runs, else from `start()`.

        `options` tune its StreamConsumer (`retry_base`, `max_attempts`, `batch_size`: tests).
        """
        self.subscriptions.append(subscription)
        if self._run_once is not None:
            self._attach(subscription, **options)
        return subscription

    def start(self, run_once: Callable[[Loop], Loop], run_here: Callable[[Loop], Loop]) -> None:
        """Start feeding every subscription from the stream: consumers on the leader, followers here."""
        self._run_once, self._run_here = run_once, run_here
        for sub in self.subscriptions:
            self._attach(sub)

    def _attach(self, sub: Subscription, **options: Any) -> None:
        if self._run_once is None or self._run_here is None:
            raise RuntimeError("Pipeline.start() attaches subscriptions; call it first")
        if sub.every_process:
            follower = StreamFollower(self._sessions, sub.name, sub.handle, idle=self._idle, audience=sub.audience)
            self.followers[sub.name] = follower
            self._run_here(follower.loop)
        else:
            consumer = StreamConsumer(
                self._sessions,
                sub.name,
                sub.topics,
                sub.handle,
                idle=self._idle,
                fence=self._fence,
                fencing=self._fencing,
                **options,
            )
            self._watch(consumer)
            self.consumers[sub.name] = consumer
            self._run_once(consumer.loop)

    def follow(self, sub: Subscription, run_here: Callable[[Loop], Loop]) -> StreamFollower:
        """Feed an every-process subscription from the stream whatever the transport (the sockets, with Kafka)."""
        follower = self.followers.get(sub.name)
        if follower is None:
            follower = StreamFollower(self._sessions, sub.name, sub.handle, idle=self._idle, audience=sub.audience)
            self.followers[sub.name] = follower
            run_here(follower.loop)
        return follower

    def wake(self) -> None:
        """Wake every running consumer and follower (the relay published)."""
        for consumer in self.consumers.values():
            consumer.loop.wake()
        for follower in self.followers.values():
            follower.loop.wake()

    def catch_up(self) -> None:
        """Run every consumer until it has read the whole stream, in this thread (tests, CLI)."""
        for sub in self.subscriptions:
            if not sub.every_process:
                self.consumer(sub.name).catch_up()

    def consumer(self, name: str) -> StreamConsumer:
        """Return the stored-position consumer called `name` (built on demand: tests, replays)."""
        if name not in self.consumers:
            sub = next((s for s in self.subscriptions if s.name == name and not s.every_process), None)
            if sub is None:
                raise KeyError(name)
            self.consumers[name] = self._watch(StreamConsumer(self._sessions, sub.name, sub.topics, sub.handle))
        return self.consumers[name]

    def _watch(self, consumer: StreamConsumer) -> StreamConsumer:
        if self._on_dead_letter is not None:
            consumer.on_dead_letter = self._on_dead_letter
        return consumer

    # -- dead letters -----------------------------------------------------------------------
    def dead_letters(
        self, consumer: str | None = None, include_replayed: bool = False, limit: int = 100
    ) -> list[DeadLetter]:
        """List parked events, oldest first (only the open ones unless `include_replayed`)."""
        with self._sessions() as session:
            query = sa.select(DeadLetter).order_by(DeadLetter.id).limit(limit)
            if consumer:
                query = query.where(DeadLetter.consumer == consumer)
            if not include_replayed:
                query = query.where(DeadLetter.replayed_at.is_(None))
            return list(session.scalars(query).all())

    def replay(self, letter_id: int) -> DeadLetter:
        """Apply a parked event through its consumer again; mark it replayed when that succeeds."""
        with self._sessions() as session:
            letter = session.get(DeadLetter, letter_id)
        if letter is None:
            raise LookupError(letter_id)
        if letter.replayed_at is None:
            self.consumer(letter.consumer).replay(letter)
            with self._sessions.begin() as session:
                session.execute(sa.update(DeadLetter).where(DeadLetter.id == letter_id).values(replayed_at=utcnow()))
            letter.replayed_at = utcnow()
        return letter

    def head(self) -> int:
        """The highest position in the stream (0 when empty)."""
        with self._sessions() as session:
            return stream_head(session)

    def stored_positions(self) -> dict[str, int]:
        """Each stored-position consumer's committed position, as any process reads it."""
        with self._sessions() as session:
            rows = session.execute(sa.select(ConsumerOffset.consumer, ConsumerOffset.position)).all()
        return {name: position for name, position in rows}

    def open_dead_letters(self) -> dict[str, int]:
        """Count the parked events not replayed yet, per consumer."""
        with self._sessions() as session:
            rows = session.execute(
                sa.select(DeadLetter.consumer, sa.func.count())
                .where(DeadLetter.replayed_at.is_(None))
                .group_by(DeadLetter.consumer)
            ).all()
        return {name: count for name, count in rows}
