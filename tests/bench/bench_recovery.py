"""Recovery benchmark (issue 28): how long until the work goes on after a fault, with the backlog it faced.

- leader frozen: two instances on one PostgreSQL (as the container starts them); the leader's process
  group gets SIGSTOP while a client creates tasks on the other; measured from the freeze to the lease
  moving and to the first, then the last, task created during the freeze reaching a socket on the
  healthy instance (the relay runs on the new leader). Target: loops resumed elsewhere within 5 s.
- broker back: the container in Kafka mode (2 workers) with sockets open; the broker is stopped,
  `backlog` tasks are created, the broker is started; measured from its return to every socket having
  every task (without a close or a repeat). Target: within 2 s.

    .venv/bin/python tests/bench/bench_recovery.py [--only leader,broker]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from shared.persistence.db import make_engine, migrate  # noqa: E402
from tests.bench.harness import guarded  # noqa: E402
from tests.support.broker import Tansu  # noqa: E402
from tests.support.live import Client  # noqa: E402
from tests.support.net import wait_until  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402
from tests.support.sockets import Collector  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret-0123"
PARTS = ("leader", "broker")
ROUNDS = int(os.environ.get("BENCH_RECOVERY_ROUNDS", "3"))
BACKLOGS = tuple(int(n) for n in os.environ.get("BENCH_RECOVERY_BACKLOGS", "500,3000").split(","))
SOCKETS = 8
#: How long a reader of the broker run waits for the whole backlog.
READ_TIMEOUT = 90
#: The titles of the tasks created while the broker is away (what a reader counts).
BACKLOG_TITLE = "backlog "


def line(measure: str, x: dict | None, result, target: str) -> list[str]:
    """One table row, or none when the part did not run; the error in place of the result when it failed."""
    if x is None:
        return []
    shown = f"error: {x['error'][:200]}" if "error" in x else result(x)
    return [f"| {measure} | {shown} | {target} |"]


def leader_pid(url: str) -> int | None:
    engine = make_engine(url)
    with engine.connect() as conn:
        holder = conn.scalar(
            sa.text("SELECT holder FROM leases WHERE name = 'leader' AND expires_at > now() AND holder <> ''")
        )
    engine.dispose()
    return int(holder.split(":")[1]) if holder else None


def created(socket: Collector) -> dict[str, float]:
    """Task id -> when it arrived, for every task.created the socket got."""
    return {
        m["data"]["id"]: t
        for m, t in zip(list(socket.messages), list(socket.arrived), strict=False)
        if m.get("type") == "task.created"
    }


def leader_round(db_url: str, instances: list[ServerProcess]) -> dict:
    """One freeze of whichever instance leads, with creates going on at the other meanwhile."""
    wait_until(lambda: leader_pid(db_url) is not None, timeout=60, message="a leader")
    first = leader_pid(db_url)
    leader = next(s for s in instances if s.proc.pid == os.getpgid(first))
    healthy = next(s for s in instances if s is not leader)
    alice = Client(healthy.url).signup()
    socket = Collector(f"ws://127.0.0.1:{healthy.port}/ws/user/{alice.user_id}/tasks?token={alice.token}")
    time.sleep(0.5)
    made: list[str] = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            made.append(alice.create_task(title="during the freeze")["id"])
            time.sleep(0.01)

    frozen_at = time.monotonic()
    os.killpg(leader.proc.pid, signal.SIGSTOP)
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        wait_until(lambda: leader_pid(db_url) not in (None, first), timeout=60, interval=0.05, message="takeover")
        moved = time.monotonic() - frozen_at
        wait_until(lambda: made and made[0] in created(socket), timeout=60, interval=0.02, message="first event")
        got = created(socket)
        first_delivered = got[made[0]] - frozen_at
        backlog = sum(1 for i in made if i not in got)
        stop.set()
        writer.join(30)
        wait_until(lambda: set(made) <= set(created(socket)), timeout=60, message="all delivered")
        got = created(socket)
        last_delivered = max(got[i] for i in made) - frozen_at
    finally:
        stop.set()
        os.killpg(leader.proc.pid, signal.SIGCONT)
    ids = socket.event_ids()
    socket.close()
    return {
        "lease_moved_s": round(moved, 2),
        "first_delivered_s": round(first_delivered, 2),
        "all_delivered_s": round(last_delivered, 2),
        "created_during": len(made),
        "backlog_at_resume": backlog,
        "repeats": len(ids) - len(set(ids)),
    }


def bench_leader(db_url: str) -> dict:
    """Freeze the leader ROUNDS times (whichever instance leads by then)."""
    instances = [ServerProcess(DATABASE_URL=db_url, JWT_SECRET=SECRET, WEB_CONCURRENCY="2").start() for _ in range(2)]
    rounds = []
    try:
        for _ in range(ROUNDS):
            rounds.append(leader_round(db_url, instances))
            time.sleep(3)  # the woken instance notices it lost the lease
    finally:
        for server in instances:
            server.stop()
    return {
        "rounds": rounds,
        "median_resumed_s": statistics.median(r["first_delivered_s"] for r in rounds),
        "median_lease_moved_s": statistics.median(r["lease_moved_s"] for r in rounds),
    }


def read_socket(url: str, expect: int, timeout: float) -> None:
    """`--socket URL EXPECT`: hold one socket in this process until `expect` tasks of the backlog (BACKLOG_TITLE)
    were created (or `timeout`); print "open" once connected, then {task id: wall-clock arrival}, repeats and
    the close code as one JSON line.

    Each socket of the broker run reads in a process of its own: eight readers in the bench's own process
    share one GIL, and 24,000 frames parsed there bound the measurement before the server does.
    """
    import websocket

    ws = websocket.create_connection(url, timeout=timeout, skip_utf8_validation=True)  # a browser does it in C
    print("open", flush=True)
    arrived: dict[str, float] = {}
    ids: list[str] = []
    close_code = None
    deadline = time.monotonic() + timeout
    with contextlib.suppress(OSError, websocket.WebSocketException):
        while len(arrived) < expect and time.monotonic() < deadline:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                break
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            message = json.loads(data)
            if "event_id" in message:
                ids.append(message["event_id"])
            if message.get("type") == "task.created" and message["data"]["title"].startswith(BACKLOG_TITLE):
                arrived.setdefault(message["data"]["id"], time.time())
    ws.close()
    print(json.dumps({"arrived": arrived, "repeats": len(ids) - len(set(ids)), "close_code": close_code}), flush=True)


def broker_run(server: ServerProcess, broker: Tansu, backlog: int, db_url: str) -> dict:
    """Broker stopped, `backlog` tasks created, broker started: time until every socket has every task.

    Also when the relay had the backlog out (its rows' newest `published_at`): what is left is the sockets'.
    """
    alice = Client(server.url).signup()
    url = f"ws://127.0.0.1:{server.port}/ws/user/{alice.user_id}/tasks?token={alice.token}"
    readers = [
        subprocess.Popen([sys.executable, __file__, "--socket", url, str(backlog)], stdout=subprocess.PIPE, text=True)
        for _ in range(SOCKETS)
    ]
    try:
        for reader in readers:
            assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        alice.create_task(title="live before the outage")
        time.sleep(1)
        broker.stop()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            made = list(pool.map(lambda i: alice.create_task(title=f"{BACKLOG_TITLE}{i}")["id"], range(backlog)))
        time.sleep(1)
        broker.start()
        back_wall = time.time()
        results = [json.loads(reader.communicate(timeout=READ_TIMEOUT + 30)[0]) for reader in readers]
    finally:
        for reader in readers:  # a run that failed part-way leaves no reader behind
            if reader.poll() is None:
                reader.kill()
                reader.wait()
    missing = sum(1 for r in results for i in made if i not in r["arrived"])
    if missing:
        raise RuntimeError(
            f"{missing} of {backlog * SOCKETS} deliveries missing (close codes {[r['close_code'] for r in results]})"
        )
    arrivals = sorted(r["arrived"][i] - back_wall for r in results for i in made)
    caught_up = arrivals[-1]
    early = sum(1 for r in results for i in made if r["arrived"][i] < back_wall)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        last_out = conn.scalar(
            sa.text("SELECT max(published_at) FROM outbox WHERE user_id = :user"), {"user": alice.user_id}
        )
    engine.dispose()
    return {
        "relayed_s": round(last_out.replace(tzinfo=dt.UTC).timestamp() - back_wall, 2) if last_out else None,
        "backlog": backlog,
        "delivered_before_back": early,
        "sockets": SOCKETS,
        "caught_up_s": round(caught_up, 2),
        "first_s": round(arrivals[0], 2),
        "half_s": round(arrivals[len(arrivals) // 2], 2),
        "repeats": sum(r["repeats"] for r in results),
        "closed": sum(1 for r in results if r["close_code"] is not None),
    }


def bench_broker(db_url: str) -> dict:
    """For each backlog size, one outage of the broker with sockets open."""
    broker = Tansu().start()
    server = ServerProcess.entrypoint(
        DATABASE_URL=db_url,
        ENVIRONMENT="production",
        JWT_SECRET=SECRET,
        WEB_CONCURRENCY="2",
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        AUTH_RATE_LIMIT="100000 per minute",
    ).start(ready_path="/health", timeout=120)
    try:
        return {"runs": [broker_run(server, broker, backlog, db_url) for backlog in BACKLOGS]}
    finally:
        server.stop()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--socket", nargs=2, metavar=("URL", "EXPECT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.socket:
        read_socket(args.socket[0], int(args.socket[1]), READ_TIMEOUT)
        return
    only = set(args.only.split(","))
    results: dict = {}
    for part, measure in (("leader", bench_leader), ("broker", bench_broker)):
        if part not in only:
            continue
        db_url = create_database("taskflow_bench")
        try:
            migrate(db_url)
            results[part] = guarded(measure, db_url)
        finally:
            drop_database(db_url)
    print()
    print("| measure | result | target |")
    print("|---|---|---|")
    rows = line(
        f"leader frozen (SIGSTOP) -> loops resumed on the other instance, median of {ROUNDS}",
        results.get("leader"),
        lambda x: (
            f"lease moved {x['median_lease_moved_s']} s, first event delivered {x['median_resumed_s']} s; "
            + "; ".join(
                f"{r['first_delivered_s']} s (backlog {r['backlog_at_resume']} of {r['created_during']}, all in "
                f"{r['all_delivered_s']} s, {r['repeats']} repeats)"
                for r in x["rounds"]
            )
        ),
        "<= 5 s",
    )
    for run in (results.get("broker") or {}).get("runs", []) if "error" not in (results.get("broker") or {}) else []:
        rows += [
            f"| broker back -> {run['sockets']} sockets caught up, backlog {run['backlog']} | {run['caught_up_s']} s "
            f"(first at {run['first_s']} s, half at {run['half_s']} s, the relay had it all out at "
            f"{run['relayed_s']} s; {run['repeats']} repeats, {run['closed']} closed) | <= 2 s |"
        ]
    if "broker" in results and "error" in results["broker"]:
        rows += line("broker back -> sockets caught up", results["broker"], str, "<= 2 s")
    print("\n".join(rows))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
