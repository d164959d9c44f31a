"""Cron bindings over HTTP: Dapr's cron binding (or Knative's PingSource) runs a sweep at POST /<name>."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, jsonify, request

from shared.web.app import trigger_route
from shared.web.operations import describe
from shared.web.schemas import SweepResult

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


def cron_binding(app: Flask, name: str, sweep: Callable[[], tuple[object, bool]]) -> None:
    """Serve a Dapr cron binding (or PingSource) at POST /<name>, with the OPTIONS start-up probe.

    `sweep()` returns (body, ok); the route answers 200 when the sweep is done and 503 when it
    could not finish (the next tick retries). The request body is ignored: Dapr's is empty.
    """
    if not app.config.get("TASKFLOW_TRIGGER_ROUTES", True):
        return

    @trigger_route
    def view() -> ResponseReturnValue:
        if request.method == "OPTIONS":
            return "", 200
        body, ok = sweep()
        return jsonify(body), (200 if ok else 503)

    view.__doc__ = f"Run the {name} sweep when Dapr's cron binding fires."
    describe(
        view,
        responses={200: SweepResult, 503: SweepResult},
        auth="app-token",
        summary=f"Run the {name} sweep (Dapr cron binding or Knative PingSource; the body is ignored)",
        tags=["triggers"],
    )
    app.add_url_rule(
        f"/{name}", endpoint=name, view_func=view, methods=["POST", "OPTIONS"], provide_automatic_options=False
    )
