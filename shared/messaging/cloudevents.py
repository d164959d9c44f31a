"""CloudEvents in and out with the CloudEvents SDK: Kafka records and HTTP deliveries, binary and structured.

The envelope (DESIGN.md "Event envelope") is the CloudEvent's `data`. The W3C trace context
travels as the distributed-tracing extension attribute `traceparent` (`ce_traceparent` on a
Kafka record, `ce-traceparent` or the `traceparent` attribute over HTTP).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from cloudevents import exceptions as ce_errors
from cloudevents import kafka as ce_kafka
from cloudevents.http import CloudEvent, from_http

from shared.domain import json_text
from shared.domain.events import CE_SOURCE, TOPIC_OF, Event, MalformedEvent

SPECVERSION = "1.0"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
# A traceparent is 55 characters (version 00); anything much longer is not one.
MAX_TRACEPARENT = 128


class HeaderLookup(Protocol):
    """Headers as a delivery gives them (a plain mapping, or werkzeug's case-insensitive Headers)."""

    def get(self, key: str, /) -> str | None: ...

    def items(self) -> Any: ...


def encode(payload: Mapping[str, Any]) -> bytes:
    """The envelope as compact JSON (the record value / CloudEvent data)."""
    return json_text.dumps(payload, default=str)


class Outgoing(NamedTuple):
    """One stored event on its way to a broker: the envelope's JSON text as the outbox holds it (sent as it
    is, never decoded and encoded again) and the envelope fields its CloudEvent attributes and key name."""

    topic: str
    data: bytes
    event_id: str
    event_type: str
    user_id: str
    aggregate_id: str | None
    timestamp: str
    traceparent: str | None = None

    @classmethod
    def of(cls, topic: str, payload: Mapping[str, Any], traceparent: str | None = None) -> Outgoing:
        """An envelope that is not stored as text (a test's, a tool's): encoded here."""
        return cls(
            topic,
            encode(payload),
            str(payload["event_id"]),
            str(payload["event_type"]),
            str(payload["user_id"]),
            str(payload["aggregate_id"]) if payload.get("aggregate_id") else None,
            str(payload["timestamp"]),
            traceparent,
        )


def cloudevent_for(message: Outgoing) -> CloudEvent:
    """The CloudEvent carrying a stored envelope (id, type, source, time, subject from the envelope)."""
    attributes = {
        "specversion": SPECVERSION,
        "id": message.event_id,
        "type": message.event_type,
        "source": CE_SOURCE,
        "time": message.timestamp,
        "subject": message.aggregate_id or "",
        "datacontenttype": "application/json",
        "partitionkey": message.user_id,
    }
    if message.traceparent:
        attributes["traceparent"] = message.traceparent
    return CloudEvent(attributes, message.data)


def kafka_record(message: Outgoing) -> ce_kafka.KafkaMessage:
    """A binary-mode Kafka record: `ce_*` headers, key = user_id, value = the envelope's stored JSON text.

    With a trace context, the record also gets a plain `traceparent` header (what OpenTelemetry's
    Kafka instrumentations read) besides the CloudEvent extension `ce_traceparent`.
    """
    record = ce_kafka.to_binary(cloudevent_for(message), data_marshaller=_as_is)
    if message.traceparent:
        record.headers["traceparent"] = message.traceparent.encode()
    return record


def _as_is(data: bytes) -> bytes:
    return data


def event_from_record(headers: list[tuple[str, bytes]] | None, key: bytes | None, value: bytes) -> Event:
    """Parse a Kafka record: a binary CloudEvent (ce_* headers) or a bare envelope; MalformedEvent if neither.

    The event's `traceparent` is the CloudEvent extension's, else the record's `traceparent` header.
    """
    header_map = {name.lower(): raw for name, raw in headers or []}
    try:
        if "ce_specversion" in header_map:
            ce = ce_kafka.from_binary(ce_kafka.KafkaMessage(header_map, key, value), data_unmarshaller=_json_value)
            envelope, traceparent = ce.get_data(), ce.get("traceparent")
        else:
            envelope = _json_value(value)
            traceparent = _text(header_map.get("traceparent"))
    except (ValueError, UnicodeDecodeError, RecursionError, ce_errors.GenericException) as exc:
        # RecursionError: JSON nested too deep for the parser (a poison record, not a server fault)
        raise MalformedEvent(f"not a JSON envelope: {str(exc)[:200]}") from exc
    return _stamped(Event.from_dict(envelope), traceparent)


def event_from_delivery(topic: str, headers: HeaderLookup, body: bytes) -> tuple[Event, str]:
    """Return (event, mode) for a delivery on /events/<topic>; raise MalformedEvent to DROP it.

    Structured mode (Dapr, `application/cloudevents+json`): the envelope is the CloudEvent's
    `data` (a JSON string there is parsed too). Binary mode (KafkaSource, `ce-*` headers): the
    body is the envelope itself.
    """
    if topic not in set(TOPIC_OF.values()):
        raise MalformedEvent(f"unknown topic {topic!r}")
    binary = bool(headers.get("ce-specversion") or headers.get("ce-id"))
    if binary and not (headers.get("ce-id") and headers.get("ce-type")):
        raise MalformedEvent("binary CloudEvent without ce-id / ce-type")
    try:
        ce = from_http(dict(headers.items()), body or b"", data_unmarshaller=_json_value)
    except (ValueError, UnicodeDecodeError, RecursionError, ce_errors.GenericException) as exc:
        # RecursionError: JSON nested too deep for the parser (a poison delivery, not a server fault)
        raise MalformedEvent(f"not a CloudEvent: {str(exc)[:200]}") from exc
    envelope = ce.get_data()
    if isinstance(envelope, str) and not binary:
        try:
            envelope = json.loads(envelope)
        except (ValueError, RecursionError) as exc:
            raise MalformedEvent("CloudEvent data is not JSON") from exc
    event = _stamped(Event.from_dict(envelope), ce.get("traceparent") or headers.get("traceparent"))
    if event.topic != topic:
        raise MalformedEvent(f"{event.event_type} does not belong on {topic}")
    return event, "binary" if binary else "structured"


def _json_value(raw: bytes | str | None) -> Any:
    if raw is None or raw in (b"", ""):
        raise ValueError("empty body")
    return json.loads(raw)


def _text(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw


def _stamped(event: Event, traceparent: object) -> Event:
    """The event with the trace context it travelled with (ignored when it is not a plausible one)."""
    if isinstance(traceparent, bytes):
        traceparent = _text(traceparent)
    if isinstance(traceparent, str) and 0 < len(traceparent) <= MAX_TRACEPARENT:
        return event.with_traceparent(traceparent)
    return event
