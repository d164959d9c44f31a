"""Embedded mode: SQLite + the in-process bus, through create_app and through `make run`."""

from __future__ import annotations

import pathlib
import threading

import requests
import sqlalchemy as sa

from functions.combined import create_app
from shared.messaging.subscriptions import Subscription
from shared.persistence.db import make_engine, migrate
from shared.persistence.models import Outbox
from shared.settings import Settings
from tests.conftest import JWT_SECRET
from tests.support.live import Client
from tests.support.net import wait_until
from tests.support.process import ServerProcess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pending(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(Outbox).where(Outbox.published_at.is_(None)))
    engine.dispose()
    return count


def test_create_app_on_sqlite_delivers_events_on_the_local_bus(tmp_path, serve):
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    migrate(url)
    app = create_app(Settings(database_url=url, jwt_secret=JWT_SECRET))
    rt = app.extensions["taskflow"]
    assert rt.transport.name == "local"
    received, lock = [], threading.Lock()

    def collect(event):
        with lock:
            received.append(event)

    rt.pipeline.subscribe(
        Subscription("test-collector", ("tasks.events",), lambda events: [collect(e) for e in events])
    )
    api = Client(serve(app).url).signup()
    tid = api.create_task(title="embedded", due_date="2026-12-24T18:00:00", timezone="America/New_York")["id"]
    api.request("PATCH", f"/api/{{me}}/tasks/{tid}/complete")
    wait_until(lambda: len(received) == 2, message="two events on the local bus")
    assert [e.event_type for e in received] == ["task.created", "task.completed"]
    assert received[0].data["due_date"] == "2026-12-24T18:00:00-05:00"
    # The relay marks the rows published in the transaction that follows the handlers returning.
    wait_until(lambda: pending(url) == 0, message="the relay to mark both events published")
    listing = api.request("GET", "/api/{me}/tasks", params={"tag": "none", "q": "embed"})
    assert listing.status_code == 200 and listing.json()["items"] == []


def test_a_failing_consumer_retries_the_event_without_holding_up_the_relay(tmp_path):
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    migrate(url)
    app = create_app(Settings(database_url=url, jwt_secret=JWT_SECRET, run_background_workers=False))
    rt = app.extensions["taskflow"]
    calls = []

    def flaky(events):
        calls.extend(e.event_id for e in events)
        if len(calls) == 1:
            raise RuntimeError("consumer hiccup")

    rt.pipeline.subscribe(Subscription("flaky", ("tasks.events",), flaky))
    client = app.test_client()
    signup = client.post("/api/auth/register", json={"email": "e@x.example", "password": "embedded pass 42"}).json
    client.post(
        f"/api/{signup['user_id']}/tasks", json={"title": "t"}, headers={"Authorization": f"Bearer {signup['token']}"}
    )
    assert rt.relay.drain() == (1, False) and pending(url) == 0, "the relay never waits for a consumer"
    rt.pipeline.catch_up()
    assert len(calls) == 2 and calls[0] == calls[1], "the failed event is retried"
    assert rt.pipeline.dead_letters() == []
    rt.close()


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
