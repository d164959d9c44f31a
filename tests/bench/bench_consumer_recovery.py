"""Consumer recovery benchmark: PostgreSQL back -> the Kafka consumers caught up, with the backlog size.

The container as it runs (the entrypoint, two gevent workers, Kafka transport on tansu), on a
throwaway PostgreSQL cluster of its own. Clients create tasks for a few seconds, then PostgreSQL stops
(the consumers pause, the leader lease goes with the database) and starts again a few seconds later.
From the moment `pg_ctl start` returns: how long until every event in the outbox is in the audit log
and both consumer groups' lag, as /metrics exports it, is 0. The backlog is what waited at that
moment: outbox rows not yet audited (events the API acknowledged), and the groups' lag.

    .venv/bin/python tests/bench/bench_consumer_recovery.py [--rate 300] [--down 5]
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from shared.persistence.db import make_engine  # noqa: E402
from tests.bench.harness import guarded, register_users, run_load  # noqa: E402
from tests.support.broker import Tansu  # noqa: E402
from tests.support.net import wait_until  # noqa: E402
from tests.support.pg_cluster import ThrowawayCluster  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret-0123"
CONSUMERS = ("audit", "notifications")
TARGET_SECONDS = 5.0


def unaudited(engine: sa.Engine) -> int | None:
    """Outbox rows with no audit row yet (None while the database does not answer)."""
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT count(*) FROM outbox o WHERE NOT EXISTS "
                    "(SELECT 1 FROM event_log e WHERE e.event_id = o.event_id)"
                )
            ).scalar()
    except sa.exc.SQLAlchemyError:
        return None


def lags(server: ServerProcess) -> dict[str, float]:
    """Each consumer group's lag as /metrics exports it (NaN when absent or not read yet)."""
    try:
        text = requests.get(f"{server.url}/metrics", timeout=5).text
    except requests.RequestException:
        return dict.fromkeys(CONSUMERS, math.nan)
    found = {
        s.labels["consumer"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "taskflow_consumer_lag_events"
    }
    return {c: found.get(c, math.nan) for c in CONSUMERS}


def bench_recovery(rate: float, load_seconds: float, down_seconds: float) -> dict:
    cluster = ThrowawayCluster().start()
    broker = Tansu().start()
    server = ServerProcess.entrypoint(
        DATABASE_URL=cluster.url,
        ENVIRONMENT="production",
        JWT_SECRET=SECRET,
        WEB_CONCURRENCY="2",
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
    )
    engine = make_engine(cluster.url)
    try:
        server.start()
        users = register_users(server.url, 50)
        wait_until(lambda: all(v == 0 for v in lags(server).values()), timeout=60, message="groups joined")
        load = run_load(server.url, users, concurrency=50, duration=load_seconds, warmup=0, rate=rate)
        at_stop = {"unaudited": unaudited(engine), "lag": lags(server)}
        cluster.stop()
        engine.dispose()
        time.sleep(down_seconds)
        cluster.start()
        back = time.monotonic()
        [backlog] = wait_until(
            lambda: (n := unaudited(engine)) is not None and [n],
            timeout=60,
            interval=0.05,
            message="the database answers",
        )
        lag_at_back = lags(server)
        audited_at = None
        while time.monotonic() - back < 120:
            if audited_at is None and unaudited(engine) == 0:
                audited_at = time.monotonic() - back
            if audited_at is not None and all(v == 0 for v in lags(server).values()):
                break
            time.sleep(0.1)
        caught_up = time.monotonic() - back
        return {
            "offered_rate": rate,
            "created": load["requests"] - load.get("errors", 0),
            "down_seconds": down_seconds,
            "unaudited_at_stop": at_stop["unaudited"],
            "backlog_unaudited": backlog,
            "backlog_lag": lag_at_back,
            "audited_seconds": round(audited_at, 2) if audited_at is not None else None,
            "caught_up_seconds": round(caught_up, 2),
        }
    finally:
        server.stop()
        engine.dispose()
        broker.stop()
        cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300.0, help="task creates per second offered before the outage")
    parser.add_argument("--load", type=float, default=8.0, help="seconds of load before PostgreSQL stops")
    parser.add_argument("--down", type=float, default=5.0, help="seconds PostgreSQL stays down")
    args = parser.parse_args()
    result = guarded(bench_recovery, args.rate, args.load, args.down)
    print()
    print("| measure | result | target |")
    print("|---|---|---|")
    if "error" in result:
        print(f"| PostgreSQL back -> consumers caught up | error: {result['error']} | <= {TARGET_SECONDS:.0f} s |")
    else:
        lag = ", ".join(f"{c} {v:.0f}" for c, v in result["backlog_lag"].items())
        print(
            f"| PostgreSQL back -> consumers caught up (Kafka, 2 workers; down {result['down_seconds']:.0f} s after "
            f"{result['created']} creates at {result['offered_rate']:.0f}/s offered) | "
            f"{result['caught_up_seconds']} s (every event audited after {result['audited_seconds']} s); backlog "
            f"{result['backlog_unaudited']} unaudited events, group lag {lag} | <= {TARGET_SECONDS:.0f} s |"
        )
    print(json.dumps({"consumer_recovery": result}))


if __name__ == "__main__":
    main()
