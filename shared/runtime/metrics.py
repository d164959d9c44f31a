"""Prometheus metrics of one process, and /metrics that is whole across gunicorn's workers.

Two kinds of metric. Instruments (counters, histograms, gauges a process sets) live in
`Metrics.registry`; with PROMETHEUS_MULTIPROC_DIR set (the combined app: gunicorn's master makes
the directory, render/gunicorn.conf.py) prometheus_client writes them to per-process files, and
`/metrics` merges every worker's files, dead workers' counters included. Values read from shared
state when Prometheus scrapes (outbox, stream positions, dead-letter rows, reminders, the broker)
are collectors in `Metrics.scraped`: any worker reads the same database, so they never go to files.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from shared.domain.events import TOPIC_OF, TOPICS

if TYPE_CHECKING:
    from shared.messaging.stream import Pipeline
    from shared.runtime.probes import BrokerProbe

#: prometheus_client's own switch; it reads it once, when first imported.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


class SharedStateCollector:
    """Outbox backlog, stream-consumer lag and parked rows: read from the database at scrape time.

    `pending()` and `oldest_pending_age()` answer NaN when the database cannot be reached.
    """

    def __init__(
        self, pipeline: Pipeline, pending: Callable[[], float], oldest_pending_age: Callable[[], float]
    ) -> None:
        self._pipeline = pipeline
        self._pending = pending
        self._oldest_pending_age = oldest_pending_age

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the outbox gauges, then lag and open dead letters per stored-position consumer."""
        yield GaugeMetricFamily("taskflow_outbox_pending", "Outbox rows not yet published", value=self._pending())
        yield GaugeMetricFamily(
            "taskflow_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox row not yet published (0 when none waits)",
            value=self._oldest_pending_age(),
        )
        lag = GaugeMetricFamily(
            "taskflow_consumer_lag_events", "Events a consumer has not read yet", labels=["consumer"]
        )
        dead = GaugeMetricFamily(
            "taskflow_consumer_dead_letters", "Parked events not replayed yet", labels=["consumer"]
        )
        pipeline = self._pipeline
        # Parked rows per stored-position consumer (0 with Kafka, whose consumers park in <topic>.dlq).
        stored = [s.name for s in pipeline.subscriptions if not s.every_process]
        if stored:
            try:
                parked = pipeline.open_dead_letters()
                positions = pipeline.stored_positions() if pipeline.consumers else {}
                head = pipeline.head() if pipeline.consumers else 0
            except sa.exc.SQLAlchemyError:
                parked = None
            if parked is not None:
                for name in stored:
                    dead.add_metric([name], parked.get(name, 0))
                # Committed positions, so a worker that does not run the consumers reports them too.
                for name in pipeline.consumers:
                    lag.add_metric([name], max(0, head - positions.get(name, 0)))
        yield lag
        yield dead


class GroupLagCollector:
    """`taskflow_consumer_lag_events` of the Kafka groups with a stored position, as the broker records them.

    Every process reads the same broker (shared.messaging.group_lag), so whichever worker answers,
    each group is there: NaN until first read, then the last value read (a broker outage keeps it).
    """

    def __init__(self, values: Callable[[], dict[str, float]]) -> None:
        self._values = values

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "taskflow_consumer_lag_events", "Events a consumer has not read yet", labels=["consumer"]
        )
        for name, value in sorted(self._values().items()):
            lag.add_metric([name], value)
        yield lag


class BrokerCollector:
    """`taskflow_broker_up`: 1 when the broker answered the probe's last check, 0 not, NaN not known yet."""

    def __init__(self, probe: BrokerProbe, transport: str) -> None:
        self._probe = probe
        self._transport = transport

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the broker's reachability, labelled with the transport."""
        up = GaugeMetricFamily("taskflow_broker_up", "Whether the event broker is reachable", labels=["transport"])
        up.add_metric([self._transport], self._probe.gauge_value())
        yield up


class Metrics:
    """Prometheus instruments and scrape-time collectors of one process (none at import time).

    The process registers what the collectors read (`scraped.register`, `watch_broker`): these
    metrics know nothing of the objects that own that state.
    """

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_DIR_ENV) or None
        # Set by `watch_broker` (shared.web.app), and only when a broker is configured (transport != local).
        self.broker_probe: BrokerProbe | None = None
        self.registry = CollectorRegistry()
        self.scraped = CollectorRegistry()
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
        # Label children bound once per (method, route, status): labels() takes a lock and checks its values.
        self._counted: dict[tuple[str, str, int], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}
        # The event pipeline. Label values known up front are created at start, so every series
        # exists (at 0) before its first event and rate() and absent() behave.
        self.published = Counter(
            "taskflow_events_published_total", "Events relayed to the transport", ["topic"], registry=self.registry
        )
        for topic in TOPICS:
            self.published.labels(topic)
        self.events_persisted = Counter(
            "taskflow_events_persisted_total",
            "Events written to the audit log for the first time",
            ["event_type"],
            registry=self.registry,
        )
        for event_type in TOPIC_OF:
            self.events_persisted.labels(event_type)
        # A Kafka consumer of every process (fanout) reports its own lag; the largest of the live
        # workers' values. Groups with a stored position are read from the broker (GroupLagCollector).
        self.kafka_lag = Gauge(
            "taskflow_consumer_lag_events",
            "Events a consumer has not read yet",
            ["consumer"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        # Set by each running Kafka consumer, 0 where none runs: 0 across live workers = nobody consumes.
        self.partitions = Gauge(
            "taskflow_consumer_partitions",
            "Partitions a Kafka consumer owns (the largest across live workers; 0 where none runs)",
            ["consumer"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.dead_lettered = Counter(
            "taskflow_consumer_dead_lettered",
            "Events a consumer gave up on since start (dead_letters row or <topic>.dlq record)",
            ["consumer"],
            registry=self.registry,
        )
        # Reminders (functions/reminders) and notifications (functions/notifications).
        self.reminders_fired = Counter(
            "taskflow_reminders_fired_total",
            "Due reminders handled, by outcome (triggered, missed: past the grace period, cancelled: task done)",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("triggered", "missed", "cancelled"):
            self.reminders_fired.labels(outcome)
        self.reminder_lag = Histogram(
            "taskflow_reminder_firing_lag_seconds",
            "How long after its remind_at a reminder fired",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600),
            registry=self.registry,
        )
        self.notifications_sent = Counter(
            "taskflow_notifications_sent_total",
            "Notification attempts, by channel and outcome (succeeded, retrying, dead)",
            ["channel", "status"],
            registry=self.registry,
        )
        self.notification_duration = Histogram(
            "taskflow_notification_delivery_duration_seconds",
            "Time one notification attempt took (the webhook request, the SMTP exchange)",
            ["channel"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
            registry=self.registry,
        )
        for channel in ("webhook", "email"):
            self.notification_duration.labels(channel)
            for status in ("succeeded", "retrying", "dead"):
                self.notifications_sent.labels(channel, status)
        # Set by the process when its leadership changes; across workers, 1 while a live one leads.
        self.leader = Gauge(
            "taskflow_leader",
            "1 in the process that runs the background loops (combined app: while a live worker does)",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.leader.set(0)

    def observe_request(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """Count one HTTP request (`taskflow_http_requests_total`) and observe its latency (None: not timed)."""
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self._counted[(method, route, status)] = self.requests.labels(method, route, str(status))
        counted.inc()
        if seconds is not None:
            timed = self._timed.get((method, route))
            if timed is None:
                timed = self._timed[(method, route)] = self.latency.labels(method, route)
            timed.observe(seconds)

    def watch_broker(self, probe: BrokerProbe, transport: str) -> None:
        """Report `probe` as `taskflow_broker_up` (and keep it for /health)."""
        self.broker_probe = probe
        self.scraped.register(BrokerCollector(probe, transport))

    def count_dead_letter(self, consumer: str) -> None:
        """Count one event `consumer` gave up on."""
        self.dead_lettered.labels(consumer).inc()

    def record_lag(self, consumer: str, lag: int) -> None:
        """Set the lag a Kafka consumer measured."""
        self.kafka_lag.labels(consumer).set(lag)

    def record_partitions(self, consumer: str, owned: int) -> None:
        """Set how many partitions a Kafka consumer of this process owns."""
        self.partitions.labels(consumer).set(owned)

    def exposition(self) -> bytes:
        """The text format: this process's instruments, or every worker's with multiprocess mode."""
        instruments = self._every_worker() if self.multiprocess_dir is not None else list(self.registry.collect())
        return generate_latest(_Merged([*instruments, *self.scraped.collect()]))

    def _every_worker(self) -> list[Metric]:
        from prometheus_client.multiprocess import MultiProcessCollector

        collector = MultiProcessCollector(None, self.multiprocess_dir)  # type: ignore[no-untyped-call]  # unannotated
        for _ in range(2):
            try:
                return list(collector.collect())  # type: ignore[no-untyped-call]
            except struct.error:
                # A worker starting up has created its file but not sized it yet: a moment's window.
                time.sleep(0.01)
        return list(collector.collect())  # type: ignore[no-untyped-call]


class _Merged:
    """Families from several sources as one collector: samples of one name under one family."""

    def __init__(self, families: list[Metric]):
        self._families = families

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for family in self._families:
            if family.name in merged:
                merged[family.name].samples.extend(family.samples)
            else:
                merged[family.name] = family
        yield from merged.values()
