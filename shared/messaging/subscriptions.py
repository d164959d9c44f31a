"""A consumer's one declaration: its name, the topics it reads, its handler, and where it runs.

Each consumer function states its subscriptions once, as `Subscription` values;
`shared.triggers.subscriptions.subscribe` mounts them on every adapter that applies: the Dapr
subscription and delivery routes (also KafkaSource's), the Kafka consumer loop, and the
in-process event stream. The declaration lives here, below the triggers, because the stream
(`shared.messaging.stream.Pipeline`) reads it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection

from shared.domain.events import Event

#: Handles one batch of events; raising asks for the batch again (then event by event, then parks it).
BatchHandler = Callable[[list[Event]], object]


@dataclasses.dataclass(frozen=True)
class Subscription:
    """One consumer of `topics`, handled by `handle(events)`.

    `every_process=False`: once per deployment (on the leader), from a stored position, with
    retries and dead letters (the audit log, notifications). `every_process=True`: in every worker,
    from the stream's head, no stored position (the socket fan-out; clients resume with `since`).
    `group` names the Kafka consumer group; None means the name. With Kafka, an `every_process`
    subscription follows the event stream too (the numbered outbox: no gap after a broker outage, no
    repeat of a record published twice), not a consumer group (shared/triggers/subscriptions.py).
    `audience`, for an `every_process` subscription: the users this process has a use for the events
    of right now (the fan-out: those with a socket in this worker); the others' payloads go unread.
    """

    name: str
    topics: tuple[str, ...]
    handle: BatchHandler
    every_process: bool = False
    group: str | None = None
    audience: Callable[[], Collection[str]] | None = None
