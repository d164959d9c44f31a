"""The notifications function: signed webhooks with durable retries, and reminder emails."""

from __future__ import annotations

from typing import Any

from flask import Flask

from functions.notifications import routes
from functions.notifications.deliveries import deliver_due, enqueue, next_due
from shared.domain.events import TOPICS
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.triggers.kafka_loop import ConsumerLoop
from shared.triggers.timers import SweepTimer
from shared.web.app import cron_binding, function_app, subscribe

BINDING = "notification-cron"


def sweep(rt: Runtime) -> tuple[dict[str, Any], bool]:
    return deliver_due(rt), True


def register(app: Flask, rt: Runtime) -> None:
    """Mount the webhook/preferences API, the event subscription and POST /notification-cron."""
    app.register_blueprint(routes.bp)
    subscribe(app, rt, "notifications", TOPICS, lambda events: enqueue(rt, events))
    cron_binding(app, BINDING, lambda: sweep(rt))


def start_workers(rt: Runtime) -> None:
    """Combined app: a timer that sleeps until the next due attempt; the Kafka loop with Kafka."""
    rt.add_timer(SweepTimer("notifications", lambda: sweep(rt), lambda: next_due(rt)))
    if rt.settings.transport == "kafka":
        rt.add_consumer(
            ConsumerLoop(
                rt.settings, "notifications", TOPICS, lambda events: enqueue(rt, events), group_id="notifications"
            )
        )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the notifications function."""
    return function_app("taskflow.notifications", register, settings, runtime, lambda app, rt: start_workers(rt))
