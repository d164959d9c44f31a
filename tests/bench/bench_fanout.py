"""Fan-out benchmark: (a) 10,000 concurrent sockets on one fanout process (RSS, all still open?);
(b) 1,000 connected clients (one socket per user, like one tab each) while tasks are created at
500/s through the API by 250 of those users: commit -> client receipt latency. Fanout runs under
gunicorn's gevent worker (see README for why)."""

from __future__ import annotations

import datetime as dt
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
import sqlalchemy as sa  # noqa: E402

from shared.persistence.db import make_engine, migrate  # noqa: E402
from shared.persistence.models import User  # noqa: E402
from tests.bench.harness import run_load  # noqa: E402
from tests.support.broker import Tansu  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret-0123"
SOCKETS = int(os.environ.get("BENCH_SOCKETS", "10000"))
CLIENTS = int(os.environ.get("BENCH_WS_CLIENTS", "1000"))
RATES = [float(r) for r in os.environ.get("BENCH_WS_RATES", "500,200").split(",")]
WORKER_CLASS = os.environ.get("BENCH_WS_WORKER", "gevent")


def token(user_id: str) -> str:
    exp = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return jwt.encode({"sub": user_id, "exp": exp}, SECRET, algorithm="HS256")


def worker_rss_mb(master_pid: int) -> float:
    children = pathlib.Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for pid in children:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


def swarm(urls: list[str], seconds: float, on_connected=None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(urls))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/bench/ws_clients.py"), "--urls", f.name, "--seconds", str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = json.loads(proc.stdout.readline())
    extra = on_connected() if on_connected else None
    last = json.loads(proc.stdout.readline())
    proc.wait(60)
    return {**last, "connected_phase": first, "extra": extra}


def fanout_env(url: str, broker: Tansu) -> dict:
    return {
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "JWT_SECRET": SECRET,
        "GUNICORN_WORKER_CLASS": WORKER_CLASS,
        "GUNICORN_WORKER_CONNECTIONS": "12000",
        "GUNICORN_THREADS": os.environ.get("BENCH_WS_THREADS", "64"),
    }


def bench_many_sockets(url: str, broker: Tansu) -> dict:
    fanout = ServerProcess("functions.fanout:create_app()", **fanout_env(url, broker)).start()
    try:
        base_rss = worker_rss_mb(fanout.proc.pid)
        urls = [f"ws://127.0.0.1:{fanout.port}/ws/user/u{i}/tasks?token={token(f'u{i}')}" for i in range(SOCKETS)]
        result = swarm(urls, 10, on_connected=lambda: worker_rss_mb(fanout.proc.pid))
        return {
            "sockets": SOCKETS,
            "opened": result["opened"],
            "still_open": result["still_open"],
            "failed": result["failed"],
            "errors": result["errors"],
            "rss_idle_mb": base_rss,
            "rss_mb": result["extra"],
        }
    finally:
        fanout.stop()


def bench_latency(url: str, broker: Tansu, rate: float) -> dict:
    common = {"DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "JWT_SECRET": SECRET}
    # The Knative topology: the tasks function (API + outbox relay) and the fanout function apart.
    api = ServerProcess("functions.tasks:create_app()", **common, WEB_CONCURRENCY="2").start()
    fanout = ServerProcess("functions.fanout:create_app()", **fanout_env(url, broker)).start()
    try:
        # One socket per user, as in a browser tab each: accounts made directly (argon2 sign-up x 1,000
        # would dominate the run), tokens signed with the deployment's secret.
        users = [[str(uuid.uuid4()), None] for _ in range(CLIENTS)]
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(User), [{"id": u, "email": f"{u}@bench.example", "password_hash": "-"} for u, _ in users]
            )
        engine.dispose()
        users = [[u, token(u)] for u, _ in users]
        urls = [f"ws://127.0.0.1:{fanout.port}/ws/user/{u}/tasks?token={t}" for u, t in users]

        def load():
            return run_load(api.url, users, concurrency=250, duration=10, warmup=0, rate=rate)

        result = swarm(urls, 14, on_connected=load)  # 10 s of load, then time for the tail to arrive
        engine = make_engine(url)
        with engine.connect() as conn:
            relay_p50, relay_p95 = conn.execute(
                sa.text(
                    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)),"
                    " percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at))"
                    " FROM outbox WHERE published_at IS NOT NULL"
                )
            ).one()
            conn.execute(sa.text("DELETE FROM outbox"))
            conn.commit()
        engine.dispose()
        return {
            "clients": CLIENTS,
            "offered_rate": rate,
            "achieved_rate": result["extra"]["rate"],
            "deliveries": result["received"],
            "p50_ms": result.get("p50_ms"),
            "p95_ms": result.get("p95_ms"),
            "p99_ms": result.get("p99_ms"),
            "still_open": result["still_open"],
            "relay_p50_ms": round(relay_p50 * 1000, 1),
            "relay_p95_ms": round(relay_p95 * 1000, 1),
        }
    finally:
        fanout.stop()
        api.stop()


def main() -> None:
    broker = Tansu().start()
    url = create_database("taskflow_bench_fanout")
    try:
        migrate(url)
        many = bench_many_sockets(url, broker)
        time.sleep(1)
        latencies = []
        for rate in RATES:
            with make_engine(url).begin() as conn:
                conn.execute(sa.text("TRUNCATE users CASCADE"))
            latencies.append(bench_latency(url, broker, rate))
    finally:
        drop_database(url)
        broker.stop()
    print()
    print(f"| measure (fanout: gunicorn {WORKER_CLASS} worker, 1 process) | result | target |")
    print("|---|---|---|")
    print(
        f"| {many['sockets']:,} concurrent sockets | {many['opened']:,} opened, {many['still_open']:,} still open "
        f"after 10 s, {many['failed']} failed; worker RSS {many['rss_idle_mb']} MB idle -> {many['rss_mb']} MB | "
        f"all stay open |"
    )
    for latency in latencies:
        print(
            f"| commit -> receipt, {latency['clients']:,} clients, {latency['offered_rate']:.0f} creates/s offered "
            f"({latency['achieved_rate']}/s achieved, {latency['deliveries']:,} deliveries) | p50 "
            f"{latency['p50_ms']} / p95 {latency['p95_ms']} / p99 {latency['p99_ms']} ms (of which commit -> "
            f"published: p50 {latency['relay_p50_ms']} / p95 {latency['relay_p95_ms']} ms) | p95 <= 50 ms |"
        )
    print(json.dumps({"many_sockets": many, "latency": latencies}))


if __name__ == "__main__":
    main()
