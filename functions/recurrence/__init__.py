"""The recurrence function: Dapr's `recurrence-cron` binding spawns due instances of recurring tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask

from functions.recurrence.sweep import next_due, spawn_due
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.triggers.cron import cron_binding
from shared.triggers.timers import SweepTimer
from shared.web.app import function_app

if TYPE_CHECKING:
    from dapr.ext.grpc import App

BINDING = "recurrence-cron"


def sweep(rt: Runtime) -> tuple[dict[str, Any], bool]:
    """The one handler every trigger calls (HTTP cron, gRPC binding, in-process timer)."""
    return {"spawned": spawn_due(rt)}, True


def register(app: Flask, rt: Runtime) -> None:
    """Mount POST/OPTIONS /recurrence-cron."""
    cron_binding(app, BINDING, lambda: sweep(rt))


def start_timer(rt: Runtime) -> SweepTimer:
    """Combined app: sleep until the earliest next_occurrence; woken when a rule changes."""
    return rt.add_timer(SweepTimer("recurrence", lambda: sweep(rt), lambda: next_due(rt)))


def grpc_app(rt: Runtime) -> App:
    """The same sweep as a Dapr gRPC input binding (`dapr.ext.grpc.App`)."""
    from shared.triggers.grpc import binding_app

    return binding_app({BINDING: lambda: sweep(rt)})


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the recurrence function."""
    return function_app("taskflow.recurrence", register, settings, runtime, lambda app, rt: rt.start_relay())
