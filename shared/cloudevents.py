"""Read an event delivery: a Dapr structured CloudEvent or a Knative binary-mode CloudEvent."""

from __future__ import annotations

import json
from typing import Protocol

from shared.events import TOPIC_OF, Event, MalformedEvent


class HeaderLookup(Protocol):
    """Headers as a delivery gives them (a plain mapping, or werkzeug's case-insensitive Headers)."""

    def get(self, key: str, /) -> str | None: ...


def event_from_delivery(topic: str, headers: HeaderLookup, body: bytes) -> tuple[Event, str]:
    """Return (event, mode) for a delivery on /events/<topic>; raise MalformedEvent to DROP it.

    Structured mode (Dapr, `application/cloudevents+json`): the envelope is the CloudEvent's
    `data`. Binary mode (KafkaSource, `ce-*` headers): the body is the envelope itself.
    """
    if topic not in set(TOPIC_OF.values()):
        raise MalformedEvent(f"unknown topic {topic!r}")
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent("body is not JSON") from exc
    if headers.get("ce-specversion") or headers.get("ce-id"):
        mode, envelope = "binary", payload
        if not headers.get("ce-id") or not headers.get("ce-type"):
            raise MalformedEvent("binary CloudEvent without ce-id / ce-type")
    else:
        mode = "structured"
        if not isinstance(payload, dict) or "specversion" not in payload:
            raise MalformedEvent("not a CloudEvent: no specversion")
        envelope = payload.get("data")
        if isinstance(envelope, str):
            try:
                envelope = json.loads(envelope)
            except ValueError as exc:
                raise MalformedEvent("CloudEvent data is not JSON") from exc
    event = Event.from_dict(envelope)
    if event.topic != topic:
        raise MalformedEvent(f"{event.event_type} does not belong on {topic}")
    return event, mode
