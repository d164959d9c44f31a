"""The objects one process owns: settings, engine, sessions, transport, relay, metrics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.outbox import OutboxRelay, RelayWorker
from shared.settings import Settings
from shared.timer import SweepTimer
from shared.transports import LocalBus, Transport, make_transport

if TYPE_CHECKING:
    from shared.consumer import ConsumerLoop

log = logging.getLogger(__name__)


class Metrics:
    """Prometheus collectors in a registry owned by the runtime (none at import time)."""

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


class Runtime:
    """Everything a function needs at run time, built once per process by create_app."""

    def __init__(self, settings: Settings, transport: Transport | None = None):
        self.settings = settings
        if settings.is_production and settings.database_url.startswith("sqlite"):
            log.warning(
                "PRODUCTION IS RUNNING ON SQLITE: data lives on this container's disk and is lost on "
                "every deploy or restart (Render's free tier has no persistent disk). Set DATABASE_URL "
                "to PostgreSQL.",
                extra={"database_url": settings.database_url},
            )
        self.engine: sa.Engine = make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.transport: Transport = transport or make_transport(settings)
        self.metrics = Metrics(self)
        self.relay = OutboxRelay(
            self.sessions, self.transport, settings.relay_batch_size, on_published=self.metrics.published.inc
        )
        self.relay_worker: RelayWorker | None = None
        self.timers: dict[str, SweepTimer] = {}
        self.consumers: list[ConsumerLoop] = []

    @property
    def bus(self) -> LocalBus | None:
        return self.transport if isinstance(self.transport, LocalBus) else None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, on_commit=self.after_commit)

    def after_commit(self) -> None:
        """Wake the relay right after a commit (best effort; the cron/timer catches the rest)."""
        if self.relay_worker is not None:
            self.relay_worker.wake()

    def start_relay(self) -> RelayWorker:
        if self.relay_worker is None:
            self.relay_worker = RelayWorker(self.relay).start()
        return self.relay_worker

    def add_timer(self, timer: SweepTimer) -> SweepTimer:
        self.timers[timer.name] = timer.start()
        return timer

    def add_consumer(self, loop: ConsumerLoop) -> ConsumerLoop:
        self.consumers.append(loop.start())
        return loop

    def wake(self, name: str) -> None:
        """Wake an in-process timer early (a rule or reminder changed); no-op where none runs."""
        timer = self.timers.get(name)
        if timer is not None:
            timer.wake()

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
        for timer in self.timers.values():
            timer.stop()
        self.timers.clear()
        for loop in self.consumers:
            loop.stop()
        self.consumers.clear()
        if self.relay_worker is not None:
            self.relay_worker.stop()
            self.relay_worker = None
        self.transport.close()
        self.engine.dispose()
