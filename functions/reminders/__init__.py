"""The reminders function: Dapr's `reminder-cron` binding fires due reminders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask

from functions.reminders.firing import fire_due, next_due
from shared.runtime import Runtime
from shared.settings import Settings
from shared.timer import SweepTimer
from shared.web import cron_binding, function_app

if TYPE_CHECKING:
    from dapr.ext.grpc import App

BINDING = "reminder-cron"


def sweep(rt: Runtime) -> tuple[dict[str, Any], bool]:
    """The one handler every trigger calls (HTTP cron, gRPC binding, in-process timer)."""
    return fire_due(rt), True


def register(app: Flask, rt: Runtime) -> None:
    """Mount POST/OPTIONS /reminder-cron."""
    cron_binding(app, BINDING, lambda: sweep(rt))


def start_timer(rt: Runtime) -> SweepTimer:
    """Combined app: sleep until the earliest pending remind_at; woken when a sooner one is added."""
    return rt.add_timer(SweepTimer("reminders", lambda: sweep(rt), lambda: next_due(rt)))


def grpc_app(rt: Runtime) -> App:
    """The same sweep as a Dapr gRPC input binding (`dapr.ext.grpc.App`)."""
    from shared.grpc_bindings import binding_app

    return binding_app({BINDING: lambda: sweep(rt)})


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the reminders function."""
    return function_app("taskflow.reminders", register, settings, runtime, lambda app, rt: rt.start_relay())
