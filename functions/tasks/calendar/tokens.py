"""Calendar feed tokens and the rows a feed shows: create, rotate, revoke, resolve."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy import orm

from functions.tasks.calendar.feed import FeedTask
from shared.persistence.models import CalendarFeed, Reminder, SkippedOccurrence, Task
from shared.services.day_clock import day_clock

#: A feed shows at most this many tasks (a series counts once) and series exceptions.
MAX_FEED_TASKS = 2000
MAX_FEED_EXCEPTIONS = 5000
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    """What is stored of a feed token: its SHA-256 (the token itself is shown once)."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_of(secret: str, seed: str) -> str:
    """A feed's token: HMAC-SHA256 of its stored random seed with the server's secret (URL-safe).

    The link can be shown again (GET /calendar-feed), and the database alone does not reveal it.
    """
    digest = hmac.new(secret.encode(), seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def rotate(session: orm.Session, user_id: str, now: dt.datetime, secret: str) -> str:
    """Give the user a new feed token (the previous URL stops working); return the token."""
    seed = secrets.token_urlsafe(TOKEN_BYTES)
    token = token_of(secret, seed)
    feed = session.get(CalendarFeed, user_id, with_for_update=True)
    if feed is None:
        session.add(CalendarFeed(user_id=user_id, token_hash=token_hash(token), created_at=now, seed=seed))
    else:
        feed.token_hash, feed.created_at, feed.seed = token_hash(token), now, seed
    session.flush()
    return token


def current(session: orm.Session, user_id: str, secret: str) -> tuple[str | None, dt.datetime] | None:
    """The user's feed token (None for a feed made before seeds were kept) and when it was made; None: no feed."""
    feed = session.get(CalendarFeed, user_id)
    if feed is None:
        return None
    token = token_of(secret, feed.seed) if feed.seed else None
    # A changed server secret makes a token the stored hash no longer matches: not a working link.
    return (token if token and token_hash(token) == feed.token_hash else None), feed.created_at


def revoke(session: orm.Session, user_id: str) -> bool:
    """Remove the user's feed; return whether there was one."""
    result = session.execute(sa.delete(CalendarFeed).where(CalendarFeed.user_id == user_id))
    return bool(getattr(result, "rowcount", 0))


def owner(session: orm.Session, token: str) -> str | None:
    """The user a feed token belongs to, or None (unknown, rotated or revoked)."""
    return session.scalar(sa.select(CalendarFeed.user_id).where(CalendarFeed.token_hash == token_hash(token)))


def feed_items(session: orm.Session, user_id: str) -> list[FeedTask]:
    """The user's tasks as the feed groups them: each series with its exceptions, every other task alone.

    At most MAX_FEED_TASKS tasks (series count once), the latest due first, so years of history
    never push out what is coming; of a series' instances only those a calendar must show
    differently from the rule (completed or moved) are loaded, and its skipped occurrences.
    """
    parent = orm.aliased(Task)
    shown_alone = sa.or_(Task.parent_id.is_(None), parent.recurrence_rule.is_(None), parent.repeat_from != "schedule")
    tasks = list(
        session.scalars(
            sa.select(Task)
            .outerjoin(parent, parent.id == Task.parent_id)
            .where(Task.user_id == user_id, shown_alone)
            .order_by(Task.due_date.is_(None), Task.due_date.desc(), Task.id)
            .limit(MAX_FEED_TASKS)
        )
    )
    series = [t.id for t in tasks if t.recurrence_rule and t.repeat_from == "schedule" and t.parent_id is None]
    # MAX_FEED_EXCEPTIONS bounds the whole feed, not each chunk of series: one count left across chunks.
    instances: dict[str, list[Task]] = collections.defaultdict(list)
    left = MAX_FEED_EXCEPTIONS
    for chunk in _chunks(series):
        if left <= 0:
            break
        for instance in session.scalars(
            sa.select(Task)
            .where(
                Task.parent_id.in_(chunk),
                sa.or_(Task.completed.is_(True), Task.due_date != Task.occurrence_at),
            )
            .order_by(Task.occurrence_at.desc())
            .limit(left)
        ):
            instances[instance.parent_id or ""].append(instance)
            left -= 1
    skipped: dict[str, list[dt.datetime]] = collections.defaultdict(list)
    left = MAX_FEED_EXCEPTIONS
    for chunk in _chunks(series):
        if left <= 0:
            break
        for series_id, occurrence in session.execute(
            sa.select(SkippedOccurrence.series_id, SkippedOccurrence.occurrence_at)
            .where(SkippedOccurrence.series_id.in_(chunk))
            .order_by(SkippedOccurrence.occurrence_at.desc())
            .limit(left)
        ):
            skipped[series_id].append(occurrence)
            left -= 1
    reminders: dict[str, list[Reminder]] = collections.defaultdict(list)
    for chunk in _chunks([t.id for t in tasks]):
        for reminder in session.scalars(
            sa.select(Reminder).where(Reminder.task_id.in_(chunk)).order_by(Reminder.remind_at, Reminder.id)
        ):
            reminders[reminder.task_id].append(reminder)
    clock = day_clock(session, user_id).time  # all-day tasks' relative reminders count from it
    return [
        FeedTask(t, reminders[t.id], sorted(instances[t.id], key=_occurrence), sorted(skipped[t.id]), clock)
        for t in tasks
    ]


def _occurrence(task: Task) -> dt.datetime:
    return task.occurrence_at or task.created_at


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
