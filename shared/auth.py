"""Passwords (argon2id, salted and slow) and HS256 JWTs with optional issuer/audience."""

from __future__ import annotations

import datetime as dt

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.errors import Unauthorized
from shared.settings import Settings

_hasher = PasswordHasher()
# Verifying against this keeps unknown-email logins as slow as wrong-password ones.
_DUMMY_HASH = _hasher.hash("taskflow-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password in constant-ish time, also when the user does not exist."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def issue_token(settings: Settings, user_id: str) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": user_id, "iat": now, "nbf": now, "exp": now + dt.timedelta(seconds=settings.jwt_ttl_seconds)}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def user_id_from_token(settings: Settings, token: str | None) -> str:
    """Return the token's subject, or raise Unauthorized for a missing, expired or forged token."""
    if not token:
        raise Unauthorized("A bearer token is required.")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["sub", "exp"], "verify_aud": settings.jwt_audience is not None},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired; sign in again.") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The token is invalid.") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("The token has no subject.")
    return sub


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
