"""The tasks function: the HTTP API (auth, tasks, due dates) and the web page."""

from __future__ import annotations

import pathlib

from flask import Flask, send_from_directory
from flask.typing import ResponseReturnValue

from functions.tasks.api import (
    accounts,
    calendar,
    filters,
    history,
    lists,
    reminders,
    sections,
    series,
    tasks,
    throttle,
    todoist,
)
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.web import apidocs
from shared.web.app import function_app
from shared.web.operations import describe

FRONTEND_DIR = pathlib.Path(__file__).resolve().parents[2] / "frontend"
#: The web page keeps its token in localStorage: no script, style or connection from another origin
#: (an injected one could read it), no framing, no referrer (a calendar feed URL is a credential).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


#: The web app's addresses besides `/` (frontend/views.js, ADDRESSES): each serves the page.
PAGE_PATHS = (
    "/inbox",
    "/today",
    "/upcoming",
    "/all",
    "/completed",
    "/search",
    "/settings",
    "/lists/<id:list_id>",
    "/tasks/<id:task_id>",
    "/filters/<id:filter_id>",
    "/tags/<tag>",
)


def register(app: Flask, rt: Runtime) -> None:
    """Mount the API, the OpenAPI document, the API docs and the frontend on an app."""
    app.register_blueprint(accounts.bp)
    app.register_blueprint(accounts.session_bp)
    app.register_blueprint(lists.parse_bp)
    app.register_blueprint(calendar.feed_bp)
    app.register_blueprint(calendar.import_bp)
    throttle.install(
        app,
        rt.settings,
        accounts.bp,
        parse=lists.parse_bp,
        feed=calendar.feed_bp,
        imports=calendar.import_bp,
    )
    app.register_blueprint(tasks.bp)
    app.register_blueprint(lists.bp)
    app.register_blueprint(filters.bp)
    app.register_blueprint(series.bp)
    app.register_blueprint(reminders.bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(sections.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(todoist.bp)
    apidocs.register(app)

    @app.get("/")
    def index(**_ids: str) -> ResponseReturnValue:
        """Serve the web page (scripts, styles and connections from this origin only), at any of its addresses."""
        response = send_from_directory(FRONTEND_DIR, "index.html")
        response.headers.update(PAGE_HEADERS)
        return response

    # Every view has an address (a reload or a shared link opens it): the same page, which reads the path.
    for path in PAGE_PATHS:
        app.add_url_rule(path, endpoint="index", view_func=index, methods=["GET"])

    @app.get("/sw.js")
    def service_worker() -> ResponseReturnValue:
        """Serve the service worker from the root, so its scope is the whole app."""
        response = send_from_directory(FRONTEND_DIR, "sw.js", max_age=0)
        response.headers["Service-Worker-Allowed"] = "/"
        return response

    @app.get("/static/<path:filename>")
    def frontend_static(filename: str) -> ResponseReturnValue:
        """Serve the web page's assets."""
        return send_from_directory(FRONTEND_DIR, filename)

    describe(
        index, responses={200: None}, response_media_type="text/html", auth="none", summary="The web app", tags=["meta"]
    )
    describe(
        service_worker,
        responses={200: None},
        response_media_type="text/javascript",
        auth="none",
        summary="The web app's service worker (the shell offline)",
        tags=["meta"],
    )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the tasks function: the API plus a relay thread that publishes right after each commit."""
    return function_app("taskflow.tasks", register, settings, runtime, lambda app, rt: rt.start_relay())
