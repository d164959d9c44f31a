"""Core benchmark: the combined app under gunicorn on PostgreSQL with Kafka (tansu), load from
a separate process on loopback. Reports task creates/s with p50/p95/p99 at 50 concurrent
clients, the outbox -> Kafka relay rate, and the floors: raw psycopg INSERT+COMMIT/s and raw
kafka-python produce/s.  Run with `make bench`.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

from shared.domain.events import Event  # noqa: E402
from shared.messaging.outbox import OutboxRelay  # noqa: E402
from shared.messaging.transports import KafkaTransport  # noqa: E402
from shared.persistence.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from shared.persistence.models import Outbox  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.bench.harness import register_users, run_load  # noqa: E402
from tests.support.broker import Tansu  # noqa: E402
from tests.support.net import wait_until  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "50"))
DURATION = float(os.environ.get("BENCH_SECONDS", "15"))
RELAY_EVENTS = int(os.environ.get("BENCH_RELAY_EVENTS", "50000"))
WORKERS = os.environ.get("BENCH_WORKERS", "3")
SECRET = "bench-secret-bench-secret-bench-secret-0123"


def bench_creates(db_url: str, broker: Tansu, **extra_env: str) -> dict:
    server = ServerProcess(
        DATABASE_URL=db_url,
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        WEB_CONCURRENCY=WORKERS,
        JWT_SECRET=SECRET,
        **extra_env,
    ).start(ready_path="/health")
    try:
        users = register_users(server.url, CONCURRENCY)
        result = run_load(server.url, users, concurrency=CONCURRENCY, duration=DURATION)
        engine = make_engine(db_url)
        with engine.connect() as conn:

            def pending():
                return conn.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar()

            started = time.perf_counter()
            if extra_env.get("RUN_BACKGROUND_WORKERS") != "false":
                wait_until(lambda: pending() == 0 or None, timeout=120, interval=0.2, message="relay to catch up")
            result["relay_catch_up_s"] = round(time.perf_counter() - started, 2)
        engine.dispose()
        return result
    finally:
        server.stop()


def bench_relay(db_url: str, broker: Tansu) -> dict:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        session.execute(sa.text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))
        rows = []
        for i in range(RELAY_EVENTS):
            e = Event(
                event_type="task.created",
                user_id=f"user-{i % 500}",
                aggregate_id=str(uuid.uuid4()),
                data={"title": f"relay {i}", "tags": ["bench"], "description": "x" * 200},
            )
            rows.append(
                {
                    "event_id": e.event_id,
                    "topic": e.topic,
                    "event_type": e.event_type,
                    "user_id": e.user_id,
                    "payload": e.to_dict(),
                }
            )
        session.execute(sa.insert(Outbox), rows)
    settings = Settings(database_url=db_url, kafka_bootstrap_servers=broker.bootstrap, relay_batch_size=2000)
    relay = OutboxRelay(sessions, KafkaTransport(settings), settings.relay_batch_size)
    started = time.perf_counter()
    published, failed = relay.drain(max_batches=10_000)
    elapsed = time.perf_counter() - started
    engine.dispose()
    assert not failed and published == RELAY_EVENTS, (published, failed)
    return {"events": published, "seconds": round(elapsed, 2), "rate": round(published / elapsed, 1)}


def bench_raw_psycopg(db_url: str, n: int = 5000) -> dict:
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (id bigserial primary key, body text)")
        conn.commit()
        started = time.perf_counter()
        for i in range(n):
            conn.execute("INSERT INTO bench_raw (body) VALUES (%s)", (f"row {i}",))
            conn.commit()
        elapsed = time.perf_counter() - started
    return {"rows": n, "seconds": round(elapsed, 2), "rate": round(n / elapsed, 1)}


def bench_raw_kafka(broker: Tansu, n: int = 100_000) -> dict:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=2, batch_size=256 * 1024)
    value = b"x" * 600
    started = time.perf_counter()
    for i in range(n):
        producer.send("bench.raw", key=f"user-{i % 500}".encode(), value=value)
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    return {"messages": n, "seconds": round(elapsed, 2), "rate": round(n / elapsed, 1)}


def main() -> None:
    broker = Tansu().start()
    db_url = create_database("taskflow_bench")
    try:
        migrate(db_url)
        creates = bench_creates(db_url, broker)
        # The write path alone: same app, background workers (relay, consumers, timers) off.
        api_only = bench_creates(db_url, broker, RUN_BACKGROUND_WORKERS="false")
        relay = bench_relay(db_url, broker)
        raw_pg = bench_raw_psycopg(db_url)
        raw_kafka = bench_raw_kafka(broker)
    finally:
        drop_database(db_url)
        broker.stop()
    print()
    print(
        f"| measure (2 cores, {WORKERS} gunicorn workers, {CONCURRENCY} clients, {DURATION:.0f}s) | result | target |"
    )
    print("|---|---|---|")
    print(
        f"| task creates/s, full combined app (relay + audit/fanout/notifications consumers in each worker) | "
        f"{creates['rate']} ({creates['requests']} requests, {creates['errors']} errors) | >= 1,000 |"
    )
    print(
        f"| create latency p50 / p95 / p99, full combined app | {creates['p50_ms']} / {creates['p95_ms']} / "
        f"{creates['p99_ms']} ms | p95 <= 25 ms |"
    )
    print(
        f"| task creates/s, write path only (RUN_BACKGROUND_WORKERS=false) | {api_only['rate']} "
        f"({api_only['errors']} errors) | >= 1,000 |"
    )
    print(
        f"| create latency p50 / p95 / p99, write path only | {api_only['p50_ms']} / {api_only['p95_ms']} / "
        f"{api_only['p99_ms']} ms | p95 <= 25 ms |"
    )
    print(f"| outbox drained after load | {creates['relay_catch_up_s']} s | |")
    print(f"| outbox -> Kafka relay | {relay['rate']} events/s ({relay['events']} events) | >= 10,000 |")
    print(f"| floor: raw psycopg INSERT+COMMIT | {raw_pg['rate']} /s (one connection) | |")
    print(f"| floor: raw kafka-python produce | {raw_kafka['rate']} msgs/s (acks=all) | |")
    print(
        json.dumps(
            {"creates": creates, "api_only": api_only, "relay": relay, "raw_psycopg": raw_pg, "raw_kafka": raw_kafka}
        )
    )


if __name__ == "__main__":
    main()
