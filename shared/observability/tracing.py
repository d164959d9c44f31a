"""OpenTelemetry traces: one user action is one trace, from the request through the outbox to every consumer.

The trace context never rides on ambient state across a hand-off: the combined app runs gevent
workers (contextvars are per greenlet) and background loops, so the W3C `traceparent` is stored
with the outbox row, sent with the record or the Dapr publish, carried by the `Event` a consumer
receives, stored with each notification delivery and sent as the webhook's `traceparent` header.

Export is off by default (no SDK is installed as the provider: every span below is a no-op that
only passes a caller's context on). `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) turns
on OTLP/HTTP export; the exporter and the SDK read the standard `OTEL_*` variables themselves.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.domain.events import Event

if TYPE_CHECKING:
    import sqlalchemy as sa
    from flask import Flask

    from shared.settings import Settings

log = logging.getLogger(__name__)

TRACER_NAME = "taskflow"
_W3C = TraceContextTextMapPropagator()
# Probes and scrapes are not user actions: no spans for them. Nor a WebSocket's upgrade request: its
# span would last as long as the socket (hours) and its URL carries the JWT (`?token=`).
EXCLUDED_PATHS = frozenset({"/health", "/ready", "/metrics"})
EXCLUDED_PREFIXES = ("/ws/",)
#: The methods a request span is named by (HTTP's own and PATCH); any other is `_OTHER`, in a span named "HTTP".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
#: Credentials in URLs, never exported with a span: the calendar feed's token (its path) and the
#: JWT a browser's WebSocket sends as `?token=` (it cannot set headers).
_SECRET_PATH = re.compile(r"/ical/[^/?#]+")
_SECRET_QUERY = re.compile(r"([?&](?:token|access_token)=)[^&#]*", re.IGNORECASE)


def tracer() -> trace.Tracer:
    """The project's tracer, from whichever provider is installed (a no-op one by default)."""
    return trace.get_tracer(TRACER_NAME)


def recording() -> bool:
    """True when an SDK provider is installed (OTLP export configured, or a test's in-memory exporter).

    Without the SDK imported no SDK provider can be installed: tracing off never imports it (a relay
    batch asks this, and the import is the SDK's whole module tree).
    """
    sdk = sys.modules.get("opentelemetry.sdk.trace")
    return sdk is not None and isinstance(trace.get_tracer_provider(), sdk.TracerProvider)


@functools.cache
def configure(service_name: str) -> bool:
    """Install the SDK with an OTLP/HTTP exporter, once per process, unless a provider is already set.

    Called only when settings ask for tracing (`Settings.tracing`); returns whether spans are recorded.
    """
    if recording():
        return True
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over the function's own name.
    resource = Resource.create({"service.name": service_name}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("tracing: exporting spans over OTLP", extra={"service": service_name})
    return True


def instrument(app: Flask, engine: sa.Engine, settings: Settings, service_name: str) -> None:
    """With tracing on: a server span per request (`_ServerSpans`, named by the Flask route in
    `annotate_request`) and a client span per query (SQLAlchemy)."""
    if not settings.tracing:
        return
    configure(service_name)
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    app.wsgi_app = _ServerSpans(app.wsgi_app)  # type: ignore[method-assign]  # Flask's documented way to wrap the WSGI app
    instrumentor = SQLAlchemyInstrumentor()
    # Once per process: it traces this engine and wraps create_engine, so engines made later are traced too.
    # It declares sqlalchemy < 2.1 but only uses the engine's cursor events, which 2.1 keeps
    # (tests/integration/observability/test_observability.py checks that SQL spans come out).
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(engine=engine, enable_commenter=False, skip_dep_check=True)


class _ServerSpans:
    """The WSGI app with a server span per request, except for the paths EXCLUDED_PATHS names.

    The span continues the caller's trace (the propagators' headers, W3C `traceparent` by default; the
    caller's baggage stays in the request's context) and carries what a request span needs, under the
    HTTP semantic conventions' names: method, scheme, host, target (credentials redacted), protocol,
    user agent, the client's address (the one the trusted proxies saw, behind ProxyFix), status code;
    the route and the request's ids come from `annotate_request`. A 5xx, an exception or a body that
    fails midway marks it as an error. It ends when the server has sent the body or closes it
    (`_Answer`). OpenTelemetry's WSGI middleware did the same for ~110 µs per request (it reads
    environment variables on every request, records duration metrics nobody exports, and sets
    fifteen attributes): about a third of a create's CPU, and most of what tracing cost
    (tests/bench/bench_writepath.py).
    """

    def __init__(self, app: Callable[..., Any]):
        from opentelemetry.instrumentation.wsgi import wsgi_getter

        self._app = app
        self._getter = wsgi_getter
        self._tracer = tracer()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path in EXCLUDED_PATHS or path.startswith(EXCLUDED_PREFIXES):
            return self._app(environ, start_response)
        from opentelemetry import propagate

        method = environ.get("REQUEST_METHOD", "")
        if method not in _METHODS:  # a client's own word never names a span (the conventions' `_OTHER`)
            method = "_OTHER"
        query = environ.get("QUERY_STRING")
        attributes = {
            "http.method": method,
            "http.scheme": environ.get("wsgi.url_scheme", "http"),
            "http.host": environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""),
            "http.target": _redacted(f"{path}?{query}" if query else path),
            "http.flavor": environ.get("SERVER_PROTOCOL", "").removeprefix("HTTP/"),
            "net.peer.ip": environ.get("REMOTE_ADDR", ""),
        }
        agent = environ.get("HTTP_USER_AGENT")
        if agent:
            attributes["http.user_agent"] = agent
        caller = propagate.extract(environ, getter=self._getter)  # the caller's trace, and its baggage
        span = self._tracer.start_span(
            "HTTP" if method == "_OTHER" else method, context=caller, kind=SpanKind.SERVER, attributes=attributes
        )
        token = otel_context.attach(trace.set_span_in_context(span, caller))

        def answered(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            code = int(status[:3]) if status[:3].isdigit() else 0
            span.set_attribute("http.status_code", code)
            if code >= 500:
                span.set_status(StatusCode.ERROR)
            return start_response(status, headers, *exc_info)

        try:
            body = self._app(environ, answered)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            _end(span, token)
            raise
        return _Answer(body, span, token)


class _Answer:
    """A response's body, ending its request span when the server has sent it all or closes it (PEP 3333:
    always), whichever comes first."""

    def __init__(self, body: Any, span: trace.Span, token: object):
        self._body, self._span, self._token = body, span, token
        self._ended = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception as exc:  # the body itself failed while being sent (a server closing it early is not that)
            self._span.record_exception(exc)
            self._span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._end()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            _end(self._span, self._token)


def _end(span: trace.Span, token: object) -> None:
    span.end()
    otel_context.detach(token)  # type: ignore[arg-type]  # the token attach() gave


def _redacted(url: str) -> str:
    """Credentials in a URL, never exported with a span: the calendar feed's token (its path) and the
    JWT a browser's WebSocket sends as `?token=`."""
    if "/ical/" not in url and "token=" not in url.lower():  # most requests: nothing to look for
        return url
    return _SECRET_QUERY.sub(r"\1<redacted>", _SECRET_PATH.sub("/ical/<token>.ics", url))


def annotate_request(correlation_id: str, request_id: str | None, method: str, route: str | None) -> None:
    """Name the request's server span by its route (`POST /api/<user_id>/tasks`: the path's ids stay out of
    the name) and put the correlation and request ids on it (a no-op when not recording)."""
    span = trace.get_current_span()
    if span.is_recording():
        attributes = {"taskflow.correlation_id": correlation_id}
        if request_id:
            attributes["taskflow.request_id"] = request_id
        if route is not None:
            span.update_name(f"{method} {route}")
            attributes["http.route"] = route
        span.set_attributes(attributes)


# -- the context as text -------------------------------------------------------------------------
def traceparent_of(span: trace.Span) -> str | None:
    """The W3C traceparent naming `span` (None for an invalid, no-op span)."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_traceparent() -> str | None:
    """The traceparent of the span active here (the request's), to store with an outbox row."""
    return traceparent_of(trace.get_current_span())


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The parent context a stored or received traceparent names (None: start a new trace)."""
    if not traceparent:
        return None
    return _W3C.extract({"traceparent": traceparent})


# -- spans around the event path ---------------------------------------------------------------------
def _event_attributes(event_id: str, topic: str, system: str) -> dict[str, str]:
    return {"messaging.system": system, "messaging.destination.name": topic, "messaging.message.id": event_id}


class Publishing:
    """The PRODUCER spans of one relay batch and the traceparent to send with each message."""

    def __init__(self, spans: list[trace.Span], traceparents: list[str | None]):
        self._spans = spans
        self.traceparents = traceparents

    def unsent(self, first: int, reason: str) -> None:
        """Mark the messages from index `first` on as not published (they wait in the outbox)."""
        for span in self._spans[first:]:
            span.set_status(StatusCode.ERROR, reason)


@contextlib.contextmanager
def publishing(system: str, rows: Sequence[tuple[str, str, str | None]]) -> Iterator[Publishing]:
    """One PRODUCER span per (event_id, topic, stored traceparent) row, child of the row's context.

    The traceparent sent with each message is its publish span's, so the consumers' spans become
    its children. The spans end when the block does (the batch is out, or not).
    """
    if not recording() and not any(row[2] for row in rows):  # tracing off, no caller's context to pass on
        yield Publishing([], [None] * len(rows))
        return
    t = tracer()
    spans = [
        t.start_span(
            f"publish {topic}",
            context=context_of(traceparent),
            kind=SpanKind.PRODUCER,
            attributes=_event_attributes(event_id, topic, system),
        )
        for event_id, topic, traceparent in rows
    ]
    try:
        yield Publishing(spans, [traceparent_of(span) or row[2] for span, row in zip(spans, rows, strict=True)])
    finally:
        for span in spans:
            span.end()


@contextlib.contextmanager
def consuming(consumer: str, system: str, events: Sequence[Event]) -> Iterator[list[Event]]:
    """One CONSUMER span per event for as long as `consumer` handles the batch, child of the event's context.

    Yields the events carrying their own span's traceparent, so what handling them causes (a
    notification delivery, its webhook) joins the same trace. With one event, its span is also
    the active one (SQL spans nest under it); with several, a batch span linked to each is. A
    failure marks every span of the batch.
    """
    if not recording() and not any(event.traceparent for event in events):  # tracing off: nothing to pass on
        yield list(events)
        return
    t = tracer()
    spans = []
    stamped = []
    for event in events:
        span = t.start_span(
            f"process {event.topic}",
            context=context_of(event.traceparent),
            kind=SpanKind.CONSUMER,
            attributes={
                **_event_attributes(event.event_id, event.topic, system),
                "messaging.consumer.group.name": consumer,
                "taskflow.event_type": event.event_type,
                "taskflow.correlation_id": event.correlation_id,
            },
        )
        spans.append(span)
        own = traceparent_of(span)
        stamped.append(event.with_traceparent(own) if own and own != event.traceparent else event)
    if len(spans) > 1:  # the batch's own work (one INSERT for all) hangs below a span linked to each event
        spans.append(
            t.start_span(
                f"process {consumer} batch",
                kind=SpanKind.CONSUMER,
                links=[trace.Link(span.get_span_context()) for span in spans],
                attributes={"messaging.system": system, "messaging.batch.message_count": len(events)},
            )
        )
    token = otel_context.attach(trace.set_span_in_context(spans[-1])) if spans else None
    try:
        yield stamped
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200])
        raise
    finally:
        if token is not None:
            otel_context.detach(token)
        for span in spans:
            span.end()


@contextlib.contextmanager
def delivering(channel: str, delivery_id: str, event_type: str, traceparent: str | None) -> Iterator[str | None]:
    """A CLIENT span around one notification attempt, child of the consumer span that queued it.

    Yields the traceparent to send with the request (the webhook's `traceparent` header).
    """
    with tracer().start_as_current_span(
        f"notify {channel}",
        context=context_of(traceparent),
        kind=SpanKind.CLIENT,
        attributes={"taskflow.delivery_id": delivery_id, "taskflow.event_type": event_type},
    ) as span:
        yield traceparent_of(span) or traceparent
