"""Event transports: kafka (kafka-python), dapr (DaprClient.publish_event), local (the in-process stream)."""

from __future__ import annotations

import functools
import logging
import socket
import threading
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from shared.messaging.cloudevents import Outgoing, kafka_record
from shared.settings import Settings

if TYPE_CHECKING:
    from dapr.clients import DaprClient

log = logging.getLogger(__name__)


#: What the relay hands a transport, in order: the stored envelope's text, its topic, headers and trace context.
Message = Outgoing
#: What `Transport.send` returns: waits until the messages handed over are out (or failed); how many, from the first.
Sent = Callable[[], int]


class Transport(Protocol):
    name: str
    #: False when `publish` only counts the messages (the in-process stream): the relay then skips payloads.
    needs_payload: bool

    def publish(self, messages: Sequence[Message]) -> int:
        """Publish (topic, envelope) pairs in order; return how many, from the first, went out."""

    def send(self, messages: Sequence[Message]) -> Sent:
        """Hand the messages over and return at once; the call returned waits for them (`publish` in two
        halves, so the relay reads its next batch while this one is on its way)."""

    def healthy(self) -> bool: ...

    def close(self) -> None: ...


class LocalStream:
    """The in-process transport: the outbox is the stream, so publishing only lets the relay number rows.

    Consumers (audit, notifications, the socket fan-out) read the numbered rows themselves
    (shared/messaging/stream.py), each at its own pace, so none of them can hold up the relay.
    """

    name = "local"
    needs_payload = False

    def publish(self, messages: Sequence[Message]) -> int:
        return len(messages)

    def send(self, messages: Sequence[Message]) -> Sent:
        return lambda: len(messages)

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        pass


class KafkaTransport:
    """kafka-python producer: key = user_id, acks=all, CloudEvents binary-mode headers."""

    name = "kafka"
    needs_payload = True

    def __init__(self, settings: Settings, *, flush_timeout: float = 15.0):
        self._settings = settings
        self._flush_timeout = flush_timeout
        self._producer: Any = None  # a kafka-python KafkaProducer (the package is untyped)
        self._lock = threading.Lock()

    def client_config(self) -> dict[str, Any]:
        s = self._settings
        config: dict[str, Any] = {
            "bootstrap_servers": (s.kafka_bootstrap_servers or "").split(","),
            "security_protocol": s.kafka_security_protocol,
            # Producers and consumers reconnect within a second once the broker is back (kafka-python's
            # own back-off grows to 30 s while it is away).
            "reconnect_backoff_max_ms": 1000,
        }
        if s.kafka_sasl_mechanism:
            config.update(
                sasl_mechanism=s.kafka_sasl_mechanism,
                sasl_plain_username=s.kafka_sasl_username,
                sasl_plain_password=s.kafka_sasl_password,
            )
        return config

    def _get_producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(
                **self.client_config(),
                acks="all",
                linger_ms=2,
                batch_size=256 * 1024,
                max_block_ms=5000,
                request_timeout_ms=10000,
                retries=3,
                # One in-flight request per connection keeps per-user order through retries.
                max_in_flight_requests_per_connection=1,
            )
        return self._producer

    def publish(self, messages: Sequence[Message]) -> int:
        return self.send(messages)()

    def send(self, messages: Sequence[Message]) -> Sent:
        """Append the records to the producer's buffers (its I/O thread sends them); the call returned
        flushes and counts the acknowledged ones, from the first."""
        with self._lock:
            try:
                producer = self._get_producer()
            except Exception as exc:
                log.warning("kafka unavailable", extra={"error": str(exc)})
                return lambda: 0
            futures = []
            try:
                for message in messages:
                    record = kafka_record(message)
                    futures.append(
                        producer.send(
                            message.topic,
                            key=message.user_id.encode(),
                            value=record.value,
                            headers=list(record.headers.items()),
                        )
                    )
            except Exception as exc:
                log.warning("kafka publish interrupted", extra={"error": str(exc)})
        return functools.partial(self._acknowledged, producer, futures, len(messages))

    def _acknowledged(self, producer: Any, futures: list[Any], handed: int) -> int:
        with self._lock:
            try:
                producer.flush(timeout=self._flush_timeout)
            except Exception as exc:
                log.warning("kafka publish interrupted", extra={"error": str(exc)})
            sent = 0
            for future in futures:
                if not future.is_done or future.failed():
                    break
                sent += 1
            if sent < handed and producer is self._producer:
                self._reset()
            return sent

    def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1)
            except Exception:  # closing a broken producer may itself fail; it is discarded anyway
                log.debug("producer close failed", exc_info=True)

    def healthy(self) -> bool:
        for server in (self._settings.kafka_bootstrap_servers or "").split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                with socket.create_connection((host or "localhost", int(port)), timeout=1):
                    return True
            except (OSError, ValueError):
                continue
        return False

    def close(self) -> None:
        with self._lock:
            self._reset()


@functools.cache
def cooperative_grpc() -> bool:
    """Under gevent's monkey patching, make grpc run on gevent's loop (once, before the first channel)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    if not monkey.is_module_patched("socket"):
        return False
    from grpc.experimental import gevent as grpc_gevent  # grpcio: a dependency of dapr, used with it

    grpc_gevent.init_gevent()
    return True


class DaprTransport:
    """Publish through the Dapr sidecar's pub/sub API (DaprClient.publish_event)."""

    name = "dapr"
    needs_payload = True

    def __init__(self, settings: Settings):
        self._settings = settings
        self._client: DaprClient | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> DaprClient:
        if self._client is None:
            cooperative_grpc()
            from dapr.clients import DaprClient
            from dapr.clients.grpc.interceptors import DaprClientInterceptor
            from dapr.conf import settings as dapr_settings

            # The SDK reads its sidecar address from its own settings object (health check on
            # DAPR_HTTP_PORT); point it at ours and do not block a minute when the sidecar is away.
            # The SDK's settings object creates these attributes at run time, so they are set by name.
            setattr(dapr_settings, "DAPR_HTTP_PORT", self._settings.dapr_http_port)  # noqa: B010
            setattr(dapr_settings, "DAPR_GRPC_PORT", self._settings.dapr_grpc_port)  # noqa: B010
            setattr(dapr_settings, "DAPR_API_TOKEN", self._settings.dapr_api_token)  # noqa: B010
            setattr(dapr_settings, "DAPR_HEALTH_TIMEOUT", 5)  # noqa: B010
            token = self._settings.dapr_api_token
            self._client = DaprClient(
                address=f"127.0.0.1:{self._settings.dapr_grpc_port}",
                interceptors=[DaprClientInterceptor([("dapr-api-token", token)])] if token else None,
            )
        return self._client

    def publish(self, messages: Sequence[Message]) -> int:
        with self._lock:
            sent = 0
            try:
                client = self._get_client()
                for message in messages:
                    # The sidecar puts `traceparent` into the CloudEvent it builds: its spans and
                    # the subscribers' join the trace of the change.
                    tp = message.traceparent
                    trace_metadata = {"cloudevent.traceparent": tp} if tp else {}
                    client.publish_event(
                        pubsub_name=self._settings.pubsub_name,
                        topic_name=message.topic,
                        data=message.data,
                        data_content_type="application/json",
                        publish_metadata={
                            "partitionKey": message.user_id,
                            "cloudevent.id": message.event_id,
                            "cloudevent.type": message.event_type,
                            "cloudevent.source": "taskflow",
                            "cloudevent.subject": message.aggregate_id or "",
                            **trace_metadata,
                        },
                    )
                    sent += 1
            except Exception as exc:
                log.warning("dapr publish failed", extra={"error": str(exc), "sent": sent})
                self._reset()
            return sent

    def send(self, messages: Sequence[Message]) -> Sent:
        """The sidecar's API answers each publish: the messages are out (or not) when this returns."""
        sent = self.publish(messages)
        return lambda: sent

    def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()  # type: ignore[no-untyped-call]  # the SDK leaves close() unannotated
            except Exception:
                log.debug("dapr client close failed", exc_info=True)

    def healthy(self) -> bool:
        url = f"http://127.0.0.1:{self._settings.dapr_http_port}/v1.0/healthz/outbound"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - fixed loopback URL
                return bool(200 <= resp.status < 300)
        except OSError:
            return False

    def close(self) -> None:
        with self._lock:
            self._reset()


def make_transport(settings: Settings) -> Transport:
    """Pick the transport DESIGN.md's precedence names: dapr, then kafka, then local."""
    if settings.transport == "dapr":
        return DaprTransport(settings)
    if settings.transport == "kafka":
        return KafkaTransport(settings)
    return LocalStream()
