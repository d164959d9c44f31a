"""Calendar interop routes: the feed token, the public .ics feed and .ics import (RFC 5545)."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request

from functions.tasks.calendar import apply, feed, plan, tokens
from functions.tasks.calendar.scan import BadCalendar
from functions.tasks.schemas.tasks import FeedOut, FeedQuery, ImportQuery, ImportResult
from shared.concurrency.offload import offload
from shared.domain.errors import NotFound, ValidationFailed
from shared.domain.recurrence import budget
from shared.persistence.db import utcnow
from shared.persistence.models import Preferences, User
from shared.web.app import require_path_user, runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from sqlalchemy import orm

bp = Blueprint("calendar", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)
#: The public feed: no JWT (calendar clients cannot send one), the unguessable token is the credential.
feed_bp = Blueprint("calendar_feed", __name__)
#: The import (seconds of CPU a request at most): a blueprint of its own so it can be throttled.
import_bp = Blueprint("calendar_import", __name__, url_prefix="/api/<user_id>")
import_bp.before_request(require_path_user)

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,100}")
CACHE_CONTROL = f"private, max-age={int(feed.REFRESH.total_seconds())}"


@bp.post("/calendar-feed")
@operation(responses={201: FeedOut}, summary="Create or rotate the calendar feed URL", tags=["calendar"])
def create_feed(user_id: str) -> ResponseReturnValue:
    """Create the calendar feed URL, or rotate it (the previous URL stops working)."""
    with runtime().uow() as uow:
        token = tokens.rotate(uow.session, user_id, utcnow())
        uow.commit()
    url = f"{request.host_url.rstrip('/')}/ical/{token}.ics"
    return jsonify(token=token, url=url, webcal_url=re.sub(r"^https?://", "webcal://", url)), 201


@bp.delete("/calendar-feed")
@operation(responses={204: None}, problems=[404], summary="Revoke the calendar feed URL", tags=["calendar"])
def revoke_feed(user_id: str) -> ResponseReturnValue:
    """Revoke the calendar feed URL (it answers 404 from now on)."""
    with runtime().uow() as uow:
        if not tokens.revoke(uow.session, user_id):
            raise NotFound("There is no calendar feed.")
        uow.commit()
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
    kind = query.type
    if not _TOKEN_RE.fullmatch(token):
        raise NotFound("No such calendar feed.")
    with runtime().uow() as uow:
        user_id = tokens.owner(uow.session, token)
        if user_id is None:
            raise NotFound("No such calendar feed.")
        items = tokens.feed_items(uow.session, user_id)
        # Expanding first occurrences is CPU work: on the bounded pool, off the serving loop.
        body = offload(feed.build_feed, items, kind)
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
    dry_run = query.dry_run
    data = body.encode()
    now = utcnow()
    rt = runtime()
    with rt.uow() as uow:
        default_tz = _user_zone(uow.session, user_id)
    # Planning (up to IMPORT_CPU_SECONDS) holds no database connection; only creating does.
    try:
        planned = offload(plan.plan_import, data, default_tz, now)
    except BadCalendar as exc:
        raise ValidationFailed(f"The calendar file cannot be imported: {exc}", errors={"file": str(exc)}) from None
    result = {"dry_run": dry_run, "created": planned.counts(), "unsupported": planned.unsupported}
    if dry_run:
        return jsonify(result), 200
    with rt.uow() as uow:
        with budget(steps=1_000_000, cpu_seconds=plan.IMPORT_CPU_SECONDS):
            apply.create_all(uow.session, user_id, planned.tasks, now)
        uow.commit()
    rt.wake("recurrence")
    rt.wake("reminders")
    return jsonify(result), 201


def _user_zone(session: orm.Session, user_id: str) -> str:
    """The zone floating times are read in: the user's preference, else their account's zone."""
    preferred = session.scalar(sa.select(Preferences.timezone).where(Preferences.user_id == user_id))
    return preferred or session.scalar(sa.select(User.timezone).where(User.id == user_id)) or "UTC"
