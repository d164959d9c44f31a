"""Mount a consumer's declaration (`shared.messaging.subscriptions.Subscription`) on every adapter that applies."""

from __future__ import annotations

from flask import Flask

from shared.messaging.subscriptions import Subscription
from shared.runtime.process import Runtime
from shared.triggers.deliveries import serve_deliveries
from shared.triggers.kafka_loop import ConsumerLoop


def subscribe(app: Flask, rt: Runtime, subscription: Subscription) -> None:
    """Deliver `subscription`'s topics to its handler through every adapter this app and process serve.

    - the in-process event stream (local transport): fed once `rt.start_pipeline()` runs, on the
      leader with a stored position, or in every worker when `every_process`;
    - Dapr (`GET /dapr/subscribe`, structured CloudEvents on `POST /events/<topic>`) and Knative's
      KafkaSource (binary CloudEvents on the same route), when the app serves trigger routes;
    - a Kafka consumer loop (Kafka transport, background workers on), started now, once per
      deployment (`rt.run_once`, so the combined app elects its leader first); a subscription of
      every worker (the sockets) follows the event stream instead, also with Kafka: the relay numbers
      a row once, when the broker took it, so a broker outage leaves no gap and a record published
      twice is not read twice.
    """
    rt.pipeline.subscribe(subscription)
    serve_deliveries(app, rt, subscription)
    if rt.settings.transport == "kafka" and rt.settings.run_background_workers:
        if subscription.every_process:
            rt.follow(subscription)
        else:
            rt.add_consumer(ConsumerLoop(rt.settings, subscription))
