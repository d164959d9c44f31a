"""Kafka consumer loop (kafka-python) for the combined container: batches, DLQ, commit after the DB."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener

from shared.concurrency.loops import Loop, RetryLater
from shared.domain.events import TOPIC_OF, Event, MalformedEvent
from shared.messaging.cloudevents import event_from_record
from shared.messaging.stream import handle_with_retries, is_outage
from shared.messaging.subscriptions import Subscription
from shared.messaging.transports import KafkaTransport
from shared.settings import Settings

log = logging.getLogger(__name__)


def parse_record(record: Any) -> Event:  # Any: a kafka-python ConsumerRecord (untyped)
    """Turn a Kafka record (a binary CloudEvent, or a bare envelope) into an Event or raise MalformedEvent (poison).

    The event carries the record's trace context (`ce_traceparent`, else `traceparent`).
    """
    event = event_from_record(record.headers, record.key, record.value)
    if TOPIC_OF[event.event_type] != record.topic:
        raise MalformedEvent(f"{event.event_type} does not belong on {record.topic}")
    return event


def consumer_group(subscription: Subscription) -> str:
    """Name the Kafka group: the declared one, else the name; every process: a group of its own."""
    if subscription.group:
        return subscription.group
    if subscription.every_process:
        return f"{subscription.name}-{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return subscription.name


class ConsumerLoop:
    """Consume a subscription's topics in its group; hand each batch to its handler, then commit offsets.

    A per-process subscription (`every_process`) gets a group of its own that starts at the latest
    offset: every replica sees every event from now on. Any other starts at the earliest offset
    its group has not committed.

    Offsets are committed only after `handle` returned (its database commit is done), so a
    crash in between redelivers the batch, and `handle` must be idempotent by event_id.
    A batch that fails is retried event by event; an event that still fails after
    `max_attempts` (with backoff), or that can never be parsed, goes to `<topic>.dlq` with the
    error in a header, and the loop moves on.

    A database outage is not the event's fault, nor the broker's: the batch is rewound, the
    partitions are paused and the loop keeps polling (so the member keeps its place in the group:
    no leave and rejoin, no rebalance), and consumption resumes on a growing timer (at most
    `outage_backoff_max` seconds) until the database takes the batch. Only a broker error drops
    the consumer for a fresh one. A member that owns no partition for `unassigned_limit` seconds
    while its topics exist (a group stuck on a member that is gone, which the broker should have
    evicted), or that has not finished joining in four times that, is closed and made again, and
    `recreated` counts it: the new one takes every partition by assignment (`standalone`), with
    the group's committed positions, as the loop runs once per deployment (on the leader). Its next
    run joins the group again.
    """

    def __init__(
        self,
        settings: Settings,
        subscription: Subscription,
        *,
        max_records: int = 1000,
        before_commit: Callable[[], None] | None = None,
        max_attempts: int = 3,
        retry_base: float = 0.2,
        unassigned_limit: float = 15.0,
        outage_backoff_max: float = 2.0,
    ):
        self.name = subscription.name
        self._settings = settings
        self._topics = list(subscription.topics)
        self.topics = self._topics
        self._handle = subscription.handle
        self._group_id = consumer_group(subscription)
        self.group = self._group_id
        self._from_latest = subscription.every_process
        self._max_records = max_records
        self._before_commit = before_commit
        self._max_attempts = max_attempts
        self._retry_base = retry_base
        self._unassigned_limit = unassigned_limit
        self._outage_backoff_max = outage_backoff_max
        self._consumer: Any = None  # kafka-python's KafkaConsumer / KafkaProducer (untyped)
        self._producer: Any = None
        self._unassigned_since: float | None = None
        self._empty_since: float | None = None
        self._owned = -1
        #: While the database is away: when to resume the paused partitions, and how many tries failed.
        self._paused_until: float | None = None
        self._outage_failures = 0
        self.ready = threading.Event()
        self.handled = 0
        self.dead_lettered = 0
        self.last_dead_letter = ""  # why the last record went to the `.dlq` topic
        self.recreated = 0
        #: Take every partition by assignment from the start: the runtime says so where a leader
        #: lease already makes this the deployment's only consumer of the group (the combined app).
        self.assign_all = False
        #: True when partitions are taken by assignment, not through the group's rebalance.
        self.standalone = False
        #: Batches handed back to the broker because the database was away (the consumer kept).
        self.paused = 0
        #: Records behind the partitions' high watermarks after the last poll (None until known).
        self.lag: int | None = None
        #: Told of each new lag measurement and each record sent to the DLQ (the runtime's metrics).
        self.on_lag: Callable[[str, int], None] = lambda _name, _lag: None
        self.on_dead_letter: Callable[[str], None] = lambda _name: None
        #: Told how many partitions this member owns whenever that changes (0 when it stops).
        self.on_partitions: Callable[[str, int], None] = lambda _name, _owned: None
        self.loop = Loop(f"kafka-{self.name}", self._step, idle=0.0, on_stop=self._shut)

    def start(self) -> ConsumerLoop:
        """Start polling in the loop's thread."""
        self.loop.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling; the consumer leaves its group."""
        self.loop.stop(timeout)

    def _new_consumer(self) -> Any:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            **KafkaTransport(self._settings).client_config(),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="latest" if self._from_latest else "earliest",
            max_poll_records=self._max_records,
            # A fetch answers as soon as a record arrives, else after 10 ms (the broker's wait, not ours).
            fetch_max_wait_ms=10,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            # Short session and rebalance timeouts: a group joins in ~3 s instead of ~25 s.
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            max_poll_interval_ms=30000,
        )
        if (self.standalone or self.assign_all) and self._assign_every_partition(consumer):
            self.standalone = True
            return consumer
        consumer.subscribe(self._topics, listener=_Joined(self))
        return consumer

    def _assign_every_partition(self, consumer: Any) -> bool:
        """Take every partition of the topics by assignment (positions and commits stay the group's)."""
        from kafka import TopicPartition

        partitions = [
            TopicPartition(t, p) for t in self._topics for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if partitions:
            consumer.assign(partitions)
        return bool(partitions)

    def joined(self, assigned: int) -> None:
        """A rebalance finished (told by the consumer): an empty hand starts the orphan clock."""
        self._empty_since = time.monotonic() if assigned == 0 else None

    def _step(self) -> float:
        try:
            if self._consumer is None:
                self._consumer = self._new_consumer()
                self._unassigned_since = time.monotonic()
            consumer = self._consumer
            self._resume_when_due(consumer)
            batches = consumer.poll(timeout_ms=200)
            assigned = consumer.assignment()
            self._report_owned(len(assigned))
            if assigned:
                self._unassigned_since = None
                self.ready.set()
                self._measure_lag(consumer, assigned)
            elif self._orphaned(consumer):
                # Leaving and joining again is what wedges a broker's group (tansu: a member that
                # leaves during a rebalance leaves the group unable to finish it). The consumer
                # runs once per deployment, so the new one takes the partitions by assignment.
                log.warning(
                    "consumer owns no partition of its existing topics; recreating it with every partition assigned",
                    extra={"consumer": self.name, "group": self._group_id, "seconds": self._unassigned_limit},
                )
                self.recreated += 1
                self.standalone = True
                self._close()
                return 0.0
            if batches:
                self._process(consumer, batches)
        except Exception:  # broker gone or a bug: drop this consumer, the loop backs off and builds a fresh one
            self._close()
            raise
        return 0.0

    def _orphaned(self, consumer: Any) -> bool:
        """True when this member owns nothing though its topics exist: it joined and got an empty hand
        `unassigned_limit` seconds ago, or it has not finished joining in four times that."""
        now = time.monotonic()
        if self._unassigned_since is None:
            self._unassigned_since = now
        empty = self._empty_since is not None and now - self._empty_since >= self._unassigned_limit
        unjoined = now - self._unassigned_since >= 4 * self._unassigned_limit
        return (empty or unjoined) and any(consumer.partitions_for_topic(topic) for topic in self._topics)

    def _report_owned(self, owned: int) -> None:
        if owned != self._owned:
            self._owned = owned
            self.on_partitions(self.name, owned)

    def _pause_for_outage(self, consumer: Any, exc: BaseException) -> None:
        """The database is away: hold the batch in the broker, keep the membership, retry on a timer."""
        self._outage_failures += 1
        self.paused += 1
        delay = min(self._outage_backoff_max, self._retry_base * 2 ** min(self._outage_failures - 1, 8))
        self._paused_until = time.monotonic() + delay
        consumer.pause(*consumer.assignment())
        log.warning(
            "database unavailable; consumption paused, group membership kept",
            extra={"consumer": self.name, "error": str(exc)[:300], "retry_in": delay},
        )

    def _resume_when_due(self, consumer: Any) -> None:
        if self._paused_until is not None and time.monotonic() >= self._paused_until:
            self._paused_until = None
            consumer.resume(*consumer.paused())

    def _measure_lag(self, consumer: Any, partitions: set[Any]) -> None:
        """Sum of (high watermark - position) over this consumer's partitions, from the last fetch."""
        total = 0
        for tp in partitions:
            highwater = consumer.highwater(tp)
            if highwater is None:
                return  # not fetched yet: keep the last known value
            total += max(0, highwater - consumer.position(tp))
        self.lag = total
        self.on_lag(self.name, total)

    def _shut(self) -> None:
        """On stop: the consumer leaves its group, and the dead-letter producer (made on first use) goes too."""
        self._close()
        self._report_owned(0)
        self.standalone = False  # the next run (a new leader's) starts afresh
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=5)
            except Exception:  # closing is best effort on the way out
                log.debug("dead-letter producer close failed", exc_info=True)

    def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        self._paused_until = None
        self._empty_since = None
        if consumer is not None:
            try:
                consumer.close()
            except Exception:  # a broken consumer is discarded either way
                log.debug("consumer close failed", exc_info=True)

    def _process(self, consumer: Any, batches: dict[Any, list[Any]]) -> None:
        events: list[tuple[Any, Event]] = []
        poison: list[tuple[Any, str]] = []
        for records in batches.values():
            for record in records:
                try:
                    events.append((record, parse_record(record)))
                except (MalformedEvent, KeyError) as exc:
                    poison.append((record, str(exc)))
        try:
            self._handle_all(events, poison)
        except Exception as exc:  # rewind: the same records come again
            for tp, records in batches.items():
                consumer.seek(tp, records[0].offset)
            if isinstance(exc, RetryLater):
                self._pause_for_outage(consumer, exc)
                return
            raise
        if self._outage_failures:
            log.info("database back; consumption resumed", extra={"consumer": self.name})
            self._outage_failures = 0
        for record, error in poison:
            self._dead_letter(record, error)
        if self._before_commit is not None:
            self._before_commit()
        consumer.commit()
        self.handled += len(events)

    def _handle_all(self, events: list[tuple[Any, Event]], poison: list[tuple[Any, str]]) -> None:
        """Handle the batch; records whose events keep failing join `poison` (for the `.dlq` topic)."""
        try:
            poison.extend(
                handle_with_retries(
                    self._handle,
                    events,
                    name=self.name,
                    system="kafka",
                    max_attempts=self._max_attempts,
                    retry_base=self._retry_base,
                )
            )
        except Exception as exc:
            if is_outage(exc):
                raise RetryLater(f"database unavailable: {exc}") from exc
            raise

    def _dead_letter(self, record: Any, error: str) -> None:
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(**KafkaTransport(self._settings).client_config(), acks="all")
        log.warning(
            "poison record sent to DLQ",
            extra={"consumer": self.name, "topic": record.topic, "offset": record.offset, "error": error},
        )
        headers = list(record.headers or []) + [
            ("dlq_error", error.encode()[:1000]),
            ("dlq_consumer", self.name.encode()),
        ]
        self._producer.send(f"{record.topic}.dlq", key=record.key, value=record.value, headers=headers).get(10)
        self.dead_lettered += 1
        self.last_dead_letter = error[:500]
        self.on_dead_letter(self.name)


class _Joined(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """kafka-python's rebalance listener: tells the loop what each finished join handed it."""

    def __init__(self, loop: ConsumerLoop):
        self._loop = loop

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to hand over: offsets are committed after each batch."""

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._loop.joined(len(assigned))


def wait_ready(loops: Sequence[ConsumerLoop], timeout: float = 30.0) -> bool:
    """Wait until every loop has joined its group (partitions assigned); False on timeout."""
    deadline = time.monotonic() + timeout
    return all(loop.ready.wait(max(0.0, deadline - time.monotonic())) for loop in loops)
