"""Import benchmark: a Todoist project CSV of 5,000 rows (sections, three levels of sub-tasks, notes,
@labels, dates in words, series) through POST /import/todoist. Target: <= 5 s on PostgreSQL.

PostgreSQL measures the import alone. On embedded SQLite (`make run`'s database), where the import is
one transaction under the one writer, another client writes meanwhile: how long the import takes, and
the slowest of those writes (how long it stalled).

    .venv/bin/python tests/bench/bench_import.py [--rows 5000]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared.persistence.db import migrate  # noqa: E402
from tests.bench.harness import guarded  # noqa: E402
from tests.support.live import Client  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret-4567"
HEADER = "TYPE,CONTENT,DESCRIPTION,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG,TIMEZONE"
DATES = ["", "", "tomorrow", "next friday 5pm", "Dec 24", "every day", "every! 2 weeks", "every monday at 9am", ""]


def todoist_csv(rows: int) -> bytes:
    """A project of `rows` rows: a section every 100 rows, tasks nesting to INDENT 4, a note every 10th row."""
    lines = [HEADER]
    depth = 0
    for n in range(rows):
        if n % 100 == 0:
            lines.append(f"section,Section {n // 100},,,,,,,,")
            depth = 0
        elif n % 10 == 9 and depth:
            lines.append('note,"A note on the task above, with a comma",,,,,,,,')
        else:
            depth = depth % 4 + 1
            date = DATES[n % len(DATES)]
            lines.append(
                f'task,Task {n} @label{n % 7} @home,"Line one, with commas\nline two",{n % 4 + 1},{depth},,,{date},en,'
            )
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def import_once(url: str, body: bytes, concurrent_writes: bool) -> dict:
    """Import the file once (a new user); the seconds it took, its counts, and another client's slowest write."""
    client = Client(url).signup()
    other = Client(url).signup()
    stalls: list[float] = []
    done = threading.Event()

    def writer() -> None:
        while not done.is_set():
            started = time.perf_counter()
            other.request("POST", "/api/{me}/tasks", json={"title": "meanwhile"})
            stalls.append(time.perf_counter() - started)

    thread = threading.Thread(target=writer, daemon=True)
    if concurrent_writes:
        thread.start()
    started = time.perf_counter()
    resp = client.http.post(
        f"{url}/api/{client.user_id}/import/todoist",
        params={"list": "Bench"},
        data=body,
        headers=client.headers(**{"Content-Type": "text/csv"}),
        timeout=300,
    )
    took = time.perf_counter() - started
    done.set()
    if concurrent_writes:
        thread.join(timeout=30)
    if resp.status_code != 201:
        raise RuntimeError(f"{resp.status_code} {resp.text[:300]}")
    return {
        "seconds": round(took, 2),
        "created": resp.json()["created"],
        "bytes": len(body),
        "other_writes": len(stalls),
        "other_write_max_ms": round(max(stalls) * 1000, 1) if stalls else None,
    }


def on_postgres(body: bytes) -> dict:
    db_url = create_database("taskflow_bench_import")
    try:
        migrate(db_url)
        server = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=SECRET, IMPORT_RATE_LIMIT="1000 per minute").start()
        try:
            return import_once(server.url, body, concurrent_writes=False)
        finally:
            server.stop()
    finally:
        drop_database(db_url)


def on_sqlite(body: bytes) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        migrate(db_url)
        server = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=SECRET, IMPORT_RATE_LIMIT="1000 per minute").start()
        try:
            return import_once(server.url, body, concurrent_writes=True)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    rows = parser.parse_args().rows
    body = todoist_csv(rows)
    result = {"rows": rows, "postgresql": guarded(on_postgres, body), "sqlite": guarded(on_sqlite, body)}
    pg = result["postgresql"].get("seconds")
    lite = result["sqlite"].get("seconds")
    print(f"Todoist CSV import, {rows} rows: PostgreSQL {pg} s (target <= 5 s); SQLite {lite} s")
    for name in ("postgresql", "sqlite"):
        part = result[name]
        if "error" not in part:
            print(f"  {name}: another client's slowest write during the import {part['other_write_max_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
