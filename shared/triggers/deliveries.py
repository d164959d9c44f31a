"""Event deliveries over HTTP: Dapr's subscription discovery and the route Dapr and KafkaSource deliver to.

Dapr asks `GET /dapr/subscribe` which topics the app consumes, then posts each event as a
structured CloudEvent to `POST /events/<topic>`; Knative's KafkaSource posts binary CloudEvents
(`ce-*` headers) to the same route. Both routes read the app's subscriptions: several functions
composed in one app share them, and each gets every event of its topics.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask, jsonify, request

from shared.domain import request_meta
from shared.messaging.subscriptions import Subscription
from shared.observability import tracing
from shared.runtime.process import Runtime
from shared.web.app import trigger_route
from shared.web.operations import describe
from shared.web.schemas import DaprSubscriptions, DeliveryStatus

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

log = logging.getLogger(__name__)


def serve_deliveries(app: Flask, rt: Runtime, subscription: Subscription) -> None:
    """Deliver `subscription`'s topics from Dapr and KafkaSource; the first one mounts the two routes.

    Not mounted when the app serves no trigger routes (the combined app without APP_API_TOKEN).
    """
    subscriptions: list[Subscription] = app.extensions.setdefault("taskflow_subscriptions", [])
    subscriptions.append(subscription)
    if len(subscriptions) > 1 or not app.config.get("TASKFLOW_TRIGGER_ROUTES", True):
        return

    @app.get("/dapr/subscribe")
    def dapr_subscribe() -> ResponseReturnValue:
        """Tell Dapr which topics this app consumes and where to deliver them."""
        wanted = sorted({t for sub in subscriptions for t in sub.topics})
        return jsonify(
            [
                {
                    "pubsubname": rt.settings.pubsub_name,
                    "topic": t,
                    "route": f"/events/{t}",
                    "deadLetterTopic": f"{t}.dlq",
                }
                for t in wanted
            ]
        )

    @app.post("/events/<topic>")
    @trigger_route
    def deliver(topic: str) -> ResponseReturnValue:
        """Receive one event (Dapr structured or KafkaSource binary CloudEvent)."""
        from sqlalchemy.exc import SQLAlchemyError

        from shared.domain.events import MalformedEvent
        from shared.messaging.cloudevents import event_from_delivery

        binary = bool(request.headers.get("ce-id"))
        try:
            event, _mode = event_from_delivery(topic, request.headers, request.get_data(cache=False))
        except MalformedEvent as exc:
            log.warning("dropping malformed delivery", extra={"topic": topic[:100], "reason": str(exc)})
            if binary:
                from shared.web.problems import problem

                return problem(400, "Malformed event", str(exc))
            return jsonify(status="DROP")
        from shared.messaging.stream import handle_traced

        # The CloudEvent's `traceparent` names the publish that sent it; a delivery without one
        # (another producer) hangs below this request's span instead, when tracing is on.
        if not event.traceparent:
            event = event.with_traceparent(tracing.current_traceparent())
        with request_meta.bound(request_meta.RequestMeta(correlation_id=event.correlation_id)):
            try:
                for sub in subscriptions:
                    if topic in sub.topics:
                        handle_traced(sub.handle, sub.name, rt.transport.name, [event])
            except SQLAlchemyError:
                log.exception("delivery failed; asking for a retry", extra={"event_id": event.event_id})
                return (jsonify(status="RETRY"), 503) if binary else jsonify(status="RETRY")
        return jsonify(status="SUCCESS")

    describe(
        dapr_subscribe,
        responses={200: DaprSubscriptions},
        auth="none",
        summary="Dapr's subscription discovery",
        tags=["triggers"],
    )
    describe(
        deliver,
        responses={200: DeliveryStatus, 503: DeliveryStatus},
        auth="app-token",
        problems=[400],
        summary="Receive one event: a structured (Dapr) or binary (KafkaSource, ce-* headers) CloudEvent",
        tags=["triggers"],
    )
