"""The objects one process owns: settings, engine, sessions, transport, relay, loops, metrics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

import sqlalchemy as sa

from shared.concurrency import offload
from shared.concurrency.loops import Loop
from shared.messaging.fencing import Fencing
from shared.messaging.relay import OutboxRelay, relay_loop
from shared.messaging.stream import Pipeline
from shared.messaging.subscriptions import Subscription
from shared.messaging.transports import Transport, make_transport
from shared.messaging.wakeups import STREAM_CHANNEL, Listener, LocalWake, wake_path
from shared.persistence.db import UnitOfWork, autocommit_engine, dispose, make_engine, make_sessionmaker
from shared.runtime.leader import Election, application_name, lease_for
from shared.runtime.metrics import GroupLagCollector, Metrics, SharedStateCollector
from shared.settings import Settings, with_local_secret

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.messaging.group_lag import GroupLagReader


log = logging.getLogger(__name__)

L = TypeVar("L", bound=Loop)


class Consumer(Protocol):
    """A broker consumer the runtime runs and watches (shared.triggers.kafka_loop.ConsumerLoop)."""

    name: str
    group: str
    topics: list[str]
    loop: Loop
    ready: threading.Event
    on_lag: Callable[[str, int], None]
    on_dead_letter: Callable[[str], None]
    on_partitions: Callable[[str, int], None]
    assign_all: bool


C = TypeVar("C", bound=Consumer)


def _name_session(_dialect: object, _record: object, _args: object, params: dict[str, object]) -> None:
    params["application_name"] = application_name()


class Runtime:
    """Everything a function needs at run time, built once per process by create_app.

    Background loops run either here (`run_here`: the socket feed, one per worker) or once per
    deployment (`run_once`): in the combined app, `elect_leader()` makes the loops of the second
    kind run only in the process holding the leader lease, and move when it dies. A function
    deployed on its own (Knative) runs them in every replica, where claims and locks make that safe.
    """

    def __init__(self, settings: Settings, transport: Transport | None = None):
        settings = with_local_secret(settings)
        if settings.jwt_secret == Settings.jwt_secret:
            log.warning(
                "JWT_SECRET IS NOT SET: tokens are signed with the public default, so anyone can forge one. "
                "Set JWT_SECRET (only embedded mode on a SQLite file makes and keeps one by itself)."
            )
        self.settings = settings
        offload.bound(settings.cpu_threads)
        if settings.is_production and settings.database_url.startswith("sqlite"):
            log.warning(
                "PRODUCTION IS RUNNING ON SQLITE: data lives on this container's disk and is lost on "
                "every deploy or restart (Render's free tier has no persistent disk). Set DATABASE_URL "
                "to PostgreSQL.",
                extra={"database_url": settings.database_url},
            )
        pool = (
            {}
            if settings.database_url.startswith("sqlite")
            else {
                "pool_size": settings.db_pool_size,
                "max_overflow": settings.db_max_overflow,
                "autocommit_pool_size": settings.db_autocommit_pool_size,
            }
        )
        self.engine: sa.Engine = make_engine(settings.database_url, **pool)
        if not settings.database_url.startswith("sqlite"):
            # Named per process (at connect time, so after a fork too): a new leader ends a frozen one's sessions.
            sa.event.listen(self.engine, "do_connect", _name_session)
            if autocommit_engine(self.engine) is not self.engine:
                sa.event.listen(autocommit_engine(self.engine), "do_connect", _name_session)
        self.sessions = make_sessionmaker(self.engine)
        self.postgres = self.engine.dialect.name == "postgresql"
        self.transport: Transport = transport or make_transport(settings)
        # Without LISTEN/NOTIFY (SQLite) loops also poll, briefly, for work another process added.
        self.poll_seconds = 1.0 if self.postgres else 0.2
        self.metrics = Metrics()
        self.pipeline = Pipeline(
            self.sessions,
            idle=self.poll_seconds,
            on_dead_letter=self.metrics.count_dead_letter,
            fence=self.fence,
            fencing=self.fencing,
        )
        self.metrics.scraped.register(SharedStateCollector(self.pipeline, self.pending_events, self.oldest_pending_age))
        self.relay = OutboxRelay(
            self.sessions,
            self.transport,
            settings.relay_batch_size,
            on_published=self._published,
            fence=self.fence,
            fencing=self.fencing,
        )
        self.relay_loop: Loop | None = None
        self.timers: dict[str, Loop] = {}
        self.consumers: list[Consumer] = []
        #: Lag of the Kafka groups with a stored position, read from the broker in every worker.
        self.group_lag: GroupLagReader | None = None
        self.consumer_lag: dict[str, float] = {}
        self._lagging: dict[str, str] = {}  # group -> consumer name
        self._feeds: list[Consumer] = []
        self.election: Election | None = None
        self.listener: Listener | None = None
        self.local_wake: LocalWake | None = None
        self._here: list[Loop] = []

    @property
    def is_leader(self) -> bool:
        """True where the once-per-deployment loops run."""
        return self.election.is_leader if self.election is not None else self.relay_loop is not None

    def uow(self) -> UnitOfWork:
        """Open a unit of work that wakes the relay when it commits."""
        return UnitOfWork(self.sessions, on_commit=self.after_commit)

    def after_commit(self) -> None:
        """Wake the relay right after a commit: in this process when it runs here, else the leader's."""
        if self.relay_loop is not None and self.relay_loop.running:
            self.relay_loop.wake()
        elif self.local_wake is not None:
            self.local_wake.send()

    def _wake_relay(self) -> None:
        if self.relay_loop is not None:
            self.relay_loop.wake()

    def _published(self, topics: list[str]) -> None:
        for topic in set(topics):
            self.metrics.published.labels(topic).inc(topics.count(topic))
        self.pipeline.wake()

    # -- where loops run -----------------------------------------------------------------------
    def elect_leader(self) -> Election:
        """Run the once-per-deployment loops only in the process holding the leader lease."""
        if self.election is None:
            self.election = Election(lease_for(self.settings.database_url, self._libpq_url()))
            self.election.on_change = lambda leader: self.metrics.leader.set(float(leader))
            self.election.start()
        return self.election

    def fence(self, session: orm.Session) -> None:
        """In a transaction of once-per-deployment work: raise LostLeadership if another process leads now.

        A no-op where no leader is elected (a function deployed on its own: claims and locks suffice).
        """
        if self.election is not None:
            self.election.check(session)

    def fencing(self) -> Fencing | None:
        """`fence` for a statement to fold in: the lease's name and our token (None: nothing to check)."""
        return self.election.fencing() if self.election is not None else None

    def run_once(self, loop: Loop) -> Loop:
        """Run `loop` once per deployment: on the leader when one is elected, else here."""
        if self.election is not None:
            return self.election.add(loop)
        return self.run_here(loop)

    def run_here(self, loop: Loop) -> Loop:
        """Run `loop` in this process."""
        self._here.append(loop.start())
        return loop

    def listen(self) -> None:
        """Wake the stream readers when the relay (in another process) publishes (PostgreSQL)."""
        if self.listener is None and self.postgres:
            self.listener = Listener(self._libpq_url())
            self.listener.on(STREAM_CHANNEL, self.pipeline.wake)
            self.listener.start()

    def _libpq_url(self) -> str:
        """The database URL for a plain psycopg connection of its own (leader lease, LISTEN)."""
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def start_relay(self) -> Loop:
        """Run the relay (on the leader when elected; other workers wake it with a datagram)."""
        if self.relay_loop is None:
            self.relay_loop = self.run_once(relay_loop(self.relay, idle=self.poll_seconds))
            self.metrics.leader.set(float(self.is_leader))
            if self.election is not None:
                self.local_wake = LocalWake(wake_path(self.settings.database_url), self._wake_relay)
                self.run_once(self.local_wake.loop)
        return self.relay_loop

    def start_pipeline(self) -> None:
        """With the local transport, feed every subscriber from the event stream."""
        self.pipeline.start(self.run_once, self.run_here)
        for name in self.pipeline.consumers:
            self.metrics.dead_lettered.labels(name)
        self.listen()

    def follow(self, subscription: Subscription) -> None:
        """Feed a subscription of every worker from the event stream, here (any transport)."""
        self.pipeline.follow(subscription, self.run_here)
        self.listen()

    def add_timer(self, timer: L) -> L:
        """Run a sweep timer once per deployment; `wake(name)` hurries it."""
        self.timers[timer.name] = self.run_once(timer)
        return timer

    def add_consumer(self, consumer: C, every_process: bool = False) -> C:
        """Run a broker consumer (here in every process, or once per deployment) and count what it reports."""
        self.consumers.append(consumer)
        consumer.on_dead_letter = self.metrics.count_dead_letter
        consumer.on_partitions = self.metrics.record_partitions
        self.metrics.dead_lettered.labels(consumer.name)  # the series exists at 0 from the start
        self.metrics.record_partitions(consumer.name, 0)  # and so does ownership, 0 until it joins here
        if every_process:  # a group of this process alone: its own measure is the truth
            consumer.on_lag = self.metrics.record_lag
            self._feeds.append(consumer)
        else:
            self._watch_group_lag(consumer)
            # Under a leader lease the leader's consumer is the group's only one: it takes every
            # partition by assignment, so a leadership move hands over at once (no group rebalance to
            # wait for, nothing for a broker's group coordinator to wedge). Replicas deployed on their
            # own (Knative) share the partitions through the group.
            consumer.assign_all = self.election is not None
        (self.run_here if every_process else self.run_once)(consumer.loop)
        return consumer

    def _watch_group_lag(self, consumer: Consumer) -> None:
        """Export `consumer`'s group lag from every worker, read from the broker every 2 s."""
        from shared.messaging.group_lag import GroupLagReader

        self._lagging[consumer.group] = consumer.name
        self.consumer_lag.setdefault(consumer.name, float("nan"))
        if self.group_lag is None:
            self.group_lag = GroupLagReader(self.settings)
            self.metrics.scraped.register(GroupLagCollector(lambda: dict(self.consumer_lag)))
            self.run_here(Loop("consumer-lag", self._read_group_lag, idle=2.0, max_backoff=5.0))
        self.group_lag.watch(consumer.group, consumer.topics)

    def _read_group_lag(self) -> None:
        if self.group_lag is None:
            return
        for group, lag in self.group_lag.read().items():
            self.consumer_lag[self._lagging[group]] = float(lag)

    def feeds_joined(self) -> bool:
        """This process's own Kafka consumers (the socket feed) have joined their groups once since start."""
        return all(c.ready.is_set() for c in self._feeds)

    def wake(self, name: str) -> None:
        """Wake an in-process timer early (a rule or reminder changed); no-op where none runs."""
        timer = self.timers.get(name)
        if timer is not None:
            timer.wake()

    def delete_in_batches(self, delete_batch: Callable[[orm.Session], int]) -> int:
        """Run `delete_batch` in a transaction of its own until it deletes nothing; return the total.

        Retention sweeps delete in bounded batches so no transaction holds locks for long."""
        total = 0
        while True:
            with self.uow() as uow:
                deleted = delete_batch(uow.session)
                uow.commit()
            total += deleted
            if deleted == 0:
                return total

    def deliver_pending(self) -> None:
        """Relay everything and let every in-process consumer read it, in this thread (tests, CLI)."""
        self.relay.drain()
        self.pipeline.catch_up()

    # -- probes ----------------------------------------------------------------------------------
    def pending_events(self) -> float:
        """Outbox rows not yet published (NaN when the database cannot be reached, for the gauge)."""
        try:
            return float(self.relay.pending())
        except sa.exc.SQLAlchemyError:
            return float("nan")

    def oldest_pending_age(self) -> float:
        """Seconds the oldest unpublished outbox row has waited (0 when none; NaN without a database)."""
        try:
            return self.relay.oldest_pending_age()
        except sa.exc.SQLAlchemyError:
            return float("nan")

    def database_ready(self) -> bool:
        """True when the database answers a `SELECT 1`."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def close(self) -> None:
        """Stop every loop this process runs and release its connections."""
        if self.election is not None:
            self.election.stop()
        for loop in reversed(self._here):
            loop.stop()
        self._here.clear()
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        if self.local_wake is not None:
            self.local_wake.close()
            self.local_wake = None
        self.timers.clear()
        self.consumers.clear()
        if self.group_lag is not None:
            self.group_lag.close()
        self.relay_loop = None
        self.transport.close()
        dispose(self.engine)
