"""The combined app: every function in one process (embedded mode and the Render container)."""

from __future__ import annotations

import atexit

from flask import Flask

import functions.audit
import functions.fanout
import functions.notifications
import functions.outbox
import functions.recurrence
import functions.reminders
import functions.tasks
from shared import logs
from shared.runtime import Runtime
from shared.settings import Settings
from shared.web import make_flask_app

#: Each function contributes its routes through `register(app, runtime)`; order does not matter.
FUNCTIONS = (
    functions.tasks,
    functions.outbox,
    functions.recurrence,
    functions.reminders,
    functions.audit,
    functions.fanout,
    functions.notifications,
)
#: Functions whose trigger is a cron binding run on in-process timers here instead.
TIMED = (functions.recurrence, functions.reminders)


def create_app(settings: Settings | None = None) -> Flask:
    """Compose every function on one runtime and start the background workers."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    rt = Runtime(settings)
    app = make_flask_app("taskflow", rt)
    for function in FUNCTIONS:
        function.register(app, rt)
    if settings.run_background_workers:
        rt.start_relay()
        for function in TIMED:
            function.start_timer(rt)
        functions.audit.start_workers(rt)
        functions.fanout.start_workers(rt, app.extensions["taskflow_hub"])
        functions.notifications.start_workers(rt)
        atexit.register(rt.close)
    return app
