"""The web app's session cookie: who a request is (bearer token or cookie), CSRF, renewal, sign-out.

API clients send `Authorization: Bearer <token>`. The web app signs in once per browser: login and
register also set `taskflow_session`, an HttpOnly, SameSite=Strict cookie (Secure over https) holding
a 30-day token, renewed once a day as it is used, so every tab and a reopened browser are signed in.

CSRF: a request authenticated by the cookie that changes something (any method but GET, HEAD and
OPTIONS) must carry the header `X-Requested-With` (403 without it). A cross-site page can send
neither: SameSite=Strict keeps the cookie off cross-site requests, and a custom header on a
cross-origin request needs a CORS preflight this server only grants to CORS_ORIGINS. The WebSocket,
which carries no custom header, checks that the upgrade's Origin is this server's own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Response, g, request

from shared.domain.errors import Forbidden
from shared.services.credentials import (
    SESSION_RENEW_SECONDS,
    SESSION_SECONDS,
    Claims,
    bearer_token,
    issue_token,
    token_claims,
)

if TYPE_CHECKING:
    from shared.settings import Settings

SESSION_COOKIE = "taskflow_session"
CSRF_HEADER = "X-Requested-With"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def request_claims(settings: Settings, *, csrf: bool = True) -> Claims:
    """Who sent this request: the bearer token if there is one, else the session cookie (Unauthorized if neither).

    With the cookie, a request that changes something must carry X-Requested-With (Forbidden otherwise).
    """
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        return token_claims(settings, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    claims = token_claims(settings, cookie)
    if csrf and request.method not in SAFE_METHODS and not request.headers.get(CSRF_HEADER):
        raise Forbidden(f"A change made with the session cookie needs the {CSRF_HEADER} header (CSRF protection).")
    g.session_claims = claims  # renewed on the way out when it is old (renew_session_cookie)
    return claims


def same_origin() -> bool:
    """Whether the request's Origin (sent by browsers on every WebSocket upgrade) is this server."""
    origin = request.headers.get("Origin")
    return origin is None or origin.rstrip("/") == request.host_url.rstrip("/")


def set_session_cookie(response: Response, settings: Settings, user_id: str, generation: int) -> None:
    """Sign this browser in: a fresh 30-day session cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        issue_token(settings, user_id, generation, ttl_seconds=SESSION_SECONDS),
        max_age=SESSION_SECONDS,
        path="/",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )


def clear_session_cookie(response: Response) -> None:
    """Sign this browser out: the cookie goes."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=request.is_secure, httponly=True, samesite="Strict")


def renew_session_cookie(response: Response, settings: Settings) -> Response:
    """After-request hook: a session cookie used a day after it was issued is replaced (sliding expiry)."""
    claims: Claims | None = g.pop("session_claims", None)
    if (
        claims is not None
        and response.status_code < 400
        and time.time() - claims.issued_at >= SESSION_RENEW_SECONDS
        and SESSION_COOKIE not in response.headers.get("Set-Cookie", "")
    ):
        set_session_cookie(response, settings, claims.user_id, claims.generation)
    return response
