"""A stand-in for daprd at its protocol boundary (daprd cannot be installed here).

It serves the two things DaprClient touches: `GET /v1.0/healthz/outbound` on the HTTP port
(DaprClient blocks on it at construction) and the gRPC `PublishEvent` RPC of the dapr
package's own generated `dapr.proto.runtime.v1` servicer. Like daprd's pubsub.kafka, it wraps
the data in a structured CloudEvent (honouring `cloudevent.*` metadata overrides) and produces
it to the real broker with the `partitionKey` metadata as the Kafka key.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from concurrent import futures

import grpc
from dapr.proto.runtime.v1 import dapr_pb2_grpc
from google.protobuf import empty_pb2
from kafka import KafkaProducer

from tests.support.net import free_port


class _Sidecar(dapr_pb2_grpc.DaprServicer):
    def __init__(self, bootstrap: str, pubsub_name: str, api_token: str | None):
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.pubsub_name = pubsub_name
        self.api_token = api_token
        self.calls = 0

    def PublishEvent(self, request, context):  # noqa: N802 - generated servicer's name
        token = dict(context.invocation_metadata()).get("dapr-api-token")
        if self.api_token and token != self.api_token:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad dapr-api-token")
        if request.pubsub_name != self.pubsub_name:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"pubsub {request.pubsub_name} not found")
        meta = dict(request.metadata)
        data = json.loads(request.data) if request.data_content_type == "application/json" else request.data.decode()
        cloudevent = {
            "specversion": "1.0",
            "id": meta.get("cloudevent.id", str(uuid.uuid4())),
            "source": meta.get("cloudevent.source", "app"),
            "type": meta.get("cloudevent.type", "com.dapr.event.sent"),
            "subject": meta.get("cloudevent.subject", ""),
            "datacontenttype": request.data_content_type,
            "topic": request.topic,
            "pubsubname": request.pubsub_name,
            "data": data,
        }
        if "cloudevent.traceparent" in meta:  # daprd's override of the distributed-tracing extension
            cloudevent["traceparent"] = meta["cloudevent.traceparent"]
        key = meta.get("partitionKey")
        self.producer.send(request.topic, key=key.encode() if key else None, value=json.dumps(cloudevent).encode()).get(
            timeout=10
        )
        self.calls += 1
        return empty_pb2.Empty()


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(204 if self.path.startswith("/v1.0/healthz") else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


class FakeDapr:
    """Start with `with FakeDapr(bootstrap) as dapr:`; ports in dapr.http_port / dapr.grpc_port."""

    def __init__(self, bootstrap: str, pubsub_name: str = "kafka-pubsub", api_token: str | None = None):
        self.sidecar = _Sidecar(bootstrap, pubsub_name, api_token)
        self.grpc_port = free_port()
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        dapr_pb2_grpc.add_DaprServicer_to_server(self.sidecar, self.grpc)
        self.grpc.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
        self.http_port = self.http.server_port

    def __enter__(self) -> FakeDapr:
        self.grpc.start()
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.grpc.stop(0)
        self.http.shutdown()
        self.http.server_close()
        self.sidecar.producer.close()
