"""Core benchmark: the combined app under gunicorn on PostgreSQL with Kafka (tansu), load from
a separate process on loopback. Reports task creates/s with p50/p95/p99 at 50 concurrent
clients, the outbox -> Kafka relay rate, and the floors: raw psycopg INSERT+COMMIT/s and raw
kafka-python produce/s.  Run with `make bench`.

Then the latencies the tests once asserted (they now check what happens, with timeouts that only catch
hangs), each next to its target and a floor from the same run: sign-up of a taken email vs a new one,
creates while the broker is down, /health while the broker check hangs, a local wake-up reaching the
leader's loop, and how long gevent's loop stalls while blocking calls run.

    .venv/bin/python tests/bench/bench_core.py [--only throughput,accounts,outage,probes,wake,gevent]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import queue
import statistics
import sys
import tempfile
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

from functions.combined import create_app  # noqa: E402
from functions.tasks import create_app as tasks_app  # noqa: E402
from shared.domain.events import Event  # noqa: E402
from shared.messaging.relay import OutboxRelay  # noqa: E402
from shared.messaging.transports import KafkaTransport  # noqa: E402
from shared.persistence.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from shared.persistence.models import Outbox  # noqa: E402
from shared.runtime.process import Runtime  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.bench.harness import guarded, register_users, run_load  # noqa: E402
from tests.support.broker import HangingBroker, Tansu  # noqa: E402
from tests.support.live import Client, LiveServer  # noqa: E402
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


def median_ms(samples: list[float], digits: int = 1) -> float:
    """The median of `samples` (seconds), in milliseconds."""
    return round(statistics.median(samples) * 1000, digits)


def bench_sign_up(db_url: str, pairs: int = 7) -> dict:
    """POST /api/auth/register for a new email and for a taken one, interleaved: the two medians."""
    server = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=SECRET).start(ready_path="/health")
    try:
        owner = Client(server.url).signup(password="correct horse battery")
        new, taken = [], []
        for _ in range(pairs):
            for email, times, status in ((f"{uuid.uuid4().hex}@bench.example", new, 201), (owner.email, taken, 409)):
                started = time.perf_counter()
                resp = requests.post(
                    f"{server.url}/api/auth/register",
                    json={"email": email, "password": "a fine password 9"},
                    timeout=30,
                )
                times.append(time.perf_counter() - started)
                assert resp.status_code == status, resp.text
        return {"new_ms": median_ms(new), "taken_ms": median_ms(taken)}
    finally:
        server.stop()


def bench_outage(db_url: str, creates: int = 10) -> dict:
    """Ten creates with the broker up (the floor), then ten with it stopped: the API never waits on it."""
    own = Tansu().start()
    app = create_app(Settings(database_url=db_url, jwt_secret=SECRET, kafka_bootstrap_servers=own.bootstrap))
    try:
        with LiveServer(app) as server:
            api = Client(server.url).signup()
            out = {}
            for case in ("up", "down"):
                if case == "down":
                    own.stop()
                started = time.perf_counter()
                for i in range(creates):
                    api.create_task(title=f"while {case} {i}")
                out[f"{case}_s"] = round(time.perf_counter() - started, 2)
            own.start()  # back, so the relay drains and the runtime closes promptly
            return out
    finally:
        app.extensions["taskflow"].close()
        own.stop()


def bench_probe(db_url: str, probes: int = 20) -> dict:
    """GET /health while the broker check hangs; floor: /health with no broker to check."""
    out = {}
    for case in ("floor", "hanging"):
        quiet = Settings(database_url=db_url, jwt_secret=SECRET, run_background_workers=False)
        broker = HangingBroker() if case == "hanging" else None
        if broker is not None:
            quiet = dataclasses.replace(quiet, kafka_bootstrap_servers="127.0.0.1:1")
        rt = Runtime(quiet, transport=broker) if broker is not None else Runtime(quiet)
        try:
            with LiveServer(tasks_app(quiet, runtime=rt)) as server:
                requests.get(f"{server.url}/health", timeout=30)  # starts the background check
                if broker is not None:
                    wait_until(broker.checking.is_set, message="the broker check to start")
                times = []
                for _ in range(probes):
                    started = time.perf_counter()
                    requests.get(f"{server.url}/health", timeout=30).raise_for_status()
                    times.append(time.perf_counter() - started)
                out[case] = {"median_ms": median_ms(times), "max_ms": round(max(times) * 1000, 1)}
                if broker is not None:
                    broker.released.set()
        finally:
            rt.close()
    return out


def bench_wake(nudges: int = 50) -> dict:
    """A LocalWake datagram -> the leader's loop called back; floor: the same hand-off between two threads
    of this process through a queue."""
    from shared.messaging.wakeups import LocalWake

    woken = threading.Event()
    handoff: queue.Queue = queue.Queue()

    def other_thread() -> None:
        while handoff.get() is not None:
            woken.set()

    threading.Thread(target=other_thread, daemon=True).start()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        leader = LocalWake(f"{tmp}/wake.sock", woken.set)
        leader.loop.start()
        writer = LocalWake(f"{tmp}/wake.sock", lambda: None)
        try:
            wait_until(lambda: pathlib.Path(f"{tmp}/wake.sock").exists(), message="the leader's socket")
            for case, send in (("floor", lambda: handoff.put(1)), ("wake", writer.send)):
                times = []
                for _ in range(nudges):
                    woken.clear()
                    started = time.perf_counter()
                    send()
                    assert woken.wait(30)
                    times.append(time.perf_counter() - started)
                    time.sleep(0.01)
                out[case] = {"median_ms": median_ms(times, 3), "max_ms": round(max(times) * 1000, 1)}
        finally:
            handoff.put(None)
            leader.close()
            writer.close()
    return out


def bench_gevent(db_url: str, broker: Tansu) -> dict:
    """The gevent loop's longest stall (a ticker greenlet's largest gap) while blocking calls run, from a fresh
    patched interpreter as the gevent worker runs them (tests/support/gevent_probe.py)."""
    from tests.support.gevent_probe import EIGHT_RULES, EMPTY_POLL, FIVE_QUERIES, HASH_FOUR, run_patched

    def measure(result: dict) -> dict:
        return {"elapsed_s": round(result["elapsed"], 2), "max_gap_ms": round(result["max_gap"] * 1000, 1)}

    return {
        "queries": measure(run_patched(FIVE_QUERIES, PG_URL=db_url)),
        "poll": measure(run_patched(EMPTY_POLL, BOOTSTRAP=broker.bootstrap)),
        "hash_pool": measure(run_patched(HASH_FOUR)),
        "hash_loop": measure(run_patched(HASH_FOUR, direct=True)),
        "rules_pool": measure(run_patched(EIGHT_RULES)),
        "rules_loop": measure(run_patched(EIGHT_RULES, direct=True)),
    }


def ratio(value: float | None, floor: float | None) -> str:
    """value / floor, as the table prints it."""
    return f"{value / floor:,.2f}" if value and floor else "–"


def line(measure: str, x: dict | None, result, target: str) -> list[str]:
    """One table row, or none when the part did not run; the error in place of the result when it failed."""
    if x is None:
        return []
    shown = f"error: {x['error'][:200]}" if "error" in x else result(x)
    return [f"| {measure} | {shown} | {target} |"]


def latency_rows(r: dict) -> list[str]:
    """The rows of the latencies the tests once asserted: measure | result | target."""
    rows = line(
        "sign-up of a taken email vs a new one, median of 7 each",
        r.get("accounts"),
        lambda x: f"{x['taken_ms']} ms vs {x['new_ms']} ms = {ratio(x['taken_ms'], x['new_ms'])} x",
        "between 1/3 x and 3 x",
    )
    rows += line(
        "10 creates with the broker down",
        r.get("outage"),
        lambda x: f"{x['down_s']} s = {ratio(x['down_s'], x['up_s'])} x floor (broker up: {x['up_s']} s)",
        "< 5 s",
    )
    rows += line(
        "GET /health while the broker check hangs",
        r.get("probes"),
        lambda x: (
            f"median {x['hanging']['median_ms']} / max {x['hanging']['max_ms']} ms = "
            f"{ratio(x['hanging']['max_ms'], x['floor']['max_ms'])} x floor (no broker: max {x['floor']['max_ms']} ms)"
        ),
        "< 500 ms",
    )
    rows += line(
        "a local wake-up -> the leader's loop",
        r.get("wake"),
        lambda x: (
            f"median {x['wake']['median_ms']} / max {x['wake']['max_ms']} ms = "
            f"{ratio(x['wake']['median_ms'], x['floor']['median_ms'])} x floor (between two threads: "
            f"{x['floor']['median_ms']} ms)"
        ),
        "< 200 ms",
    )
    g = r.get("gevent")
    if g is not None and "error" in g:
        rows += line("gevent loop stalls", g, str, "")
    elif g is not None:
        q = g["queries"]
        rows += [
            f"| five 0.5 s queries at once under gevent | {q['elapsed_s']} s = {ratio(q['elapsed_s'], 0.5)} x floor "
            f"(one query: 0.5 s); longest loop stall {q['max_gap_ms']} ms | < 1.5 s; stall < 200 ms |",
            f"| a 1.5 s Kafka poll under gevent: longest loop stall | {g['poll']['max_gap_ms']} ms | < 200 ms |",
        ]
        for key, what in (("hash", "four argon2 hashes"), ("rules", "eight costly rules refused")):
            pool, loop = g[f"{key}_pool"]["max_gap_ms"], g[f"{key}_loop"]["max_gap_ms"]
            rows.append(
                f"| {what} on the thread pool: longest loop stall | {pool} ms = {ratio(pool, loop)} x the same "
                f"calls on the loop ({loop} ms) | < 250 ms and < 0.5 x |"
            )
    return rows


PARTS = ("throughput", "accounts", "outage", "probes", "wake", "gevent")


def main() -> None:
    """Run the parts asked for and print the table, then one JSON line of the raw results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    only = set(parser.parse_args().only.split(","))
    broker = Tansu().start()
    db_url = create_database("taskflow_bench")
    latencies: dict = {}
    try:
        migrate(db_url)
        if "throughput" in only:
            creates = bench_creates(db_url, broker)
            # The write path alone: same app, background workers (relay, consumers, timers) off.
            api_only = bench_creates(db_url, broker, RUN_BACKGROUND_WORKERS="false")
            relay = bench_relay(db_url, broker)
            raw_pg = bench_raw_psycopg(db_url)
            raw_kafka = bench_raw_kafka(broker)
        for part, measure, args in (
            ("accounts", bench_sign_up, (db_url,)),
            ("outage", bench_outage, (db_url,)),
            ("probes", bench_probe, (db_url,)),
            ("wake", bench_wake, ()),
            ("gevent", bench_gevent, (db_url, broker)),
        ):
            if part in only:
                latencies[part] = guarded(measure, *args)
    finally:
        drop_database(db_url)
        broker.stop()
    print()
    if "throughput" not in only:
        print("| measure | result | target |")
        print("|---|---|---|")
        print("\n".join(latency_rows(latencies)))
        print(json.dumps(latencies))
        return
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
    for row in latency_rows(latencies):
        print(row)
    print(
        json.dumps(
            {
                "creates": creates,
                "api_only": api_only,
                "relay": relay,
                "raw_psycopg": raw_pg,
                "raw_kafka": raw_kafka,
                **latencies,
            }
        )
    )


if __name__ == "__main__":
    main()
