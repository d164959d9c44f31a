"""Recurrence sweep benchmark on PostgreSQL: 10,000 series due at once, and a sweep over
100,000 series none of which is due (it must use the partial index on next_occurrence)."""

from __future__ import annotations

import datetime as dt
import pathlib
import sys
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import sqlalchemy as sa  # noqa: E402

from functions.recurrence.sweep import spawn_due  # noqa: E402
from shared.persistence.db import migrate  # noqa: E402
from shared.persistence.models import Outbox, Task, User  # noqa: E402
from shared.runtime.process import Runtime  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402

UTC = dt.UTC


def add_series(rt: Runtime, user_id: str, n: int, next_occurrence: dt.datetime) -> None:
    now = dt.datetime.now(UTC)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "title": f"series {i}",
            "completed": False,
            "priority": "none",
            "tags": ["bench"],
            "timezone": "Europe/Paris",
            "recurrence_rule": "FREQ=DAILY;BYHOUR=9",
            "dtstart": now - dt.timedelta(days=1),
            "repeat_from": "schedule",
            "next_occurrence": next_occurrence,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    with rt.sessions.begin() as s:
        for start in range(0, n, 5000):
            s.execute(sa.insert(Task), rows[start : start + 5000])


def main() -> None:
    url = create_database("taskflow_bench_recurrence")
    try:
        migrate(url)
        rt = Runtime(Settings(database_url=url, run_background_workers=False))
        with rt.sessions.begin() as s:
            s.add(User(id="bench-user", email="bench@example.com", password_hash="x"))
        now = dt.datetime.now(UTC)
        add_series(rt, "bench-user", 100_000, now + dt.timedelta(days=1))
        with rt.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE tasks"))
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert spawn_due(rt, now=now) == 0
            timings.append((time.perf_counter() - started) * 1000)
        with rt.engine.connect() as conn:
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    sa.text(
                        "EXPLAIN SELECT * FROM tasks WHERE next_occurrence IS NOT NULL AND next_occurrence <= now() "
                        "ORDER BY next_occurrence LIMIT 500 FOR UPDATE SKIP LOCKED"
                    )
                )
            )
        add_series(rt, "bench-user", 10_000, now - dt.timedelta(minutes=1))
        started = time.perf_counter()
        spawned = spawn_due(rt, now=now)
        elapsed = time.perf_counter() - started
        with rt.sessions() as s:
            events = s.scalar(
                sa.select(sa.func.count()).select_from(Outbox).where(Outbox.event_type == "recurring.spawned")
            )
        rt.close()
    finally:
        drop_database(url)
    assert spawned == 10_000 and events == 10_000, (spawned, events)
    print()
    print("| measure (PostgreSQL, one sweep, batches of 500) | result | target |")
    print("|---|---|---|")
    print(f"| 10,000 due series spawned | {elapsed:.2f} s ({spawned / elapsed:,.0f} spawns/s) | <= 5 s |")
    print(
        f"| sweep over 100,000 not-due series | best {min(timings):.1f} ms, median {sorted(timings)[2]:.1f} ms"
        f" | <= 50 ms |"
    )
    print("\nplan of the claim query:\n" + plan)


if __name__ == "__main__":
    main()
