"""The outbox function: Dapr's `outbox-cron` binding publishes what the API could not yet.

Each sweep also deletes published rows older than OUTBOX_RETENTION_DAYS that every stored
consumer has read (the combined app runs the same purge on a daily timer).
"""

from __future__ import annotations

import datetime as dt

from flask import Flask

from shared.messaging.outbox import purge_published
from shared.persistence.db import utcnow
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.triggers.cron import cron_binding
from shared.triggers.timers import SweepTimer
from shared.web.app import function_app

BINDING = "outbox-cron"


def purge(rt: Runtime) -> int:
    """Delete old published rows in bounded batches; return how many went."""
    cutoff = utcnow() - dt.timedelta(days=rt.settings.outbox_retention_days)
    return rt.delete_in_batches(lambda session: purge_published(session, cutoff))


def sweep(rt: Runtime) -> tuple[dict[str, int], bool]:
    """The one handler every trigger calls: relay what waits, then purge what is old."""
    published, failed = rt.relay.drain()
    return {"published": published, "pending": int(rt.pending_events()), "purged": purge(rt)}, not failed


def register(app: Flask, rt: Runtime) -> None:
    """Mount POST/OPTIONS /outbox-cron."""
    cron_binding(app, BINDING, lambda: sweep(rt))


def start_timer(rt: Runtime) -> SweepTimer:
    """Combined app: purge old published rows once a day (the relay itself runs on its own loop)."""
    last_run = {"at": utcnow()}

    def daily_purge() -> int:
        last_run["at"] = utcnow()
        return purge(rt)

    return rt.add_timer(
        SweepTimer("outbox-retention", daily_purge, lambda: last_run["at"] + dt.timedelta(days=1), max_sleep=3600)
    )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the outbox function."""
    return function_app("taskflow.outbox", register, settings, runtime)
