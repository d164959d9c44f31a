"""Live-change path benchmark (issue 27, part 3): the relay's round trips and CPU per batch, the Kafka
relay against raw kafka-python produce, and commit -> socket latency on the combined container.

    .venv/bin/python tests/bench/bench_live.py [--only relay,kafka,sockets] [--rate 100] [--kafka]

Round trips are counted at the driver (each psycopg `Connection.wait` is one exchange with the
server); CPU is this process's (`time.process_time`), so other work on the machine does not count.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
import psycopg  # noqa: E402
import psycopg._cursor_base  # noqa: E402
import psycopg.generators  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from shared.domain.events import Event  # noqa: E402
from shared.messaging.relay import OutboxRelay  # noqa: E402
from shared.messaging.transports import KafkaTransport, LocalStream  # noqa: E402
from shared.persistence.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from shared.persistence.models import Outbox, User  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.bench.harness import run_load  # noqa: E402
from tests.support.broker import Tansu  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret-0123"


class RoundTrips:
    """Count the exchanges with the server on psycopg connections: each time a query's results are
    awaited (`psycopg.generators.execute`: a statement, a BEGIN, a COMMIT; an autocommit switch or a
    ROLLBACK of an idle connection sends nothing and is not counted)."""

    def __init__(self) -> None:
        self.count = 0
        self._original = psycopg.generators.execute

    def __enter__(self) -> RoundTrips:
        counter = self
        original = self._original

        def execute(pgconn):  # type: ignore[no-untyped-def]
            counter.count += 1
            return original(pgconn)

        psycopg.generators.execute = execute
        psycopg._cursor_base.execute = execute  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        psycopg.generators.execute = self._original
        psycopg._cursor_base.execute = self._original  # type: ignore[attr-defined]


def fill_outbox(sessions, n: int) -> None:
    with sessions.begin() as session:
        rows = []
        for i in range(n):
            e = Event(
                event_type="task.created",
                user_id=f"user-{i % 500}",
                aggregate_id=str(uuid.uuid4()),
                data={"title": f"relay {i}", "tags": ["bench"], "description": "x" * 200},
            )
            rows.append(
                {"event_id": e.event_id, "topic": e.topic, "event_type": e.event_type, "user_id": e.user_id}
                | {"payload": e.to_dict()}
            )
        session.execute(sa.insert(Outbox), rows)


def bench_relay_round_trips(db_url: str, transport, batch: int, batches: int) -> dict:
    """Relay `batches` batches of `batch` rows, one at a time (as under a steady trickle): RTs and CPU each."""
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    relay = OutboxRelay(sessions, transport, batch)
    fill_outbox(sessions, batch * batches)
    relay.relay_batch()  # warm: connections, prepared statements
    trips = []
    cpu = time.process_time()
    for _ in range(batches - 1):
        with RoundTrips() as rt:
            sent, _, failed = relay.relay_batch()
        assert sent == batch and not failed, (sent, failed)
        trips.append(rt.count)
    cpu = time.process_time() - cpu
    with RoundTrips() as rt:
        relay.relay_batch()  # nothing left: the idle check
    engine.dispose()
    return {
        "transport": transport.name,
        "batch": batch,
        "round_trips_per_batch": sorted(trips)[len(trips) // 2],
        "round_trips_idle": rt.count,
        "cpu_ms_per_batch": round(cpu * 1000 / (batches - 1), 2),
    }


def bench_kafka(db_url: str, broker: Tansu, n: int) -> dict:
    """The outbox -> Kafka relay against raw kafka-python produce of the same count, CPU and wall clock."""
    from kafka import KafkaProducer

    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    fill_outbox(sessions, n)
    settings = Settings(database_url=db_url, kafka_bootstrap_servers=broker.bootstrap, relay_batch_size=2000)
    relay = OutboxRelay(sessions, KafkaTransport(settings), settings.relay_batch_size)
    wall, cpu = time.perf_counter(), time.process_time()
    published, failed = relay.drain(max_batches=10_000)
    relay_wall, relay_cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert published == n and not failed
    engine.dispose()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=2, batch_size=256 * 1024)
    value = b"x" * 600
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        producer.send("bench.raw", key=f"user-{i % 500}".encode(), value=value)
    producer.flush()
    raw_wall, raw_cpu = time.perf_counter() - wall, time.process_time() - cpu
    producer.close()
    return {
        "events": n,
        "relay_per_s": round(n / relay_wall),
        "raw_per_s": round(n / raw_wall),
        "relay_vs_raw": round(raw_wall / relay_wall, 2),
        "relay_cpu_us_per_event": round(relay_cpu * 1e6 / n, 1),
        "raw_cpu_us_per_event": round(raw_cpu * 1e6 / n, 1),
    }


def bench_sockets(db_url: str, rate: float, users: int, sockets: int, broker: Tansu | None) -> dict:
    """The combined container (gevent x 2), `sockets` sockets over `users` users, creates at `rate`/s for 10 s:
    create -> socket receipt (the event's timestamp is taken in the request, before the commit)."""
    env = {
        "DATABASE_URL": db_url,
        "JWT_SECRET": SECRET,
        "WEB_CONCURRENCY": "2",
        "GUNICORN_WORKER_CLASS": "gevent",
        "GUNICORN_WORKER_CONNECTIONS": "4000",
    }
    if broker is not None:
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
    server = ServerProcess(**env).start()
    try:
        engine = make_engine(db_url)
        ids = [str(uuid.uuid4()) for _ in range(users)]
        with engine.begin() as conn:
            conn.execute(sa.insert(User), [{"id": u, "email": f"{u}@bench.example", "password_hash": "-"} for u in ids])
        engine.dispose()
        exp = time.time() + 3600
        tokens = {u: jwt.encode({"sub": u, "exp": int(exp)}, SECRET, algorithm="HS256") for u in ids}
        urls = [
            f"ws://127.0.0.1:{server.port}/ws/user/{ids[i % users]}/tasks?token={tokens[ids[i % users]]}"
            for i in range(sockets)
        ]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(urls))
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/bench/ws_clients.py"), "--urls", f.name, "--seconds", "14"],
            stdout=subprocess.PIPE,
            text=True,
        )
        first = json.loads(proc.stdout.readline())
        cpu = server_cpu_s(server.proc.pid)
        load = run_load(server.url, [[u, tokens[u]] for u in ids], concurrency=50, duration=10, warmup=0, rate=rate)
        cpu = server_cpu_s(server.proc.pid) - cpu
        last = json.loads(proc.stdout.readline())
        proc.wait(60)
        return {
            "offered": rate,
            "achieved": load["rate"],
            "create_p95_ms": load.get("p95_ms"),
            "server_cpu_ms_per_create": round(cpu * 1000 / max(1, load["rate"] * 10), 2),
            "sockets_open": first.get("opened"),
            "deliveries": last.get("received"),
            "commit_to_socket_p50_ms": last.get("p50_ms"),
            "commit_to_socket_p95_ms": last.get("p95_ms"),
            "kafka": broker is not None,
        }
    finally:
        server.stop()


def server_cpu_s(master_pid: int) -> float:
    """CPU seconds (user + system) of the gunicorn master's workers so far."""
    total = 0
    for pid in pathlib.Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split():
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="relay,kafka,sockets")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--kafka", action="store_true", help="the sockets run with Kafka as the transport")
    args = parser.parse_args()
    only = set(args.only.split(","))
    db_url = create_database("bench_live").replace("postgresql://", "postgresql+psycopg://", 1)
    broker = Tansu().start() if "kafka" in only or args.kafka else None
    try:
        migrate(db_url)
        out: dict = {}
        if "relay" in only:
            out["relay_local"] = bench_relay_round_trips(db_url, LocalStream(), 50, 41)
        if "kafka" in only and broker is not None:
            settings = Settings(database_url=db_url, kafka_bootstrap_servers=broker.bootstrap)
            out["relay_kafka"] = bench_relay_round_trips(db_url, KafkaTransport(settings), 50, 21)
            out["kafka_vs_raw"] = bench_kafka(db_url, broker, 20_000)
        if "sockets" in only:
            out["sockets"] = bench_sockets(db_url, args.rate, args.users, args.sockets, broker if args.kafka else None)
        print(json.dumps(out, indent=1))
    finally:
        if broker is not None:
            broker.stop()
        drop_database(db_url)


if __name__ == "__main__":
    main()
