"""The reminders function: Dapr's `reminder-cron` binding fires due reminders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import GaugeMetricFamily

from functions.reminders.firing import fire_due, next_due, pending_counts
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.triggers.cron import cron_binding
from shared.triggers.timers import SweepTimer
from shared.web.app import function_app

if TYPE_CHECKING:
    from dapr.ext.grpc import App

BINDING = "reminder-cron"


def sweep(rt: Runtime) -> tuple[dict[str, Any], bool]:
    """The one handler every trigger calls (HTTP cron, gRPC binding, in-process timer)."""
    return fire_due(rt), True


class ReminderCollector:
    """Scheduled (not fired yet) and overdue (due, not fired yet) reminders, counted when Prometheus scrapes."""

    def __init__(self, rt: Runtime):
        self._rt = rt

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            pending, due = pending_counts(self._rt)
        except sa.exc.SQLAlchemyError:
            return
        yield GaugeMetricFamily("taskflow_reminders_scheduled", "Reminders not fired yet", value=pending)
        yield GaugeMetricFamily(
            "taskflow_reminders_overdue", "Reminders due but not fired yet (the firing sweep is behind)", value=due
        )


def register(app: Flask, rt: Runtime) -> None:
    """Mount POST/OPTIONS /reminder-cron; count scheduled and overdue reminders on /metrics."""
    cron_binding(app, BINDING, lambda: sweep(rt))
    rt.metrics.scraped.register(ReminderCollector(rt))


def start_timer(rt: Runtime) -> SweepTimer:
    """Combined app: sleep until the earliest pending remind_at; woken when a sooner one is added."""
    return rt.add_timer(SweepTimer("reminders", lambda: sweep(rt), lambda: next_due(rt)))


def grpc_app(rt: Runtime) -> App:
    """The same sweep as a Dapr gRPC input binding (`dapr.ext.grpc.App`)."""
    from shared.triggers.grpc import binding_app

    return binding_app({BINDING: lambda: sweep(rt)})


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the reminders function."""
    return function_app("taskflow.reminders", register, settings, runtime, lambda app, rt: rt.start_relay())
