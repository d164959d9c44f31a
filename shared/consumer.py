"""Kafka consumer loop (kafka-python) for the combined container: batches, DLQ, commit after the DB."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from shared.events import TOPIC_OF, Event, MalformedEvent
from shared.settings import Settings
from shared.transports import KafkaTransport

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Event]], object]


def parse_record(record: Any) -> Event:  # Any: a kafka-python ConsumerRecord (untyped)
    """Turn a Kafka record into an Event or raise MalformedEvent (poison)."""
    try:
        event = Event.from_dict(json.loads(record.value))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"not a JSON envelope: {exc}") from exc
    if TOPIC_OF[event.event_type] != record.topic:
        raise MalformedEvent(f"{event.event_type} does not belong on {record.topic}")
    return event


class ConsumerLoop:
    """Consume topics in a group; hand each batch to `handle`, then commit offsets.

    Offsets are committed only after `handle` returned (its database commit is done), so a
    crash in between redelivers the batch, and `handle` must be idempotent by event_id.
    Records that can never be handled go to `<topic>.dlq` with the error in a header.
    """

    def __init__(
        self,
        settings: Settings,
        name: str,
        topics: Sequence[str],
        handle: BatchHandler,
        *,
        group_id: str | None = None,
        from_latest: bool = False,
        max_records: int = 1000,
        before_commit: Callable[[], None] | None = None,
    ):
        self.name = name
        self._settings = settings
        self._topics = list(topics)
        self._handle = handle
        self._group_id = group_id or name
        self._from_latest = from_latest
        self._max_records = max_records
        self._before_commit = before_commit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: Any = None  # a kafka-python KafkaProducer for the dead-letter topic (untyped)
        self.ready = threading.Event()
        self.handled = 0

    def start(self) -> ConsumerLoop:
        self._thread = threading.Thread(target=self._run_forever, name=f"consumer-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _consumer(self) -> Any:
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

    def _run_forever(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._run()
                return
            except Exception:  # broker gone or a bug: log, back off, build a fresh consumer
                log.exception("consumer loop crashed; restarting", extra={"consumer": self.name})
                self._stop.wait(backoff)
                backoff = min(30.0, backoff * 2)

    def _run(self) -> None:
        consumer = self._consumer()
        try:
            while not self._stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                if consumer.assignment():
                    self.ready.set()
                if not batches:
                    continue
                self._process(consumer, batches)
        finally:
            consumer.close()

    def _process(self, consumer: Any, batches: dict[Any, list[Any]]) -> None:
        events: list[Event] = []
        poison: list[tuple[Any, str]] = []
        for records in batches.values():
            for record in records:
                try:
                    events.append(parse_record(record))
                except (MalformedEvent, KeyError) as exc:
                    poison.append((record, str(exc)))
        try:
            self._handle(events)
        except Exception:  # database unavailable: rewind and retry the same records later
            log.exception("consumer batch failed; will retry", extra={"consumer": self.name})
            for tp, records in batches.items():
                consumer.seek(tp, records[0].offset)
            self._stop.wait(1.0)
            return
        for record, error in poison:
            self._dead_letter(record, error)
        if self._before_commit is not None:
            self._before_commit()
        consumer.commit()
        self.handled += len(events)

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


def wait_ready(loops: Iterable[ConsumerLoop], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    return all(loop.ready.wait(max(0.0, deadline - time.monotonic())) for loop in loops)
