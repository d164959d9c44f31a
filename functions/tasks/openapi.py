"""The OpenAPI 3.1 description of the tasks API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

_TASK_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 500},
        "description": {"type": ["string", "null"], "maxLength": 10000},
        "due_date": {"type": ["string", "null"], "format": "date-time"},
        "timezone": {"type": "string", "description": "IANA timezone name"},
        "priority": {"enum": ["none", "low", "medium", "high", "urgent"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 50}, "maxItems": 20},
        "list_id": {"type": ["string", "null"], "description": "one of the user's lists (another's: 422)"},
        "position": {"type": ["number", "null"], "description": "manual order (drag to reorder)"},
        "recurrence_rule": {"type": "string", "description": "on create only; see POST …/recurrence"},
        "repeat_from": {"enum": ["schedule", "completion"]},
        "reminders": {
            "type": "array",
            "maxItems": 20,
            "description": "on create only: [{remind_at} | {minutes_before}]",
        },
    },
}
_TASK = {
    "type": "object",
    "required": ["id", "user_id", "title", "completed", "version"],
    "properties": {
        "id": {"type": "string"},
        "user_id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "completed": {"type": "boolean"},
        "completed_at": {"type": ["string", "null"], "format": "date-time"},
        "priority": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "due_date": {"type": ["string", "null"], "format": "date-time"},
        "timezone": {"type": "string"},
        "recurrence_rule": {"type": ["string", "null"]},
        "repeat_from": {"enum": ["schedule", "completion"]},
        "next_occurrence": {"type": ["string", "null"], "format": "date-time"},
        "parent_id": {"type": ["string", "null"]},
        "occurrence_at": {"type": ["string", "null"], "format": "date-time"},
        "list_id": {"type": ["string", "null"]},
        "position": {"type": ["number", "null"]},
        "version": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_LIST_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
        "archived": {"type": "boolean", "description": "on update only"},
        "position": {"type": ["number", "null"]},
    },
}
_LIST = {
    "type": "object",
    "required": ["id", "name", "color", "archived", "position"],
    "properties": {
        "id": {"type": "string"},
        "user_id": {"type": "string"},
        "name": {"type": "string"},
        "color": {"type": "string"},
        "archived": {"type": "boolean"},
        "position": {"type": "number"},
        "version": {"type": "integer"},
        "task_count": {"type": "integer", "description": "open tasks (in GET …/lists)"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_PARSE_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 500},
        "timezone": {"type": ["string", "null"], "description": "default: the user's preferences"},
        "now": {"type": ["string", "null"], "format": "date-time", "description": "reference time"},
    },
}
_PARSED = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "due_date": {"type": ["string", "null"], "format": "date-time"},
        "timezone": {"type": "string"},
        "priority": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "list": {"type": ["string", "null"]},
        "list_id": {"type": ["string", "null"]},
        "recurrence_rule": {"type": ["string", "null"]},
        "repeat_from": {"enum": ["schedule", "completion"]},
        "reminders": {"type": "array", "items": {"type": "object"}},
        "occurrences": {"type": "array", "items": {"type": "string", "format": "date-time"}},
        "chips": {"type": "array", "items": {"type": "object"}},
        "questions": {"type": "array", "items": {"type": "object"}},
    },
}
_CREDENTIALS = {
    "type": "object",
    "required": ["email", "password"],
    "additionalProperties": False,
    "properties": {
        "email": {"type": "string", "format": "email"},
        "password": {"type": "string", "minLength": 8, "maxLength": 128},
    },
}


_RECURRENCE_INPUT = {
    "type": "object",
    "required": ["recurrence_rule"],
    "additionalProperties": False,
    "properties": {
        "recurrence_rule": {"type": "string", "description": "RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO"},
        "timezone": {"type": "string"},
        "dtstart": {"type": "string", "format": "date-time"},
        "repeat_from": {"enum": ["schedule", "completion"]},
    },
}
_SERIES = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "recurrence_rule": {"type": "string"},
        "timezone": {"type": "string"},
        "repeat_from": {"type": "string"},
        "next_occurrence": {"type": ["string", "null"], "format": "date-time"},
    },
}
_PREVIEW_INPUT = {
    "type": "object",
    "required": ["recurrence_rule"],
    "additionalProperties": False,
    "properties": {
        "recurrence_rule": {"type": "string"},
        "dtstart": {"type": "string"},
        "timezone": {"type": "string"},
        "count": {"type": "integer", "minimum": 1, "maximum": 500},
        "after": {"type": "string", "format": "date-time"},
    },
}
_REMINDER_INPUT = {
    "oneOf": [
        {
            "type": "object",
            "required": ["remind_at"],
            "properties": {"remind_at": {"type": "string", "format": "date-time"}},
        },
        {
            "type": "object",
            "required": ["minutes_before"],
            "properties": {"minutes_before": {"type": "integer", "minimum": 0, "maximum": 527040}},
        },
    ]
}
_REMINDER = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "task_id": {"type": "string"},
        "remind_at": {"type": "string", "format": "date-time"},
        "minutes_before": {"type": ["integer", "null"]},
        "notified": {"type": "boolean"},
        "outcome": {"type": ["string", "null"]},
    },
}


_EVENT_PAGE = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "event_id": {"type": "string"},
                    "event_type": {"type": "string"},
                    "aggregate_id": {"type": "string"},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "correlation_id": {"type": "string"},
                    "request_id": {"type": ["string", "null"]},
                    "client_ip": {"type": ["string", "null"]},
                    "user_agent": {"type": ["string", "null"]},
                    "data": {"type": "object"},
                    "version": {"type": "integer"},
                },
            },
        },
        "next_cursor": {"type": ["string", "null"]},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(
    summary: str,
    *,
    body: dict[str, Any] | None = None,
    ok: tuple[str, dict[str, Any] | None] = ("200", None),
    auth: bool = True,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            ok[0]: {
                "description": "Success",
                **({"content": {"application/json": {"schema": ok[1]}}} if ok[1] else {}),
            },
            "4XX": {
                "description": "Problem details",
                "content": {"application/problem+json": {"schema": _ref("Problem")}},
            },
            "503": {
                "description": "The database is unavailable (Retry-After says when to try again)",
                "content": {"application/problem+json": {"schema": _ref("Problem")}},
            },
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if not auth:
        op["security"] = []
    if params:
        op["parameters"] = params
    return op


def _also(op: dict[str, Any], status: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Document a second success status of an operation."""
    op["responses"][status] = {"description": "Success", "content": {"application/json": {"schema": schema}}}
    return op


def _q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


_USER = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry-safe create: the same key and body replay the first response",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def build_spec(extra_paths: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return the OpenAPI document; other functions may add their paths."""
    task_list = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": _ref("Task")}, "next_cursor": {"type": ["string", "null"]}},
    }
    token = {"type": "object", "properties": {"user_id": {"type": "string"}, "token": {"type": "string"}}}
    paths: dict[str, dict[str, Any]] = {
        "/api/auth/register": {"post": _op("Create an account", body=_CREDENTIALS, ok=("201", token), auth=False)},
        "/api/auth/login": {"post": _op("Sign in", body=_CREDENTIALS, ok=("200", token), auth=False)},
        "/api/{user_id}/lists": {
            "parameters": [_USER],
            "get": _op(
                "List the lists",
                ok=("200", {"type": "object", "properties": {"items": {"type": "array", "items": _LIST}}}),
            ),
            "post": _op("Create a list", body={**_LIST_INPUT, "required": ["name"]}, ok=("201", _LIST)),
        },
        "/api/{user_id}/lists/{list_id}": {
            "parameters": [_USER, {"name": "list_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": _op("Fetch a list", ok=("200", _LIST)),
            "put": _op("Rename, recolour, archive or move a list", body=_LIST_INPUT, ok=("200", _LIST)),
            "delete": _op("Delete a list and its tasks", ok=("204", None)),
        },
        "/api/{user_id}/parse": {
            "parameters": [_USER],
            "post": _op("Read one line of plain English as a task (quick add)", body=_PARSE_INPUT, ok=("200", _PARSED)),
        },
        "/api/{user_id}/tasks": {
            "parameters": [_USER],
            "post": _op(
                "Create a task",
                body={**_TASK_INPUT, "required": ["title"]},
                ok=("201", _ref("Task")),
                params=[_IDEMPOTENCY_KEY],
            ),
            "get": _op(
                "List tasks (newest first)",
                ok=("200", task_list),
                params=[
                    _q("completed", {"type": "boolean"}),
                    _q("due_before", {"type": "string", "format": "date-time"}),
                    _q("due_after", {"type": "string", "format": "date-time"}),
                    _q("q", {"type": "string"}),
                    _q("tag", {"type": "string"}),
                    _q("priority", {"type": "string"}),
                    _q("list_id", {"type": "string", "description": "a list id, or none for the Inbox"}),
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                    _q("cursor", {"type": "string"}),
                ],
            ),
        },
        "/api/{user_id}/tasks/{task_id}": {
            "parameters": [_USER, _TASK_ID],
            "get": _op("Get a task (with ETag)", ok=("200", _ref("Task"))),
            "put": _op("Change fields of a task", body=_TASK_INPUT, ok=("200", _ref("Task")), params=[_IF_MATCH]),
            "delete": _op("Delete a task", ok=("204", None), params=[_IF_MATCH]),
        },
        "/api/{user_id}/tasks/{task_id}/complete": {
            "parameters": [_USER, _TASK_ID],
            "patch": _op(
                "Complete or reopen a task",
                ok=("200", _ref("Task")),
                params=[_IF_MATCH],
                body={"type": "object", "properties": {"completed": {"type": "boolean", "default": True}}},
            ),
        },
        "/api/{user_id}/tasks/{task_id}/due-date": {
            "parameters": [_USER, _TASK_ID],
            "put": _op(
                "Set or clear the due date",
                ok=("200", _ref("Task")),
                params=[_IF_MATCH],
                body={
                    "type": "object",
                    "required": ["due_date"],
                    "properties": {"due_date": {"type": ["string", "null"], "format": "date-time"}},
                },
            ),
        },
        "/api/{user_id}/tasks/{task_id}/recurrence": {
            "parameters": [_USER, _TASK_ID],
            "post": _op("Make a task recur", body=_RECURRENCE_INPUT, ok=("200", _SERIES), params=[_IF_MATCH]),
            "delete": _op("Stop a task recurring", ok=("204", None)),
        },
        "/api/{user_id}/tasks/recurring": {
            "parameters": [_USER],
            "get": _op(
                "List recurring series",
                ok=("200", {"type": "object", "properties": {"items": {"type": "array", "items": _SERIES}}}),
            ),
        },
        "/api/{user_id}/recurrence/preview": {
            "parameters": [_USER],
            "post": _op(
                "Preview a rule's occurrences",
                body=_PREVIEW_INPUT,
                ok=(
                    "200",
                    {
                        "type": "object",
                        "properties": {
                            "occurrences": {"type": "array", "items": {"type": "string", "format": "date-time"}}
                        },
                    },
                ),
            ),
        },
        "/api/{user_id}/tasks/{task_id}/reminders": {
            "parameters": [_USER, _TASK_ID],
            "post": _also(
                _op(
                    "Add a reminder (the same time twice answers 200 with the existing one)",
                    body=_REMINDER_INPUT,
                    ok=("201", _REMINDER),
                    params=[_IDEMPOTENCY_KEY],
                ),
                "200",
                _REMINDER,
            ),
            "get": _op(
                "List a task's reminders",
                ok=("200", {"type": "object", "properties": {"items": {"type": "array", "items": _REMINDER}}}),
            ),
        },
        "/api/{user_id}/reminders/{reminder_id}": {
            "parameters": [
                _USER,
                {"name": "reminder_id", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "delete": _op("Remove a reminder", ok=("204", None)),
        },
        "/api/{user_id}/reminders/pending": {
            "parameters": [_USER],
            "get": _op(
                "Reminders still to fire, soonest first",
                ok=(
                    "200",
                    {
                        "type": "object",
                        "properties": {
                            "items": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "string"},
                                        "task_id": {"type": "string"},
                                        "task_title": {"type": "string"},
                                        "remind_at": {"type": "string", "format": "date-time"},
                                    },
                                },
                            }
                        },
                    },
                ),
            ),
        },
        "/api/{user_id}/events": {
            "parameters": [_USER],
            "get": _op(
                "The user's events, oldest first",
                ok=("200", _EVENT_PAGE),
                params=[
                    _q("event_type", {"type": "string"}),
                    _q("aggregate_id", {"type": "string"}),
                    _q("since", {"type": "string", "format": "date-time"}),
                    _q("until", {"type": "string", "format": "date-time"}),
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                    _q("cursor", {"type": "string"}),
                ],
            ),
        },
        "/api/{user_id}/tasks/{task_id}/events": {
            "parameters": [_USER, _TASK_ID],
            "get": _op("A task's events in order", ok=("200", _EVENT_PAGE)),
        },
        "/api/{user_id}/tasks/{task_id}/replay": {
            "parameters": [_USER, _TASK_ID],
            "get": _op(
                "The task rebuilt from its events",
                ok=(
                    "200",
                    {
                        "oneOf": [
                            _ref("Task"),
                            {
                                "type": "object",
                                "required": ["deleted", "task"],
                                "additionalProperties": False,
                                "properties": {"deleted": {"const": True}, "task": _ref("Task")},
                            },
                        ]
                    },
                ),
            ),
        },
        "/ws/user/{user_id}/tasks": {
            "parameters": [_USER],
            "get": {
                **_op(
                    "WebSocket (upgrade): the user's events live; close 4001 bad token, 4003 another user",
                    auth=False,
                    ok=("101", None),
                    params=[_q("token", {"type": "string"}), _q("since", {"type": "string"})],
                ),
                "description": "Messages: {type, event_id, data, timestamp, correlation_id}, "
                '{"type": "ping"} every 25 s, {"type": "resync"} when `since` '
                'is unknown. Send "ping" to get "pong".',
            },
        },
        "/health": {"get": _op("Liveness", auth=False)},
        "/ready": {"get": _op("Readiness: the database (a broker outage is reported by /health)", auth=False)},
        "/metrics": {"get": _op("Prometheus metrics", auth=False)},
        "/openapi.json": {"get": _op("This document", auth=False)},
    }
    paths.update(extra_paths or {})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TaskFlow",
            "version": "1.0.0",
            "description": "Event-driven task manager. Errors are RFC 9457 problem details.",
        },
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Task": _TASK,
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {"type": "object"},
                    },
                },
            },
        },
    }
