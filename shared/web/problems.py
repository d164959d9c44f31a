"""The one translation of errors into RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from shared.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from shared.domain.times import BadValue
from shared.persistence.db import is_database_outage

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
DATABASE_RETRY_AFTER_SECONDS = 5

#: The HTTP status of each kind of domain error (a plain DomainError is a 400).
STATUS: dict[type[DomainError], int] = {
    ValidationFailed: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    Unavailable: 503,
}


class ProblemError(DomainError):
    """A refusal of the HTTP edge itself (wrong media type, malformed JSON): it carries its own status."""

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int = 400,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(detail, title=title)
        self.status = status
        self.headers = dict(headers or {})


def status_of(exc: DomainError) -> int:
    """The HTTP status a domain error is answered with."""
    if isinstance(exc, ProblemError):
        return exc.status
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def problem(
    status: int,
    title: str,
    detail: str,
    errors: dict[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, object] | None = None,
) -> Response:
    """Build a problem+json response."""
    body: dict[str, object] = {**(extensions or {}), "type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
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


def domain_problem(exc: DomainError) -> Response:
    """Render a domain error as problem details."""
    headers = dict(exc.headers) if isinstance(exc, ProblemError) else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return problem(status_of(exc), exc.title, exc.detail, exc.errors, headers, exc.extensions)


def register_error_handlers(app: Flask) -> None:
    """Render every error this app can raise as problem details."""

    @app.errorhandler(DomainError)
    def _problem(exc: DomainError) -> Response:
        return domain_problem(exc)

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

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # One test for every route kind: SQLAlchemy's wrappers, a pool with nothing to give, and
        # the driver's own errors where a hot path talks to psycopg directly.
        if is_database_outage(exc):
            return database_unavailable(exc)
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "Something went wrong on our side.")


def database_unavailable(exc: BaseException) -> Response:
    """503 with Retry-After: the database is down or unreachable, nothing the client did."""
    orig = getattr(exc, "orig", None) or exc
    log.warning("database unavailable", extra={"error": f"{type(orig).__name__}: {str(orig)[:300]}"})
    return problem(
        503,
        "Service unavailable",
        "The database is unavailable; try again shortly.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )
