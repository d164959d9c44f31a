"""Audit benchmark: Kafka -> event_log ingest with 100,000 events already on the topic, and
API commit -> audit row latency under a steady 500 creates/s (combined app under gunicorn,
Kafka transport, the audit consumer loop in each worker)."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

from functions.audit import subscription  # noqa: E402
from shared.domain.events import Event  # noqa: E402
from shared.persistence.db import migrate  # noqa: E402
from shared.persistence.models import EventLog  # noqa: E402
from shared.runtime.process import Runtime  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.triggers.kafka_loop import ConsumerLoop  # noqa: E402
from tests.bench.harness import register_users, run_load  # noqa: E402
from tests.support.broker import Tansu  # noqa: E402
from tests.support.net import wait_until  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "100000"))
RATES = [float(r) for r in os.environ.get("BENCH_AUDIT_RATES", "300").split(",")]
PROCESSES = int(os.environ.get("BENCH_AUDIT_PROCESSES", "2"))
CLIENTS = 100
SECRET = "bench-secret-bench-secret-bench-secret-0123"


def count(rt: Runtime) -> int:
    with rt.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(EventLog))


def bench_ingest(url: str, broker: Tansu) -> dict:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, batch_size=512 * 1024)
    for i in range(EVENTS):
        e = Event(
            event_type="task.created",
            user_id=f"user-{i % 500}",
            aggregate_id=str(uuid.uuid4()),
            data={"title": f"event {i}", "tags": ["bench"], "description": "x" * 200},
        )
        producer.send("tasks.events", key=e.user_id.encode(), value=json.dumps(e.to_dict()).encode())
    producer.flush()
    producer.close()
    rt = Runtime(Settings(database_url=url, run_background_workers=False))
    # One consumer process per core, one group: the partitions are shared out, as between replicas.
    env = {**os.environ, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, __file__, "--consume"], cwd=ROOT, env=env) for _ in range(PROCESSES)]
    try:
        wait_until(lambda: count(rt) >= EVENTS, timeout=600, interval=0.2, message="ingest")
        elapsed = time.perf_counter() - started
    finally:
        for w in workers:
            w.terminate()
            w.wait(30)
    with rt.sessions() as s:
        first, last = s.execute(sa.select(sa.func.min(EventLog.recorded_at), sa.func.max(EventLog.recorded_at))).one()
    rt.close()
    return {
        "events": EVENTS,
        "seconds": round(elapsed, 2),
        "rate": round(EVENTS / elapsed, 1),
        "processes": PROCESSES,
        "steady_rate": round(EVENTS / (last - first).total_seconds(), 1),
    }


def consume_forever() -> None:
    """A consumer process for bench_ingest: the audit loop in group `audit-bench` until terminated."""
    rt = Runtime(Settings.from_env())
    rt.add_consumer(
        ConsumerLoop(rt.settings, dataclasses.replace(subscription(rt), group="audit-bench"), max_records=2000)
    )
    signal.sigwait({signal.SIGTERM})
    rt.close()


def bench_commit_to_audit(url: str, broker: Tansu, rate: float) -> dict:
    server = ServerProcess(
        DATABASE_URL=url, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, WEB_CONCURRENCY="2", JWT_SECRET=SECRET
    ).start(ready_path="/health")
    try:
        users = register_users(server.url, CLIENTS)
        time.sleep(8)  # the audit consumer groups join
        marker = time.time()
        load = run_load(server.url, users, concurrency=CLIENTS, duration=15, warmup=0, rate=rate)
        rt = Runtime(Settings(database_url=url, run_background_workers=False))
        wait_until(lambda: _pending(rt) == 0, timeout=120, interval=0.5, message="audit to catch up")
        with rt.sessions() as s:
            lags = [
                (rec - ts).total_seconds() * 1000
                for ts, rec in s.execute(
                    sa.select(EventLog.timestamp, EventLog.recorded_at).where(
                        EventLog.user_id.in_([u[0] for u in users]), EventLog.timestamp >= sa.func.to_timestamp(marker)
                    )
                )
            ]
        rt.close()
        q = statistics.quantiles(lags, n=100)
        return {
            "offered_rate": rate,
            "achieved_rate": load["rate"],
            "events": len(lags),
            "p50_ms": round(q[49], 1),
            "p95_ms": round(q[94], 1),
            "p99_ms": round(q[98], 1),
        }
    finally:
        server.stop()


def _pending(rt: Runtime) -> int:
    with rt.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM outbox o WHERE NOT EXISTS "
                "(SELECT 1 FROM event_log e WHERE e.event_id = o.event_id)"
            )
        ).scalar()


def main() -> None:
    broker = Tansu().start()
    url = create_database("taskflow_bench_audit")
    try:
        migrate(url)
        ingest = bench_ingest(url, broker)
        latencies = [bench_commit_to_audit(url, broker, rate) for rate in RATES]
    finally:
        drop_database(url)
        broker.stop()
    print()
    print("| measure | result | target |")
    print("|---|---|---|")
    print(
        f"| Kafka -> event_log ingest, {ingest['events']:,} events on the topic, {ingest['processes']} consumer "
        f"processes in one group | {ingest['steady_rate']:,} events/s first-to-last row; {ingest['rate']:,}/s "
        f"({ingest['seconds']} s) counting the group join "
        f"| >= 10,000 |"
    )
    for latency in latencies:
        print(
            f"| API commit -> audit row at {latency['offered_rate']:.0f} creates/s offered "
            f"({latency['achieved_rate']}/s achieved) | p50 {latency['p50_ms']} / p95 {latency['p95_ms']} / "
            f"p99 {latency['p99_ms']} ms | p95 reported |"
        )
    print(json.dumps({"ingest": ingest, "commit_to_audit": latencies}))


if __name__ == "__main__":
    if sys.argv[1:] == ["--consume"]:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        consume_forever()
    else:
        main()
