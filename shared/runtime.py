"""The objects one process owns: settings, engine, sessions, transport, relay, loops, metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from shared import cpu
from shared.consumer import ConsumerLoop
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.leader import Election, lease_for
from shared.loops import Loop
from shared.notify import STREAM_CHANNEL, Listener, LocalWake, wake_path
from shared.outbox import OutboxRelay, relay_loop
from shared.pipeline import Pipeline, stream_head
from shared.settings import Settings
from shared.transports import Transport, make_transport

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.probes import BrokerProbe

log = logging.getLogger(__name__)

L = TypeVar("L", bound=Loop)


class PipelineCollector:
    """Lag and open dead letters per in-process consumer, read when Prometheus scrapes."""

    def __init__(self, runtime: Runtime):
        self._rt = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "taskflow_consumer_lag_events", "Events a consumer has not read yet", labels=["consumer"]
        )
        dead = GaugeMetricFamily(
            "taskflow_consumer_dead_letters", "Parked events not replayed yet", labels=["consumer"]
        )
        pipeline = self._rt.pipeline
        if pipeline.consumers:
            try:
                head = stream_head(self._rt.sessions)
                parked = pipeline.open_dead_letters()
            except sa.exc.SQLAlchemyError:
                return
            for name, consumer in pipeline.consumers.items():
                consumer.position()
                lag.add_metric([name], consumer.lag(head))
                dead.add_metric([name], parked.get(name, 0))
        yield lag
        yield dead


class Metrics:
    """Prometheus collectors in a registry owned by the runtime (none at import time)."""

    # Set by shared.web._install_broker_gauge, and only when a broker is configured (transport != local).
    broker_probe: BrokerProbe

    def __init__(self, runtime: Runtime):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "taskflow_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "taskflow_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.published = Counter(
            "taskflow_outbox_published_total", "Events relayed to the transport", registry=self.registry
        )
        pending = Gauge("taskflow_outbox_pending", "Outbox rows not yet published", registry=self.registry)
        pending.set_function(runtime.pending_events)
        leader = Gauge("taskflow_leader", "1 in the process that runs the background loops", registry=self.registry)
        leader.set_function(lambda: float(runtime.is_leader))
        self.registry.register(PipelineCollector(runtime))


class Runtime:
    """Everything a function needs at run time, built once per process by create_app.

    Background loops run either here (`run_here`: the socket feed, one per worker) or once per
    deployment (`run_once`): in the combined app, `elect_leader()` makes the loops of the second
    kind run only in the process holding the leader lease, and move when it dies. A function
    deployed on its own (Knative) runs them in every replica, where claims and locks make that safe.
    """

    def __init__(self, settings: Settings, transport: Transport | None = None):
        self.settings = settings
        cpu.bound(settings.cpu_threads)
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
            else {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow}
        )
        self.engine: sa.Engine = make_engine(settings.database_url, **pool)
        self.sessions = make_sessionmaker(self.engine)
        self.postgres = self.engine.dialect.name == "postgresql"
        self.transport: Transport = transport or make_transport(settings)
        # Without LISTEN/NOTIFY (SQLite) loops also poll, briefly, for work another process added.
        self.poll_seconds = 1.0 if self.postgres else 0.2
        self.pipeline = Pipeline(self.sessions, idle=self.poll_seconds)
        self.metrics = Metrics(self)
        self.relay = OutboxRelay(self.sessions, self.transport, settings.relay_batch_size, on_published=self._published)
        self.relay_loop: Loop | None = None
        self.timers: dict[str, Loop] = {}
        self.consumers: list[ConsumerLoop] = []
        self.election: Election | None = None
        self.listener: Listener | None = None
        self.local_wake: LocalWake | None = None
        self._here: list[Loop] = []

    @property
    def is_leader(self) -> bool:
        return self.election.is_leader if self.election is not None else self.relay_loop is not None

    def uow(self) -> UnitOfWork:
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

    def _published(self, count: int) -> None:
        self.metrics.published.inc(count)
        self.pipeline.wake()

    # -- where loops run -----------------------------------------------------------------------
    def elect_leader(self) -> Election:
        """Run the once-per-deployment loops only in the process holding the leader lease."""
        if self.election is None:
            self.election = Election(lease_for(self.settings.database_url, self._libpq_url()))
            self.election.start()
        return self.election

    def run_once(self, loop: Loop) -> Loop:
        if self.election is not None:
            return self.election.add(loop)
        return self.run_here(loop)

    def run_here(self, loop: Loop) -> Loop:
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
            if self.election is not None:
                self.local_wake = LocalWake(wake_path(self.settings.database_url), self._wake_relay)
                self.run_once(self.local_wake.loop)
        return self.relay_loop

    def start_pipeline(self) -> None:
        """With the local transport, feed every subscriber from the event stream."""
        self.pipeline.start(self.run_once, self.run_here)
        self.listen()

    def add_timer(self, timer: L) -> L:
        self.timers[timer.name] = self.run_once(timer)
        return timer

    def add_consumer(self, consumer: ConsumerLoop, every_process: bool = False) -> ConsumerLoop:
        self.consumers.append(consumer)
        (self.run_here if every_process else self.run_once)(consumer.loop)
        return consumer

    def consumers_ready(self) -> bool:
        """Kafka consumers running in this process have joined their groups."""
        return all(c.ready.is_set() for c in self.consumers if c.loop.running)

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

    def database_ready(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def close(self) -> None:
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
        self.relay_loop = None
        self.transport.close()
        self.engine.dispose()
