"""Accounts: register and sign in, each answering with the account's id and a fresh token."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa

from shared.domain.errors import Unauthorized
from shared.persistence.models import User
from shared.services.credentials import hash_password, issue_token, needs_rehash, verify_password

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime
    from shared.settings import Settings


def register(rt: Runtime, email: str, password: str) -> dict[str, str]:
    """Create an account and return {user_id, token} for it; an existing email is not revealed.

    Every answer is {user_id, token} after one argon2 run. For an email already registered the
    password is checked instead of hashed: the owner gets their own token (as a login would),
    anyone else a token for no account, which owns nothing and can store nothing.
    """
    with rt.uow() as uow:
        existing = _find(uow.session, email)
        if existing is None:
            user = User(email=email, password_hash=hash_password(password))
            uow.session.add(user)
            try:
                uow.commit()
                return _signed_in(rt.settings, user.id)
            except sa.exc.IntegrityError:  # registered concurrently: answer like any existing email
                uow.session.rollback()
                existing = _find(uow.session, email)
                if existing is None:
                    raise
                return _existing_account(rt.settings, existing, password, check=False)
        return _existing_account(rt.settings, existing, password)


def login(rt: Runtime, email: str, password: str) -> dict[str, str]:
    """Check a password and return {user_id, token} with a fresh token (401 when wrong)."""
    with rt.uow() as uow:
        user = _find(uow.session, email)
        # verify_password runs even without a user (same time either way); `user is None` is for the type checker.
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise Unauthorized("Wrong email or password.")
        if needs_rehash(user.password_hash):  # made with older argon2 parameters: upgrade it now
            user.password_hash = hash_password(password)
            uow.commit()
    return _signed_in(rt.settings, user.id)


def _find(session: orm.Session, email: str) -> User | None:
    """The account registered with this (normalised) email, if any."""
    return session.scalars(sa.select(User).where(User.email == email)).one_or_none()


def _existing_account(settings: Settings, user: User, password: str, check: bool = True) -> dict[str, str]:
    """The owner's own token when the password is theirs, else a token for no account."""
    if check and verify_password(user.password_hash, password):
        return _signed_in(settings, user.id)
    return _signed_in(settings, str(uuid.uuid4()))


def _signed_in(settings: Settings, user_id: str) -> dict[str, str]:
    """What registering and signing in answer: the account's id and a fresh token for it."""
    return {"user_id": user_id, "token": issue_token(settings, user_id)}
