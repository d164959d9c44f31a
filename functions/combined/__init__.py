"""The combined app: every function in one process group (embedded mode and the Render container).

Each gunicorn worker builds this app. The workers elect one leader (a PostgreSQL advisory lock,
or a file lock beside a SQLite database) that runs the once-per-deployment loops: the outbox
relay, the recurrence, reminder, notification and retention timers, and the consumers that keep
a stored position (audit, notifications). Every worker feeds its own sockets from the event
stream. Trigger routes (cron bindings, event deliveries) are not mounted unless APP_API_TOKEN is
set, and then only behind it: here the timers and the stream drive that work.
"""

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
from shared.observability import logs
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.web import admin
from shared.web.app import make_flask_app

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
TIMED = (functions.recurrence, functions.reminders, functions.outbox, functions.audit, functions.notifications)


def create_app(settings: Settings | None = None) -> Flask:
    """Compose every function on one runtime and start the background loops."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    rt = Runtime(settings)
    app = make_flask_app("taskflow", rt, trigger_routes=bool(settings.app_api_token))
    if settings.run_background_workers:
        # First: the Kafka consumers the functions declare start as they register, on the leader.
        rt.elect_leader()
    for function in FUNCTIONS:
        function.register(app, rt)
    admin.register(app, rt)
    if settings.run_background_workers:
        start_background(rt)
        atexit.register(rt.close)
    return app


def start_background(rt: Runtime) -> None:
    """Loops once per deployment on the elected leader; the socket feed in every worker.

    Kafka consumers started when their functions subscribed; with the local transport the
    event stream feeds every subscription from here on.
    """
    rt.start_relay()
    for function in TIMED:
        function.start_timer(rt)
    if rt.settings.transport == "local":
        rt.start_pipeline()
    else:
        rt.listen()
