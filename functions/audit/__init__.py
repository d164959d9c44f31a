"""The audit function: every event, once, in the audit log; old events purged on schedule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask

from functions.audit.log import purge_older_than, record
from shared.domain.events import TOPICS, Event
from shared.messaging.subscriptions import Subscription
from shared.persistence.db import utcnow
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.triggers.cron import cron_binding
from shared.triggers.subscriptions import subscribe
from shared.triggers.timers import SweepTimer
from shared.web.app import function_app

RETENTION_BINDING = "audit-retention-cron"


def record_events(rt: Runtime, events: list[Event]) -> int:
    """The one handler every adapter calls: store the events not seen before, in one transaction."""
    with rt.uow() as uow:
        added = record(uow.session, events)
        uow.commit()
    for event_type, count in added.items():
        rt.metrics.events_persisted.labels(event_type).inc(count)
    return added.total()


def purge(rt: Runtime) -> tuple[dict[str, Any], bool]:
    """Delete events older than EVENT_RETENTION_DAYS, in bounded batches."""
    cutoff = utcnow() - dt.timedelta(days=rt.settings.event_retention_days)
    return {"purged": rt.delete_in_batches(lambda session: purge_older_than(session, cutoff))}, True


def subscription(rt: Runtime) -> Subscription:
    """Every topic, once per deployment, into the audit log (Kafka group `audit`)."""
    return Subscription("audit", TOPICS, lambda events: record_events(rt, events))


def register(app: Flask, rt: Runtime) -> None:
    """Mount the audit subscription (delivery routes, stream, Kafka loop) and POST /audit-retention-cron."""
    subscribe(app, rt, subscription(rt))
    cron_binding(app, RETENTION_BINDING, lambda: purge(rt))


def start_timer(rt: Runtime) -> SweepTimer:
    """Combined app: purge old events once a day."""
    last_run = {"at": utcnow()}

    def daily_purge() -> tuple[dict[str, Any], bool]:
        last_run["at"] = utcnow()
        return purge(rt)

    return rt.add_timer(
        SweepTimer("audit-retention", daily_purge, lambda: last_run["at"] + dt.timedelta(days=1), max_sleep=3600)
    )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the audit function (subscription routes; the Kafka loop when run with Kafka directly)."""
    return function_app("taskflow.audit", register, settings, runtime)
