"""What each Kafka consumer group has not durably handled yet, read from the broker itself.

A group's lag is the sum, over its topics' partitions, of the end offset minus the offset the group
committed (its start, where it committed nothing yet). It is the broker's record of the group, so
every process reads the same number whether it runs the group's consumer or not, and it keeps
growing when no member consumes at all (a stopped, orphaned or stuck consumer), where a number
a consumer measures itself would stop or vanish with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from shared.messaging.transports import KafkaTransport
from shared.settings import Settings

log = logging.getLogger(__name__)


class GroupLagReader:
    """Read the committed lag of consumer groups (an admin client and a group-less consumer, made on first use)."""

    def __init__(self, settings: Settings, groups: Mapping[str, Sequence[str]] | None = None):
        self._config = KafkaTransport(settings).client_config()
        #: group id -> the topics it consumes
        self.groups: dict[str, list[str]] = {g: list(t) for g, t in (groups or {}).items()}
        self._admin: Any = None  # kafka-python's KafkaAdminClient / KafkaConsumer (untyped)
        self._consumer: Any = None
        self._lock = threading.Lock()

    def watch(self, group: str, topics: Sequence[str]) -> None:
        """Also read `group`'s lag over `topics`."""
        self.groups[group] = list(topics)

    def read(self) -> dict[str, int]:
        """Lag per group now; raises when the broker does not answer (the clients are then made afresh)."""
        with self._lock:
            try:
                ends = self._ends({t for topics in self.groups.values() for t in topics})
                return {group: self._lag(group, topics, ends) for group, topics in self.groups.items()}
            except Exception:
                self._close()
                raise

    def _ends(self, topics: set[str]) -> dict[Any, int]:
        """Each partition's end offset: the high watermark of a fetch at its last record.

        Not ListOffsets alone: tansu answers it with the last record *batch*'s base offset + 1, so
        a batch of 50 records reads as 1 (tests/integration/messaging/test_consumer_recovery.py
        shows it). A fetch from there returns the true high watermark, whatever the broker.
        """
        from kafka import TopicPartition

        consumer = self._clients()
        if not all(consumer.partitions_for_topic(t) for t in topics):
            consumer.topics()  # a metadata request: a client that subscribes to nothing learns of new topics so
        partitions = [
            TopicPartition(t, p) for t in sorted(topics) for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if not partitions:
            return {}
        listed = consumer.end_offsets(partitions)
        consumer.unsubscribe()  # a fresh assignment forgets the last read's high watermarks
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, max(0, listed[tp] - 1))
        waiting = [tp for tp in partitions if listed[tp] > 0]
        for _ in range(20):
            if all(consumer.highwater(tp) is not None for tp in waiting):
                break
            consumer.poll(timeout_ms=50, max_records=1, update_offsets=False)
        return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in partitions}

    def _lag(self, group: str, topics: list[str], ends: dict[Any, int]) -> int:
        partitions = [tp for tp in ends if tp.topic in topics]
        if not partitions:
            return 0  # no topic yet: nothing was ever published to this group's topics
        consumer = self._consumer
        committed = self._admin.list_group_offsets({group: partitions}).get(group, {})
        starts = {tp: c.offset for tp, c in committed.items() if c is not None and c.offset >= 0}
        missing = [tp for tp in partitions if tp not in starts]
        if missing:
            starts.update(consumer.beginning_offsets(missing))
        return sum(max(0, ends[tp] - starts[tp]) for tp in partitions)

    def _clients(self) -> Any:
        if self._consumer is None:
            from kafka import KafkaConsumer
            from kafka.admin import KafkaAdminClient

            self._admin = KafkaAdminClient(**self._config, request_timeout_ms=5000)
            self._consumer = KafkaConsumer(
                **self._config,
                request_timeout_ms=5000,
                enable_auto_commit=False,
                fetch_max_wait_ms=10,
                max_partition_fetch_bytes=64 * 1024,
            )
        return self._consumer

    def _close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                try:
                    client.close()
                except Exception:  # a broken client is discarded either way
                    log.debug("lag reader client close failed", exc_info=True)
        self._consumer = self._admin = None

    def close(self) -> None:
        with self._lock:
            self._close()
