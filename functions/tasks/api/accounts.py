"""Register and sign in: POST /api/auth/register and /api/auth/login (throttled: functions.tasks.api.throttle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, jsonify

from functions.tasks.core import accounts
from functions.tasks.schemas.accounts import Login, Registration, Token
from shared.web.app import runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


@bp.post("/register")
@operation(
    body=Registration,
    responses={201: Token},
    auth="none",
    problems=[409, 429],
    summary="Create an account (an email that already has one: 409, sign in instead)",
    tags=["auth"],
)
def register(body: Registration) -> ResponseReturnValue:
    """Create an account and return a token for it (its owner re-registering is signed in)."""
    return jsonify(accounts.register(runtime(), body.email, body.password)), 201


@bp.post("/login")
@operation(body=Login, responses={200: Token}, auth="none", problems=[401, 429], summary="Sign in", tags=["auth"])
def login(body: Login) -> ResponseReturnValue:
    """Check a password and return a fresh token."""
    return jsonify(accounts.login(runtime(), body.email, body.password))
