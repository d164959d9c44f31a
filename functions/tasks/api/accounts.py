"""Register, sign in and out: POST /api/auth/register, /login, /logout, /logout-all, GET /api/auth/session.

Register and login answer {user_id, token} (for API clients) and also set the browser's session
cookie (shared.web.sessions), so the web app signs in once for every tab. Throttled:
functions.tasks.api.throttle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify

from functions.tasks.core import accounts
from functions.tasks.schemas.accounts import Login, Registration, SessionOut, Token
from shared.web.app import runtime
from shared.web.operations import operation
from shared.web.sessions import clear_session_cookie, request_claims, set_session_cookie

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("auth", __name__, url_prefix="/api/auth")
#: Who the session is and signing out: called on every page load, so not under the sign-in throttle.
session_bp = Blueprint("auth_session", __name__, url_prefix="/api/auth")


@bp.post("/register")
@operation(
    body=Registration,
    responses={201: Token},
    auth="none",
    problems=[409, 429],
    summary="Create an account (an email that already has one: 409, sign in instead); sets the session cookie",
    tags=["auth"],
)
def register(body: Registration) -> ResponseReturnValue:
    """Create an account and return a token for it (its owner re-registering is signed in)."""
    return _signed_in(accounts.register(runtime(), body.email, body.password), 201)


@bp.post("/login")
@operation(
    body=Login,
    responses={200: Token},
    auth="none",
    problems=[401, 429],
    summary="Sign in; sets the session cookie",
    tags=["auth"],
)
def login(body: Login) -> ResponseReturnValue:
    """Check a password and return a fresh token."""
    return _signed_in(accounts.login(runtime(), body.email, body.password), 200)


@session_bp.get("/session")
@operation(responses={200: SessionOut}, summary="Who this session (cookie or token) is", tags=["auth"])
def session() -> ResponseReturnValue:
    """Whose session this is: the web app asks on start-up (401: sign in)."""
    claims = request_claims(runtime().settings)
    return jsonify(accounts.session(runtime(), claims.user_id, claims.generation))


@session_bp.post("/logout")
@operation(responses={204: None}, auth="none", summary="Sign this browser out (the cookie goes)", tags=["auth"])
def logout() -> ResponseReturnValue:
    """Clear the session cookie (a token an API client holds stays valid until it expires)."""
    response = Response(status=204)
    clear_session_cookie(response)
    return response


@session_bp.post("/logout-all")
@operation(
    responses={204: None},
    summary="Sign out everywhere: every token and session cookie issued so far stops working",
    tags=["auth"],
)
def logout_all() -> ResponseReturnValue:
    """Bump the account's session generation (401 for every earlier token and cookie) and clear this cookie."""
    claims = request_claims(runtime().settings)
    accounts.sign_out_all(runtime(), claims.user_id, claims.generation)
    response = Response(status=204)
    clear_session_cookie(response)
    return response


def _signed_in(signed_in: accounts.SignedIn, status: int) -> ResponseReturnValue:
    """The contract's body, and the session cookie for a browser."""
    response = jsonify(signed_in.body())
    response.status_code = status
    set_session_cookie(response, runtime().settings, signed_in.user_id, signed_in.generation)
    return response
