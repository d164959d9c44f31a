"""Fan-out benchmark: (a) 10,000 concurrent sockets on one fanout process (RSS, all still open?);
(b) 1,000 connected clients (one socket per user, like one tab each) while tasks are created at
500/s through the API by 250 of those users: commit -> client receipt latency. Fanout runs under
gunicorn's gevent worker (see README for why).

Then the latencies the tests once asserted (they now check that every socket and tab gets every change,
with timeouts that only catch hangs), each next to its target and to a floor measured in the same run:
(c) POST /tasks p95 with 500 sockets open, under `make run` (SQLite) and the container entrypoint
(PostgreSQL), floor: one socket open; (d) create -> both tabs of a user, floor: the POST itself;
(e) a socket that stopped reading, floor: the same run without it; (f) a click in one browser tab ->
the row in the other, floor: the row in the clicking tab.

    .venv/bin/python tests/bench/bench_fanout.py [--only sockets,latency,swarm,tabs,stalled,browser]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from shared.persistence.db import make_engine, migrate  # noqa: E402
from shared.persistence.models import User  # noqa: E402
from tests.bench.harness import guarded, run_load  # noqa: E402
from tests.support.broker import Tansu  # noqa: E402
from tests.support.live import Client  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402
from tests.support.swarm import run_swarm  # noqa: E402

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


def p95(samples: list[float]) -> float:
    """The 95th percentile of `samples` (the only one when there is one)."""
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 2 else samples[0]


def ratio(value: float | None, floor: float | None) -> str:
    """value / floor, as the table prints it."""
    return f"{value / floor:.2f}" if value and floor else "–"


def bench_swarm(url: str) -> dict:
    """POST /tasks p95 with 500 sockets of one user open, as the tests' swarm opens them; floor: one socket."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {
            "make run (SQLite)": ServerProcess.make_run(DATABASE_URL=f"sqlite:///{tmp}/run.db", JWT_SECRET=SECRET),
            "container entrypoint (PostgreSQL)": ServerProcess.entrypoint(
                DATABASE_URL=url, ENVIRONMENT="production", JWT_SECRET=SECRET
            ),
        }
        for mode, server in servers.items():
            try:
                server.start(ready_path="/health", timeout=120)
                alice = Client(server.url).signup()
                ws = f"ws://127.0.0.1:{server.port}/ws/user/{alice.user_id}/tasks?token={alice.token}"
                api = f"{server.url}/api/{alice.user_id}/tasks"
                floor = run_swarm([ws], api, alice.token, changes=60)
                busy = run_swarm([ws] * 500, api, alice.token, changes=60)
                out[mode] = {
                    "p95_ms": round(busy.create_p95_ms, 1),
                    "floor_p95_ms": round(floor.create_p95_ms, 1),
                    "opened": busy.opened,
                    "every_change": all(got == busy.created for got in busy.received),
                }
            except Exception as exc:  # each measurement stands alone
                out[mode] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:]}
            finally:
                server.stop()
    return out


def receive_created(ws, task_id: str) -> float:
    """Read until the task.created of `task_id`; the moment it arrived."""
    while True:
        body = json.loads(ws.recv())
        if body.get("type") == "task.created" and body["data"]["id"] == task_id:
            return time.perf_counter()


def bench_tabs(url: str, creates: int = 40) -> dict:
    """Create -> the event on both sockets of the user (two tabs); floor: the POST's own round trip."""
    import websocket

    server = ServerProcess(DATABASE_URL=url, JWT_SECRET=SECRET).start()
    try:
        alice = Client(server.url).signup()
        tabs = [
            websocket.create_connection(
                f"ws://127.0.0.1:{server.port}/ws/user/{alice.user_id}/tasks?token={alice.token}", timeout=30
            )
            for _ in range(2)
        ]
        receipts, posts = [], []
        for i in range(creates):
            started = time.perf_counter()
            task = alice.create_task(title=f"for both tabs {i}")
            posts.append((time.perf_counter() - started) * 1000)
            receipts.append((max(receive_created(ws, task["id"]) for ws in tabs) - started) * 1000)
        for ws in tabs:
            ws.close()
        return {
            "p50_ms": round(statistics.median(receipts), 1),
            "p95_ms": round(p95(receipts), 1),
            "max_ms": round(max(receipts), 1),
            "post_p95_ms": round(p95(posts), 1),
        }
    finally:
        server.stop()


def bench_stalled(url: str, creates: int = 40) -> dict:
    """Create -> receipt on a reading socket while another socket of the user stopped reading (a 4 KiB
    receive buffer, 9 KB events); floor: the same creates with no stalled socket."""
    import websocket

    server = ServerProcess(DATABASE_URL=url, JWT_SECRET=SECRET).start()
    try:
        out = {}
        for case in ("floor", "stalled"):
            alice = Client(server.url).signup()
            ws_url = f"ws://127.0.0.1:{server.port}/ws/user/{alice.user_id}/tasks?token={alice.token}"
            slow = None
            if case == "stalled":
                slow = websocket.create_connection(
                    ws_url, timeout=30, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
                )
            fast = websocket.create_connection(ws_url, timeout=30)
            latencies = []
            for i in range(creates):
                started = time.perf_counter()
                task = alice.create_task(title=f"burst {i}", description="x" * 9000)
                latencies.append((receive_created(fast, task["id"]) - started) * 1000)
            out[case] = {"max_ms": round(max(latencies), 1), "p95_ms": round(p95(latencies), 1)}
            fast.close()
            if slow is not None:
                slow.close()
        return out
    finally:
        server.stop()


def bench_browser(url: str, clicks: int = 5) -> dict:
    """Click "Add task" in one tab -> the row in another tab of the same user; floor: the row in the
    clicking tab. Debian's Chromium through Playwright, against the combined app under gunicorn."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch
    from tests.support.webapp import add_task, sign_in, sign_up, task_row

    server = ServerProcess(DATABASE_URL=url, JWT_SECRET=SECRET).start()
    try:
        with sync_playwright() as p:
            browser = launch(p)
            try:
                pages = []
                for _ in range(2):
                    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
                    context.add_init_script("localStorage.setItem('taskflow.more', 'open')")
                    page = context.new_page()
                    page.goto(server.url + "/")
                    pages.append(page)
                email, _ = sign_up(pages[0])
                sign_in(pages[1], email)
                own, other = [], []
                for i in range(clicks):
                    title = f"Buy oat milk {i}"
                    started = time.perf_counter()
                    add_task(pages[0], title)
                    task_row(pages[0], title).wait_for(timeout=30_000)
                    own.append((time.perf_counter() - started) * 1000)
                    task_row(pages[1], title).wait_for(timeout=30_000)
                    other.append((time.perf_counter() - started) * 1000)
                return {
                    "median_ms": round(statistics.median(other), 1),
                    "max_ms": round(max(other), 1),
                    "own_tab_median_ms": round(statistics.median(own), 1),
                }
            finally:
                browser.close()
    finally:
        server.stop()


def row(measure: str, x: dict | None, result, target: str) -> list[str]:
    """One table row, or none when the part did not run; an error in place of the result when it failed."""
    if x is None:
        return []
    shown = f"error: {x['error'][:200]}" if "error" in x else result(x)
    return [f"| {measure} | {shown} | {target} |"]


def timing_rows(swarm: dict | None, tabs: dict | None, stalled: dict | None, browser: dict | None) -> list[str]:
    """The rows of (c)-(f): measure | result | target."""
    rows = []
    for mode, x in (swarm or {}).items():
        rows += row(
            f"POST /tasks p95 with 500 sockets open, {mode}",
            x,
            lambda x: (
                f"{x['p95_ms']} ms = {ratio(x['p95_ms'], x['floor_p95_ms'])} x floor (1 socket: "
                f"{x['floor_p95_ms']} ms); {x['opened']} opened, every change on every socket: {x['every_change']}"
            ),
            "<= 100 ms",
        )
    rows += row(
        "create -> both tabs of a user (gunicorn, PostgreSQL)",
        tabs,
        lambda x: (
            f"p50 {x['p50_ms']} / p95 {x['p95_ms']} / max {x['max_ms']} ms = {ratio(x['p95_ms'], x['post_p95_ms'])}"
            f" x floor (the POST: p95 {x['post_p95_ms']} ms)"
        ),
        "<= 500 ms",
    )
    rows += row(
        "create -> receipt beside a socket that stopped reading, max of 40",
        stalled,
        lambda x: (
            f"{x['stalled']['max_ms']} ms = {ratio(x['stalled']['max_ms'], x['floor']['max_ms'])} x floor "
            f"(no stalled socket: {x['floor']['max_ms']} ms)"
        ),
        "< 500 ms",
    )
    rows += row(
        "click in one browser tab -> the row in the other",
        browser,
        lambda x: (
            f"median {x['median_ms']} / max {x['max_ms']} ms = {ratio(x['median_ms'], x['own_tab_median_ms'])} x "
            f"floor (the clicking tab: {x['own_tab_median_ms']} ms)"
        ),
        "<= 500 ms",
    )
    return rows


PARTS = ("sockets", "latency", "swarm", "tabs", "stalled", "browser")


def main() -> None:
    """Run the parts asked for and print the table, then one JSON line of the raw results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    only = set(parser.parse_args().only.split(","))
    broker = Tansu().start() if only & {"sockets", "latency"} else None
    url = create_database("taskflow_bench_fanout")
    many, latencies = None, []
    swarm = tabs = stalled = browser = None
    try:
        migrate(url)
        if "sockets" in only:
            many = bench_many_sockets(url, broker)
            time.sleep(1)
        for rate in RATES if "latency" in only else ():
            with make_engine(url).begin() as conn:
                conn.execute(sa.text("TRUNCATE users CASCADE"))
            latencies.append(bench_latency(url, broker, rate))
        if "swarm" in only:
            swarm = bench_swarm(url)
        if "tabs" in only:
            tabs = guarded(bench_tabs, url)
        if "stalled" in only:
            stalled = guarded(bench_stalled, url)
        if "browser" in only:
            browser = guarded(bench_browser, url)
    finally:
        drop_database(url)
        if broker is not None:
            broker.stop()
    print()
    print(f"| measure (fanout: gunicorn {WORKER_CLASS} worker, 1 process) | result | target |")
    print("|---|---|---|")
    if many is not None:
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
    for row in timing_rows(swarm, tabs, stalled, browser):
        print(row)
    print(
        json.dumps(
            {
                "many_sockets": many,
                "latency": latencies,
                "swarm": swarm,
                "tabs": tabs,
                "stalled": stalled,
                "browser": browser,
            }
        )
    )


if __name__ == "__main__":
    main()
