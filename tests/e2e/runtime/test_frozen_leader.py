"""Two instances on one PostgreSQL, started as the container starts them; the leader's process group is
frozen (SIGSTOP): the other instance takes the lease and the loops within seconds; woken (SIGCONT), the
old leader does no work twice (issue 28, item 2)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid

import requests
import sqlalchemy as sa

from shared.persistence.models import EventLog, Outbox, Reminder, Task
from tests.conftest import JWT_SECRET
from tests.e2e.runtime.test_combined_runtime import count, leader_pid
from tests.support.live import Client
from tests.support.net import wait_until
from tests.support.process import ServerProcess
from tests.support.sockets import Collector


def instance_of(pid: int, instances: list[ServerProcess]) -> ServerProcess:
    group = os.getpgid(pid)
    return next(s for s in instances if s.proc.pid == group)


def test_a_frozen_leader_loses_the_loops_within_seconds_and_does_nothing_twice_when_it_wakes(db_url):
    instances = [
        ServerProcess(DATABASE_URL=db_url, JWT_SECRET=JWT_SECRET, WEB_CONCURRENCY="2").start() for _ in range(2)
    ]
    frozen_group = None
    try:
        wait_until(lambda: leader_pid(db_url) is not None, timeout=30, message="a leader")
        first = leader_pid(db_url)
        leader = instance_of(first, instances)
        healthy = next(s for s in instances if s is not leader)
        alice = Client(healthy.url).signup()
        socket = Collector(f"ws://127.0.0.1:{healthy.port}/ws/user/{alice.user_id}/tasks?token={alice.token}")
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)).replace(microsecond=0)
        series = alice.create_task(title="daily", recurrence_rule="FREQ=DAILY", due_date=soon.isoformat())
        reminded = alice.create_task(
            title="remind me",
            due_date=(soon + dt.timedelta(hours=1)).isoformat(),
            reminders=[{"remind_at": soon.isoformat()}],
        )
        wait_until(lambda: len(socket.event_ids("task.created")) == 2, timeout=30, message="live before the freeze")

        frozen_group = leader.proc.pid
        os.killpg(frozen_group, signal.SIGSTOP)
        during = [alice.create_task(title=f"while frozen {i}")["id"] for i in range(5)]
        wait_until(
            lambda: leader_pid(db_url) not in (None, first), timeout=30, interval=0.1, message="the lease to move"
        )
        assert instance_of(leader_pid(db_url), instances) is healthy
        wait_until(
            lambda: (
                set(during) <= {m["data"].get("id") for m in list(socket.messages) if m.get("type") == "task.created"}
            ),
            timeout=30,
            message="the relay to run on the new leader (the socket gets what was created while frozen)",
        )
        spawned = sa.select(sa.func.count()).select_from(Task).where(Task.parent_id == series["id"])
        fired = (
            sa.select(sa.func.count())
            .select_from(Reminder)
            .where(Reminder.task_id == reminded["id"], Reminder.notified.is_(True))
        )
        wait_until(lambda: count(db_url, spawned) == 1, timeout=40, message="the new leader to spawn the occurrence")
        wait_until(lambda: count(db_url, fired) == 1, timeout=40, message="the new leader to fire the reminder")

        os.killpg(frozen_group, signal.SIGCONT)
        frozen_group = None

        # The old leader wakes: it must notice it lost the lease and commit nothing of its old work.
        # Its sessions were ended: a request that meets one answers 503 (never 500), and the pool recovers.
        def serves() -> bool:
            status = requests.post(
                f"{leader.url}/api/auth/register",
                json={"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": "correct horse battery"},
                timeout=30,
            ).status_code
            assert status in (201, 503), status
            return status == 201

        wait_until(serves, timeout=30, message="the woken instance serves")
        after = [alice.create_task(title=f"after the wake {i}")["id"] for i in range(3)]
        wait_until(
            lambda: (
                count(db_url, sa.select(sa.func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))) == 0
            ),
            timeout=30,
            message="the relay",
        )
        wait_until(
            lambda: (
                count(
                    db_url,
                    sa.select(sa.func.count()).select_from(EventLog).where(EventLog.aggregate_id.in_(during + after)),
                )
                == 8
            ),
            timeout=30,
            message="audit",
        )
        time.sleep(3)  # a second leader, if there were one, would spawn or fire again by now
        assert instance_of(leader_pid(db_url), instances) is healthy, "the woken process did not take the lease back"
        assert count(db_url, spawned) == 1, "spawned once"
        reminders = sa.select(sa.func.count()).select_from(Outbox).where(Outbox.event_type == "reminder.triggered")
        assert count(db_url, reminders) == 1, "fired once"
        assert count(db_url, sa.select(sa.func.count()).select_from(EventLog)) == count(
            db_url, sa.select(sa.func.count()).select_from(Outbox)
        ), "every event audited exactly once"
        ids = socket.event_ids()
        assert len(ids) == len(set(ids)), "the socket got no event twice"
        socket.close()
    finally:
        if frozen_group is not None:
            os.killpg(frozen_group, signal.SIGCONT)
        for server in instances:
            server.stop()
