"""Flask wiring every function shares: correlation ids, errors, metrics, health, the trigger-route guard."""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from flask import Flask, Request, Response, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.routing import BaseConverter

from shared.domain import json_text, request_meta
from shared.domain.errors import Forbidden, Unauthorized, ValidationFailed
from shared.observability import tracing
from shared.runtime.process import Runtime
from shared.web.accounts import checks_account_itself, defer_account_check
from shared.web.operations import describe
from shared.web.problems import ProblemError, register_error_handlers
from shared.web.schemas import Health, Readiness
from shared.web.sessions import renew_session_cookie

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from shared.settings import Settings

_P = ParamSpec("_P")
_R = TypeVar("_R")

MAX_BODY_BYTES = 1024 * 1024


class IdConverter(BaseConverter):
    """A row id in a path (a UUID: hex digits and dashes), so `/tasks/recurring` and
    `/reminders/pending` are never also `/tasks/<id>` or `/reminders/<id>` (OPTIONS, Allow)."""

    regex = r"[0-9A-Fa-f][0-9A-Fa-f-]{0,63}"


_COMPACT = {"separators": (",", ":")}


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON responses written by orjson (shared.domain.json_text): compact, keys in the order
    given, what JSON has no type for (dates, decimals) through Flask's own `default`. Only a compact
    response takes this way (`jsonify`, `response`, the API's versioned answers); any other call
    (debug mode's indent, `flask.json.dumps`) is Flask's own. Request bodies are still read by Flask's
    parser (input from outside: see json_text)."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == _COMPACT:
            return json_text.dumps_text(obj, self.default)
        return super().dumps(obj, **kwargs)


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["taskflow"])


def make_flask_app(name: str, rt: Runtime, *, trigger_routes: bool = True) -> Flask:
    """Create a Flask app bound to a runtime, with the shared request plumbing.

    `trigger_routes=False` leaves cron and event-delivery routes (shared.triggers) unmounted: the combined app
    drives that work with its own timers and stream, so nobody outside may trigger it.
    """
    app = Flask(name, static_folder=None)
    # The request's span (tracing on) inside the proxy fix, so it sees the client's address, not the proxy's.
    tracing.instrument(app, rt.engine, rt.settings, name.replace(".", "-"))
    if rt.settings.trusted_proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = rt.settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]  # Flask's documented way to wrap the WSGI app
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["TASKFLOW_TRIGGER_ROUTES"] = trigger_routes
    app.url_map.converters["id"] = IdConverter
    app.json = JsonProvider(app)
    app.extensions["taskflow"] = rt
    register_error_handlers(app)
    _install_broker_gauge(rt)
    _install_request_hooks(app, rt)
    _install_probes(app, rt)
    return app


def _install_broker_gauge(rt: Runtime) -> None:
    """Once per runtime: a BrokerProbe, read by `taskflow_broker_up` (1 reachable, 0 not, NaN not known yet)."""
    if rt.settings.transport == "local" or rt.metrics.broker_probe is not None:
        return
    from shared.runtime.probes import BrokerProbe

    rt.metrics.watch_broker(BrokerProbe(rt.transport), rt.settings.transport)


def _install_request_hooks(app: Flask, rt: Runtime) -> None:
    annotate = rt.settings.tracing  # with tracing off there is no server span to annotate

    @app.before_request
    def _bind_request_meta() -> None:
        # remote_addr is the peer, or with TRUSTED_PROXY_HOPS the address the trusted proxies saw
        # (ProxyFix); a client's own X-Forwarded-For entries are never believed. What an event or a
        # log line does not read (the request id, the parsed IP) is never worked out.
        # The request and g once each: every attribute read through Flask's proxies costs a lookup.
        req, ctx_g = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        environ = req.environ
        meta = request_meta.HttpRequestMeta(
            environ.get("HTTP_X_CORRELATION_ID"), req.remote_addr, environ.get("HTTP_USER_AGENT")
        )
        ctx_g.meta_token = request_meta.set_meta(meta)
        ctx_g.started = time.perf_counter()
        if annotate:
            rule = req.url_rule
            tracing.annotate_request(meta.correlation_id, meta.request_id, req.method, rule.rule if rule else None)
        _refuse_unstorable_url(req)

    @app.after_request
    def _finish(response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]  # see _bind_request_meta
        renew_session_cookie(response, rt.settings)
        cid = request_meta.correlation_id()
        if cid:
            response.headers["X-Correlation-ID"] = cid
        origin = req.headers.get("Origin")
        if origin and origin in rt.settings.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, If-Match, X-Correlation-ID, Idempotency-Key"
            )
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            response.headers["Access-Control-Expose-Headers"] = "ETag, X-Correlation-ID"
            response.headers["Vary"] = "Origin"
        rule = req.url_rule
        started = g.get("started")
        rt.metrics.observe_request(
            req.method,
            rule.rule if rule is not None else "unmatched",
            response.status_code,
            None if started is None else time.perf_counter() - started,
        )
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> None:
        token = g.pop("meta_token", None)
        if token is not None:
            request_meta.reset_meta(token)


def _refuse_unstorable_url(req: Request) -> None:
    """Path ids and query values reach SQL: refuse NUL characters there once, for every route.

    The query string is parsed only when its raw bytes hold a NUL (`%00`): werkzeug decodes the rest
    with replacement characters, so a NUL is the only thing in it PostgreSQL could not store.
    """
    from shared.web.bodies import storable

    if not storable(req.path):
        raise ProblemError("The path contains a NUL character.", title="Bad request")
    raw = req.query_string
    if b"%00" not in raw and b"\x00" not in raw:
        return
    for key, value in req.args.items(multi=True):
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
        """Report readiness: this instance can take requests, i.e. the database answers.

        The same question in every worker of every instance, once a worker has started (its socket
        feed joined its Kafka group, so its sockets miss nothing from the start). A broker outage is
        not one (the outbox keeps serving), nor is a consumer that lags or owns no partition: taking
        the API out of rotation would not help it. Those page through /metrics
        (`taskflow_consumer_lag_events`, `taskflow_consumer_partitions`, `taskflow_broker_up`) and
        the alert rules.
        """
        checks = {"database": rt.database_ready()}
        if not rt.feeds_joined():  # start-up only: `ready` stays set once joined
            checks["socket_feed"] = False
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
    """Before-request guard for /api/<user_id>/…: a bearer token or session cookie whose subject is that user.

    The account itself (it still exists, the token is of its current session generation) is read here,
    except for a view marked `account_checked_by_the_view` (shared.web.accounts): that view's one
    statement checks it.
    """
    from shared.services.credentials import require_account
    from shared.web.sessions import request_claims

    app, req = current_app._get_current_object(), request._get_current_object()  # type: ignore[attr-defined]
    rt = cast(Runtime, app.extensions["taskflow"])
    claims = request_claims(rt.settings)
    if claims.user_id != (req.view_args or {}).get("user_id"):
        raise Forbidden("You can only access your own resources.")
    if checks_account_itself(app.view_functions.get(req.endpoint or "")):
        defer_account_check(claims.generation)
    else:
        require_account(rt.engine, claims.user_id, claims.generation)
    g.user_id = claims.user_id


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
