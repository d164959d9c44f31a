"""The framework floor for task creation: a minimal Flask route doing what tests/bench/floor_app.py does.

The same work as the bare WSGI floor — verify the bearer token (PyJWT, HS256), parse the JSON body,
build the task and its `task.created` envelope, store both with floor_app's ONE autocommit statement
on floor_app's psycopg pool — but through Flask: one route, `request.get_json()`, `jsonify`. No
SQLAlchemy, no hooks, no extensions. What the tasks function costs beyond this is TaskFlow's own
(issue 27); tests/bench/bench_writepath.py reports every server as a ratio to this one.

    gunicorn --config render/gunicorn.conf.py tests.bench.floor_flask:app

Environment: as floor_app (DATABASE_URL, JWT_SECRET, FLOOR_POOL_SIZE, FLOOR_NOTIFY).
"""

from __future__ import annotations

import datetime as dt
import uuid

import jwt
import psycopg
from flask import Flask, jsonify, request
from psycopg.types.json import Jsonb

from tests.bench.floor_app import SECRET, STATEMENT, pool, rfc3339

app = Flask(__name__)


@app.post("/api/<user_id>/tasks")
def create_task(user_id: str):
    try:
        claims = jwt.decode(
            request.headers.get("Authorization", "").removeprefix("Bearer "),
            SECRET,
            algorithms=["HS256"],
            options={"require": ["sub", "exp"]},
        )
    except jwt.InvalidTokenError:
        return jsonify(title="bad token"), 401
    if claims["sub"] != user_id:
        return jsonify(title="not yours"), 403
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "title" not in body:
        return jsonify(title="bad body"), 400
    now = dt.datetime.now(dt.UTC)
    due = body.get("due_date")
    due_date = dt.datetime.fromisoformat(due.replace("Z", "+00:00")) if due else None
    task = {
        "id": str(uuid.uuid4()),
        "user_id": user_id,
        "title": str(body["title"]),
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
        "title": task["title"],
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
    except psycopg.Error as exc:
        return jsonify(title=type(exc).__name__), 500
    finally:
        pool.put(conn)
    return jsonify(task), 201


@app.get("/ready")
@app.get("/health")
def ready():
    return jsonify(status="ready")
