"""The outbox function: Dapr's `outbox-cron` binding publishes what the API could not yet."""
from __future__ import annotations

from flask import Flask

from shared import logs
from shared.runtime import Runtime
from shared.settings import Settings
from shared.web import cron_binding, make_flask_app

BINDING = "outbox-cron"


def register(app: Flask, rt: Runtime) -> None:
    """Mount POST/OPTIONS /outbox-cron."""

    def sweep():
        published, failed = rt.relay.drain()
        return {"published": published, "pending": int(rt.pending_events())}, not failed

    cron_binding(app, BINDING, sweep)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the outbox function."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    rt = runtime or Runtime(settings)
    app = make_flask_app("taskflow.outbox", rt)
    register(app, rt)
    return app
