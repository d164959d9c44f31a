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
    problems=[429],
    summary="Create an account (an email already registered is not revealed)",
    tags=["auth"],
)
def register(body: Registration) -> ResponseReturnValue:
    """Create an account and return a token for it (201 every time: an existing email is not revealed)."""
    return jsonify(accounts.register(runtime(), body.email, body.password)), 201


@bp.post("/login")
@operation(body=Login, responses={200: Token}, auth="none", problems=[401, 429], summary="Sign in", tags=["auth"])
def login(body: Login) -> ResponseReturnValue:
    """Check a password and return a fresh token."""
    return jsonify(accounts.login(runtime(), body.email, body.password))
