"""Optimistic concurrency for the versioned rows of the API (tasks, lists): the ETag is the row's version."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from shared.web.problems import ProblemError


def versioned_response(body: dict[str, Any], version: int, status: int = 200) -> Response:
    """`body` as JSON with the row's version as its ETag."""
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(version))
    return response


def check_if_match(version: int, noun: str) -> None:
    """Refuse a write based on a stale version of the row (If-Match, 412)."""
    if "If-Match" in request.headers:
        if not (request.if_match.star_tag or request.if_match.contains(str(version))):
            raise ProblemError(
                f"The {noun} is at version {version}; reload it and try again.",
                status=412,
                title="Precondition failed",
                headers={"ETag": f'"{version}"'},
            )
