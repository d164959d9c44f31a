"""Kafka mode as the container runs it (the entrypoint, two gevent workers), PostgreSQL restarted under
four writers: every acknowledged write ends up in the audit log, no request answers 500, and every
/metrics scrape on the way has each consumer's lag and partitions.

The database is a throwaway cluster of the test's own (tests/support/pg_cluster.py), the broker a
tansu of its own; the shared server on 5432 is never touched.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from shared.persistence.db import make_engine
from tests.support.net import wait_until
from tests.support.process import ServerProcess

JWT_SECRET = "k" * 40
CONSUMERS = ("audit", "notifications")


@pytest.fixture
def own_cluster():
    from tests.support.pg_cluster import ThrowawayCluster

    cluster = ThrowawayCluster().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def own_broker():
    from tests.support.broker import Tansu

    tansu = Tansu().start()
    yield tansu
    tansu.stop()


def consumer_series(text: str) -> dict[tuple[str, str], float]:
    """(metric, consumer) -> value for the consumer lag and partition gauges."""
    wanted = ("taskflow_consumer_lag_events", "taskflow_consumer_partitions")
    return {
        (s.name, s.labels["consumer"]): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name in wanted
    }


class Writers:
    """Four users creating tasks as fast as they are answered; what each answer was."""

    def __init__(self, url: str, count: int = 4):
        self.url = url
        self.acked: list[str] = []
        self.statuses: dict[int | str, int] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(i,), daemon=True) for i in range(count)]

    def _write(self, i: int) -> None:
        http = requests.Session()
        signup = http.post(
            f"{self.url}/api/auth/register",
            json={"email": f"w{i}@example.com", "password": "pw-writer-123"},
            timeout=10,
        ).json()
        headers = {"Authorization": f"Bearer {signup['token']}"}
        while not self.stop.is_set():
            try:
                resp = http.post(
                    f"{self.url}/api/{signup['user_id']}/tasks", json={"title": "t"}, headers=headers, timeout=15
                )
            except requests.RequestException as exc:
                key: int | str = type(exc).__name__
            else:
                key = resp.status_code
                if resp.status_code == 201:
                    self.acked.append(resp.json()["id"])
                else:
                    time.sleep(0.05)  # a 503 says "retry shortly"
            self.statuses[key] = self.statuses.get(key, 0) + 1

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


class Scraper:
    """GET /metrics every half second; keeps each scrape's consumer series (or the error)."""

    def __init__(self, url: str):
        self.url = url
        self.scrapes: list[tuple[float, dict | str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._scrape, daemon=True)

    def _scrape(self) -> None:
        while not self.stop.is_set():
            try:
                text = requests.get(f"{self.url}/metrics", timeout=10).text
                self.scrapes.append((time.monotonic(), consumer_series(text)))
            except requests.RequestException as exc:
                self.scrapes.append((time.monotonic(), repr(exc)))
            self.stop.wait(0.5)

    def __enter__(self) -> Scraper:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)


def audited(url: str, ids: list[str]) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT aggregate_id FROM event_log WHERE event_type = 'task.created'")
            ).scalars()
            return set(rows) & set(ids)
    finally:
        engine.dispose()


def test_a_postgres_restart_in_kafka_mode_with_two_workers_loses_no_audit_and_lag_is_always_exported(
    own_cluster, own_broker
):
    server = ServerProcess.entrypoint(
        DATABASE_URL=own_cluster.url,
        ENVIRONMENT="production",
        JWT_SECRET=JWT_SECRET,
        WEB_CONCURRENCY="2",
        KAFKA_BOOTSTRAP_SERVERS=own_broker.bootstrap,
    )
    server.start()
    try:

        def every_series_read() -> bool:
            series = consumer_series(requests.get(f"{server.url}/metrics", timeout=10).text)
            lags = [series.get(("taskflow_consumer_lag_events", c), math.nan) for c in CONSUMERS]
            return not any(math.isnan(v) for v in lags)

        # Each worker reads the groups' lag from the broker; a few scrapes land on both.
        for _ in range(6):
            wait_until(every_series_read, timeout=30, message="the consumers' lag read from the broker")

        with Scraper(server.url) as scraper, Writers(server.url) as writers:
            wait_until(lambda: len(writers.acked) >= 200, timeout=60, message="writes before the restart")
            own_cluster.stop()
            time.sleep(1.0)
            own_cluster.start()
            restarted = len(writers.acked)
            wait_until(lambda: len(writers.acked) >= restarted + 200, timeout=60, message="writes after the restart")
            # a busy machine writes those quicker than it scrapes: at least ten scrapes, through the restart
            wait_until(
                lambda: sum(isinstance(s, dict) for _, s in scraper.scrapes) >= 10, timeout=60, message="ten scrapes"
            )
        ids = list(writers.acked)

        missing = set(ids)
        deadline = time.monotonic() + 90
        while missing and time.monotonic() < deadline:
            missing -= audited(own_cluster.url, list(missing))
            time.sleep(0.5)
        assert not missing, f"{len(missing)} of {len(ids)} acknowledged tasks have no task.created in the audit log"

        assert set(writers.statuses) <= {201, 503}, f"a lost connection is a 503, never a 500: {writers.statuses}"
        assert writers.statuses.get(503, 0) > 0, "the restart was seen by the writers"

        failed = [s for _, s in scraper.scrapes if isinstance(s, str)]
        assert not failed, f"/metrics answered through the restart: {failed[:3]}"
        series = [s for _, s in scraper.scrapes if isinstance(s, dict)]
        assert len(series) >= 10
        for name in ("taskflow_consumer_lag_events", "taskflow_consumer_partitions"):
            for consumer in CONSUMERS:
                absent = [i for i, s in enumerate(series) if (name, consumer) not in s]
                assert not absent, f"{name}{{consumer={consumer}}} absent from scrapes {absent} of {len(series)}"
        audit_lags = [s[("taskflow_consumer_lag_events", "audit")] for s in series]
        assert not any(math.isnan(v) for v in audit_lags), "read from the broker: known at every scrape"
        assert max(audit_lags) > 0, "the lag of a consumer behind its writers is not 0"

        def caught_up() -> bool:
            now = consumer_series(requests.get(f"{server.url}/metrics", timeout=10).text)
            return all(now[("taskflow_consumer_lag_events", c)] == 0 for c in CONSUMERS) and all(
                now[("taskflow_consumer_partitions", c)] > 0 for c in CONSUMERS
            )

        wait_until(caught_up, timeout=60, message="every consumer caught up and owning its partitions")
        readiness = {requests.get(f"{server.url}/ready", timeout=10).status_code for _ in range(20)}
        assert readiness == {200}, "ready in every worker once the database is back"
    except BaseException:
        print("".join(server.output)[-8000:])
        raise
    finally:
        server.stop()
