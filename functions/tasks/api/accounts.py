"""Register and sign in: POST /api/auth/register and /api/auth/login (throttled: functions.tasks.api.throttle)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from functions.tasks.schemas.tasks import Login, Registration, Token
from shared.domain.errors import Unauthorized
from shared.persistence.models import User
from shared.services.credentials import hash_password, issue_token, needs_rehash, verify_password
from shared.web.app import runtime
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from sqlalchemy import orm

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


def _find(session: orm.Session, email: str) -> User | None:
    return session.scalars(sa.select(User).where(User.email == email)).one_or_none()


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
    """Create an account and return a token for it; an existing email is not revealed.

    Every answer is 201 {user_id, token} after one argon2 run. For an email already registered
    the password is checked instead of hashed: the owner gets their own token (as a login
    would), anyone else a token for no account, which owns nothing and can store nothing.
    """
    email, password = body.email, body.password
    rt = runtime()
    with rt.uow() as uow:
        existing = _find(uow.session, email)
        if existing is None:
            user = User(email=email, password_hash=hash_password(password))
            uow.session.add(user)
            try:
                uow.commit()
                return jsonify(user_id=user.id, token=issue_token(rt.settings, user.id)), 201
            except sa.exc.IntegrityError:  # registered concurrently: answer like any existing email
                uow.session.rollback()
                existing = _find(uow.session, email)
                if existing is None:
                    raise
                return _existing_account(existing, password, check=False)
        return _existing_account(existing, password)


def _existing_account(user: User, password: str, check: bool = True) -> tuple[Response, int]:
    settings = runtime().settings
    if check and verify_password(user.password_hash, password):
        return jsonify(user_id=user.id, token=issue_token(settings, user.id)), 201
    nobody = str(uuid.uuid4())
    return jsonify(user_id=nobody, token=issue_token(settings, nobody)), 201


@bp.post("/login")
@operation(body=Login, responses={200: Token}, auth="none", problems=[401, 429], summary="Sign in", tags=["auth"])
def login(body: Login) -> ResponseReturnValue:
    """Check a password and return a fresh token."""
    email, password = body.email, body.password
    rt = runtime()
    with rt.uow() as uow:
        user = _find(uow.session, email)
        # verify_password runs even without a user (same time either way); `user is None` is for the type checker.
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise Unauthorized("Wrong email or password.")
        if needs_rehash(user.password_hash):  # made with older argon2 parameters: upgrade it now
            user.password_hash = hash_password(password)
            uow.commit()
    return jsonify(user_id=user.id, token=issue_token(rt.settings, user.id))
