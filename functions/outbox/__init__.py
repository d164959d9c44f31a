"""The outbox function: Dapr's `outbox-cron` binding publishes what the API could not yet."""

from __future__ import annotations

from flask import Flask

from shared.runtime import Runtime
from shared.settings import Settings
from shared.web import cron_binding, function_app

BINDING = "outbox-cron"


def register(app: Flask, rt: Runtime) -> None:
    """Mount POST/OPTIONS /outbox-cron."""

    def sweep() -> tuple[dict[str, int], bool]:
        published, failed = rt.relay.drain()
        return {"published": published, "pending": int(rt.pending_events())}, not failed

    cron_binding(app, BINDING, sweep)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the outbox function."""
    return function_app("taskflow.outbox", register, settings, runtime)
