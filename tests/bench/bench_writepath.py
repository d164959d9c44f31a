"""The write path against its floors, and live changes at half the measured capacity (issue 27's tables).

    .venv/bin/python tests/bench/bench_writepath.py [--rounds 3] [--seconds 5] [--sockets 1000]
                                                    [--relay-events 10000] [--only write,layers,live,kafka,relay]

Part 1 runs every variant back to back in N rounds (the order rotates each round, so a drift in the
machine's other work falls on every variant alike), each under the same gunicorn config (gevent × 2
workers, render/gunicorn.conf.py) and `wrk -t2 -c50` (tests/bench/wrk/create_tasks.lua) after a warm-up:

  bare      tests/bench/floor_app.py: bare WSGI + psycopg, one statement inserts the task and its outbox row
  flask     tests/bench/floor_flask.py: a minimal Flask route doing the same insert (the framework floor)
  tasks     functions.tasks:create_app() with its loops off, 50 users round-robin, then 1 user on all 50
  tracing   the same with tracing on: an OTLP/HTTP exporter to a collector on loopback (a receiver this
            script runs on 127.0.0.1 that answers every POST 200 and counts what it was sent)
  combined  functions.combined:create_app() with its loops on (relay, consumers, sockets), fresh database

CPU comes from /proc (tests/bench/bench_runtime.CpuMeter: the gunicorn master and workers, every PostgreSQL
backend) over the measured window, divided by the creates wrk counted. "× the Flask floor" is taken per
round and its median printed, two ways: creates/s ÷ Flask's creates/s (wall clock: on a shared machine it
moves with the other work) and Flask's app CPU per create ÷ this one's (what the targets are judged on:
CPU does not depend on who else is busy).

Then the layer table (tests/bench/bench_layers.py): the Flask floor and the tasks function called in
this process, their CPU per create split by layer with a CPU-time profiler, and what each layer costs
beyond the floor's.

Part 2 (bench_runtime.bench_open_loop): the combined container with 1,000 sockets open (10 per user) and
creates offered open-loop (tests/bench/load.py --rate) at half the median creates/s the combined container
reached in part 1: create p95, commit → published p95 (the relay), commit → socket p95 (the clients'
receipt time minus the event's timestamp); then the same in Kafka mode on a tansu broker; then
bench_runtime.bench_relay: the outbox → Kafka relay draining N rows vs raw kafka-python produce of the
same records. The machine (cores, load average, other work in cores before each part) is printed with
the tables; one JSON line with every raw result follows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import statistics
import sys
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.bench import bench_layers  # noqa: E402
from tests.bench import bench_runtime as rt  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402

TASKS = "functions.tasks:create_app()"
LOOPS_OFF = {"RUN_BACKGROUND_WORKERS": "false"}
VARIANTS = ("bare", "flask", "tasks", "tracing", "combined")
# The targets, on the CPU ratio to the Flask floor (Flask's ms per create ÷ this one's).
TARGETS = {"tasks50": 0.8, "tasks1": 0.7, "combined": 0.7}
TRACING_TARGET = 1.3
CREATE_P95_TARGET = SOCKET_P95_TARGET = 50.0
KAFKA_SOCKET_P95_TARGET = 100.0
RELAY_TARGET = 0.9


class Collector:
    """An OTLP/HTTP collector on loopback: answers every POST 200 (tests/support/receiver.Receiver), counts bytes."""

    def __init__(self) -> None:
        self.receiver = Receiver(statuses=(200,))
        self.endpoint = f"http://127.0.0.1:{self.receiver.server.server_port}"
        self.posts = self.bytes = 0

    def take(self) -> dict:
        """What arrived since the last call (the bodies are dropped: a long run must not grow the bench)."""
        got, self.receiver.requests[:] = list(self.receiver.requests), []
        self.posts += len(got)
        self.bytes += sum(len(r["body"]) for r in got)
        return {"posts": len(got), "bytes": sum(len(r["body"]) for r in got)}

    def close(self) -> None:
        self.receiver.close()


class BenchCpuMeter(rt.CpuMeter):
    """bench_runtime.CpuMeter, with PostgreSQL's share taken from the bench's own backends only.

    bench_runtime counts every `postgres` process on the machine, which on a shared machine includes
    other people's tests (and goes negative when one of their backends exits inside the window). Here:
    the backends serving a database this bench created (`taskflow_bench_rt_…` in the process title),
    CPU per backend since the window opened (a backend that connects during it counts from zero). The
    server processes and the machine are measured as before; "other" is the machine minus both.
    main() puts this meter in bench_runtime's place, so its wrk() and open loop use it too.
    """

    PREFIX = b"taskflow_bench_rt_"

    def __init__(self, server_pid: int):
        super().__init__(server_pid)
        self.backends = self.bench_backends()

    @classmethod
    def bench_backends(cls) -> dict[int, float]:
        found = {}
        for pid in rt.postgres_pids():
            try:
                if cls.PREFIX in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                    found[pid] = rt.cpu_seconds([pid])
            except OSError:
                pass
        return found

    def stop(self, requests: int) -> dict:
        result = super().stop(requests)
        pg = sum(max(0.0, cpu - self.backends.get(pid, 0.0)) for pid, cpu in self.bench_backends().items())
        wall = result["wall_s"]
        result["postgres_cores"] = round(pg / wall, 2)
        result["postgres_ms_per_request"] = round(1000 * pg / requests, 2) if requests else None
        server = result["server_cores"] * wall
        result["other_cores"] = round(result["machine_cores"] - (server + pg) / wall, 2)
        result["postgres_scope"] = "the bench's own backends"
        return result


def truncate(url: str) -> None:
    with psycopg.connect(rt.pg_url(url), autocommit=True) as conn:
        conn.execute("TRUNCATE outbox, tasks CASCADE")
        conn.execute("VACUUM ANALYZE")


def measured(srv: rt.ServerProcess, users: list[list[str]], cfg: rt.Config) -> dict:
    """wrk against a running server: rate, latency, and the CPU of its processes and PostgreSQL's."""
    assert srv.proc is not None
    result = rt.wrk(srv.url, users, cfg, srv.proc.pid)
    if result["errors"]:
        result["server"] = rt.tail(srv, 5)
    return result


def run_variant(name: str, cfg: rt.Config, shared_url: str, users: list[list[str]], collector: Collector) -> dict:
    """One variant of one round; a failure is recorded (with the server's last lines) and the round goes on."""
    srv = None
    url = shared_url
    try:
        if name == "combined":  # the loops consume what is written: a database of its own, fresh each round
            url = rt.fresh_database()
            users = rt.make_users(url, cfg.bench_users)
            srv = rt.server(rt.COMBINED, url).start()
            result = {"combined": measured(srv, users, cfg)}
            backlog = rt.Backlog(url)
            result["combined"]["drain"] = backlog.wait_empty(timeout=60)
            backlog.close()
            return result
        if name == "bare":
            srv = rt.server("tests.bench.floor_app:app", url).start()
            return {"bare": measured(srv, users, cfg)}
        if name == "flask":
            srv = rt.server("tests.bench.floor_flask:app", url).start()
            return {"flask": measured(srv, users, cfg)}
        if name == "tasks":
            srv = rt.server(TASKS, url, **LOOPS_OFF).start()
            fifty = measured(srv, users, cfg)
            one = measured(srv, users[:1], cfg)  # one account on all 50 connections
            return {"tasks50": fifty, "tasks1": one}
        if name == "tracing":
            collector.take()
            srv = rt.server(TASKS, url, **LOOPS_OFF, OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint).start()
            result = measured(srv, users, cfg)
            srv.stop()  # the batch processor exports what it still holds on the way out
            srv = None
            result["collector"] = collector.take()
            return {"tracing": result}
        raise ValueError(name)
    except Exception as exc:
        keys = {"tasks": ("tasks50", "tasks1")}.get(name, (name,))
        error = {
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc()[-600:],
            "server": rt.tail(srv),
        }
        return dict.fromkeys(keys, error)
    finally:
        if srv is not None:
            srv.stop()
        if url != shared_url:
            rt.drop_database(url)
        else:
            truncate(url)


def write_rounds(cfg: rt.Config, rounds: int) -> list[dict]:
    url = rt.fresh_database()
    collector = Collector()
    try:
        users = rt.make_users(url, cfg.bench_users)
        results = []
        for r in range(rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            got: dict = {"background_cores": rt.background_cores(1.0), "order": order}
            for name in order:
                started = time.perf_counter()
                got.update(run_variant(name, cfg, url, users, collector))
                print(
                    f"[bench_writepath] round {r + 1}/{rounds} {name}: {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            results.append(got)
        return results
    finally:
        collector.close()
        rt.drop_database(url)


# -- summaries ---------------------------------------------------------------------------------------
def ok(x: dict | None) -> bool:
    return isinstance(x, dict) and "error" not in x and bool(x.get("requests"))


def cpu_ms(x: dict | None, key: str = "server_ms_per_request") -> float | None:
    return x["cpu"][key] if ok(x) and x and x.get("cpu") and x["cpu"].get(key) else None


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def per_round(rounds: list[dict], fn) -> float | None:
    """The median over rounds of a quantity computed within each round (ratios stay within one run)."""
    return median(fn(r) for r in rounds)


def div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value, digits: int = 0) -> str:
    return rt.fmt(value, digits)


def verdict(value: float | None, target: float, at_least: bool) -> str:
    if value is None:
        return "–"
    return rt.verdict(value >= target if at_least else value <= target)


def one_line(text: str) -> str:
    """An error as one table cell: no line breaks, no column bars."""
    return " ".join(text.split()).replace("|", "/")


def errors_note(rounds: list[dict], key: str) -> str:
    failed = [one_line(r[key]["error"])[:160] for r in rounds if isinstance(r.get(key), dict) and "error" in r[key]]
    status = sum(r[key].get("errors", 0) for r in rounds if ok(r.get(key)))
    notes = []
    if status:
        notes.append(f"{status} failed requests")
    if failed:
        notes.append(f"{len(failed)} round(s) failed: {failed[0]}")
    return "; ".join(notes)


def write_table(rounds: list[dict]) -> list[str]:
    labels = {
        "bare": "bare WSGI + psycopg, the same one-statement task + outbox insert",
        "flask": "**a minimal Flask route doing the same insert** (the framework floor)",
        "tasks50": "TaskFlow's tasks function, 50 users",
        "tasks1": "TaskFlow's tasks function, **one user** on all 50 connections",
        "combined": "the combined container (loops on: relay, consumers, sockets)",
    }
    out = [
        "| server | creates/s | p95 | app CPU per create | PostgreSQL CPU per create "
        "| × the Flask floor (creates/s) | × the Flask floor (CPU) | target (CPU) | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in labels.items():
        xs = [r.get(key) for r in rounds]
        rate = median(x["rate"] for x in xs if ok(x))
        p95 = median(x["p95_ms"] for x in xs if ok(x))
        app = median(cpu_ms(x) for x in xs)
        pg = median(cpu_ms(x, "postgres_ms_per_request") for x in xs)
        by_rate = per_round(
            rounds,
            lambda r, k=key: div(r[k]["rate"], r["flask"]["rate"]) if ok(r.get(k)) and ok(r.get("flask")) else None,
        )
        by_cpu = per_round(rounds, lambda r, k=key: div(cpu_ms(r.get("flask")), cpu_ms(r.get(k))))
        target = TARGETS.get(key)
        note = errors_note(rounds, key)
        out.append(
            f"| {label}{f' ({note})' if note else ''} | {fmt(rate)} | {fmt(p95, 1)} ms | {fmt(app, 2)} ms "
            f"| {fmt(pg, 2)} ms | {fmt(by_rate, 2)} | **{fmt(by_cpu, 2)}** "
            f"| {f'≥ {target}' if target else '–'} | {verdict(by_cpu, target, True) if target else ''} |"
        )
    drains = [r["combined"]["drain"] for r in rounds if ok(r.get("combined")) and "drain" in r["combined"]]
    if drains:
        out.append("")
        out.append(
            "Combined, after the load stopped (per round): outbox empty and every consumer at the head in "
            + ", ".join(f"{fmt(d.get('all_caught_up_s'), 2)} s" if "timeout_s" not in d else "timeout" for d in drains)
            + "."
        )
    return out


def tracing_table(rounds: list[dict]) -> list[str]:
    off = median(cpu_ms(r.get("tasks50")) for r in rounds)
    on = median(cpu_ms(r.get("tracing")) for r in rounds)
    ratio = per_round(rounds, lambda r: div(cpu_ms(r.get("tracing")), cpu_ms(r.get("tasks50"))))
    posts = sum(r["tracing"]["collector"]["posts"] for r in rounds if ok(r.get("tracing")))
    sent = sum(r["tracing"]["collector"]["bytes"] for r in rounds if ok(r.get("tracing")))
    rate = median(r["tracing"]["rate"] for r in rounds if ok(r.get("tracing")))
    note = errors_note(rounds, "tracing")
    return [
        "| tasks function, 50 users | creates/s | app CPU per create | × tracing off | target | |",
        "|---|---|---|---|---|---|",
        f"| tracing off | {fmt(median(r['tasks50']['rate'] for r in rounds if ok(r.get('tasks50'))))} "
        f"| {fmt(off, 2)} ms | 1.00 | – | |",
        f"| tracing on, OTLP/HTTP to a collector on loopback ({posts:,} exports, {sent / 1e6:.1f} MB received"
        f"{f'; {note}' if note else ''}) | {fmt(rate)} | {fmt(on, 2)} ms | **{fmt(ratio, 2)}** "
        f"| ≤ {TRACING_TARGET} | {verdict(ratio, TRACING_TARGET, False)} |",
    ]


def live_table(live: dict, sockets: int) -> list[str]:
    out = [
        "| stage | measured | target | |",
        "|---|---|---|---|",
    ]
    for key, label, socket_target in (
        ("openloop", "in-process bus", SOCKET_P95_TARGET),
        ("kafka", "Kafka mode (tansu)", KAFKA_SOCKET_P95_TARGET),
    ):
        x = live.get(key)
        if x is None:
            continue
        if "error" in x:
            out.append(f"| {label} | error: {one_line(x['error'])[:200]} | – | – |")
            continue
        load, s = x["load"], x["sockets"]
        where = (
            f"{fmt(x['offered_rate'])}/s offered, {fmt(load['rate'])}/s achieved, {load['errors']} errors; "
            f"{s['opened']:,}/{sockets:,} sockets, {s['received']:,} deliveries"
        )
        if key == "openloop":
            out.append(
                f"| {label}: create p95 | **{fmt(load['p95_ms'], 1)} ms** (p50 {fmt(load['p50_ms'], 1)}; {where}) "
                f"| ≤ {CREATE_P95_TARGET:.0f} ms | {verdict(load['p95_ms'], CREATE_P95_TARGET, False)} |"
            )
        else:
            out.append(f"| {label}: create p95 | {fmt(load['p95_ms'], 1)} ms ({where}) | – | |")
        out.append(
            f"| {label}: commit → published p95 (the relay) | {fmt(x['commit_to_published_p95_ms'], 1)} ms | – | |"
        )
        out.append(
            f"| {label}: commit → socket p95 | **{fmt(s.get('p95_ms'), 1)} ms** (p50 {fmt(s.get('p50_ms'), 1)}, "
            f"p99 {fmt(s.get('p99_ms'), 1)}) | ≤ {socket_target:.0f} ms "
            f"| {verdict(s.get('p95_ms'), socket_target, False)} |"
        )
        c = x.get("cpu") or {}
        out.append(
            f"| {label}: CPU in the window | app {fmt(c.get('server_ms_per_request'), 2)} ms + PostgreSQL "
            f"{fmt(c.get('postgres_ms_per_request'), 2)} ms per create; cores busy: machine "
            f"{c.get('machine_cores')} (app {c.get('server_cores')}, PostgreSQL {c.get('postgres_cores')}, "
            f"socket clients {c.get('socket_clients_cores')}, load generator {c.get('load_generator_cores')}) | – | |"
        )
    x = live.get("relay")
    if x is not None:
        if "error" in x:
            out.append(
                f"| outbox → Kafka relay vs raw kafka-python produce | error: {one_line(x['error'])[:200]} | – | – |"
            )
        else:
            out.append(
                f"| outbox → Kafka relay vs raw kafka-python produce | relay {fmt(x['relay_rate'])}/s vs raw "
                f"{fmt(x['raw_rate'])}/s = **{x['ratio']} ×** ({rt.relay_detail(x)}) "
                f"| ≥ {RELAY_TARGET} × | {verdict(x['ratio'], RELAY_TARGET, True)} |"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the write-path variants (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="wrk's measured seconds per variant (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk's warm-up seconds per variant (default 2)")
    parser.add_argument("--open-seconds", type=int, default=None, help="open-loop seconds (default: --seconds + 3)")
    parser.add_argument("--sockets", type=int, default=1_000, help="sockets open in the open-loop stages")
    parser.add_argument("--relay-events", type=int, default=10_000, help="outbox rows the relay drains to Kafka")
    parser.add_argument(
        "--only",
        default="write,layers,live,kafka,relay",
        help="comma-separated subset of write,layers,live,kafka,relay",
    )
    parser.add_argument("--layer-creates", type=int, default=20_000, help="creates per app for the layer table")
    args = parser.parse_args()
    only = set(args.only.split(","))

    cfg = rt.Config(quick=False)
    cfg.warmup, cfg.duration = args.warmup, args.seconds
    cfg.open_seconds = args.open_seconds or args.seconds + 3
    cfg.open_sockets = args.sockets
    cfg.relay_events = args.relay_events
    rt.ensure_wrk()
    rt.CpuMeter = BenchCpuMeter  # type: ignore[misc]  # PostgreSQL's CPU: the bench's backends only

    started = time.perf_counter()
    machine: dict = {
        "cores": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "other_work_cores_before": rt.background_cores(),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "workers": rt.WORKERS,
    }
    rounds = write_rounds(cfg, args.rounds) if "write" in only else []

    # Half the combined container's own measured capacity (median over the rounds), else bench_runtime's 500/s.
    capacity = median(r["combined"]["rate"] for r in rounds if ok(r.get("combined")))
    cfg.open_rate = max(10, round(capacity / 2)) if capacity else 250
    live: dict = {}
    other: dict = {}

    def step(name: str, fn) -> None:
        other[name] = rt.background_cores(1.0)
        t = time.perf_counter()
        try:
            live[name] = fn()
        except Exception as exc:  # each measurement stands alone
            live[name] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:]}
        print(f"[bench_writepath] {name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)

    layers: dict = {}
    if "layers" in only:
        other["layers"] = rt.background_cores(1.0)
        layers = bench_layers.measure(args.layer_creates)
    if "live" in only:
        step("openloop", lambda: rt.bench_open_loop(cfg))
    if only & {"kafka", "relay"}:
        from tests.support.broker import Tansu

        broker = Tansu().start()
        try:
            if "kafka" in only:
                step("kafka", lambda: rt.bench_open_loop(cfg, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap))
            if "relay" in only:
                step("relay", lambda: rt.bench_relay(cfg, broker.bootstrap))
        finally:
            broker.stop()
    machine["load_after"] = [round(x, 2) for x in os.getloadavg()]
    machine["seconds"] = round(time.perf_counter() - started)

    print()
    print(
        f"## The write path (issue 27), {args.rounds} round(s), medians: gunicorn gevent × {rt.WORKERS} workers, "
        f"`wrk -t{cfg.wrk_threads} -c{cfg.connections} -d{cfg.duration:g}s` after {cfg.warmup:g} s warm-up, "
        f"{cfg.bench_users} users round-robin, PostgreSQL on loopback"
    )
    print()
    if rounds:
        print("\n".join(write_table(rounds)))
        print()
        print("\n".join(tracing_table(rounds)))
        print()
    if layers:
        print(
            f"## Where a create's CPU goes, layer by layer: {args.layer_creates:,} creates per app, in-process "
            "(tests/bench/bench_layers.py: no server, a CPU-time profiler's samples per layer × the CPU per create)"
        )
        print()
        print("\n".join(bench_layers.table(layers)))
        print()
    if live:
        print(
            f"## Live changes: offered open-loop at half the combined container's measured capacity "
            f"({fmt(capacity)}/s → {cfg.open_rate}/s), {cfg.open_sockets:,} sockets ({cfg.sockets_per_user} per user), "
            f"{cfg.open_seconds:g} s after 2 s warm-up"
        )
        print()
        print("\n".join(live_table(live, cfg.open_sockets)))
        print()
    print(
        f"Machine: {machine['cores']} cores; load average {machine['load_before'][0]:.2f} before, "
        f"{machine['load_after'][0]:.2f} after; other work (cores busy, none of it the bench's) "
        f"{machine['other_work_cores_before']} at the start"
        + (", " + ", ".join(f"round {i + 1} {r['background_cores']}" for i, r in enumerate(rounds)) if rounds else "")
        + (", " + ", ".join(f"{k} {v}" for k, v in other.items()) if other else "")
        + f"; {machine['seconds']} s in all."
    )
    print()
    print(json.dumps({"machine": machine, "rounds": rounds, "layers": layers, **live}, default=str))


if __name__ == "__main__":
    main()
