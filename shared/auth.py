"""Passwords (argon2id, salted and slow) and HS256 JWTs with optional issuer/audience."""

from __future__ import annotations

import datetime as dt
import functools
import time

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.cpu import offload
from shared.errors import Unauthorized
from shared.settings import Settings

_hasher = PasswordHasher()
# Verifying against this keeps unknown-email logins as slow as wrong-password ones.
_DUMMY_HASH = _hasher.hash("taskflow-dummy-password")


def hash_password(password: str) -> str:
    """Hash on the CPU pool: a slow hash must not stall the worker's other requests and sockets."""
    return offload(_hasher.hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password in constant-ish time, also when the user does not exist."""
    try:
        return offload(_hasher.verify, password_hash or _DUMMY_HASH, password) and password_hash is not None
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
        sub, expires = _verified_claims(settings.jwt_secret, settings.jwt_issuer, settings.jwt_audience, token)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired; sign in again.") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The token is invalid.") from exc
    if time.time() >= expires:  # checked on every use: the verification below is cached
        raise Unauthorized("The token has expired; sign in again.")
    if not sub:
        raise Unauthorized("The token has no subject.")
    return sub


@functools.lru_cache(maxsize=4096)
def _verified_claims(secret: str, issuer: str | None, audience: str | None, token: str) -> tuple[str, float]:
    """Verify signature and claims once per token (an API client sends the same token many times).

    Only tokens that verify are cached (an exception is never cached), so a forged token costs its
    sender a full verification every time; expiry is re-checked by the caller on every use.
    """
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        issuer=issuer,
        audience=audience,
        options={"require": ["sub", "exp"], "verify_aud": audience is not None},
    )
    sub = claims.get("sub")
    return (sub if isinstance(sub, str) else ""), float(claims["exp"])


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
