"""The user's preferred time zone, as the task-create path reads it: one prepared SELECT, cached briefly;
and what a change of zone (or of the all-day reminder time) does to their all-day tasks' reminders.

A task created without a `timezone` takes the zone in the user's preferences. Reading it cost a
sixth of the create path's throughput, so each process keeps what it read for a few seconds: PUT
/preferences forgets the user's entry in its own process at once, and other processes (other
workers, other functions) see the change within `TTL_SECONDS`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from shared.persistence.db import driver_autocommit, utcnow
from shared.persistence.models import Preferences, Reminder, Task
from shared.services import series
from shared.services.day_clock import remind_before

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000

_SQL = "SELECT timezone FROM preferences WHERE user_id = %s"
_cache: dict[tuple[str, str], tuple[str, float]] = {}  # (database, user) -> (zone, fresh until)
_lock = threading.Lock()
#: Each engine's database, rendered once: a URL hashes by rendering itself, which cost more than the lookup.
_databases: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()


def _database(engine: sa.Engine) -> str:
    """The database an engine reads (engines of one database share their entries, so `forget` reaches all)."""
    database = _databases.get(engine)
    if database is None:
        database = _databases[engine] = engine.url.render_as_string(hide_password=False)
    return database


def preferred_timezone(engine: sa.Engine, user_id: str) -> str:
    """The user's preferred IANA zone, else UTC."""
    key, now = (_database(engine), user_id), time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    tz = _read(engine, user_id)
    with _lock:
        if len(_cache) >= MAX_ENTRIES:
            _cache.clear()  # bounded: a burst of users only costs a re-read each
        _cache[key] = (tz, now + TTL_SECONDS)
    return tz


def forget(engine: sa.Engine, user_id: str) -> None:
    """The user's preferences changed (in this process): read them again next time."""
    with _lock:
        _cache.pop((_database(engine), user_id), None)


def _read(engine: sa.Engine, user_id: str) -> str:
    if engine.dialect.name == "postgresql":
        with driver_autocommit(engine) as driver:
            row = driver.execute(_SQL, (user_id,), prepare=True).fetchone()
        return str(row[0]) if row else "UTC"
    with orm.Session(engine) as session:
        return session.scalar(sa.select(Preferences.timezone).where(Preferences.user_id == user_id)) or "UTC"


def locked_preferences(session: orm.Session, user_id: str) -> Preferences:
    """The user's preferences row, made on first use (UTC, no emails) and locked for a change.

    Two first PUTs at once (the web app storing the browser's zone while another tab saves) both
    find no row: the insert that loses does nothing, and both change the one row in turn.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Preferences.__table__)
        .values(user_id=user_id, email_reminders=False, timezone="UTC", updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    return session.get_one(Preferences, user_id, with_for_update=True, populate_existing=True)


def move_all_day_reminders(session: orm.Session, user_id: str, now: dt.datetime) -> None:
    """The person's zone or all-day reminder time changed: their all-day tasks' relative reminders follow it.

    Each still to ring (or resting as passed) moves to the new time of day on its task's date, so
    nothing shifts with the zone; one whose new time is past (or taken) rests. A scheduled series
    re-arms for its next occurrence. Absolute reminders stay where they are.
    """
    relative = sa.exists().where(Reminder.task_id == Task.id, Reminder.minutes_before.is_not(None))
    found = session.scalars(
        sa.select(Task)
        .where(Task.user_id == user_id, Task.all_day.is_(True), Task.completed.is_(False), relative)
        .options(orm.selectinload(Task.reminders))
    )
    for task in found:
        if series.is_scheduled_series(task):
            series.arm_relative_reminders(session, task, now, anew=True)
            continue
        if task.due_date is None:
            continue
        times = series.ReminderTimes(task)
        for reminder in task.reminders:
            if reminder.minutes_before is None or (reminder.notified and reminder.outcome != "passed"):
                continue
            at = remind_before(session, task, task.due_date, reminder.minutes_before)
            if at in times.taken(reminder) or at <= now:
                times.rest(reminder, now)
            else:
                times.move(reminder, at)
    session.flush()
