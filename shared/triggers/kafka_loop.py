"""Kafka consumer loop (kafka-python) for the combined container: batches, DLQ, commit after the DB."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

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
    error in a header, and the loop moves on. A database outage is not the event's fault: the
    batch is rewound and retried until the database is back.
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
    ):
        self.name = subscription.name
        self._settings = settings
        self._topics = list(subscription.topics)
        self._handle = subscription.handle
        self._group_id = consumer_group(subscription)
        self._from_latest = subscription.every_process
        self._max_records = max_records
        self._before_commit = before_commit
        self._max_attempts = max_attempts
        self._retry_base = retry_base
        self._consumer: Any = None  # kafka-python's KafkaConsumer / KafkaProducer (untyped)
        self._producer: Any = None
        self.ready = threading.Event()
        self.handled = 0
        self.dead_lettered = 0
        #: Records behind the partitions' high watermarks after the last poll (None until known).
        self.lag: int | None = None
        #: Told of each new lag measurement and each record sent to the DLQ (the runtime's metrics).
        self.on_lag: Callable[[str, int], None] = lambda _name, _lag: None
        self.on_dead_letter: Callable[[str], None] = lambda _name: None
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

        return KafkaConsumer(
            *self._topics,
            **KafkaTransport(self._settings).client_config(),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="latest" if self._from_latest else "earliest",
            max_poll_records=self._max_records,
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            # Short session and rebalance timeouts: a group joins in ~3 s instead of ~25 s.
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            max_poll_interval_ms=30000,
        )

    def _step(self) -> float:
        try:
            if self._consumer is None:
                self._consumer = self._new_consumer()
            batches = self._consumer.poll(timeout_ms=200)
            assigned = self._consumer.assignment()
            if assigned:
                self.ready.set()
                self._measure_lag(self._consumer, assigned)
            if batches:
                self._process(self._consumer, batches)
        except Exception:  # broker gone or a bug: drop this consumer, the loop backs off and builds a fresh one
            self._close()
            raise
        return 0.0

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
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=5)
            except Exception:  # closing is best effort on the way out
                log.debug("dead-letter producer close failed", exc_info=True)

    def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
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
        except Exception:  # database unavailable: rewind and retry the same records later
            for tp, records in batches.items():
                consumer.seek(tp, records[0].offset)
            raise
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
        self.on_dead_letter(self.name)


def wait_ready(loops: Sequence[ConsumerLoop], timeout: float = 30.0) -> bool:
    """Wait until every loop has joined its group (partitions assigned); False on timeout."""
    deadline = time.monotonic() + timeout
    return all(loop.ready.wait(max(0.0, deadline - time.monotonic())) for loop in loops)
