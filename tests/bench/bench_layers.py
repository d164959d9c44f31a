"""Where a create's CPU goes, layer by layer: the tasks function against the minimal Flask floor (issue 27).

    .venv/bin/python tests/bench/bench_layers.py [--creates 20000]

Both apps run in this process, called as WSGI apps (no server, no sockets to clients: what is left is
what the app itself costs), against a fresh PostgreSQL database on loopback with 50 accounts, the
creates round-robin over them as wrk sends them (tests/bench/wrk/create_tasks.lua's body).

Each app does N creates twice: once plain, for its CPU per create (`time.process_time`), and once
under a CPU-time profiler: SIGPROF at every tick of the process's CPU time (`setitimer(ITIMER_PROF)`:
the kernel's tick, 4 ms here, so time spent waiting on PostgreSQL is never sampled), each sample filed
under the layer its Python stack is in (`LAYERS`, first match wins). A layer's cost is its share of
the samples × the plain CPU per create. "extra" is the tasks function's cost beyond the floor's in the same layer.
bench_writepath.py prints this table with the others; `--json` prints the raw result.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import pathlib
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import bench_runtime as rt  # noqa: E402  # the path above makes it importable
from tests.support.pg import drop_database  # noqa: E402

#: (layer, what a frame's file path holds, the frame's function names or None for any), first match wins:
#: a stack is filed under the first rule any of its frames matches, so a driver call made for the
#: account check counts there, not under the insert.
LAYERS: tuple[tuple[str, tuple[str, ...], frozenset[str] | None], ...] = (
    (
        "the token and the account check (JWT, the account read)",
        ("shared/services/credentials.py", "shared/web/sessions.py", "/jwt/"),
        None,
    ),
    ("", ("shared/web/app.py",), frozenset({"require_path_user"})),  # continues the rule above
    (
        "the insert: statement, pool, driver, PostgreSQL round trip",
        ("shared/messaging/outbox.py", "shared/persistence/", "/psycopg/", "/psycopg_pool/", "/sqlalchemy/"),
        None,
    ),
    (
        "the body: JSON parse and validation",
        ("shared/web/bodies.py", "/pydantic/", "/pydantic_core/", "functions/tasks/schemas/"),
        None,
    ),
    ("", ("shared/web/operations.py",), frozenset({"_body", "parse", "json_object"})),
    ("", ("/flask/", "/werkzeug/"), frozenset({"get_json", "get_data", "on_json_loading_failed"})),
    (
        "request hooks: metadata, CORS, metrics, tracing",
        ("shared/domain/request_meta.py", "shared/runtime/metrics.py", "/prometheus_client/", "/opentelemetry/"),
        None,
    ),
    ("", ("shared/web/app.py",), frozenset({"_bind_request_meta", "_finish", "_unbind", "_refuse_unstorable_url"})),
    (
        "the response: serialisation, headers",
        ("functions/tasks/api/versions.py",),
        None,
    ),
    ("", ("/flask/", "/werkzeug/"), frozenset({"jsonify", "make_response", "get_wsgi_response"})),
    (
        "domain: the row, its event, the user's zone",
        ("functions/tasks/core/", "shared/services/", "shared/domain/", "tests/bench/floor_"),
        None,
    ),
    ("Flask/werkzeug: context, routing, dispatch", ("/flask/", "/werkzeug/", "functions/tasks/api/"), None),
)
OTHER = "other: the interpreter, garbage collection"


def _rules() -> list[tuple[str, tuple[str, ...], frozenset[str] | None]]:
    named, last = [], ""
    for layer, paths, functions in LAYERS:
        last = layer or last
        named.append((last, paths, functions))
    return named


RULES = _rules()
ORDER = list(dict.fromkeys(layer for layer, _, _ in RULES)) + [OTHER]


def layer_of(frame: FrameType | None) -> str:
    stack = []
    while frame is not None:
        stack.append((frame.f_code.co_filename, frame.f_code.co_name))
        frame = frame.f_back
    for layer, paths, functions in RULES:
        for filename, function in stack:
            if (functions is None or function in functions) and any(p in filename for p in paths):
                return layer
    return OTHER


class Requests:
    """WSGI environs for creates as wrk sends them: each account's path, token and a JSON task body."""

    def __init__(self, users: list[list[str]]):
        from werkzeug.test import EnvironBuilder

        self.items = []
        for n, (user_id, token) in enumerate(users):
            body = json.dumps(
                {
                    "title": f"bench task {n}",
                    "priority": "medium",
                    "tags": ["bench"],
                    "due_date": "2030-01-01T09:00:00Z",
                }
            ).encode()
            environ = EnvironBuilder(
                path=f"/api/{user_id}/tasks",
                method="POST",
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                environ_base={"REMOTE_ADDR": "127.0.0.1"},
            ).get_environ()
            self.items.append((environ, body))

    def run(self, app: Callable[..., Any], count: int) -> None:
        def start_response(status: str, _headers: list, _exc: object = None) -> None:
            if not status.startswith("201"):
                raise RuntimeError(f"a create answered {status}")

        for i in range(count):
            environ, body = self.items[i % len(self.items)]
            environ = dict(environ, **{"wsgi.input": io.BytesIO(body)})
            out = app(environ, start_response)
            b"".join(out)
            getattr(out, "close", lambda: None)()


def profile(app: Callable[..., Any], requests: Requests, creates: int, interval: float = 0.00025) -> dict:
    """CPU per create (plain run), then each layer's share of SIGPROF samples over a second run."""
    requests.run(app, min(500, creates))  # warm: prepared statements, pools, caches
    started = time.process_time()
    requests.run(app, creates)
    cpu_ms = (time.process_time() - started) / creates * 1000
    samples: collections.Counter[str] = collections.Counter()

    def sample(_signum: int, frame: FrameType | None) -> None:
        samples[layer_of(frame)] += 1

    previous = signal.signal(signal.SIGPROF, sample)
    signal.setitimer(signal.ITIMER_PROF, interval, interval)
    try:
        requests.run(app, creates)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, previous)
    total = sum(samples.values()) or 1
    return {
        "cpu_ms_per_create": round(cpu_ms, 4),
        "samples": total,
        "layers_ms": {layer: round(cpu_ms * samples[layer] / total, 4) for layer in ORDER},
    }


def measure(creates: int = 20_000) -> dict:
    """Profile the floor and the tasks function in this process, each on its own fresh database."""
    results = {}
    saved = dict(os.environ)
    try:
        for name in ("flask", "tasks"):
            results[name] = _measure_one(name, creates)
    finally:  # this process may start servers next: they inherit its environment
        os.environ.clear()
        os.environ.update(saved)
    return results


def _measure_one(name: str, creates: int) -> dict:
    url = rt.fresh_database()
    try:
        users = rt.make_users(url, 50)
        os.environ.update(DATABASE_URL=url, JWT_SECRET=rt.SECRET, RUN_BACKGROUND_WORKERS="false")
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        if name == "tasks":
            from functions.tasks import create_app

            app = create_app()
            try:
                return profile(app, Requests(users), creates)
            finally:
                app.extensions["taskflow"].close()
        from tests.bench import floor_app, floor_flask  # both read DATABASE_URL when imported

        if floor_app.DATABASE_URL != rt.pg_url(url):
            raise RuntimeError("tests.bench.floor_app was imported before its database was made")
        try:
            return profile(floor_flask.app, Requests(users), creates)
        finally:
            while not floor_app.pool._idle.empty():  # the floor's pool has no close of its own
                floor_app.pool._idle.get_nowait().close()
    finally:
        drop_database(url)


def table(result: dict) -> list[str]:
    floor, tasks = result["flask"], result["tasks"]
    extra_total = tasks["cpu_ms_per_create"] - floor["cpu_ms_per_create"]
    lines = [
        "| layer (in-process, CPU per create) | Flask floor | tasks function | extra | share of the extra |",
        "|---|---|---|---|---|",
    ]
    rows = []
    for layer in ORDER:
        a, b = floor["layers_ms"][layer], tasks["layers_ms"][layer]
        rows.append((b - a, layer, a, b))
    for extra, layer, a, b in sorted(rows, reverse=True):
        share = f"{100 * extra / extra_total:.0f} %" if extra_total > 0 else "–"
        lines.append(f"| {layer} | {a:.3f} ms | {b:.3f} ms | {extra:+.3f} ms | {share} |")
    a, b = floor["cpu_ms_per_create"], tasks["cpu_ms_per_create"]
    total = f"| **all** | **{a:.3f} ms** | **{b:.3f} ms** | **{extra_total:+.3f} ms** "
    lines.append(total + f"| × the floor: **{a / b:.2f}** |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=20_000, help="creates per app and run (default 20,000)")
    parser.add_argument("--json", action="store_true", help="also print the raw result as one JSON line")
    args = parser.parse_args()
    result = measure(args.creates)
    print(
        f"## Where a create's CPU goes (issue 27): {args.creates:,} creates per app, in-process, PostgreSQL on loopback"
    )
    print()
    print("\n".join(table(result)))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
