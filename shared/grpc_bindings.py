"""Serve cron sweeps over Dapr's gRPC app protocol (dapr.ext.grpc.App), same handlers as HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def binding_app(bindings: dict[str, Callable[[], tuple[dict, bool]]]):
    """Build a dapr.ext.grpc.App with one input binding per sweep (raises to make Dapr retry)."""
    from dapr.ext.grpc import App

    app = App()
    for name, sweep in bindings.items():

        def handler(_request, _name=name, _sweep=sweep):
            body, ok = _sweep()
            log.info("binding sweep done", extra={"binding": _name, **body})
            if not ok:
                raise RuntimeError(f"{_name} sweep did not finish: {body}")

        app.binding(name)(handler)
    return app
