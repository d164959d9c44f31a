"""Calendar feed tokens and the rows a feed shows: create, rotate, revoke, resolve."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy import orm

from functions.tasks.ical_feed import FeedTask
from shared.models import CalendarFeed, Reminder, Task

#: A feed shows at most this many tasks (series count once); the soonest due first.
MAX_FEED_TASKS = 2000
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def rotate(session: orm.Session, user_id: str, now: dt.datetime) -> str:
    """Give the user a new feed token (the previous URL stops working); return the token."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed = session.get(CalendarFeed, user_id, with_for_update=True)
    if feed is None:
        session.add(CalendarFeed(user_id=user_id, token_hash=token_hash(token), created_at=now))
    else:
        feed.token_hash, feed.created_at = token_hash(token), now
    session.flush()
    return token


def revoke(session: orm.Session, user_id: str) -> bool:
    """Remove the user's feed; return whether there was one."""
    result = session.execute(sa.delete(CalendarFeed).where(CalendarFeed.user_id == user_id))
    return bool(getattr(result, "rowcount", 0))


def owner(session: orm.Session, token: str) -> str | None:
    """The user a feed token belongs to, or None (unknown, rotated or revoked)."""
    return session.scalar(sa.select(CalendarFeed.user_id).where(CalendarFeed.token_hash == token_hash(token)))


def feed_items(session: orm.Session, user_id: str) -> list[FeedTask]:
    """The user's tasks as the feed groups them: each series with its instances, other tasks alone."""
    tasks = list(
        session.scalars(
            sa.select(Task)
            .where(Task.user_id == user_id)
            .order_by(Task.due_date.is_(None), Task.due_date, Task.id)
            .limit(MAX_FEED_TASKS * 4)
        )
    )
    reminders: dict[str, list[Reminder]] = collections.defaultdict(list)
    ids = [t.id for t in tasks]
    for chunk in (ids[i : i + 1000] for i in range(0, len(ids), 1000)):
        for reminder in session.scalars(
            sa.select(Reminder).where(Reminder.task_id.in_(chunk)).order_by(Reminder.remind_at, Reminder.id)
        ):
            reminders[reminder.task_id].append(reminder)
    series = {t.id for t in tasks if t.recurrence_rule and t.repeat_from == "schedule" and t.parent_id is None}
    instances: dict[str, list[Task]] = collections.defaultdict(list)
    items: list[FeedTask] = []
    for task in tasks:
        if task.parent_id in series:
            instances[task.parent_id].append(task)
    for task in tasks:
        if task.parent_id in series:
            continue
        items.append(FeedTask(task, reminders[task.id], instances.get(task.id, [])))
        if len(items) >= MAX_FEED_TASKS:
            break
    return items
