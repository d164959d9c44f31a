"""Domain errors and their one translation into RFC 9457 problem details."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Response, jsonify
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from shared.timeutil import BadValue

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
DATABASE_RETRY_AFTER_SECONDS = 5


class ProblemError(Exception):
    """A client-facing error; handlers raise it, the app renders it once."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, str] | None = None,
        status: int | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title


class ValidationFailed(ProblemError):
    status = 422
    title = "Validation failed"


class Unauthorized(ProblemError):
    status = 401
    title = "Unauthorized"


class Forbidden(ProblemError):
    status = 403
    title = "Forbidden"


class NotFound(ProblemError):
    status = 404
    title = "Not found"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"


class PreconditionFailed(ProblemError):
    status = 412
    title = "Precondition failed"


def problem(
    status: int, title: str, detail: str, errors: dict[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """Build a problem+json response."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for key, value in (headers or {}).items():
        response.headers[key] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="taskflow"')
    return response


def register_error_handlers(app: Flask) -> None:
    """Render every error this app can raise as problem details."""

    @app.errorhandler(ProblemError)
    def _problem(exc: ProblemError) -> Response:
        return problem(exc.status, exc.title, exc.detail, exc.errors, exc.headers)

    @app.errorhandler(BadValue)
    def _bad_value(exc: BadValue) -> Response:
        # A client's value found unusable past the edge's field checks (e.g. a rule over its budget).
        field = getattr(exc, "field", "request")
        return problem(422, ValidationFailed.title, f"{field} {exc}", {field: str(exc)})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        detail = exc.description or exc.name
        if exc.code == 413:
            detail = "The request body is larger than the 1 MiB limit."
        headers = dict(exc.get_headers()) if exc.code == 405 else {}
        headers.pop("Content-Type", None)
        return problem(exc.code or 500, exc.name, detail, headers=headers)

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    def _database_unavailable(exc: sa_exc.DBAPIError) -> Response:
        # The database is down or unreachable: nothing the client did; ask it to retry shortly.
        log.warning("database unavailable", extra={"error": str(exc.orig)[:300] if exc.orig else type(exc).__name__})
        return problem(
            503,
            "Service unavailable",
            "The database is unavailable; try again shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "Something went wrong on our side.")
