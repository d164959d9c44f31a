"""Throttle the public and costly routes (429 + Retry-After): sign-in and registration per client IP and
failed logins per account; quick-add parsing, the calendar feed and .ics imports per client IP. Counted per
deployment when RATE_LIMIT_STORAGE_URI names a shared store (Redis)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, request
from flask_limiter import Limiter
from werkzeug.exceptions import HTTPException

from shared.settings import Settings
from shared.web.bodies import storable


def client_key() -> str:
    """The client's address (the trusted proxy's view of it when TRUSTED_PROXY_HOPS is set)."""
    return request.remote_addr or "unknown"


def account_key() -> str:
    """The account a sign-in is for: the email in the body, normalised like the handler does."""
    try:
        body = request.get_json(silent=True)
    except (RecursionError, HTTPException):  # the handler reports bad bodies; this only picks a key
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not storable(email):
        return "account:unreadable"
    return "account:" + email.strip().lower()[:320]


def _failed(response: Response) -> bool:
    return response.status_code == 401


def install(
    app: Flask, settings: Settings, auth_blueprint: Blueprint, *, parse: Blueprint, feed: Blueprint, imports: Blueprint
) -> Limiter:
    """Attach the limiter to the auth routes, quick add, the calendar feed and imports.

    The counts live where RATE_LIMIT_STORAGE_URI says: in memory (one process: `make run`), or in a
    store every worker of every instance shares (Redis), so a limit holds per deployment. If that store
    cannot be reached, each process counts in memory meanwhile (a limit per process, never none).
    """

    hooks: tuple[dict[Any, list[Any]], ...] = (  # Any: Flask's hook registries, keyed by blueprint (None: app-wide)
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
    )
    app_wide = [list(registry.get(None, ())) for registry in hooks]

    @app.after_request  # registered first, so it runs after the limiter's own (Flask runs them in reverse)
    def no_retry_after_on_success(response: Response) -> Response:
        # The limiter's headers carry Retry-After on every answer; on a 200 or 304 it tells calendar
        # clients and proxies to wait for no reason (a 429 or 503 keeps its own).
        if response.status_code < 400:
            response.headers.pop("Retry-After", None)
        return response

    shared = settings.rate_limit_storage_uri != "memory://"
    limiter = Limiter(
        client_key,
        app=app,
        storage_uri=settings.rate_limit_storage_uri,
        headers_enabled=True,
        strategy="fixed-window",
        key_prefix="taskflow",
        in_memory_fallback_enabled=shared,
    )
    # The limiter's hooks run for the limited blueprints only: evaluated for every route, they were 7%
    # of the task-create path's CPU, for routes that have no limits. They keep their place: the limit
    # is checked before the blueprint's own hooks (the token check), its headers are set after them.
    limited = (auth_blueprint.name, parse.name, feed.name, imports.name)
    for registry, before in zip(hooks, app_wide, strict=True):
        added = [hook for hook in registry.get(None, []) if hook not in before]
        registry[None] = [hook for hook in registry.get(None, []) if hook not in added]
        for name in limited:
            registry.setdefault(name, [])[:0] = added
    limiter.limit(settings.parse_rate_limit, scope="parse-ip", key_func=client_key)(parse)
    # Shared limits: one counter across login and register, not one per route.
    limiter.shared_limit(settings.auth_rate_limit, scope="auth-ip", key_func=client_key)(auth_blueprint)
    limiter.shared_limit(settings.auth_account_limit, scope="auth-account", key_func=account_key, deduct_when=_failed)(
        auth_blueprint
    )
    limiter.limit(settings.feed_rate_limit, scope="feed-ip", key_func=client_key)(feed)
    # An import may spend seconds of CPU: keyed by address, not by the path's user id (which anyone can
    # send before the token is checked, and so spend another user's allowance).
    limiter.limit(settings.import_rate_limit, scope="import-ip", key_func=client_key)(imports)

    return limiter
