"""Recurrence sweep benchmark on PostgreSQL: 10,000 series due at once, and a sweep over
100,000 series none of which is due (it must use the partial index on next_occurrence).

Then the bounds the tests once asserted as times (they now check that each call answers or refuses, with a
CPU bound that only catches a call without a budget), each next to its target and a floor from the same
run: hostile rules expanded (the tests' strategy, tests/support/rrules.py), the probe's hostile previews
over HTTP, sweeps of a quarter-hourly rule from 1900 and of a stored rule over its budget, the .ics import
at its exceptions limit and of 500 costly rules; and how late the combined app's timers ring a reminder
and spawn an occurrence.

    .venv/bin/python tests/bench/bench_recurrence.py [--only sweep,bounds,import,timers]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import pathlib
import statistics
import sys
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import sqlalchemy as sa  # noqa: E402
from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hsettings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from functions.combined import create_app as combined_app  # noqa: E402
from functions.recurrence.sweep import spawn_due  # noqa: E402
from functions.tasks import create_app as tasks_app  # noqa: E402
from functions.tasks.calendar.plan import MAX_INSTANCES_TOTAL  # noqa: E402
from shared.domain.rule_parsing import parse_rule  # noqa: E402
from shared.domain.times import BadValue  # noqa: E402
from shared.persistence.db import migrate  # noqa: E402
from shared.persistence.models import Outbox, Task, User  # noqa: E402
from shared.runtime.process import Runtime  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.bench.harness import guarded  # noqa: E402
from tests.support.calendar import calendar, series_with_exdates  # noqa: E402
from tests.support.live import Client, LiveServer  # noqa: E402
from tests.support.net import wait_until  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402
from tests.support.reminders import iso, reminders_of  # noqa: E402
from tests.support.rrules import HOSTILE_PREVIEWS, ZONES, moments, rules  # noqa: E402
from tests.support.series import instances, make_series  # noqa: E402

UTC = dt.UTC
SECRET = "bench-secret-bench-secret-bench-secret-0123"


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


def bench_sweep() -> list[str]:
    """The 10,000-series spawn and the not-due sweep over 100,000: the table's first rows."""
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
    print("\nplan of the claim query:\n" + plan)
    return [
        f"| 10,000 due series spawned | {elapsed:.2f} s ({spawned / elapsed:,.0f} spawns/s) | <= 5 s |",
        f"| sweep over 100,000 not-due series | best {min(timings):.1f} ms, median {sorted(timings)[2]:.1f} ms"
        " | <= 50 ms |",
    ]


def cpu(call, clock=time.thread_time) -> float:
    """CPU seconds `call` spent on `clock` (a BadValue it raises is its answer, a refusal)."""
    started = clock()
    try:
        call()
    except BadValue:
        pass
    return clock() - started


def bench_expansion(examples: int = 150) -> dict:
    """The tests' hostile rules (same strategy, derandomized): the worst CPU of one call; floor: a plain rule."""
    worst = {"ms": 0.0, "rule": None}

    @hsettings(
        max_examples=examples, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(rule=rules(), tz=st.sampled_from(ZONES), start=moments, after=moments, count=st.integers(1, 500))
    def expand(rule, tz, start, after, count):
        parsed: list = []
        spent = [cpu(lambda: parsed.append(parse_rule(rule, tz, start.isoformat())))]
        if parsed:
            (one,) = parsed
            spent += [cpu(lambda: one.occurrences(after, count)), cpu(lambda: one.next_after(after))]
            spent += [cpu(lambda: one.step_from(after)), cpu(lambda: one.min_gap(after))]
        if max(spent) * 1000 > worst["ms"]:
            worst.update(ms=round(max(spent) * 1000, 1), rule=f"{rule} ({tz}, from {start:%Y-%m-%d})")

    expand()
    plain = parse_rule("FREQ=DAILY", "UTC", "2026-01-01T09:00:00")
    after = dt.datetime(2026, 6, 1, tzinfo=UTC)
    floor = statistics.median(cpu(lambda: plain.occurrences(after, 500)) for _ in range(20)) * 1000
    return {"worst_ms": worst["ms"], "worst_rule": worst["rule"], "floor_ms": round(floor, 2), "examples": examples}


def costly(n: int) -> str:
    """n series of a costly rule (a Monday 29 February: 2044), each fine alone."""
    rule = "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO"
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:{i}\r\nSUMMARY:s{i}\r\nDTSTART:20260101T090000Z\r\n{rule}\r\nEND:VEVENT\r\n"
        for i in range(n)
    )
    return "BEGIN:VCALENDAR\r\n" + events + "END:VCALENDAR\r\n"


def bench_bounds_and_import(url: str) -> dict:
    """Previews, sweeps and imports over HTTP on the tasks app in-process (CPU on the process clock)."""
    app = tasks_app(Settings(database_url=url, jwt_secret=SECRET, run_background_workers=False, log_level="WARNING"))
    rt = app.extensions["taskflow"]
    out: dict = {}
    try:
        with LiveServer(app) as server:
            api = Client(server.url).signup()

            def preview(body: dict) -> float:
                body = {"dtstart": "2026-01-01T00:00:00Z", "timezone": "UTC", **body}
                return cpu(lambda: api.request("POST", "/api/{me}/recurrence/preview", json=body), time.process_time)

            plain = {"recurrence_rule": "FREQ=DAILY", "count": 5}
            preview(plain)  # first use: imports, compiled patterns
            out["previews"] = {
                "worst_ms": round(max(preview(body) for body in HOSTILE_PREVIEWS) * 1000, 1),
                "floor_ms": round(statistics.median(preview(plain) for _ in range(5)) * 1000, 1),
            }

            def sweep_of(rule: str, dtstart: str, stored: bool = False) -> float:
                task = api.create_task(title=rule)
                if not stored:
                    make_series_of(task["id"], rule, dtstart)
                spawn_due(rt)  # first use, and nothing else left due
                with rt.sessions() as s:
                    row = s.get(Task, task["id"])
                    if stored:  # a rule stored before the bound existed
                        row.recurrence_rule, row.timezone = rule, "UTC"
                        row.dtstart = dt.datetime.fromisoformat(dtstart)
                    row.next_occurrence = dt.datetime.now(UTC) - dt.timedelta(minutes=1)
                    s.commit()
                return cpu(lambda: spawn_due(rt), time.process_time) * 1000

            def make_series_of(task_id: str, rule: str, dtstart: str) -> None:
                body = {"recurrence_rule": rule, "dtstart": dtstart}
                api.request("POST", f"/api/{{me}}/tasks/{task_id}/recurrence", json=body).raise_for_status()

            sweep_of("FREQ=DAILY", "2026-01-01T00:00:00Z")  # a first spawn pays for first use
            out["sweeps"] = {
                "quarter_hourly_ms": round(sweep_of("FREQ=MINUTELY;INTERVAL=15", "1900-01-01T00:00:00Z"), 1),
                "over_budget_ms": round(
                    sweep_of("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "1900-01-01T00:00:00+00:00", stored=True), 1
                ),
                "floor_ms": round(sweep_of("FREQ=DAILY", "2026-01-01T00:00:00Z"), 1),
            }

            def post_ics(body: str, **params: str):
                started = time.perf_counter()
                resp = api.request(
                    "POST",
                    "/api/{me}/import/ics",
                    params=params,
                    data=body.encode(),
                    headers={"Content-Type": "text/calendar"},
                )
                return resp.status_code, time.perf_counter() - started

            def exdates(prefix: str, per_series: int) -> str:
                start = dt.date(2020, 1, 1)
                return calendar(
                    *(line for i in range(2) for line in series_with_exdates(f"{prefix}{i}", per_series, start))
                )

            floor_status, floor_s = post_ics(exdates("floor", 1))
            status, seconds = post_ics(exdates("limit", MAX_INSTANCES_TOTAL // 2))
            out["import_limit"] = {
                "status": status,
                "s": round(seconds, 2),
                "floor_s": round(floor_s, 3),
                "floor_status": floor_status,
                "skipped": MAX_INSTANCES_TOTAL,
            }
            one = cpu(lambda: post_ics(costly(1), dry_run="true"), time.process_time)
            many_status = post_ics(costly(500), dry_run="true")[0]
            many = cpu(lambda: post_ics(costly(500), dry_run="true"), time.process_time)
            out["import_costly"] = {"status": many_status, "cpu_s": round(many, 2), "floor_cpu_s": round(one, 3)}
    finally:
        rt.close()
    return out


def bench_timers(url: str, rounds: int = 3) -> dict:
    """The combined app's timers in-process: how late a reminder 2 s ahead rings, and an occurrence spawns."""
    app = combined_app(Settings(database_url=url, jwt_secret=SECRET, log_level="WARNING"))
    rt = app.extensions["taskflow"]
    rung, spawned = [], []
    try:
        with LiveServer(app) as server:
            api = Client(server.url).signup()
            for _ in range(rounds):
                at = (dt.datetime.now(UTC) + dt.timedelta(seconds=2)).replace(microsecond=0) + dt.timedelta(seconds=1)
                tid = api.create_task(title="tea", due_date=iso(at + dt.timedelta(hours=1)))["id"]
                api.request(
                    "POST", f"/api/{{me}}/tasks/{tid}/reminders", json={"remind_at": iso(at)}
                ).raise_for_status()
                sid = make_series(api, "FREQ=DAILY", dtstart=at.isoformat())["id"]
                wait_until(lambda: reminders_of(rt, tid)[0].notified and instances(rt, sid), timeout=60)  # noqa: B023
                rung.append((reminders_of(rt, tid)[0].notified_at - at).total_seconds() * 1000)
                spawned.append((instances(rt, sid)[0].created_at - at).total_seconds() * 1000)
    finally:
        rt.close()
    return {"reminder_late_ms": [round(x) for x in rung], "occurrence_late_ms": [round(x) for x in spawned]}


def ratio(value: float | None, floor: float | None) -> str:
    """value / floor, as the table prints it."""
    return f"{value / floor:,.1f}" if value and floor else "–"


def line(measure: str, result: str, target: str) -> str:
    """One row of the table."""
    return f"| {measure} | {result} | {target} |"


def bound_rows(expansion: dict | None, http: dict | None, timers: dict | None) -> list[str]:
    """The rows of the bounds and timers: measure | result | target."""
    rows = []
    if expansion is not None:
        x = expansion
        rows.append(
            line(
                f"hostile rules expanded ({x.get('examples')} generated): worst CPU of one call",
                f"error: {x['error'][:200]}"
                if "error" in x
                else f"{x['worst_ms']} ms = {ratio(x['worst_ms'], x['floor_ms'])} x floor (500 occurrences of "
                f"FREQ=DAILY: {x['floor_ms']} ms); worst: {x['worst_rule']}",
                "<= 200 ms",
            )
        )
    if http is not None and "error" in http:
        rows.append(line("previews, sweeps and imports over HTTP", f"error: {http['error'][:200]}", ""))
    elif http is not None:
        pv, sw, lim, co = http["previews"], http["sweeps"], http["import_limit"], http["import_costly"]
        rows += [
            line(
                "the probe's 5 hostile previews over HTTP: worst CPU",
                f"{pv['worst_ms']} ms = {ratio(pv['worst_ms'], pv['floor_ms'])} x floor (a FREQ=DAILY preview: "
                f"{pv['floor_ms']} ms)",
                "<= 200 ms",
            ),
            line(
                "a sweep spawning a quarter-hourly series from 1900: CPU",
                f"{sw['quarter_hourly_ms']} ms = {ratio(sw['quarter_hourly_ms'], sw['floor_ms'])} x floor (a daily "
                f"series: {sw['floor_ms']} ms)",
                "<= 200 ms",
            ),
            line(
                "a sweep meeting a stored rule over its budget: CPU",
                f"{sw['over_budget_ms']} ms = {ratio(sw['over_budget_ms'], sw['floor_ms'])} x floor",
                "<= 200 ms",
            ),
            line(
                f".ics import at its limit ({lim['skipped']:,} EXDATEs kept as skipped occurrences, HTTP "
                f"{lim['status']})",
                f"{lim['s']} s = {ratio(lim['s'], lim['floor_s'])} x floor (1 EXDATE a series: {lim['floor_s']} s)",
                "<= 10 s",
            ),
            line(
                f".ics dry run of 500 costly rules, refused at its budget (HTTP {co['status']}): CPU",
                f"{co['cpu_s']} s = {ratio(co['cpu_s'], co['floor_cpu_s'])} x floor (1 rule: {co['floor_cpu_s']} s)",
                "< 6 s",
            ),
        ]
    if timers is not None and "error" in timers:
        rows.append(line("combined app timers", f"error: {timers['error'][:200]}", ""))
    elif timers is not None:
        rows += [
            line("combined app timer: a reminder rings late by", f"{timers['reminder_late_ms']} ms", "<= 1 s"),
            line("combined app timer: an occurrence spawns late by", f"{timers['occurrence_late_ms']} ms", "<= 1 s"),
        ]
    return rows


PARTS = ("sweep", "bounds", "import", "timers")


def main() -> None:
    """Run the parts asked for and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    only = set(parser.parse_args().only.split(","))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process server's access lines
    rows = bench_sweep() if "sweep" in only else []
    expansion = guarded(bench_expansion) if "bounds" in only else None
    http = timers = None
    if only & {"bounds", "import", "timers"}:
        url = create_database("taskflow_bench_bounds")
        try:
            migrate(url)
            if only & {"bounds", "import"}:
                http = guarded(bench_bounds_and_import, url)
            if "timers" in only:
                timers = guarded(bench_timers, url)
        finally:
            drop_database(url)
    print()
    print("| measure (PostgreSQL, one sweep, batches of 500) | result | target |")
    print("|---|---|---|")
    print("\n".join(rows + bound_rows(expansion, http, timers)))


if __name__ == "__main__":
    main()
