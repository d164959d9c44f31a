"""The stack floor for task creation: a bare WSGI callable doing the same work as `POST /api/<user>/tasks`.

No Flask, no SQLAlchemy: verify the bearer token (PyJWT, HS256, as the API does), parse the JSON
body, build the task and its `task.created` envelope, and store both with ONE autocommit
statement on a pooled psycopg connection:

    WITH new_row AS (INSERT INTO tasks …) INSERT INTO outbox …

then answer 201 with the task as JSON. Served by the same gunicorn config as the app
(`gunicorn --config render/gunicorn.conf.py tests.bench.floor_app:app`), so the gevent worker has
already patched the standard library and psycopg waits cooperatively. The ratio of the API's
creates/s to this app's is what tests/bench/bench_runtime.py reports.

Environment: DATABASE_URL, JWT_SECRET, FLOOR_POOL_SIZE (connections per worker, default 10), FLOOR_NOTIFY.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import uuid

import jwt
import psycopg
from psycopg.types.json import Jsonb

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres").replace(
    "postgresql+psycopg://", "postgresql://", 1
)
SECRET = os.environ.get("JWT_SECRET", "dev-only-insecure-jwt-secret-change-me-in-production")
POOL_SIZE = int(os.environ.get("FLOOR_POOL_SIZE", "10"))
# FLOOR_NOTIFY=1 adds what the app's statement adds: `SELECT pg_notify('taskflow_outbox', '')` on the same
# round trip (the relay's wake-up), to tell the cost of NOTIFY at commit apart from the app's own overhead.
# FLOOR_NOTIFY=after sends it instead in a transaction of its own with synchronous_commit off (one more round
# trip, but the notify lock PostgreSQL holds until the commit is flushed is then not held across an fsync).
NOTIFY = os.environ.get("FLOOR_NOTIFY", "").lower() in ("1", "true", "yes")
NOTIFY_AFTER = os.environ.get("FLOOR_NOTIFY", "").lower() == "after"

NEW_ROW = (
    "WITH new_row AS ("
    " INSERT INTO tasks (id, user_id, title, description, completed, priority, tags, due_date, timezone,"
    " repeat_from, version, created_at, updated_at)"
    " VALUES (%(id)s, %(user_id)s, %(title)s, %(description)s, false, %(priority)s, %(tags)s, %(due_date)s,"
    " %(timezone)s, 'schedule', 1, %(now)s, %(now)s))"
)
EVENT = (
    " INSERT INTO outbox (event_id, topic, event_type, user_id, payload, created_at, attempts)"
    " VALUES (%(event_id)s, 'tasks.events', 'task.created', %(user_id)s, %(payload)s, %(now)s, 0)"
)
SQL = NEW_ROW + EVENT
SQL_NOTIFY = NEW_ROW + ", ev AS (" + EVENT + " RETURNING id) SELECT pg_notify('taskflow_outbox', '') FROM ev"  # noqa: S608 (constants)
STATEMENT = SQL_NOTIFY if NOTIFY else SQL


class Pool:
    """A LIFO of autocommit connections, opened on demand up to `size` (gevent-patched queue)."""

    def __init__(self, url: str, size: int):
        self._url, self._size, self._opened = url, size, 0
        self._idle: queue.LifoQueue = queue.LifoQueue()

    def get(self) -> psycopg.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            if self._opened < self._size:
                self._opened += 1
                try:
                    return psycopg.connect(self._url, autocommit=True)
                except Exception:
                    self._opened -= 1
                    raise
            return self._idle.get()

    def put(self, conn: psycopg.Connection) -> None:
        if conn.closed:
            self._opened -= 1
        else:
            self._idle.put(conn)


pool = Pool(DATABASE_URL, POOL_SIZE)


def rfc3339(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def respond(start_response, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body, separators=(",", ":")).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def create_task(environ, start_response, user_id: str) -> list[bytes]:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        claims = jwt.decode(
            auth.removeprefix("Bearer "), SECRET, algorithms=["HS256"], options={"require": ["sub", "exp"]}
        )
    except jwt.InvalidTokenError:
        return respond(start_response, "401 Unauthorized", {"title": "bad token"})
    if claims["sub"] != user_id:
        return respond(start_response, "403 Forbidden", {"title": "not yours"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length))
        title = str(body["title"])
    except (ValueError, KeyError, TypeError):
        return respond(start_response, "400 Bad Request", {"title": "bad body"})
    now = dt.datetime.now(dt.UTC)
    due = body.get("due_date")
    due_date = dt.datetime.fromisoformat(due.replace("Z", "+00:00")) if due else None
    task = {
        "id": str(uuid.uuid4()),
        "user_id": user_id,
        "title": title,
        "description": body.get("description"),
        "completed": False,
        "completed_at": None,
        "priority": body.get("priority") or "none",
        "tags": list(body.get("tags") or []),
        "due_date": rfc3339(due_date),
        "timezone": "UTC",
        "recurrence_rule": None,
        "repeat_from": "schedule",
        "next_occurrence": None,
        "parent_id": None,
        "occurrence_at": None,
        "version": 1,
        "created_at": rfc3339(now),
        "updated_at": rfc3339(now),
    }
    event_id = str(uuid.uuid4())
    envelope = {
        "event_id": event_id,
        "event_type": "task.created",
        "user_id": user_id,
        "aggregate_id": task["id"],
        "timestamp": rfc3339(now),
        "correlation_id": event_id,
        "data": task,
        "version": 1,
    }
    params = {
        "id": task["id"],
        "user_id": user_id,
        "title": title,
        "description": task["description"],
        "priority": task["priority"],
        "tags": Jsonb(task["tags"]),
        "due_date": due_date,
        "timezone": "UTC",
        "now": now,
        "event_id": event_id,
        "payload": Jsonb(envelope),
    }
    conn = pool.get()
    try:
        conn.execute(STATEMENT, params, prepare=True)
        if NOTIFY_AFTER:
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = off; SELECT pg_notify('taskflow_outbox', '')")
    except psycopg.Error as exc:
        return respond(start_response, "500 Internal Server Error", {"title": type(exc).__name__})
    finally:
        pool.put(conn)
    return respond(start_response, "201 Created", task)


def app(environ, start_response):
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
    if method == "POST" and path.startswith("/api/") and path.endswith("/tasks"):
        return create_task(environ, start_response, path[len("/api/") : -len("/tasks")])
    if path in ("/ready", "/health"):
        return respond(start_response, "200 OK", {"status": "ready"})
    return respond(start_response, "404 Not Found", {"title": "not found"})
