"""A plain create, the one-statement path: it stores exactly what the general path stores, on
PostgreSQL and SQLite; a deleted account gets a clear 401; a burst opens no new PostgreSQL sessions."""

from __future__ import annotations

import concurrent.futures
import datetime as dt

import psycopg
import pytest
import requests
import sqlalchemy as sa

from functions.tasks import create_app
from functions.tasks.core import tasks as core
from functions.tasks.schemas.tasks import TaskCreate
from shared.domain.errors import Unauthorized
from shared.messaging.outbox import add_event
from shared.persistence.db import autocommit_engine, make_engine, migrate
from shared.persistence.models import Outbox, Task, User
from shared.runtime.process import Runtime
from shared.services.tasks import created_event, new_task
from shared.settings import Settings
from tests.conftest import JWT_SECRET, with_
from tests.support.net import wait_until

BODIES = [
    {"title": "Water the plants"},
    {
        "title": "  Pay rent ",
        "description": "by transfer",
        "due_date": "2026-12-01T09:00",
        "timezone": "Europe/Paris",
        "priority": "high",
        "tags": ["home", "money", "home"],
        "position": 2.5,
    },
    {"title": "Birthday", "due_date": "2026-12-24", "timezone": "America/New_York"},
    # In Paris' spring-forward gap: stored as 03:30's instant, its wall-clock time kept in dtstart_wall.
    {"title": "In the gap", "due_date": "2026-03-29T02:30:00", "timezone": "Europe/Paris"},
    {"title": "Offset given", "due_date": "2026-06-01T08:00:00+02:00", "tags": []},
    {"title": "Café ☕ — naïve 日本", "description": "🎉 ünïcödé", "tags": ["été", "日本"]},
    {"title": "Nulls", "description": None, "due_date": None, "list_id": None, "section_id": None, "position": None},
]


@pytest.fixture(params=["postgresql", "sqlite"])
def rt(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("db_url")
    else:
        url = f"sqlite:///{tmp_path / 'lean.db'}"
        migrate(url)
    runtime = Runtime(Settings(database_url=url, jwt_secret=JWT_SECRET, run_background_workers=False))
    with runtime.sessions.begin() as session:
        session.add(User(id="u-lean", email="lean@example.com", password_hash="x"))
    yield runtime
    runtime.close()


def stored(rt: Runtime, task_id: str) -> tuple[dict, dict]:
    """The task's row (every column) and its task.created outbox row."""
    with rt.engine.connect() as conn:
        row = conn.execute(sa.select(Task.__table__).where(Task.id == task_id)).one()._asdict()
        out = (
            conn.execute(sa.select(Outbox.__table__).where(Outbox.payload["aggregate_id"].as_string() == task_id))
            .one()
            ._asdict()
        )
    return row, out


def counts(rt: Runtime) -> tuple[int, int]:
    """How many tasks and outbox rows are stored."""
    with rt.engine.connect() as conn:
        return (
            conn.scalar(sa.select(sa.func.count()).select_from(Task)),
            conn.scalar(sa.select(sa.func.count()).select_from(Outbox)),
        )


@pytest.mark.parametrize("body", BODIES, ids=[b["title"].strip() for b in BODIES])
def test_a_plain_create_stores_what_the_general_path_stores(rt, body):
    validated = TaskCreate.model_validate(body)
    shown = core.create(rt, "u-lean", validated)
    lean_row, lean_out = stored(rt, shown["id"])

    # The same task through the ORM path every other create takes (same instant, another id).
    fields = core._fields_in_the_users_zone(rt, "u-lean", validated)
    for unset in ("parent_task_id", "list_id", "section_id"):
        fields.pop(unset, None)
    task = new_task("u-lean", now=lean_row["created_at"], **fields)
    task.dtstart_wall = core.gap_wall(validated.due_date, task.due_date, task.timezone)
    event = created_event(task)
    with rt.sessions.begin() as session:
        session.add(task)
        add_event(session, event)
    orm_row, orm_out = stored(rt, task.id)

    assert {k: v for k, v in lean_row.items() if k != "id"} == {k: v for k, v in orm_row.items() if k != "id"}
    assert shown == {**event.data, "id": shown["id"]}
    # The response is the task as every read shows it, and the event carries exactly it.
    assert shown == core.get(rt, "u-lean", shown["id"])
    assert list(shown) == list(core.get(rt, "u-lean", shown["id"]))
    assert lean_out["payload"]["data"] == shown
    for column in ("topic", "event_type", "user_id", "attempts", "traceparent", "published_at", "seq"):
        assert lean_out[column] == orm_out[column], column
    assert lean_out["created_at"] == lean_row["created_at"]
    envelope = {k: v for k, v in lean_out["payload"].items() if k not in ("event_id", "timestamp", "correlation_id")}
    assert envelope == {
        "event_type": "task.created",
        "user_id": "u-lean",
        "aggregate_id": shown["id"],
        "data": shown,
        "version": 1,
    }
    assert lean_out["payload"]["event_id"] == lean_out["event_id"]


def test_a_deleted_account_gets_a_clear_401_and_nothing_is_stored(rt):
    with rt.sessions.begin() as session:
        session.execute(sa.delete(User).where(User.id == "u-lean"))
    with pytest.raises(Unauthorized, match=r"^This account no longer exists\.$"):
        core.create(rt, "u-lean", TaskCreate(title="orphan", timezone="UTC"))
    assert counts(rt) == (0, 0)


def test_over_http_a_deleted_account_is_refused_with_401(api, db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.delete(User).where(User.id == api.user_id))
    engine.dispose()
    resp = api.request("POST", "/api/{me}/tasks", json={"title": "orphan"})
    assert resp.status_code == 401
    assert "This account no longer exists" in resp.text


@pytest.mark.parametrize("gone", ["deleted", "signed out"])
def test_the_account_checked_inside_the_insert_refuses_and_stores_nothing(rt, gone):
    """The HTTP guard leaves a plain create's account check to its one statement: a deleted account, or a
    token of an earlier session generation, inserts neither the row nor its event, and is told which."""
    with rt.sessions.begin() as session:
        if gone == "deleted":
            session.execute(sa.delete(User).where(User.id == "u-lean"))
        else:
            session.execute(sa.update(User).where(User.id == "u-lean").values(session_generation=3))
    message = "This account no longer exists" if gone == "deleted" else "signed out"
    reminded = {"title": "with a reminder", "due_date": "2030-01-01T09:00Z", "reminders": [{"minutes_before": 10}]}
    for body in ({"title": "plain"}, reminded):
        with pytest.raises(Unauthorized, match=message):
            core.create(rt, "u-lean", TaskCreate.model_validate(body), ("u-lean", 2))
    assert counts(rt) == (0, 0)
    if gone == "signed out":  # the current generation writes, in the same one statement
        shown = core.create(rt, "u-lean", TaskCreate(title="current", timezone="UTC"), ("u-lean", 3))
        assert stored(rt, shown["id"])[0]["title"] == "current"
        assert counts(rt) == (1, 1)


@pytest.mark.parametrize("key", [None, "retry-1"])
def test_over_http_a_signed_out_token_cannot_create(api, key):
    """Sign out everywhere, then create with the old token (with and without an Idempotency-Key): 401,
    nothing stored, no key kept; a bad body from that token is told 401 too, not its body's faults."""
    headers = api.headers() | ({"Idempotency-Key": key} if key else {})
    url = f"{api.base}/api/{api.user_id}/tasks"
    assert requests.post(url, json={"title": "before"}, headers=headers, timeout=30).status_code == 201
    engine = make_engine(api.rt.settings.database_url)
    with engine.begin() as conn:
        signed_out = sa.update(User).where(User.id == api.user_id)
        conn.execute(signed_out.values(session_generation=User.session_generation + 1))
    engine.dispose()
    for body in ({"title": "after"}, {"title": ""}, {"nope": 1}):
        retry = headers | {"Idempotency-Key": "k2"} if key else headers
        resp = requests.post(url, json=body, headers=retry, timeout=30)
        assert resp.status_code == 401, resp.text
        assert "signed out" in resp.json()["detail"]
    assert counts(api.rt) == (1, 1)


def test_a_burst_of_25_creates_opens_no_new_database_sessions(settings, serve, make_client):
    server = serve(create_app(with_(settings, run_background_workers=False)))
    clients = [make_client(server).signup() for _ in range(5)]
    rt = server.app.extensions["taskflow"]
    admin_url = settings.database_url.replace("+psycopg", "")

    def create(i: int) -> int:
        client = clients[i % 5]
        url = f"{client.base}/api/{client.user_id}/tasks"
        return requests.post(url, json={"title": f"t{i}"}, headers=client.headers(), timeout=60).status_code

    def burst() -> list[int]:
        """25 creates in flight at once: held at the outbox (locked) until every one waits there."""
        with psycopg.connect(admin_url) as admin, concurrent.futures.ThreadPoolExecutor(25) as pool:
            admin.execute("LOCK TABLE outbox IN SHARE MODE")
            statuses = pool.map(create, range(25))
            waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'outbox'::regclass AND NOT granted"
            wait_until(lambda: admin.execute(waiting).fetchone() == (25,), timeout=30, message="25 inserts waiting")
            admin.rollback()
            return list(statuses)

    assert burst() == [201] * 25  # opens what the pools keep
    opened = []
    for engine in (rt.engine, autocommit_engine(rt.engine)):
        sa.event.listen(engine.pool, "connect", lambda *_: opened.append(1))
    since = dt.datetime.now(dt.UTC)
    for _ in range(2):
        assert burst() == [201] * 25
    assert opened == []
    with psycopg.connect(admin_url) as admin:
        new_sessions = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_start > %s AND pid <> pg_backend_pid()",
            (since,),
        ).fetchone()
    assert new_sessions == (0,)
