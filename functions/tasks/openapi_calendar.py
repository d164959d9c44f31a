"""The OpenAPI description of the calendar routes (feed token, .ics feed, .ics import)."""

from __future__ import annotations

from typing import Any

_USER = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_ERRORS = {
    "4XX": {"description": "Problem details", "content": _PROBLEM},
    "503": {"description": "The database is unavailable", "content": _PROBLEM},
}
_FEED = {
    "type": "object",
    "required": ["token", "url", "webcal_url"],
    "properties": {"token": {"type": "string"}, "url": {"type": "string"}, "webcal_url": {"type": "string"}},
}
_IMPORT_RESULT = {
    "type": "object",
    "required": ["dry_run", "created", "unsupported"],
    "properties": {
        "dry_run": {"type": "boolean"},
        "created": {
            "type": "object",
            "properties": {name: {"type": "integer"} for name in ("tasks", "series", "reminders")},
        },
        "unsupported": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": ["integer", "null"]},
                    "component": {"type": "string"},
                    "property": {"type": "string"},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/{user_id}/calendar-feed": {
        "parameters": [_USER],
        "post": {
            "summary": "Create or rotate the calendar feed URL (the previous URL answers 404)",
            "tags": ["calendar"],
            "responses": {"201": _json("The feed URL", _FEED), **_ERRORS},
        },
        "delete": {
            "summary": "Revoke the calendar feed URL",
            "tags": ["calendar"],
            "responses": {"204": {"description": "Revoked"}, **_ERRORS},
        },
    },
    "/ical/{token}.ics": {
        "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
        "get": {
            "summary": "The user's tasks as iCalendar (RFC 5545): VEVENTs, or VTODOs with ?type=todo",
            "tags": ["calendar"],
            "security": [],
            "parameters": [
                {"name": "type", "in": "query", "required": False, "schema": {"enum": ["event", "todo"]}},
                {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "The calendar", "content": {"text/calendar": {"schema": {"type": "string"}}}},
                "304": {"description": "Not modified since the ETag given"},
                **_ERRORS,
            },
        },
    },
    "/api/{user_id}/import/ics": {
        "parameters": [_USER],
        "post": {
            "summary": "Import an .ics file: tasks, series and reminders (dry_run=true only reports)",
            "tags": ["calendar"],
            "parameters": [{"name": "dry_run", "in": "query", "required": False, "schema": {"type": "boolean"}}],
            "requestBody": {"required": True, "content": {"text/calendar": {"schema": {"type": "string"}}}},
            "responses": {
                "201": _json("Imported", _IMPORT_RESULT),
                "200": _json("What an import would create (dry run)", _IMPORT_RESULT),
                **_ERRORS,
            },
        },
    },
}
