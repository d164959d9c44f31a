"""The embedded default (`make run`: SQLite, one gevent worker) never stalls while webhooks go out.

A person with a webhook registered kept writing while deliveries ran; SQLite's busy wait then froze
the whole worker for 20-30 s. Here three clients write for a while (tasks, reminders, changes, ticks
of a series) while webhooks go to a fast receiver, a slow one (answers after 5 s) and one that never
answers, an .ics file is imported, the webhook test route waits on the silent receiver and reminders
fire. Nothing may fail and no write may hang: the bound below only catches a stall (they lasted 20 s
and more); how fast the writes are is `tests/bench/bench_embedded.py`'s business.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading
import time

import requests

from tests.conftest import JWT_SECRET
from tests.support.calendar import weekly_calendar
from tests.support.live import Client
from tests.support.net import wait_until
from tests.support.process import ServerProcess
from tests.support.receiver import DelayedReceiver

#: Far above any write's normal time here, far below the stalls this guards against (20-30 s).
STALL_SECONDS = 5.0
WRITE_SECONDS = 25.0


def same_account(client: Client) -> Client:
    """Another connection (its own requests.Session) signed in as the same person: another tab."""
    other = Client(client.base)
    other.user_id, other.token = client.user_id, client.token
    return other


class Timed:
    """Run requests, remembering how long each took and which failed."""

    def __init__(self):
        self.durations: list[tuple[float, str]] = []
        self.failures: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, client: Client, what: str, method: str, path: str, ok=(200, 201, 204), **kwargs):
        started = time.monotonic()
        try:
            response = client.request(method, path, **kwargs)
        except requests.RequestException as exc:
            with self.lock:
                self.failures.append(f"{what}: {exc}")
            return None
        finally:
            with self.lock:
                self.durations.append((time.monotonic() - started, what))
        if response.status_code not in ok:
            with self.lock:
                self.failures.append(f"{what}: {response.status_code} {response.text[:200]}")
        return response


def writer(base_url: str, client: Client, timed: Timed, n: int, until: float) -> int:
    """Write like a person planning a week: tasks, reminders, edits, ticks."""
    done = 0
    while time.monotonic() < until:
        created = timed(client, "create", "POST", "/api/{me}/tasks", json={"title": f"w{n} task {done}"})
        if created is None or created.status_code != 201:
            continue
        tid = created.json()["id"]
        timed(client, "update", "PUT", f"/api/{{me}}/tasks/{tid}", json={"priority": "high", "tags": ["week"]})
        if done % 2:  # completing cancels pending reminders: every other task keeps one, to ring meanwhile
            timed(client, "complete", "PATCH", f"/api/{{me}}/tasks/{tid}/complete", json={})
        else:  # "soon" from now: ahead of the request by more than any write that is not a stall takes
            soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=STALL_SECONDS + 1)).isoformat()
            timed(client, "reminder", "POST", f"/api/{{me}}/tasks/{tid}/reminders", json={"remind_at": soon})
        done += 1
    return done


def test_writes_never_stall_while_webhooks_imports_ticks_and_reminders_run(tmp_path):
    fast, slow, silent = DelayedReceiver(0), DelayedReceiver(5), DelayedReceiver(None)
    server = ServerProcess.make_run(
        DATABASE_URL=f"sqlite:///{tmp_path / 'stall.db'}",
        JWT_SECRET=JWT_SECRET,
        WEBHOOK_ALLOW_PRIVATE="true",
        WEBHOOK_RETRY_BASE_SECONDS="1",
    )
    try:
        server.start(ready_path="/health", timeout=120)
        owner = Client(server.url).signup()
        hooks = {}
        for name, receiver in (("fast", fast), ("slow", slow), ("silent", silent)):
            made = owner.request("POST", "/api/{me}/webhooks", json={"url": receiver.url, "events": ["*"]})
            assert made.status_code == 201, made.text
            hooks[name] = made.json()["id"]
        series = owner.create_task(title="Standup", due_date="2026-12-01T09:00:00Z")
        ruled = owner.request(
            "POST", f"/api/{{me}}/tasks/{series['id']}/recurrence", json={"recurrence_rule": "FREQ=DAILY"}
        )
        assert ruled.status_code == 200, ruled.text
        writers = [owner] + [Client(server.url).signup() for _ in range(2)]
        timed, side = Timed(), Timed()
        until = time.monotonic() + WRITE_SECONDS

        ticker, prober = same_account(owner), same_account(owner)

        def ticks() -> None:
            while time.monotonic() < until:
                side(ticker, "tick", "POST", f"/api/{{me}}/tasks/{series['id']}/complete-occurrence", json={})
                time.sleep(0.5)

        def slow_paths() -> None:
            side(prober, "webhook test (silent receiver)", "POST", f"/api/{{me}}/webhooks/{hooks['silent']}/test")
            side(
                prober,
                "import",
                "POST",
                "/api/{me}/import/ics",
                data=weekly_calendar(240),
                headers={"Content-Type": "text/calendar"},
            )

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            jobs = [pool.submit(writer, server.url, c, timed, n, until) for n, c in enumerate(writers)]
            jobs += [pool.submit(ticks), pool.submit(slow_paths)]
            written = [job.result(timeout=WRITE_SECONDS + 120) for job in jobs[:3]]
            for job in jobs[3:]:
                job.result(timeout=WRITE_SECONDS + 120)

        assert timed.failures == [] and side.failures == [], (timed.failures, side.failures)
        assert all(n > 0 for n in written), written
        slowest = max(timed.durations)
        assert slowest[0] < STALL_SECONDS, f"a write waited {slowest[0]:.1f} s ({slowest[1]}): the worker stalled"
        # Webhooks went out meanwhile to all three receivers (the silent one costs its own deliveries
        # their timeout), and the reminders fired.
        wait_until(lambda: fast.hits >= 10 and slow.hits > 0 and silent.hits > 0, timeout=60, message="deliveries")
        wait_until(
            lambda: owner.request("GET", "/api/{me}/events", params={"event_type": "reminder.triggered"}).json()[
                "items"
            ],
            timeout=60,
            message="reminders to fire and reach the audit log",
        )
    finally:
        server.stop()
        for receiver in (fast, slow, silent):
            receiver.close()
