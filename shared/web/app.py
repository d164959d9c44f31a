"""Flask wiring every function shares: correlation ids, errors, metrics, health, trigger guard."""

from __future__ import annotations

import functools
import hmac
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

from flask import Flask, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.routing import BaseConverter

from shared.domain import request_meta
from shared.domain.errors import Forbidden, Unauthorized, ValidationFailed
from shared.observability import tracing
from shared.runtime.process import Runtime
from shared.web.operations import describe
from shared.web.problems import ProblemError, register_error_handlers
from shared.web.schemas import DaprSubscriptions, DeliveryStatus, Health, Readiness, SweepResult

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from shared.messaging.stream import BatchHandler
    from shared.settings import Settings

_P = ParamSpec("_P")
_R = TypeVar("_R")

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


class IdConverter(BaseConverter):
    """A row id in a path (a UUID: hex digits and dashes), so `/tasks/recurring` and
    `/reminders/pending` are never also `/tasks/<id>` or `/reminders/<id>` (OPTIONS, Allow)."""

    regex = r"[0-9A-Fa-f][0-9A-Fa-f-]{0,63}"


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["taskflow"])


def make_flask_app(name: str, rt: Runtime, *, trigger_routes: bool = True) -> Flask:
    """Create a Flask app bound to a runtime, with the shared request plumbing.

    `trigger_routes=False` leaves cron and event-delivery routes unmounted: the combined app
    drives that work with its own timers and stream, so nobody outside may trigger it.
    """
    app = Flask(name, static_folder=None)
    if rt.settings.trusted_proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = rt.settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]  # Flask's documented way to wrap the WSGI app
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["TASKFLOW_TRIGGER_ROUTES"] = trigger_routes
    app.url_map.converters["id"] = IdConverter
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider's option; Flask types the base
    app.extensions["taskflow"] = rt
    register_error_handlers(app)
    tracing.instrument(app, rt.engine, rt.settings, name.replace(".", "-"))
    _install_broker_gauge(rt)
    _install_request_hooks(app, rt)
    _install_probes(app, rt)
    return app


def _install_broker_gauge(rt: Runtime) -> None:
    """Once per runtime: a BrokerProbe, read by `taskflow_broker_up` (1 reachable, 0 not, NaN not known yet)."""
    if rt.settings.transport == "local" or rt.metrics.broker_probe is not None:
        return
    from shared.runtime.probes import BrokerProbe

    rt.metrics.broker_probe = BrokerProbe(rt.transport)


def _install_request_hooks(app: Flask, rt: Runtime) -> None:
    @app.before_request
    def _bind_request_meta() -> None:
        # remote_addr is the peer, or with TRUSTED_PROXY_HOPS the address the trusted proxies saw
        # (ProxyFix); a client's own X-Forwarded-For entries are never believed.
        meta = request_meta.RequestMeta(
            correlation_id=request_meta.clean_correlation_id(request.headers.get("X-Correlation-ID")),
            request_id=str(uuid.uuid4()),
            client_ip=request_meta.clean_ip(request.remote_addr),
            user_agent=request_meta.bounded(request.headers.get("User-Agent"), request_meta.MAX_USER_AGENT),
        )
        g.meta_token = request_meta.set_meta(meta)
        g.started = time.perf_counter()
        tracing.annotate_request(meta.correlation_id, meta.request_id)
        _refuse_unstorable_url()

    @app.after_request
    def _finish(response: Response) -> Response:
        cid = request_meta.correlation_id()
        if cid:
            response.headers["X-Correlation-ID"] = cid
        origin = request.headers.get("Origin")
        if origin and origin in rt.settings.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, If-Match, X-Correlation-ID, Idempotency-Key"
            )
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            response.headers["Access-Control-Expose-Headers"] = "ETag, X-Correlation-ID"
            response.headers["Vary"] = "Origin"
        route = request.url_rule.rule if request.url_rule else "unmatched"
        rt.metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        if "started" in g:
            rt.metrics.latency.labels(request.method, route).observe(time.perf_counter() - g.started)
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> None:
        token = g.pop("meta_token", None)
        if token is not None:
            request_meta.reset_meta(token)


def _refuse_unstorable_url() -> None:
    """Path ids and query values reach SQL: refuse NUL characters there once, for every route."""
    from shared.web.bodies import storable

    if not storable(request.path):
        raise ProblemError("The path contains a NUL character.", title="Bad request")
    for key, value in request.args.items(multi=True):
        if not (storable(key) and storable(value)):
            raise ValidationFailed(
                "Query parameters must not contain NUL characters.",
                errors={key[:100] if storable(key) else "query": "contains a NUL character"},
            )


def _install_probes(app: Flask, rt: Runtime) -> None:
    @app.get("/health")
    def health() -> ResponseReturnValue:
        """Report liveness (the process answers), with the broker's reachability as a detail."""
        probe = rt.metrics.broker_probe
        if probe is None:  # the local transport
            return jsonify(status="ok")
        return jsonify(status="ok", broker={"transport": rt.settings.transport, "reachable": probe.reachable()})

    @app.get("/ready")
    def ready() -> ResponseReturnValue:
        """Report readiness: the database answers. A broker outage is not one: the outbox keeps serving."""
        checks = {"database": rt.database_ready()}
        if any(c.loop.running for c in rt.consumers):
            checks["consumers"] = rt.consumers_ready()
        ok = all(checks.values())
        return jsonify(status="ready" if ok else "not ready", checks=checks), 200 if ok else 503

    @app.get("/metrics")
    def metrics() -> ResponseReturnValue:
        """Expose Prometheus metrics in the text format."""
        return Response(rt.metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)

    describe(health, responses={200: Health}, auth="none", summary="Liveness", tags=["operations"])
    describe(
        ready,
        responses={200: Readiness, 503: Readiness},
        auth="none",
        summary="Readiness: the database (a broker outage is reported by /health)",
        tags=["operations"],
    )
    describe(
        metrics,
        responses={200: None},
        response_media_type="text/plain",
        auth="none",
        summary="Prometheus metrics",
        tags=["operations"],
    )


def require_path_user() -> None:
    """Before-request guard for /api/<user_id>/…: a bearer token whose subject is that user."""
    from shared.services.credentials import bearer_token, user_id_from_token

    sub = user_id_from_token(runtime().settings, bearer_token(request.headers.get("Authorization")))
    if sub != (request.view_args or {}).get("user_id"):
        raise Forbidden("You can only access your own resources.")
    g.user_id = sub


def trigger_route(view: Callable[_P, _R]) -> Callable[_P, _R]:
    """Guard a route only Dapr (or the cluster) may call: `dapr-api-token` must match APP_API_TOKEN."""

    @functools.wraps(view)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        expected = runtime().settings.app_api_token
        if expected:
            given = request.headers.get("dapr-api-token")
            if given is None:
                raise Unauthorized("This route needs the dapr-api-token header.")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise Forbidden("This route is for the Dapr sidecar only.")
        return view(*args, **kwargs)

    return guarded


def cron_binding(app: Flask, name: str, sweep: Callable[[], tuple[object, bool]]) -> None:
    """Serve a Dapr cron binding (or PingSource) at POST /<name>, with the OPTIONS start-up probe.

    `sweep()` returns (body, ok); the route answers 200 when the sweep is done and 503 when it
    could not finish (the next tick retries). The request body is ignored: Dapr's is empty.
    """
    if not app.config.get("TASKFLOW_TRIGGER_ROUTES", True):
        return

    @trigger_route
    def view() -> ResponseReturnValue:
        if request.method == "OPTIONS":
            return "", 200
        body, ok = sweep()
        return jsonify(body), (200 if ok else 503)

    view.__doc__ = f"Run the {name} sweep when Dapr's cron binding fires."
    describe(
        view,
        responses={200: SweepResult, 503: SweepResult},
        auth="app-token",
        summary=f"Run the {name} sweep (Dapr cron binding or Knative PingSource; the body is ignored)",
        tags=["triggers"],
    )
    app.add_url_rule(
        f"/{name}", endpoint=name, view_func=view, methods=["POST", "OPTIONS"], provide_automatic_options=False
    )


def subscribe(
    app: Flask,
    rt: Runtime,
    name: str,
    topics: tuple[str, ...],
    handle: BatchHandler,
    *,
    every_process: bool = False,
) -> None:
    """Deliver `topics` to `handle(events)` through every adapter this app serves.

    Dapr: `GET /dapr/subscribe` and structured CloudEvents on `POST /events/<topic>`;
    Knative KafkaSource: binary CloudEvents on the same route; local transport: the event
    stream (`rt.start_pipeline()`), on the leader with a stored position, or in every worker
    when `every_process` (the socket fan-out). Several functions composed in one app share the
    routes and each gets every event.
    """
    rt.pipeline.subscribe(name, topics, handle, every_process=every_process)
    subscribers: list[tuple[str, tuple[str, ...], BatchHandler]] = app.extensions.setdefault("taskflow_subscribers", [])
    subscribers.append((name, topics, handle))
    if len(subscribers) > 1 or not app.config.get("TASKFLOW_TRIGGER_ROUTES", True):
        return

    @app.get("/dapr/subscribe")
    def dapr_subscribe() -> ResponseReturnValue:
        """Tell Dapr which topics this app consumes and where to deliver them."""
        wanted = sorted({t for _, ts, _ in subscribers for t in ts})
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
                for name, topics, handle in subscribers:
                    if topic in topics:
                        handle_traced(handle, name, rt.transport.name, [event])
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


def function_app(
    name: str,
    register: Callable[[Flask, Runtime], object],
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    start_workers: Callable[[Flask, Runtime], object] | None = None,
) -> Flask:
    """Build one function's app: settings read once, JSON logs, a runtime, its routes, its workers."""
    from shared.observability import logs
    from shared.settings import Settings

    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    rt = runtime or Runtime(settings)
    app = make_flask_app(name, rt)
    register(app, rt)
    if settings.run_background_workers and start_workers is not None:
        start_workers(app, rt)
    return app
