"""Calendar interop routes: the feed token, the public .ics feed and .ics import (RFC 5545).

Each parses, makes one call into functions.tasks.calendar.service, answers.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify, request

from functions.tasks.calendar import feed, service
from functions.tasks.schemas.calendar import CurrentFeed, FeedOut, FeedQuery, ImportQuery, ImportResult
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("calendar", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)
#: The public feed: no JWT (calendar clients cannot send one), the unguessable token is the credential.
feed_bp = Blueprint("calendar_feed", __name__)
#: The import (seconds of CPU a request at most): a blueprint of its own so it can be throttled.
import_bp = Blueprint("calendar_import", __name__, url_prefix="/api/<user_id>")
import_bp.before_request(require_path_user)

CACHE_CONTROL = f"private, max-age={int(feed.REFRESH.total_seconds())}"


@bp.post("/calendar-feed")
@operation(responses={201: FeedOut}, summary="Create or rotate the calendar feed URL", tags=["calendar"])
def create_feed(user_id: str) -> ResponseReturnValue:
    """Create the calendar feed URL, or rotate it (the previous URL stops working)."""
    token = service.rotate_feed(runtime(), user_id)
    url = _feed_url(token)
    return jsonify(token=token, url=url, webcal_url=re.sub(r"^https?://", "webcal://", url)), 201


@bp.get("/calendar-feed")
@operation(
    responses={200: CurrentFeed},
    problems=[404],
    summary="The calendar feed URL as made last (404: none); `url` is null for a link that cannot be shown again",
    tags=["calendar"],
)
def get_feed(user_id: str) -> ResponseReturnValue:
    """Show the current calendar feed URL again (404 when there is none)."""
    token, created_at = service.current_feed(runtime(), user_id)
    url = _feed_url(token) if token else None
    webcal = re.sub(r"^https?://", "webcal://", url) if url else None
    return jsonify(url=url, webcal_url=webcal, created_at=created_at.isoformat())


def _feed_url(token: str) -> str:
    return f"{request.host_url.rstrip('/')}/ical/{token}.ics"


@bp.delete("/calendar-feed")
@operation(responses={204: None}, problems=[404], summary="Revoke the calendar feed URL", tags=["calendar"])
def revoke_feed(user_id: str) -> ResponseReturnValue:
    """Revoke the calendar feed URL (it answers 404 from now on)."""
    service.revoke_feed(runtime(), user_id)
    return Response(status=204)


@feed_bp.get("/ical/<token>.ics")
@operation(
    query=FeedQuery,
    responses={200: None, 304: None},
    response_media_type="text/calendar",
    auth="none",
    problems=[404, 429],
    summary="The user's tasks as iCalendar (RFC 5545); the token in the URL is the credential",
    tags=["calendar"],
)
def serve_feed(token: str, query: FeedQuery) -> ResponseReturnValue:
    """Serve a user's tasks as iCalendar: VEVENTs, or VTODOs with ?type=todo (ETag, 304)."""
    body = service.feed_for(runtime(), token, query.type)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = 'inline; filename="taskflow.ics"'
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    return response.make_conditional(request)


@import_bp.post("/import/ics")
@operation(
    query=ImportQuery,
    body_media_type="text/calendar",
    responses={200: ImportResult, 201: ImportResult},
    problems=[429],
    summary="Import an .ics file: tasks, series and reminders (dry_run only reports what it would create)",
    tags=["calendar"],
)
def import_ics(user_id: str, query: ImportQuery, body: str) -> ResponseReturnValue:
    """Create tasks, series and reminders from an .ics file (?dry_run=true only shows what it would create)."""
    result = service.import_ics(runtime(), user_id, body.encode(), query.dry_run)
    return jsonify(result), 200 if query.dry_run else 201
