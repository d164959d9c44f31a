"""The notifications function: signed webhooks with durable retries, and reminder emails."""

from __future__ import annotations

from typing import Any

from flask import Flask

from functions.notifications import routes
from functions.notifications.deliveries import deliver_due, enqueue, next_due
from shared.domain.events import TOPICS
from shared.messaging.subscriptions import Subscription
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.triggers.cron import cron_binding
from shared.triggers.subscriptions import subscribe
from shared.triggers.timers import SweepTimer
from shared.web.app import function_app

BINDING = "notification-cron"


def sweep(rt: Runtime) -> tuple[dict[str, Any], bool]:
    """Send the deliveries that are due (the one handler of the cron route and the timer)."""
    return deliver_due(rt), True


def subscription(rt: Runtime) -> Subscription:
    """Every topic, once per deployment, queued as deliveries to the users' webhooks (Kafka group `notifications`)."""
    return Subscription("notifications", TOPICS, lambda events: enqueue(rt, events))


def register(app: Flask, rt: Runtime) -> None:
    """Mount the webhook/preferences API, the event subscription and POST /notification-cron."""
    app.register_blueprint(routes.bp)
    subscribe(app, rt, subscription(rt))
    cron_binding(app, BINDING, lambda: sweep(rt))


def start_timer(rt: Runtime) -> SweepTimer:
    """Combined app: a timer that sleeps until the next due attempt."""
    return rt.add_timer(SweepTimer("notifications", lambda: sweep(rt), lambda: next_due(rt)))


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the notifications function."""
    return function_app("taskflow.notifications", register, settings, runtime)
