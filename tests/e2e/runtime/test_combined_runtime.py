"""The combined runtime as people run it: `make run`, the container entrypoint, several workers, a leader killed.

(The in-process stream behind it, a bad event parked and replayed: tests/integration/messaging/test_stream.py.)
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time

import pytest
import requests
import sqlalchemy as sa

from shared.persistence.db import make_engine, migrate
from shared.persistence.models import EventLog, Outbox, Reminder, Task
from tests.conftest import JWT_SECRET
from tests.support.live import Client
from tests.support.net import wait_until
from tests.support.process import ServerProcess
from tests.support.swarm import run_swarm


def ws_urls(port: int, client: Client, n: int) -> list[str]:
    return [f"ws://127.0.0.1:{port}/ws/user/{client.user_id}/tasks?token={client.token}"] * n


def assert_every_socket_got_every_change_once(result, sockets: int) -> None:
    assert result.opened == sockets and result.failed == 0, (result.opened, result.failed)
    for i, got in enumerate(result.received):
        assert got == result.created, f"socket {i} saw {len(got)} of {len(result.created)} (in order, once each)"


def leader_pid(url: str) -> int | None:
    """The worker holding the leader lease (a `leases` row not expired: holder = host:pid:nonce)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        holder = conn.scalar(
            sa.text("SELECT holder FROM leases WHERE name = 'leader' AND expires_at > now() AND holder <> ''")
        )
    engine.dispose()
    return int(holder.split(":")[1]) if holder else None


def socket_owners(port: int) -> set[int]:
    """The pids of the processes holding established connections on `port` (ss -tnp)."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout
    return {int(part.split("pid=")[1].split(",")[0]) for part in out.split() if "pid=" in part}


def count(url: str, query) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        value = conn.scalar(query)
    engine.dispose()
    return value


def pending(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(Outbox).where(Outbox.published_at.is_(None)))
    engine.dispose()
    return count


# -- many sockets in the modes people run -----------------------------------------------------------


def test_make_run_holds_500_sockets_and_every_one_gets_every_change(tmp_path):
    server = ServerProcess.make_run(DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}", JWT_SECRET=JWT_SECRET)
    try:
        server.start(ready_path="/health", timeout=120)
        alice = Client(server.url).signup()
        # POST /tasks p95 with the 500 sockets open (target 100 ms) is a row of tests/bench/bench_fanout.py.
        result = run_swarm(
            ws_urls(server.port, alice, 500), f"{server.url}/api/{alice.user_id}/tasks", alice.token, changes=60
        )
        assert_every_socket_got_every_change_once(result, 500)
        assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
    finally:
        server.stop()


def test_the_container_entrypoint_holds_500_sockets_on_postgresql(db_url):
    server = ServerProcess.entrypoint(DATABASE_URL=db_url, ENVIRONMENT="production", JWT_SECRET="y" * 40)
    try:
        server.start(ready_path="/health", timeout=120)
        alice = Client(server.url).signup()
        # POST /tasks p95 with the 500 sockets open (target 100 ms) is a row of tests/bench/bench_fanout.py.
        result = run_swarm(
            ws_urls(server.port, alice, 500), f"{server.url}/api/{alice.user_id}/tasks", alice.token, changes=60
        )
        assert_every_socket_got_every_change_once(result, 500)
    finally:
        server.stop()


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_several_workers_every_socket_on_every_worker_gets_every_change_exactly_once(database, db_url, tmp_path):
    url = db_url
    if database == "sqlite":  # no LISTEN/NOTIFY there: the workers' stream readers poll the file
        url = f"sqlite:///{tmp_path / 'workers.db'}"
        migrate(url)
    server = ServerProcess(DATABASE_URL=url, JWT_SECRET=JWT_SECRET, WEB_CONCURRENCY="3").start()
    try:
        alice = Client(server.url).signup()
        holders: dict = {}

        def swarm():
            holders["result"] = run_swarm(
                ws_urls(server.port, alice, 60), f"{server.url}/api/{alice.user_id}/tasks", alice.token, changes=10
            )

        thread = threading.Thread(target=swarm)
        thread.start()
        wait_until(
            lambda: len(socket_owners(server.port)) >= 2,
            timeout=30,
            message="sockets held by at least two different workers",
        )
        owners = socket_owners(server.port)
        thread.join(120)
        assert len(owners) >= 2, owners
        assert_every_socket_got_every_change_once(holders["result"], 60)
    finally:
        server.stop()


# -- each background loop once, and failover -----------------------------------------------------------


def test_the_leader_is_killed_another_worker_takes_over_nothing_lost_nothing_twice(db_url):
    server = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=JWT_SECRET, WEB_CONCURRENCY="2").start()
    try:
        wait_until(lambda: leader_pid(db_url) is not None, timeout=30, message="a leader")
        first = leader_pid(db_url)
        alice = Client(server.url).signup()
        now = dt.datetime.now(dt.UTC)
        soon = (now + dt.timedelta(seconds=6)).replace(microsecond=0)
        series = alice.create_task(title="daily", recurrence_rule="FREQ=DAILY", due_date=soon.isoformat())
        reminded = alice.create_task(
            title="remind me",
            due_date=(soon + dt.timedelta(hours=1)).isoformat(),
            reminders=[{"remind_at": soon.isoformat()}],
        )
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: leader_pid(db_url) not in (None, first),
            timeout=30,
            interval=0.1,
            message="another worker to take the lease",
        )
        during = [alice.create_task(title=f"after the kill {i}")["id"] for i in range(5)]
        wait_until(
            lambda: (
                count(db_url, sa.select(sa.func.count()).select_from(Task).where(Task.parent_id == series["id"])) >= 1
            ),
            timeout=40,  # due 6 s after the start, then the recurrence timer's next tick on a busy machine
            message="the new leader to spawn the occurrence",
        )
        wait_until(
            lambda: (
                count(
                    db_url,
                    sa.select(sa.func.count())
                    .select_from(Reminder)
                    .where(Reminder.task_id == reminded["id"], Reminder.notified.is_(True)),
                )
                == 1
            ),
            timeout=30,
            message="the reminder to fire",
        )
        wait_until(
            lambda: (
                count(db_url, sa.select(sa.func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))) == 0
            ),
            timeout=30,
            message="the relay",
        )
        wait_until(
            lambda: (
                count(db_url, sa.select(sa.func.count()).select_from(EventLog).where(EventLog.aggregate_id.in_(during)))
                == 5
            ),
            timeout=30,
            message="audit",
        )
        time.sleep(2)  # a second leader, if there were one, would spawn or fire again by now
        assert count(db_url, sa.select(sa.func.count()).select_from(Task).where(Task.parent_id == series["id"])) == 1
        assert (
            count(
                db_url, sa.select(sa.func.count()).select_from(Outbox).where(Outbox.event_type == "reminder.triggered")
            )
            == 1
        )
        assert count(db_url, sa.select(sa.func.count()).select_from(EventLog)) == count(
            db_url, sa.select(sa.func.count()).select_from(Outbox)
        ), "every event audited exactly once"
    finally:
        server.stop()


# -- embedded mode as `make run` serves it ------------------------------------------------------------


def test_make_run_serves_the_combined_app_on_sqlite(tmp_path):
    db = tmp_path / "run.db"
    server = ServerProcess.make_run(DATABASE_URL=f"sqlite:///{db}", JWT_SECRET=JWT_SECRET, LOG_LEVEL="INFO")
    try:
        server.start(ready_path="/health", timeout=120)
        api = Client(server.url).signup()
        task = api.create_task(title="from make run")
        assert api.request("GET", f"/api/{{me}}/tasks/{task['id']}").json()["title"] == "from make run"
        assert requests.get(f"{server.url}/ready", timeout=5).json()["checks"] == {"database": True}
        wait_until(lambda: pending(f"sqlite:///{db}") == 0, message="the background relay to publish")
        assert any(f"127.0.0.1:{server.port}" in line for line in server.output), "make run logs where it listens"
    finally:
        server.stop()
