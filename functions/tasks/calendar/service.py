"""Calendar interop for one user: their feed token, their .ics feed, and importing an .ics file."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.calendar import apply, feed, plan, tokens
from functions.tasks.calendar.scan import BadCalendar
from shared.concurrency.offload import offload
from shared.domain.errors import NotFound, ValidationFailed
from shared.domain.recurrence import budget
from shared.persistence.db import utcnow
from shared.persistence.models import Preferences, User
from shared.services.day_clock import day_clock

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy import orm

    from shared.runtime.process import Runtime

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,100}")


def rotate_feed(rt: Runtime, user_id: str) -> str:
    """Give the user a new calendar feed token (the previous URL stops working); return it."""
    with rt.uow() as uow:
        token = tokens.rotate(uow.session, user_id, utcnow(), rt.settings.jwt_secret)
        uow.commit()
    return token


def current_feed(rt: Runtime, user_id: str) -> tuple[str | None, dt.datetime]:
    """The user's feed token (None when it cannot be shown again: replace it) and when it was made; 404: none."""
    with rt.uow() as uow:
        found = tokens.current(uow.session, user_id, rt.settings.jwt_secret)
    if found is None:
        raise NotFound("There is no calendar feed.")
    return found


def revoke_feed(rt: Runtime, user_id: str) -> None:
    """Revoke the user's calendar feed (404 when there is none)."""
    with rt.uow() as uow:
        if not tokens.revoke(uow.session, user_id):
            raise NotFound("There is no calendar feed.")
        uow.commit()


def feed_for(rt: Runtime, token: str, kind: str) -> bytes:
    """The iCalendar body of the feed a token opens: VEVENTs, or VTODOs for kind "todo" (404: no such feed)."""
    if not _TOKEN_RE.fullmatch(token):
        raise NotFound("No such calendar feed.")
    with rt.uow() as uow:
        user_id = tokens.owner(uow.session, token)
        if user_id is None:
            raise NotFound("No such calendar feed.")
        items = tokens.feed_items(uow.session, user_id)
        # Expanding first occurrences is CPU work: on the bounded pool, off the serving loop.
        body: bytes = offload(feed.build_feed, items, kind)
    return body


#: Planned tasks stored per transaction: an import of hundreds of series in one transaction held
#: SQLite's one writer (and a worker's loop) for seconds; between chunks other writes get in.
IMPORT_CHUNK = 20


def import_ics(rt: Runtime, user_id: str, data: bytes, dry_run: bool) -> dict[str, Any]:
    """Create tasks, series and reminders from an .ics file (dry_run: only report what it would create).

    Any: the JSON result ({dry_run, created, unsupported}).
    """
    now = utcnow()
    with rt.uow() as uow:
        default_tz = _user_zone(uow.session, user_id)
        clock = day_clock(uow.session, user_id).time
    # Planning (up to IMPORT_CPU_SECONDS) holds no database connection; only creating does.
    try:
        planned = offload(plan.plan_import, data, default_tz, now, clock)
    except BadCalendar as exc:
        raise ValidationFailed(f"The calendar file cannot be imported: {exc}", errors={"file": str(exc)}) from None
    result = {"dry_run": dry_run, "created": planned.counts(), "unsupported": planned.unsupported}
    stored: list[str] = []
    ids_by_uid: dict[str, str] = {}  # sub-tasks hang from parents stored in earlier chunks
    try:
        # One budget for the whole file, spent chunk by chunk. A dry run does everything the import
        # does and rolls each chunk back: its answer is the import's answer.
        with budget(steps=1_000_000, cpu_seconds=plan.IMPORT_CPU_SECONDS):
            for start in range(0, len(planned.tasks), IMPORT_CHUNK):
                with rt.uow() as uow:
                    chunk = planned.tasks[start : start + IMPORT_CHUNK]
                    # A dry run's chunks are rolled back: a sub-task links to a parent of its own chunk only.
                    created = apply.create_all(uow.session, user_id, chunk, now, {} if dry_run else ids_by_uid)
                    if not dry_run:
                        uow.commit()
                        stored += created
                # Let other writers in between chunks (SQLite has one writer; gevent switches here).
                time.sleep(0)
    except BaseException:
        if stored:  # all or nothing: what earlier chunks stored goes again (with its task.deleted events)
            with rt.uow() as uow:
                apply.remove_all(uow.session, user_id, stored)
                uow.commit()
        raise
    if dry_run:
        return result
    rt.wake("recurrence")
    rt.wake("reminders")
    return result


def _user_zone(session: orm.Session, user_id: str) -> str:
    """The zone floating times are read in: the user's preference, else their account's zone."""
    preferred = session.scalar(sa.select(Preferences.timezone).where(Preferences.user_id == user_id))
    return preferred or session.scalar(sa.select(User.timezone).where(User.id == user_id)) or "UTC"
