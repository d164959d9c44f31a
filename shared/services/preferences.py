"""The user's preferred time zone, as the task-create path reads it: one prepared SELECT, cached briefly.

A task created without a `timezone` takes the zone in the user's preferences. Reading it cost a
sixth of the create path's throughput, so each process keeps what it read for a few seconds: PUT
/preferences forgets the user's entry in its own process at once, and other processes (other
workers, other functions) see the change within `TTL_SECONDS`.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlalchemy import orm

from shared.persistence.db import driver_autocommit
from shared.persistence.models import Preferences

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000

_SQL = "SELECT timezone FROM preferences WHERE user_id = %s"
_cache: dict[tuple[str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def preferred_timezone(engine: sa.Engine, user_id: str) -> str:
    """The user's preferred IANA zone, else UTC."""
    key, now = (str(engine.url), user_id), time.monotonic()
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
        _cache.pop((str(engine.url), user_id), None)


def _read(engine: sa.Engine, user_id: str) -> str:
    if engine.dialect.name == "postgresql":
        with driver_autocommit(engine) as driver:
            row = driver.execute(_SQL, (user_id,), prepare=True).fetchone()
        return str(row[0]) if row else "UTC"
    with orm.Session(engine) as session:
        return session.scalar(sa.select(Preferences.timezone).where(Preferences.user_id == user_id)) or "UTC"
