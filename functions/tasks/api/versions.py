"""Optimistic concurrency for the versioned rows of the API (tasks, lists): the ETag is the row's version.

Core loads, changes and commits a row in one unit of work (functions.tasks.core.rows.editing); the
If-Match check it runs before the change is HTTP, so it is made here and handed to core.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, request

from functions.tasks.core.rows import VersionCheck
from shared.web.problems import ProblemError


def versioned_response(body: dict[str, Any], status: int = 200) -> Response:
    """`body` (a task or list as the API shows it) as JSON, with its version as the ETag.

    Serialised once, straight into the response: the bytes jsonify makes, without its argument handling.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy once, not per attribute
    if app.debug:  # jsonify indents in debug mode
        response = jsonify(body)
        response.status_code = status
    else:
        text = app.json.dumps(body, separators=(",", ":")) + "\n"
        response = app.response_class(text, status=status, mimetype=app.json.mimetype)  # type: ignore[attr-defined]  # DefaultJSONProvider's
    response.set_etag(str(body["version"]))
    return response


def if_match(noun: str) -> VersionCheck:
    """The request's If-Match check for a row called `noun` in the answer (412 when stale)."""

    def check(version: int) -> None:
        """Refuse a write based on a stale version of the row (If-Match, 412)."""
        if "If-Match" in request.headers:
            if not (request.if_match.star_tag or request.if_match.contains(str(version))):
                raise ProblemError(
                    f"The {noun} is at version {version}; reload it and try again.",
                    status=412,
                    title="Precondition failed",
                    headers={"ETag": f'"{version}"'},
                )

    return check
