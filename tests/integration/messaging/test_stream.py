"""The in-process stream as a consumer group: a poison event parked, a restart resuming where it stopped, a purge
that waits for every consumer."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys

import pytest
import requests
import sqlalchemy as sa

from functions.combined import create_app
from shared.messaging.stream import StreamConsumer
from shared.messaging.stream_reads import parse, read_stream
from shared.messaging.subscriptions import Subscription
from shared.persistence.db import make_engine
from shared.persistence.models import ConsumerOffset, EventLog, Outbox
from tests.conftest import JWT_SECRET, with_
from tests.support.live import Client
from tests.support.net import wait_until

APP_TOKEN = "app-token-for-tests-0123456789abcdef"


def count(url: str, query) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        value = conn.scalar(query)
    engine.dispose()
    return value


@pytest.fixture
def combined(settings, serve):
    """The combined app in-process on PostgreSQL, with the admin routes (APP_API_TOKEN set)."""
    app = create_app(with_(settings, app_api_token=APP_TOKEN))
    server = serve(app)
    client = Client(server.url).signup()
    client.rt = app.extensions["taskflow"]
    return client


def test_a_consumer_that_raises_on_one_event_parks_it_and_nothing_else_waits(combined, db_url):
    rt = combined.rt
    broken = {"on": True}
    applied: list[str] = []

    def picky(events):
        for event in events:
            if broken["on"] and event.data.get("title") == "poison":
                raise ValueError("cannot handle a poison title")
        applied.extend(e.event_id for e in events)

    rt.pipeline.subscribe(Subscription("picky", ("tasks.events",), picky), retry_base=0.01)
    ids = [combined.create_task(title=t)["id"] for t in ("before", "poison", "after")]
    wait_until(lambda: len(rt.pipeline.dead_letters("picky")) == 1, timeout=30, message="a dead letter")
    wait_until(lambda: len(applied) == 2, message="the other events applied")
    [letter] = rt.pipeline.dead_letters("picky")
    assert letter.payload["data"]["id"] == ids[1] and "ValueError: cannot handle a poison title" in letter.error
    assert letter.attempts == 3
    # The relay and the other consumers never waited.
    wait_until(
        lambda: (
            count(db_url, sa.select(sa.func.count()).select_from(EventLog).where(EventLog.aggregate_id.in_(ids))) == 3
        ),
        message="audit has all three",
    )
    assert count(db_url, sa.select(sa.func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))) == 0
    later = combined.create_task(title="later")["id"]
    wait_until(lambda: len(applied) == 3, message="the consumer moved on")
    metrics = requests.get(f"{combined.base}/metrics", timeout=5).text
    assert 'taskflow_consumer_dead_letters{consumer="picky"} 1.0' in metrics
    assert 'taskflow_consumer_lag_events{consumer="audit"}' in metrics
    # Listing and replay are behind the app token.
    assert requests.get(f"{combined.base}/admin/dead-letters", timeout=5).status_code == 401
    auth = {"dapr-api-token": APP_TOKEN}
    listed = requests.get(f"{combined.base}/admin/dead-letters?consumer=picky", headers=auth, timeout=5).json()
    assert [item["event_id"] for item in listed["items"]] == [letter.event_id]
    # The same list from the command line an operator without the token uses.
    cli = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "taskflow-dlq"), "list", "--consumer", "picky"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": db_url, "JWT_SECRET": JWT_SECRET},
    )
    assert cli.returncode == 0, cli.stderr
    assert [json.loads(line)["event_id"] for line in cli.stdout.splitlines()] == [letter.event_id]
    broken["on"] = False  # the fix is deployed
    for _ in range(2):
        resp = requests.post(f"{combined.base}/admin/dead-letters/{letter.id}/replay", headers=auth, timeout=5)
        assert resp.status_code == 200 and resp.json()["replayed_at"]
    assert applied.count(letter.event_id) == 1, "replayed once, however often replay is asked"
    assert rt.pipeline.dead_letters("picky") == [] and later


def test_restart_mid_stream_resumes_at_the_stored_position_with_effects_once(settings, db_url):
    quiet = with_(settings, run_background_workers=False)
    first = create_app(quiet)
    rt = first.extensions["taskflow"]
    client = first.test_client()
    user = client.post("/api/auth/register", json={"email": "r@example.com", "password": "correct horse battery"}).json
    headers = {"Authorization": f"Bearer {user['token']}"}
    for i in range(50):
        assert client.post(f"/api/{user['user_id']}/tasks", json={"title": f"t{i}"}, headers=headers).status_code == 201
    rt.relay.drain()
    audit = StreamConsumer(
        rt.sessions, "audit", ("tasks.events",), rt.pipeline.consumer("audit")._handle, batch_size=20
    )
    audit.step()  # events 1-20 handled and the position stored ...
    assert audit.position() == 20
    with rt.sessions() as session:  # ... then 21-40 handled, and the process dies before storing it
        rt.pipeline.consumer("audit")._handle([event for _, event in parse(read_stream(session, 20, 20))[0]])
    assert count(db_url, sa.select(sa.func.count()).select_from(EventLog)) == 40
    rt.close()

    second = create_app(quiet)
    rt2 = second.extensions["taskflow"]
    consumer = rt2.pipeline.consumer("audit")
    handled: list[str] = []
    original = consumer._handle
    consumer._handle = lambda events: (handled.extend(e.data["title"] for e in events), original(events))
    assert consumer.position() == 20
    consumer.catch_up()
    assert handled == [f"t{i}" for i in range(20, 50)], "resumes right after the stored position, in order"
    assert count(db_url, sa.select(sa.func.count()).select_from(EventLog)) == 50, "each effect once"
    assert count(db_url, sa.select(ConsumerOffset.position).where(ConsumerOffset.consumer == "audit")) == 50
    rt2.close()


def test_old_published_rows_are_purged_only_once_every_consumer_has_read_them(settings, db_url):
    import functions.outbox

    app = create_app(with_(settings, run_background_workers=False))
    rt = app.extensions["taskflow"]
    client = app.test_client()
    user = client.post("/api/auth/register", json={"email": "p@example.com", "password": "correct horse battery"}).json
    for i in range(6):
        client.post(
            f"/api/{user['user_id']}/tasks",
            json={"title": f"t{i}"},
            headers={"Authorization": f"Bearer {user['token']}"},
        )
    rt.relay.drain()
    audit = StreamConsumer(rt.sessions, "audit", ("tasks.events",), rt.pipeline.consumer("audit")._handle, batch_size=4)
    audit.step()  # audit has read 4 of the 6
    with rt.sessions.begin() as session:
        session.execute(sa.update(Outbox).values(published_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8)))
    assert functions.outbox.purge(rt) == 4, "the two the audit consumer has not read yet stay"
    assert count(db_url, sa.select(sa.func.min(Outbox.seq))) == 5
    rt.close()
