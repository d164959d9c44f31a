"""Filter benchmark: one person with 100,000 tasks (50 lists, 200 tags, 10 % sub-tasks, bulk
inserted), the query `(today | overdue) & p1 & !@waiting` through GET /tasks?filter= (one SQL
query, compiled by functions.tasks.core.filters) and through GET /filters (the saved filter's
count). Target: p95 ≤ 50 ms. Floor: GET /tasks without a filter in the same run.

    .venv/bin/python tests/bench/bench_filters.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import random
import statistics
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from functions.tasks import create_app  # noqa: E402
from shared.persistence.db import migrate  # noqa: E402
from shared.persistence.models import Task, TaskList  # noqa: E402
from shared.runtime.process import Runtime  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.support.live import Client, LiveServer  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402

TASKS = int(os.environ.get("BENCH_FILTER_TASKS", "100000"))
REQUESTS = int(os.environ.get("BENCH_FILTER_REQUESTS", "200"))
QUERY = "(today | overdue) & p1 & !@waiting"
TARGET_MS = 50
SECRET = "bench-secret-bench-secret-bench-secret-0123"
PRIORITIES = ("none", "low", "medium", "high", "urgent")


def seed(rt: Runtime, user_id: str) -> None:
    """50 lists, 200 tags, TASKS tasks (due from 60 days ago to 60 days ahead, a fifth with none), 10 % sub-tasks."""
    rng = random.Random(25)
    now = dt.datetime.now(dt.UTC)
    tags = [f"tag{i}" for i in range(199)] + ["waiting"]
    with rt.sessions() as s:
        lists = [
            {
                "id": str(uuid.uuid4()),
                "user_id": user_id,
                "name": f"List {i}",
                "color": "#808080",
                "archived": False,
                "position": float(i),
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(50)
        ]
        s.execute(TaskList.__table__.insert(), lists)
        parents: list[str] = []
        batch = []
        for i in range(TASKS):
            task_id = str(uuid.uuid4())
            all_day = rng.random() < 0.2
            due = None if rng.random() < 0.2 else now + dt.timedelta(minutes=rng.randint(-60 * 24 * 60, 60 * 24 * 60))
            if due is not None and all_day:
                due = due.replace(hour=0, minute=0, second=0, microsecond=0)
            parent = parents[rng.randrange(len(parents))] if parents and rng.random() < 0.1 else None
            batch.append(
                {
                    "id": task_id,
                    "user_id": user_id,
                    "title": f"task {i}",
                    "description": None,
                    "completed": rng.random() < 0.3,
                    "priority": rng.choice(PRIORITIES),
                    "tags": rng.sample(tags, rng.randint(0, 3)),
                    "due_date": due,
                    "all_day": all_day and due is not None,
                    "timezone": "UTC",
                    "repeat_from": "schedule",
                    "list_id": rng.choice(lists)["id"],
                    "parent_task_id": parent,
                    "version": 1,
                    "created_at": now - dt.timedelta(seconds=TASKS - i),
                    "updated_at": now,
                }
            )
            if parent is None and len(parents) < 5000:
                parents.append(task_id)
            if len(batch) == 5000:
                s.execute(Task.__table__.insert(), batch)
                batch = []
        if batch:
            s.execute(Task.__table__.insert(), batch)
        s.commit()
        s.execute(sa.text("ANALYZE tasks"))
        s.commit()


def sql_only(rt: Runtime, user_id: str) -> tuple[list[float], str]:
    """The compiled query alone (no HTTP, no JSON), and PostgreSQL's plan for it."""
    from functions.tasks.core.filters import Compiler
    from functions.tasks.core.tasks import list_tasks
    from functions.tasks.schemas.tasks import TaskQuery
    from shared.domain.filter_language import parse

    times = []
    with rt.sessions() as s:
        query = TaskQuery(completed=False)
        for _ in range(REQUESTS):
            started = time.perf_counter()
            condition = Compiler(user_id, "UTC", dt.datetime.now(dt.UTC), "postgresql").where(parse(QUERY))
            list_tasks(s, user_id, query, "UTC", condition)
            times.append(time.perf_counter() - started)
        condition = Compiler(user_id, "UTC", dt.datetime.now(dt.UTC), "postgresql").where(parse(QUERY))
        stmt = (
            sa.select(Task.id)
            .where(Task.user_id == user_id, Task.completed.is_(False), condition)
            .order_by(Task.created_at.desc(), Task.id.desc())
            .limit(51)
        )
        compiled = stmt.compile(s.get_bind(), compile_kwargs={"render_postcompile": True})
        # psycopg sends a str as "unknown", so PostgreSQL reads the JSON text as the jsonb it compares with.
        params = {k: json.dumps(v) if isinstance(v, list) else v for k, v in compiled.params.items()}
        explained = s.connection().exec_driver_sql(f"EXPLAIN ANALYZE {compiled}", params)
        plan = "\n".join(r[0] for r in explained)
    return times, plan


def timed(api: Client, path: str, params: dict) -> list[float]:
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        resp = api.request("GET", path, params=params)
        times.append(time.perf_counter() - started)
        resp.raise_for_status()
    return times


def summary(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=100)
    return {"p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1), "max_ms": round(max(times) * 1000, 1)}


def main() -> None:
    db_url = create_database("taskflow_bench_filters")
    settings = Settings(database_url=db_url, jwt_secret=SECRET, run_background_workers=False)
    try:
        migrate(db_url)
        rt = Runtime(settings)
        app = create_app(settings, runtime=rt)
        with LiveServer(app) as server:
            api = Client(server.url).signup()
            started = time.perf_counter()
            seed(rt, api.user_id)
            print(f"seeded {TASKS} tasks in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
            seeded_s = round(time.perf_counter() - started, 1)
            saved = api.request("POST", "/api/{me}/filters", json={"name": "Now", "query": QUERY})
            saved.raise_for_status()
            matches = len(api.request("GET", "/api/{me}/tasks", params={"filter": QUERY, "limit": 200}).json()["items"])
            results = {
                "tasks": TASKS,
                "seeded_s": seeded_s,
                "first_page_matches": matches,
                "filter": summary(timed(api, "/api/{me}/tasks", {"filter": QUERY, "completed": "false"})),
                "saved_filter_count": summary(timed(api, "/api/{me}/filters", {})),
                "floor_no_filter": summary(timed(api, "/api/{me}/tasks", {"completed": "false"})),
            }
            try:
                sql_times, plan = sql_only(rt, api.user_id)
                results["sql_only"] = summary(sql_times)
            except Exception as exc:  # a benchmark reports, never fails
                plan = f"sql_only: {type(exc).__name__}: {exc}"
                results["sql_only"] = {"p50_ms": None, "p95_ms": None}
        rt.close()
    finally:
        drop_database(db_url)
    print()
    print("| measure | p50 | p95 | target |")
    print("|---|---|---|---|")
    for name in ("filter", "saved_filter_count", "sql_only", "floor_no_filter"):
        r = results[name]
        target = "floor" if name.startswith("floor") else f"p95 ≤ {TARGET_MS} ms"
        print(
            f"| {name} ({QUERY if name != 'floor_no_filter' else 'no filter'}) "
            f"| {r['p50_ms']} ms | {r['p95_ms']} ms | {target} |"
        )
    print(plan)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
