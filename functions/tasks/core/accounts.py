"""Accounts: register and sign in, each answering with the account's id and a fresh token."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import sqlalchemy as sa

from shared.domain.errors import Conflict, Unauthorized
from shared.persistence.models import User
from shared.services.credentials import (
    hash_password,
    issue_token,
    needs_rehash,
    require_account,
    sign_out_everywhere,
    verify_password,
)

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime
    from shared.settings import Settings


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """An account just signed in: its id, a fresh API token, and the session generation for the cookie."""

    user_id: str
    token: str
    generation: int

    def body(self) -> dict[str, str]:
        """What register and login answer (the contract): {user_id, token}."""
        return {"user_id": self.user_id, "token": self.token}


def register(rt: Runtime, email: str, password: str) -> SignedIn:
    """Create an account and return {user_id, token} for it; a taken email is told to sign in instead.

    Every answer costs one argon2 run. For an email already registered the password is checked
    instead of hashed: the owner is signed in (as a login would), anyone else is told the email has
    an account (409), never handed a token for an account that does not exist (README "Accounts").
    """
    with rt.uow() as uow:
        existing = _find(uow.session, email)
        if existing is None:
            user = User(email=email, password_hash=hash_password(password))
            uow.session.add(user)
            try:
                uow.commit()
                return _signed_in(rt.settings, user)
            except sa.exc.IntegrityError:  # registered concurrently: answer like any existing email
                uow.session.rollback()
                existing = _find(uow.session, email)
                if existing is None:
                    raise
                raise _taken() from None
        return _existing_account(rt.settings, existing, password)


def login(rt: Runtime, email: str, password: str) -> SignedIn:
    """Check a password and return {user_id, token} with a fresh token (401 when wrong)."""
    with rt.uow() as uow:
        user = _find(uow.session, email)
        # verify_password runs even without a user (same time either way); `user is None` is for the type checker.
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise Unauthorized("Wrong email or password.")
        if needs_rehash(user.password_hash):  # made with older argon2 parameters: upgrade it now
            user.password_hash = hash_password(password)
            uow.commit()
    return _signed_in(rt.settings, user)


def _find(session: orm.Session, email: str) -> User | None:
    """The account registered with this (normalised) email, if any."""
    return session.scalars(sa.select(User).where(User.email == email)).one_or_none()


def _existing_account(settings: Settings, user: User, password: str) -> SignedIn:
    """The owner's own token when the password is theirs; anyone else is told to sign in instead."""
    if verify_password(user.password_hash, password):
        return _signed_in(settings, user)
    raise _taken()


def _taken() -> Conflict:
    """The answer to registering an email that already has an account."""
    return Conflict(
        "This email already has an account — sign in instead (or reset the password with its owner).",
        errors={"email": "already has an account"},
    )


def _signed_in(settings: Settings, user: User) -> SignedIn:
    """What registering and signing in answer: the account's id and a fresh token for it."""
    generation = user.session_generation or 0
    return SignedIn(user.id, issue_token(settings, user.id, generation), generation)


def session(rt: Runtime, user_id: str, generation: int) -> dict[str, str]:
    """Who a valid session is: {user_id, email} (401 when the account is gone or signed out everywhere)."""
    require_account(rt.engine, user_id, generation)
    with rt.uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise Unauthorized("This account no longer exists; sign in again.")
        return {"user_id": user.id, "email": user.email}


def sign_out_all(rt: Runtime, user_id: str, generation: int) -> None:
    """End every session of the account: each token and cookie issued so far is refused from now on."""
    require_account(rt.engine, user_id, generation)
    sign_out_everywhere(rt.engine, user_id)
