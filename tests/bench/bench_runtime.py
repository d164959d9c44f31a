"""Combined-runtime benchmark (issue 12): every number against its target, in one run on this machine.

    .venv/bin/python tests/bench/bench_runtime.py [--quick] [--only floor,api,...]

Measures, each independently (a failure is recorded and the run goes on):

1. floor     — a bare WSGI app (tests/bench/floor_app.py: psycopg pool, one `WITH new_row AS (INSERT INTO
               tasks …) INSERT INTO outbox …` per request) under the same gunicorn config and worker count;
   floor_notify — the same plus the app's `pg_notify` in that statement, to price NOTIFY at commit apart;
2. api       — `functions.tasks:create_app()` with RUN_BACKGROUND_WORKERS=false (the write path);
3. combined  — `functions.combined:create_app()` with its loops on, then how long the backlog (unpublished
               outbox rows, the audit consumer's lag) takes to drain after the load stops;
               (1–3: wrk, 2 threads, 50 connections, warm-up then a measured run, tests/bench/wrk/create_tasks.lua)
4. drain     — N events written with the loops off, then the combined app started: time until the outbox is
               published and the consumers 'audit' and 'notifications' stand at the stream's head;
5. openloop  — 500 creates/s offered, open loop (tests/bench/load.py --rate, aiohttp, its own process),
               with 1,000 WebSockets open (10 per user, tests/bench/ws_clients.py): create p95,
               commit → socket p95, backlog empty after the load stops;
6. kafka     — the same with KAFKA_BOOTSTRAP_SERVERS on a tansu broker: commit → socket p95;
7. relay     — `Runtime(settings).relay.drain()` of N outbox rows to Kafka vs a KafkaProducer with the
               KafkaTransport's own settings sending the same payloads (keys, headers) in the same run;
8. sockets   — 10,000 sockets on the combined app (default config, PostgreSQL), two client processes:
               opened count, gunicorn RSS (master + workers, /proc), create p95 at 100/s open vs idle.

Prints a markdown table, then one JSON line with every raw result. Beside each throughput it reports where
the CPU went in the measured window (/proc: the gunicorn processes per worker, every PostgreSQL backend, the
load generator and socket clients, the whole machine), and before each part how busy the machine already
was with work that is not the bench's: on a shared 2-core box that decides whether the numbers mean anything.
Profile a worker while it runs with `py-spy dump --pid <worker>` (py-spy is not a project dependency).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from shared.persistence.db import make_engine, migrate, utcnow  # noqa: E402
from shared.persistence.models import Outbox, Task, User  # noqa: E402
from tests.bench.harness import load_command  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret-0123"
WORKERS = os.environ.get("BENCH_WORKERS", "2")  # render/gunicorn.conf.py's default
WRK_SCRIPT = ROOT / "tests/bench/wrk/create_tasks.lua"
COMBINED = "functions.combined:create_app()"
CONSUMERS = ("audit", "notifications")


class Config:
    def __init__(self, quick: bool):
        self.quick = quick
        self.connections = 50
        self.wrk_threads = 2
        self.warmup = 1 if quick else 3
        self.duration = 3 if quick else 10
        self.bench_users = 50
        self.drain_events = 2_000 if quick else 20_000
        self.open_rate = 500
        self.open_seconds = 4 if quick else 10
        self.open_sockets = 200 if quick else 1_000
        self.sockets_per_user = 10
        self.relay_events = 2_000 if quick else 20_000
        self.many_sockets = 1_000 if quick else 10_000
        self.many_rate = 100
        self.many_seconds = 4 if quick else 10


# -- plumbing ----------------------------------------------------------------------------------
def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:  # Debian's package, like the Makefile's chromium target
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        path = shutil.which("wrk")
    return path


def pg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def fresh_database() -> str:
    url = create_database("taskflow_bench_rt")
    migrate(url)
    return url


def token(user_id: str) -> str:
    exp = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    return jwt.encode({"sub": user_id, "exp": exp}, SECRET, algorithm="HS256")


def make_users(url: str, count: int) -> list[list[str]]:
    """Accounts written directly (argon2 sign-ups would dominate), tokens signed with the deployment's secret."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(User), [{"id": u, "email": f"{u}@bench.example", "password_hash": "-"} for u in ids])
    engine.dispose()
    return [[u, token(u)] for u in ids]


def server(app: str, url: str, **env: str) -> ServerProcess:
    return ServerProcess(app, DATABASE_URL=url, JWT_SECRET=SECRET, WEB_CONCURRENCY=WORKERS, **env)


def tail(srv: ServerProcess | None, lines: int = 15) -> str:
    return "".join(srv.output[-lines:]) if srv is not None else ""


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in pathlib.Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return pids


def rss_mb(pid: int) -> dict:
    """RSS of the gunicorn master and every worker, from /proc/<pid>/status."""
    per = {}
    for p in process_tree(pid):
        try:
            for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    per[p] = round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
    return {"total_mb": round(sum(per.values()), 1), "processes": len(per), "per_process_mb": sorted(per.values())}


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> float:
    """user + system CPU seconds of these processes so far (/proc/<pid>/stat)."""
    total = 0
    for p in pids:
        try:
            fields = pathlib.Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICK


def postgres_pids() -> list[int]:
    pids = []
    for comm in pathlib.Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
        except OSError:
            pass
    return pids


def background_cores(seconds: float = 2.0) -> float:
    """Cores the rest of the machine keeps busy while the bench runs nothing (other users' work)."""
    before = CpuMeter._machine()
    time.sleep(seconds)
    return round((CpuMeter._machine() - before) / seconds, 2)


class CpuMeter:
    """Where the CPU went during a measured window: the server's processes, PostgreSQL, the whole machine."""

    def __init__(self, server_pid: int):
        self.server = process_tree(server_pid)
        self.pg = postgres_pids()
        self.per_process = [cpu_seconds([p]) for p in self.server]
        self.start = (cpu_seconds(self.server), cpu_seconds(self.pg), self._machine(), time.perf_counter())

    @staticmethod
    def _machine() -> float:
        fields = pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        idle = int(fields[3]) + int(fields[4])
        return (sum(int(f) for f in fields[:8]) - idle) / TICK

    def stop(self, requests: int) -> dict:
        server, pg, machine, t = self.start
        wall = time.perf_counter() - t
        server = cpu_seconds(self.server) - server
        pg = cpu_seconds(postgres_pids()) - pg
        machine = self._machine() - machine
        per = (lambda x: round(1000 * x / requests, 2)) if requests else (lambda x: None)
        return {
            "wall_s": round(wall, 2),
            "server_cores": round(server / wall, 2),
            "postgres_cores": round(pg / wall, 2),
            "machine_cores": round(machine / wall, 2),
            "server_ms_per_request": per(server),
            "postgres_ms_per_request": per(pg),
            "other_cores": round((machine - server - pg) / wall, 2),
            # master first, then each worker: one gevent worker can use one core at most
            "server_process_cores": [
                round((cpu_seconds([p]) - before) / wall, 2)
                for p, before in zip(self.server, self.per_process, strict=True)
            ],
        }


def wrk(base: str, users: list[list[str]], cfg: Config, server_pid: int | None = None) -> dict:
    """A warm-up run (discarded), then the measured run; wrk's done() prints one JSON line."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(f"{u} {t}" for u, t in users) + "\n")
    env = {**os.environ, "WRK_USERS": f.name}
    result = meter = None
    for seconds in (cfg.warmup, cfg.duration):
        if seconds == cfg.duration and server_pid is not None:
            meter = CpuMeter(server_pid)
        out = subprocess.run(
            [
                ensure_wrk(),
                f"-t{cfg.wrk_threads}",
                f"-c{cfg.connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(WRK_SCRIPT),
                base,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode or not lines:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
        result = json.loads(lines[-1])
    if meter is not None:
        result["cpu"] = meter.stop(result["requests"])
    os.unlink(f.name)
    return result


class Backlog:
    """Unpublished outbox rows, the stream head and each consumer's stored position (psycopg, no ORM)."""

    def __init__(self, url: str, consumers: tuple[str, ...] = CONSUMERS):
        self.conn = psycopg.connect(pg_url(url), autocommit=True)
        self.consumers = consumers  # none with Kafka: there the consumers are Kafka groups

    def read(self) -> dict:
        pending, head = self.conn.execute(
            "SELECT count(*) FILTER (WHERE published_at IS NULL), coalesce(max(seq), 0) FROM outbox"
        ).fetchone()
        positions = dict(self.conn.execute("SELECT consumer, position FROM consumer_offsets").fetchall())
        return {"pending": pending, "head": head, "lag": {c: head - positions.get(c, 0) for c in self.consumers}}

    def wait_empty(self, timeout: float, want_total: int | None = None) -> dict:
        """Poll every 20 ms until nothing is unpublished and every consumer stands at the head."""
        started = time.perf_counter()
        first = self.read()
        outbox_s = audit_s = None
        state = first
        while time.perf_counter() - started < timeout:
            state = self.read()
            elapsed = time.perf_counter() - started
            if outbox_s is None and state["pending"] == 0 and (want_total is None or state["head"] >= want_total):
                outbox_s = elapsed
            if audit_s is None and outbox_s is not None and state["lag"].get("audit", 0) == 0:
                audit_s = elapsed
            if outbox_s is not None and all(v == 0 for v in state["lag"].values()):
                return {
                    "at_stop": first,
                    "outbox_empty_s": round(outbox_s, 3),
                    "audit_caught_up_s": round(audit_s, 3),
                    "all_caught_up_s": round(elapsed, 3),
                }
            time.sleep(0.02)
        return {
            "at_stop": first,
            "timeout_s": timeout,
            "left": state,
            "outbox_empty_s": outbox_s and round(outbox_s, 3),
        }

    def close(self) -> None:
        self.conn.close()


def open_loop(base: str, users: list[list[str]], **kwargs) -> dict:
    """load.py stops at the first client exception (a reset connection): one retry, the failure kept."""
    try:
        return load_process(base, users, **kwargs)
    except RuntimeError as exc:
        result = load_process(base, users, **kwargs)
        result["retried_after"] = str(exc)[-300:]
        return result


def load_process(
    base: str, users: list[list[str]], *, concurrency: int, duration: float, warmup: float, rate: float
) -> dict:
    """tests/bench/load.py in its own process (harness.load_command), with its CPU use recorded."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(users, f)
    proc = subprocess.Popen(
        load_command(base, f.name, concurrency=concurrency, duration=duration, warmup=warmup, rate=rate),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cpu = 0.0
    while proc.poll() is None:  # sample until it exits: /proc/<pid> is gone after the wait
        cpu = cpu_seconds([proc.pid]) or cpu
        time.sleep(0.1)
    out, err = proc.communicate()
    os.unlink(f.name)
    if proc.returncode:
        raise RuntimeError(f"load.py exited {proc.returncode}: {err[-600:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["generator_cores"] = round(cpu / (warmup + duration), 2)
    return result


def fill_events(url: str, users: list[list[str]], count: int) -> None:
    """`count` task.created events as the API writes them (task row + outbox row), unpublished."""
    from functions.tasks.schemas.tasks import TaskCreate
    from shared.messaging.outbox import outbox_values
    from shared.services.tasks import created_event, new_task

    rows, outbox = [], []
    for i in range(count):
        body = TaskCreate.model_validate(
            {"title": f"drain task {i}", "priority": "medium", "tags": ["bench"], "due_date": "2030-01-01T09:00:00Z"}
        )
        task = new_task(users[i % len(users)][0], now=utcnow(), **body.given("UTC"))
        event = created_event(task)
        rows.append({c.key: getattr(task, c.key) for c in Task.__table__.columns})
        outbox.append(outbox_values(event))
    engine = make_engine(url)
    with engine.begin() as conn:
        for start in range(0, count, 2000):
            conn.execute(sa.insert(Task), rows[start : start + 2000])
            conn.execute(sa.insert(Outbox), outbox[start : start + 2000])
    engine.dispose()


class Swarm:
    """WebSocket clients (tests/bench/ws_clients.py) split over processes of at most `per_process` sockets."""

    def __init__(self, urls: list[str], seconds: float, per_process: int = 5_000):
        self.procs = []
        self.files = []
        for start in range(0, len(urls), per_process):
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
                f.write("\n".join(urls[start : start + per_process]))
            self.files.append(f.name)
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "tests/bench/ws_clients.py"),
                        "--urls",
                        f.name,
                        "--seconds",
                        str(seconds),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

    def connected(self) -> dict:
        phases = [json.loads(p.stdout.readline() or '{"open": 0, "failed": -1}') for p in self.procs]
        return {"open": sum(x["open"] for x in phases), "failed": sum(x["failed"] for x in phases)}

    def finish(self, timeout: float = 120) -> dict:
        results = []
        for p in self.procs:
            out, err = p.communicate(timeout=timeout)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            results.append(json.loads(lines[-1]) if lines else {"error": err[-500:]})
        for name in self.files:
            os.unlink(name)
        merged = {
            "opened": sum(r.get("opened", 0) for r in results),
            "still_open": sum(r.get("still_open", 0) for r in results),
            "failed": sum(r.get("failed", 0) for r in results),
            "received": sum(r.get("received", 0) for r in results),
            "errors": sorted({e for r in results for e in r.get("errors", [])}),
        }
        if len(results) == 1:  # percentiles only merge exactly from one process
            merged.update({k: results[0].get(k) for k in ("p50_ms", "p95_ms", "p99_ms")})
        else:
            merged["per_process"] = results
            merged["p95_ms"] = max((r.get("p95_ms") or 0) for r in results)
        return merged

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)


def socket_urls(port: int, users: list[list[str]], per_user: int, total: int) -> list[str]:
    urls = []
    for i in range(total):
        u, t = users[(i // per_user) % len(users)]
        urls.append(f"ws://127.0.0.1:{port}/ws/user/{u}/tasks?token={t}")
    return urls


# -- the measurements ----------------------------------------------------------------------------
def bench_write_paths(cfg: Config, results: dict, only: set[str]) -> None:
    """1 and 2 on one database (emptied between), 3 on a fresh one."""
    url = fresh_database()
    try:
        users = make_users(url, cfg.bench_users)
        for key, app, env in (
            ("floor", "tests.bench.floor_app:app", {}),
            ("floor_notify", "tests.bench.floor_app:app", {"FLOOR_NOTIFY": "1"}),
            ("api", "functions.tasks:create_app()", {"RUN_BACKGROUND_WORKERS": "false"}),
        ):
            if key not in only:
                continue
            srv = None
            try:
                srv = server(app, url, **env).start()
                results[key] = wrk(srv.url, users, cfg, srv.proc.pid)
                results[key]["rss"] = rss_mb(srv.proc.pid)
            except Exception as exc:
                results[key] = {"error": f"{type(exc).__name__}: {exc}", "server": tail(srv)}
            finally:
                if srv is not None:
                    srv.stop()
            with psycopg.connect(pg_url(url), autocommit=True) as conn:
                conn.execute("TRUNCATE outbox, tasks CASCADE")
                conn.execute("VACUUM ANALYZE")
    finally:
        drop_database(url)
    if "combined" in only:
        url = fresh_database()
        srv = None
        try:
            users = make_users(url, cfg.bench_users)
            srv = server(COMBINED, url).start()
            results["combined"] = wrk(srv.url, users, cfg, srv.proc.pid)
            backlog = Backlog(url)
            results["combined"]["drain"] = backlog.wait_empty(timeout=180)
            backlog.close()
        except Exception as exc:
            results["combined"] = {"error": f"{type(exc).__name__}: {exc}", "server": tail(srv)}
        finally:
            if srv is not None:
                srv.stop()
            drop_database(url)


def bench_drain(cfg: Config) -> dict:
    url = fresh_database()
    srv = None
    try:
        users = make_users(url, cfg.bench_users)
        fill_events(url, users, cfg.drain_events)
        backlog = Backlog(url)
        started = time.perf_counter()
        srv = server(COMBINED, url)
        threading.Thread(target=srv.start, daemon=True).start()  # the clock runs while it boots
        waited = backlog.wait_empty(timeout=300, want_total=cfg.drain_events)
        wall = time.perf_counter() - started
        # From the database's own clock: first row published -> last consumer position stored.
        first, last = backlog.conn.execute(
            "SELECT (SELECT min(published_at) FROM outbox),"
            " (SELECT max(updated_at) FROM consumer_offsets WHERE consumer = ANY(%s))",
            (list(CONSUMERS),),
        ).fetchone()
        relay_last = backlog.conn.execute("SELECT max(published_at) FROM outbox").fetchone()[0]
        backlog.close()
        pipeline_s = (last - first).total_seconds()
        return {
            "events": cfg.drain_events,
            "wall_s_from_spawn": round(wall, 2),
            "pipeline_s": round(pipeline_s, 2),
            "relay_s": round((relay_last - first).total_seconds(), 2),
            "rate": round(cfg.drain_events / pipeline_s, 1) if pipeline_s > 0 else None,
            "rate_from_spawn": round(cfg.drain_events / wall, 1),
            "wait": waited,
        }
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "server": tail(srv)}
    finally:
        if srv is not None:
            srv.stop()
        drop_database(url)


def bench_open_loop(cfg: Config, **env: str) -> dict:
    """500 creates/s offered (load.py, open loop) with sockets open; commit -> socket and backlog after the stop."""
    url = fresh_database()
    srv = swarm = None
    try:
        users = make_users(url, max(1, cfg.open_sockets // cfg.sockets_per_user))
        srv = server(COMBINED, url, **env).start()
        warmup = 2
        swarm = Swarm(
            socket_urls(srv.port, users, cfg.sockets_per_user, cfg.open_sockets), seconds=warmup + cfg.open_seconds + 6
        )
        connected = swarm.connected()
        backlog = Backlog(url, () if "KAFKA_BOOTSTRAP_SERVERS" in env else CONSUMERS)
        meter = CpuMeter(srv.proc.pid)
        swarm_cpu = cpu_seconds(p.pid for p in swarm.procs)
        load = open_loop(srv.url, users, concurrency=250, duration=cfg.open_seconds, warmup=warmup, rate=cfg.open_rate)
        cpu = meter.stop(int(load["rate"] * (warmup + cfg.open_seconds)))
        cpu["socket_clients_cores"] = round((cpu_seconds(p.pid for p in swarm.procs) - swarm_cpu) / cpu["wall_s"], 2)
        cpu["load_generator_cores"] = load["generator_cores"]
        drained = backlog.wait_empty(timeout=60)
        relay = backlog.conn.execute(
            "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at))"
            " FROM outbox WHERE published_at IS NOT NULL"
        ).fetchone()[0]
        backlog.close()
        sockets = swarm.finish()
        return {
            "generator": "tests/bench/load.py --rate (aiohttp, open loop, 250 clients)",
            "offered_rate": cfg.open_rate,
            "load": load,
            "connected": connected,
            "sockets": sockets,
            "backlog": drained,
            "cpu": cpu,
            "commit_to_published_p95_ms": round((relay or 0) * 1000, 1),
        }
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:], "server": tail(srv)}
    finally:
        if swarm is not None:
            swarm.kill()
        if srv is not None:
            srv.stop()
        drop_database(url)


def crc32c_impl() -> str:
    """kafka-python checksums every record batch: in C with the `crc32c` package, else in pure Python."""
    from kafka.record import util

    return "native (crc32c package)" if type(util._crc32c).__name__ == "builtin_function_or_method" else "pure Python"


def bench_relay(cfg: Config, bootstrap: str, rounds: int = 3) -> dict:
    """The relay draining N outbox rows (`Runtime(settings).relay.drain()`) vs the transport's own KafkaProducer
    sending the same records (built from the same stored text, as the relay builds them), both warmed first
    (producer connected, topic known, statements prepared), in `rounds` rounds of fresh rows. The floor is the
    faster of two raw modes: one flush at the end, and a flush per relay batch (medians)."""
    from kafka import KafkaProducer

    from shared.messaging.cloudevents import Outgoing, kafka_record
    from shared.messaging.transports import KafkaTransport
    from shared.runtime.process import Runtime
    from shared.settings import Settings

    url = fresh_database()
    runtime = raw = None
    try:
        users = make_users(url, cfg.bench_users)
        settings = Settings(database_url=url, kafka_bootstrap_servers=bootstrap)
        warm = KafkaProducer(bootstrap_servers=bootstrap)  # topic creation, first connection: outside both timings
        for i in range(200):
            warm.send("tasks.events", key=users[0][0].encode(), value=b'{"warm": %d}' % i)
        warm.flush(timeout=30)
        warm.close()
        runtime = Runtime(settings)
        fill_events(url, users, settings.relay_batch_size)
        runtime.relay.drain()  # the relay's producer connected, its statements prepared
        raw = KafkaTransport(settings)
        producer = raw._get_producer()  # the transport's own settings (acks, batching, in-flight limit)

        def send_all(messages: list[Outgoing], flush_every: int) -> tuple[float, int]:
            began, futures = time.perf_counter(), []
            for i in range(0, len(messages), flush_every):
                for m in messages[i : i + flush_every]:
                    record = kafka_record(m)
                    futures.append(
                        producer.send(
                            m.topic, key=m.user_id.encode(), value=record.value, headers=list(record.headers.items())
                        )
                    )
                producer.flush()
            return time.perf_counter() - began, sum(1 for f in futures if f.succeeded())

        batch = settings.relay_batch_size
        warm_up = {"event_id": "w", "event_type": "w", "user_id": "w", "aggregate_id": None, "timestamp": "w"}
        send_all([Outgoing.of("tasks.events", warm_up)] * 200, batch)
        relay_rates, raw_rates, raw_batched_rates = [], [], []
        for _ in range(rounds):
            fill_events(url, users, cfg.relay_events)
            with psycopg.connect(pg_url(url)) as conn:
                stored = conn.execute(
                    "SELECT topic, payload::text, event_id, payload->>'event_type', payload->>'user_id', "
                    "payload->>'aggregate_id', payload->>'timestamp' FROM outbox WHERE published_at IS NULL ORDER BY id"
                ).fetchall()
            messages = [Outgoing(topic, data.encode(), *fields) for topic, data, *fields in stored]
            started = time.perf_counter()
            published, failed = runtime.relay.drain(max_batches=100_000)
            relay_s = time.perf_counter() - started
            if failed or published != cfg.relay_events:
                raise RuntimeError(f"relay published {published} of {cfg.relay_events} (failed={failed})")
            relay_rates.append(published / relay_s)
            raw_s, raw_ok = send_all(messages, len(messages))  # one flush at the end
            if raw_ok != len(messages):
                raise RuntimeError(f"raw produce acknowledged {raw_ok} of {len(messages)}")
            raw_rates.append(len(messages) / raw_s)
            raw_batched_s, _ = send_all(messages, batch)  # a flush per relay batch (what the relay must wait for)
            raw_batched_rates.append(len(messages) / raw_batched_s)
        relay_rate, raw_rate, raw_batched_rate = map(statistics.median, (relay_rates, raw_rates, raw_batched_rates))
        return {
            "events": cfg.relay_events,
            "rounds": rounds,
            "relay_rate": round(relay_rate, 1),
            "raw_rate": round(max(raw_rate, raw_batched_rate), 1),
            "raw_one_flush_rate": round(raw_rate, 1),
            "raw_flush_per_batch_rate": round(raw_batched_rate, 1),
            "relay_rates": [round(x) for x in relay_rates],
            "raw_rates": [round(x) for x in raw_rates],
            "raw_flush_per_batch_rates": [round(x) for x in raw_batched_rates],
            "batch": batch,
            "ratio": round(relay_rate / max(raw_rate, raw_batched_rate), 3),
            "crc32c": crc32c_impl(),
        }
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:]}
    finally:
        if raw is not None:
            raw.close()
        if runtime is not None:
            runtime.close()
        drop_database(url)


def relay_detail(x: dict) -> str:
    """How bench_relay's figures were taken, for the tables."""
    return (
        f"medians of {x['rounds']} rounds of {fmt(x['events'])} events; raw = the faster of one flush at the end "
        f"({fmt(x['raw_one_flush_rate'])}/s) and a flush per {x['batch']} ({fmt(x['raw_flush_per_batch_rate'])}/s); "
        f"kafka-python CRC32C {x['crc32c']}"
    )


def bench_many_sockets(cfg: Config) -> dict:
    url = fresh_database()
    srv = swarm = None
    try:
        users = make_users(url, max(1, cfg.many_sockets // cfg.sockets_per_user))
        # The container as deployed: default config (no worker count forced by the bench).
        srv = ServerProcess(
            COMBINED, DATABASE_URL=url, JWT_SECRET=SECRET, WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2")
        ).start()
        load_users = users[:20]
        idle_rss = rss_mb(srv.proc.pid)
        idle = open_loop(srv.url, load_users, concurrency=20, duration=cfg.many_seconds, warmup=1, rate=cfg.many_rate)
        started = time.perf_counter()
        swarm = Swarm(
            socket_urls(srv.port, users, cfg.sockets_per_user, cfg.many_sockets),
            seconds=cfg.many_seconds + 25,
            per_process=5_000,
        )
        connected = swarm.connected()
        connect_s = time.perf_counter() - started
        time.sleep(2)
        open_rss = rss_mb(srv.proc.pid)
        busy = open_loop(srv.url, load_users, concurrency=20, duration=cfg.many_seconds, warmup=1, rate=cfg.many_rate)
        sockets = swarm.finish(timeout=180)
        return {
            "sockets": cfg.many_sockets,
            "connected": connected,
            "connect_s": round(connect_s, 1),
            "opened": sockets["opened"],
            "still_open": sockets["still_open"],
            "failed": sockets["failed"],
            "errors": sockets["errors"],
            "received": sockets["received"],
            "rss_idle": idle_rss,
            "rss_open": open_rss,
            "idle": idle,
            "busy": busy,
            "p95_ratio": round(busy["p95_ms"] / idle["p95_ms"], 2) if idle.get("p95_ms") else None,
        }
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:], "server": tail(srv)}
    finally:
        if swarm is not None:
            swarm.kill()
        if srv is not None:
            srv.stop()
        drop_database(url)


# -- report --------------------------------------------------------------------------------------
def fmt(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def cpu_note(x: dict) -> str:
    c = x.get("cpu")
    if not c:
        return ""
    clients = (
        f", socket clients {c['socket_clients_cores']}, load generator {c['load_generator_cores']}"
        if "socket_clients_cores" in c
        else ""
    )
    return (
        f"; CPU per create: app {fmt(c['server_ms_per_request'], 2)} ms, PostgreSQL "
        f"{fmt(c['postgres_ms_per_request'], 2)} ms; cores busy: machine {c['machine_cores']} of {os.cpu_count()}"
        f" (app {c['server_cores']} = {' + '.join(str(x) for x in c['server_process_cores'][1:])} per worker, "
        f"PostgreSQL {c['postgres_cores']}{clients})"
    )


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def table(r: dict, cfg: Config) -> list[str]:
    rows = []

    def err(key):
        return f"error: {r[key]['error'][:200]}" if isinstance(r.get(key), dict) and "error" in r[key] else None

    floor = r.get("floor", {}).get("rate")
    if "floor" in r:
        rows.append(
            (
                "stack floor: bare WSGI + psycopg, one CTE insert (wrk)",
                err("floor")
                or f"{fmt(floor)} creates/s, p95 {fmt(r.get('floor', {}).get('p95_ms'), 1)} ms" + cpu_note(r["floor"]),
                "–",
                "–",
            )
        )
    if "floor_notify" in r:
        x = r["floor_notify"]
        rows.append(
            (
                "… floor + `pg_notify` in the same statement (as the app's insert does)",
                err("floor_notify")
                or f"{fmt(x['rate'])} creates/s = {fmt(x['rate'] / floor if floor else None, 2)} × floor, p95 "
                f"{fmt(x['p95_ms'], 1)} ms"
                + cpu_note(x),
                "–",
                "–",
            )
        )
    for key, label, target in (
        ("api", "API create, write path (loops off)", 0.7),
        ("combined", "API create, full combined app (loops on)", 0.6),
    ):
        x = r.get(key)
        if x is None:
            continue
        if "error" in x:
            rows.append((label, err(key), f"≥ {target} × floor", "–"))
            continue
        ratio = round(x["rate"] / floor, 2) if floor else None
        rows.append(
            (
                label,
                f"{fmt(x['rate'])} creates/s = **{fmt(ratio, 2)} × floor**, p95 {fmt(x['p95_ms'], 1)} ms, "
                f"{x['errors']} errors" + cpu_note(x),
                f"≥ {target} × floor",
                verdict(ratio >= target if ratio else None),
            )
        )
        if key == "combined" and "drain" in x:
            d = x["drain"]
            at = d.get("at_stop", {})
            rows.append(
                (
                    "… backlog after the load stops (combined)",
                    f"{fmt(at.get('pending'))} unpublished, audit lag {fmt(at.get('lag', {}).get('audit'))} at stop; "
                    f"outbox empty in {fmt(d.get('outbox_empty_s'), 2)} s, audit caught up in "
                    f"{fmt(d.get('audit_caught_up_s'), 2)} s"
                    + (f" (timeout; left {d.get('left')})" if "timeout_s" in d else ""),
                    "–",
                    "–",
                )
            )
    x = r.get("drain")
    if x is not None:
        rows.append(
            (
                "in-process pipeline drain (relay + audit + notifications)",
                err("drain")
                or f"**{fmt(x['rate'])} events/s** ({fmt(x['events'])} events in {x['pipeline_s']} s; relay alone "
                f"{x['relay_s']} s; {fmt(x['rate_from_spawn'])}/s counting gunicorn start)",
                "≥ 2,000 events/s",
                verdict(x["rate"] >= 2000 if x.get("rate") else None),
            )
        )
    for key, label in (("openloop", "in-process bus"), ("kafka", "Kafka (tansu)")):
        x = r.get(key)
        if x is None:
            continue
        if "error" in x:
            rows.append((f"open loop 500/s, {label}", err(key), "–", "–"))
            continue
        load, s, b = x["load"], x["sockets"], x["backlog"]
        sockets = f"{s['opened']:,}/{cfg.open_sockets:,} sockets, {s['received']:,} deliveries"
        if key == "openloop":
            rows.append(
                (
                    f"open loop {cfg.open_rate}/s offered, {label}: create p95",
                    f"**{fmt(load['p95_ms'], 1)} ms** "
                    f"(p50 {fmt(load['p50_ms'], 1)}, achieved {fmt(load['rate'])}/s, {load['errors']} errors; "
                    f"{sockets})",
                    "≤ 50 ms",
                    verdict(load["p95_ms"] <= 50),
                )
            )
        target = 100 if key == "openloop" else 50
        p95 = s.get("p95_ms")
        rows.append(
            (
                f"open loop {cfg.open_rate}/s, {label}: commit → socket p95",
                f"**{fmt(p95, 1)} ms** (p50 {fmt(s.get('p50_ms'), 1)}, p99 {fmt(s.get('p99_ms'), 1)}; commit → "
                f"published p95 {x['commit_to_published_p95_ms']} ms; create p95 {fmt(load['p95_ms'], 1)} ms, "
                f"{fmt(load['rate'])}/s achieved" + cpu_note(x) + ")",
                f"≤ {target} ms",
                verdict(p95 <= target if p95 else None),
            )
        )
        if key == "openloop":
            empty = b.get("all_caught_up_s")
            rows.append(
                (
                    f"open loop {cfg.open_rate}/s, {label}: backlog empty after the stop",
                    f"**{fmt(empty, 2)} s** (at stop: {b.get('at_stop', {}).get('pending')} unpublished, "
                    f"lags {b.get('at_stop', {}).get('lag')})",
                    "≤ 1 s",
                    verdict(empty <= 1 if empty is not None else False),
                )
            )
    x = r.get("relay")
    if x is not None:
        rows.append(
            (
                "outbox → Kafka relay vs raw kafka-python produce",
                err("relay")
                or f"relay {fmt(x['relay_rate'])}/s vs raw {fmt(x['raw_rate'])}/s = **{x['ratio']} ×** "
                f"({relay_detail(x)})",
                "≥ 0.9 ×",
                verdict(x["ratio"] >= 0.9),
            )
        )
    x = r.get("sockets")
    if x is not None:
        if "error" in x:
            rows.append(("open sockets in one container", err("sockets"), "10,000", "–"))
        else:
            rows.append(
                (
                    f"open sockets in one container ({WORKERS} workers)",
                    f"**{x['opened']:,} opened**, {x['still_open']:,} still open, {x['failed']} failed "
                    f"(in {x['connect_s']} s); gunicorn RSS {x['rss_idle']['total_mb']} MB idle → "
                    f"{x['rss_open']['total_mb']} MB open ({x['rss_open']['per_process_mb']})",
                    f"{cfg.many_sockets:,}",
                    verdict(x["still_open"] >= cfg.many_sockets),
                )
            )
            rows.append(
                (
                    f"API create p95 at {cfg.many_rate}/s, sockets open vs idle",
                    f"{fmt(x['busy']['p95_ms'], 1)} ms vs {fmt(x['idle']['p95_ms'], 1)} ms = **{x['p95_ratio']} ×**",
                    "≤ 1.5 ×",
                    verdict(x["p95_ratio"] <= 1.5 if x["p95_ratio"] else None),
                )
            )
    out = ["| measure | result | target | |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return out


SECTIONS = ("floor", "floor_notify", "api", "combined", "drain", "openloop", "kafka", "relay", "sockets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short durations and small counts (smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be idle (other work < 0.25 cores)",
    )
    args = parser.parse_args()
    cfg = Config(args.quick)
    waited = time.perf_counter()
    while args.wait_quiet and time.perf_counter() - waited < args.wait_quiet and background_cores() >= 0.25:
        pass
    only = set(args.only.split(","))
    ensure_wrk()
    results: dict = {}
    machine = {
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "workers": WORKERS,
        "quick": cfg.quick,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "waited_for_quiet_s": round(time.perf_counter() - waited),
    }
    started = time.perf_counter()

    background: dict[str, float] = {}

    def step(name, fn):
        if name not in only:
            return
        background[name] = background_cores()
        t = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as exc:  # each measurement stands alone
            results[name] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:]}
        print(f"[bench_runtime] {name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)

    if only & {"floor", "floor_notify", "api", "combined"}:
        background["write paths"] = background_cores()
        t = time.perf_counter()
        try:
            bench_write_paths(cfg, results, only)
        except Exception as exc:
            results.setdefault("floor", {"error": f"{type(exc).__name__}: {exc}"})
        print(f"[bench_runtime] write paths: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    step("drain", lambda: bench_drain(cfg))
    step("openloop", lambda: bench_open_loop(cfg))
    if only & {"kafka", "relay"}:
        from tests.support.broker import Tansu

        broker = Tansu().start()
        try:
            step("kafka", lambda: bench_open_loop(cfg, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap))
            step("relay", lambda: bench_relay(cfg, broker.bootstrap))
        finally:
            broker.stop()
    step("sockets", lambda: bench_many_sockets(cfg))
    machine["seconds"] = round(time.perf_counter() - started)
    machine["load_after"] = os.getloadavg()
    machine["background_cores"] = background
    print()
    print(
        f"Combined runtime, {os.cpu_count()} cores, gunicorn gevent × {WORKERS} workers, PostgreSQL on loopback; "
        f"wrk -t{cfg.wrk_threads} -c{cfg.connections} -d{cfg.duration}s after {cfg.warmup}s warm-up"
        f"{' (--quick)' if cfg.quick else ''}"
    )
    print()
    print("\n".join(table(results, cfg)))
    print()
    print(
        "Other work on the machine, measured for 2 s before each part (cores busy, none of it the bench's): "
        + ", ".join(f"{k} {v}" for k, v in background.items())
        + f"; load average before/after "
        f"{machine['load_before'][0]:.1f}/{machine['load_after'][0]:.1f}."
    )
    print()
    print(json.dumps({"machine": machine, **results}, default=str))


if __name__ == "__main__":
    main()
