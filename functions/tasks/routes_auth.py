"""Register and sign in: POST /api/auth/register and /api/auth/login."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from functions.tasks import validation as v
from shared.auth import hash_password, issue_token, verify_password
from shared.errors import Conflict, Unauthorized
from shared.models import User
from shared.web import runtime

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


def _credentials() -> tuple[str, str]:
    body = v.json_body({"email", "password"})
    errors = v.FieldErrors()
    email = errors.check("email", v.email, body.get("email"))
    password = errors.check("password", v.password, body.get("password"))
    errors.raise_if_any()
    return email, password


@bp.post("/register")
def register() -> ResponseReturnValue:
    """Create an account and return a token for it."""
    email, password = _credentials()
    rt = runtime()
    with rt.uow() as uow:
        if uow.session.scalar(sa.select(User.id).where(User.email == email)):
            raise Conflict("An account with this email already exists.")
        user = User(email=email, password_hash=hash_password(password))
        uow.session.add(user)
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Conflict("An account with this email already exists.") from None
        return jsonify(user_id=user.id, token=issue_token(rt.settings, user.id)), 201


@bp.post("/login")
def login() -> ResponseReturnValue:
    """Check a password and return a fresh token."""
    email, password = _credentials()
    rt = runtime()
    with rt.uow() as uow:
        user = uow.session.scalars(sa.select(User).where(User.email == email)).one_or_none()
    # verify_password runs even without a user (same time either way); `user is None` is for the type checker.
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise Unauthorized("Wrong email or password.")
    return jsonify(user_id=user.id, token=issue_token(rt.settings, user.id))
