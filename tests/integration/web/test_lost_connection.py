"""A database connection lost under a request is a 503 with Retry-After on every kind of route, never a 500.

The connection is cut exactly where the route works: the test holds an exclusive lock on the table
the route reads or writes, waits until the app's connection queues behind it, and ends that backend
with `pg_terminate_backend` (what a PostgreSQL restart or a failover does to every open connection).
Routes reach the database in different ways (the unit of work, SQLAlchemy Core, psycopg straight
on the hot create path), and each must answer the same.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
import sqlalchemy as sa

from functions.combined import create_app
from shared.persistence.db import make_engine
from tests.conftest import with_


@pytest.fixture
def app_server(settings, serve):
    return serve(create_app(with_(settings, run_background_workers=False)))


@pytest.fixture
def alice(app_server, make_client):
    return make_client(app_server).signup()


@pytest.fixture
def stored(alice):
    """A task, a list and a calendar feed of alice's, for the routes that need one."""
    task = alice.create_task(title="kept")
    listed = alice.request("POST", "/api/{me}/lists", json={"name": "Errands"})
    feed = alice.request("POST", "/api/{me}/calendar-feed")
    assert listed.status_code == 201 and feed.status_code == 201, (listed.text, feed.text)
    token = feed.json()["url"].rsplit("/ical/", 1)[1].removesuffix(".ics")
    return {"task": task, "list": listed.json()["id"], "feed": token}


#: (route kind, method, path, body, the table the route's own statements touch, signed in)
ROUTES = [
    ("create", "POST", "/api/{me}/tasks", {"title": "during the cut"}, "tasks", True),
    ("PATCH", "PATCH", "/api/{me}/tasks/{task}", {"base_version": 1, "changes": {"title": "renamed"}}, "tasks", True),
    ("list", "GET", "/api/{me}/tasks", None, "tasks", True),
    ("complete", "PATCH", "/api/{me}/tasks/{task}/complete", {}, "tasks", True),
    ("login", "POST", "/api/auth/login", {"email": "{email}", "password": "correct horse battery"}, "users", False),
    (
        "register",
        "POST",
        "/api/auth/register",
        {"email": "new@example.com", "password": "pw-new-12345"},
        "users",
        False,
    ),
    ("parse", "POST", "/api/{me}/parse", {"text": "buy milk tomorrow 5pm #Errands"}, "preferences", True),
    ("lists", "GET", "/api/{me}/lists", None, "lists", True),
    ("new list", "POST", "/api/{me}/lists", {"name": "Garden"}, "lists", True),
    ("preferences", "PUT", "/api/{me}/preferences", {"timezone": "Europe/Paris"}, "preferences", True),
    ("calendar feed", "POST", "/api/{me}/calendar-feed", None, "calendar_feeds", True),
    ("calendar", "GET", "/ical/{feed}.ics", None, "calendar_feeds", False),
]


def fill(value, alice, stored):
    """The route's path or body with alice's ids put in."""
    if isinstance(value, str):
        return value.format(me=alice.user_id, task=stored["task"]["id"], feed=stored["feed"], email=alice.email)
    if isinstance(value, dict):
        return {k: fill(v, alice, stored) for k, v in value.items()}
    return value


def waiting_backends(conn) -> list[int]:
    """Backends of this database queued behind a lock (the app's, not ours)."""
    rows = conn.execute(
        sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
    )
    return [pid for (pid,) in rows]


def cut_under(db_url, table: str, send):
    """Run `send()` in a thread while `table` is locked; terminate the app's backend that waits on it."""
    engine = make_engine(db_url)
    answer: dict = {}
    try:
        with engine.connect() as holder, engine.connect() as killer:
            killer.execution_options(isolation_level="AUTOCOMMIT")
            holder.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            thread = threading.Thread(target=lambda: answer.setdefault("resp", send()), daemon=True)
            thread.start()
            deadline = time.monotonic() + 15
            while not (waiting := waiting_backends(killer)):
                assert thread.is_alive(), f"the route answered without touching {table}: {answer['resp'].status_code}"
                assert time.monotonic() < deadline, f"no connection of the app ever waited on {table}"
                time.sleep(0.02)
            for pid in waiting:
                killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            holder.rollback()
            thread.join(30)
    finally:
        engine.dispose()
    return answer["resp"]


@pytest.mark.parametrize("kind,method,path,body,table,signed_in", ROUTES, ids=[r[0] for r in ROUTES])
def test_a_connection_lost_under_the_route_is_503_with_retry_after(
    db_url, alice, stored, caplog, kind, method, path, body, table, signed_in
):
    caplog.set_level(logging.WARNING)
    url, json = fill(path, alice, stored), fill(body, alice, stored)

    resp = cut_under(db_url, table, lambda: alice.request(method, url, json=json, auth=signed_in))

    assert resp.status_code == 503, (kind, resp.status_code, resp.text[:300])
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.json()["status"] == 503
    traces = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not traces, f"an outage is not a bug: no error logged with a stack trace ({kind}): {traces}"
    # The pool let the dead connection go: the same request succeeds at once.
    again = alice.request(method, url, json=json, auth=signed_in)
    assert again.status_code < 500, (kind, again.status_code, again.text[:300])
