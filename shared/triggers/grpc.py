"""Serve cron sweeps over Dapr's gRPC app protocol (dapr.ext.grpc.App), same handlers as HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dapr.ext.grpc import App

log = logging.getLogger(__name__)


def binding_app(bindings: dict[str, Callable[[], tuple[dict[str, Any], bool]]]) -> App:
    """Build a dapr.ext.grpc.App with one input binding per sweep (raises to make Dapr retry)."""
    from dapr.ext.grpc import App

    app = App()
    for name, sweep in bindings.items():

        def handler(
            _request: object, _name: str = name, _sweep: Callable[[], tuple[dict[str, Any], bool]] = sweep
        ) -> None:
            body, ok = _sweep()
            log.info("binding sweep done", extra={"binding": _name, **body})
            if not ok:
                raise RuntimeError(f"{_name} sweep did not finish: {body}")

        app.binding(name)(handler)
    return app
