"""Passwords (argon2id, salted and slow, a bounded number at once, off the serving loop) and HS256 JWTs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.concurrency.offload import offload_native
from shared.domain.errors import Unauthorized, Unavailable
from shared.persistence.db import driver_autocommit
from shared.persistence.models import User
from shared.settings import Settings

R = TypeVar("R")

# OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1 — sized for a 512 MB container.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
# At most this many hashes run at once (2 cores; 19 MiB each); others wait up to HASH_WAIT_SECONDS.
MAX_CONCURRENT_HASHES = 2
HASH_WAIT_SECONDS = 10.0


class _Hashing:
    """The hasher, its concurrency bound and a dummy hash for unknown accounts."""

    def __init__(self) -> None:
        self.hasher = PasswordHasher(
            time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
        )
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
        # Verifying against this keeps unknown-email logins as slow as wrong-password ones.
        self.dummy_hash = self.hasher.hash("taskflow-dummy-password")

    def run(self, fn: Callable[..., R], *args: object) -> R:
        if not self.slots.acquire(timeout=HASH_WAIT_SECONDS):
            raise Unavailable("Too many sign-ins at once; try again shortly.", retry_after=2)
        try:
            return offload_native(fn, *args)  # argon2 releases the GIL: the gevent loop keeps serving meanwhile
        finally:
            self.slots.release()


@functools.cache
def _hashing() -> _Hashing:
    return _Hashing()


def hash_password(password: str) -> str:
    """Hash on the CPU pool: a slow hash must not stall the worker's other requests and sockets."""
    return _hashing().run(_hashing().hasher.hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password in constant-ish time, also when the user does not exist."""
    hashing = _hashing()
    try:
        return (
            hashing.run(hashing.hasher.verify, password_hash or hashing.dummy_hash, password)
            and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than today's (rehash on next login)."""
    try:
        return _hashing().hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


#: The web app's session: a cookie holding a token like the API's, kept this long and renewed as it is used.
SESSION_SECONDS = 30 * 24 * 3600
#: A session cookie older than this is replaced by a fresh one on its next use (a sliding 30 days).
SESSION_RENEW_SECONDS = 24 * 3600


@dataclasses.dataclass(frozen=True)
class Claims:
    """What a verified token says: whose it is, the account's session generation, when it was issued."""

    user_id: str
    generation: int
    issued_at: float


def issue_token(settings: Settings, user_id: str, generation: int = 0, ttl_seconds: int | None = None) -> str:
    """A signed token for the account, valid `ttl_seconds` (JWT_TTL_SECONDS) in session `generation`."""
    now = dt.datetime.now(dt.UTC)
    ttl = settings.jwt_ttl_seconds if ttl_seconds is None else ttl_seconds
    claims = {"sub": user_id, "gen": generation, "iat": now, "nbf": now, "exp": now + dt.timedelta(seconds=ttl)}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def user_id_from_token(settings: Settings, token: str | None) -> str:
    """Return the token's subject, or raise Unauthorized for a missing, expired or forged token."""
    return token_claims(settings, token).user_id


def token_claims(settings: Settings, token: str | None) -> Claims:
    """The token's claims, or Unauthorized for a missing, expired or forged token."""
    if not token:
        raise Unauthorized("A bearer token is required.")
    try:
        sub, expires, generation, issued = _verified_claims(
            settings.jwt_secret, settings.jwt_issuer, settings.jwt_audience, token
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired; sign in again.") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The token is invalid.") from exc
    if time.time() >= expires:  # checked on every use: the verification below is cached
        raise Unauthorized("The token has expired; sign in again.")
    if not sub:
        raise Unauthorized("The token has no subject.")
    return Claims(sub, generation, issued)


@functools.lru_cache(maxsize=4096)
def _verified_claims(
    secret: str, issuer: str | None, audience: str | None, token: str
) -> tuple[str, float, int, float]:
    """Verify signature and claims once per token (an API client sends the same token many times).

    Only tokens that verify are cached (an exception is never cached), so a forged token costs its
    sender a full verification every time; expiry is re-checked by the caller on every use.
    A token without `gen` (issued before sessions had generations) is of generation 0.
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
    generation = claims.get("gen", 0)
    issued = claims.get("iat", 0)
    return (
        sub if isinstance(sub, str) else "",
        float(claims["exp"]),
        generation if isinstance(generation, int) and not isinstance(generation, bool) else -1,
        float(issued) if isinstance(issued, int | float) else 0.0,
    )


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


#: The per-request account read, as the driver runs it (a prepared statement on PostgreSQL).
_SESSION_GENERATION_SQL = "SELECT session_generation FROM users WHERE id = %s"


def session_generation(engine: sa.Engine, user_id: str) -> int | None:
    """The account's session generation, or None when no such account exists.

    One primary-key read per request, not cached: an account that is gone, or signed out everywhere,
    is refused at once, on every route and socket, instead of failing later on a foreign key.
    On PostgreSQL it is one prepared statement on a pooled connection already in autocommit
    (`driver_autocommit`: one round trip, and none of SQLAlchemy's statement building, which cost
    as much as the rest of a create); a lost connection still leaves as SQLAlchemy's error, so a
    database outage is the 503 every other read gives.
    """
    if engine.dialect.name == "postgresql":
        with driver_autocommit(engine) as driver:
            row = driver.execute(_SESSION_GENERATION_SQL, (user_id,), prepare=True).fetchone()
        return None if row is None else row[0]
    with engine.connect() as conn:
        return conn.scalar(sa.select(User.session_generation).where(User.id == user_id))


def account_exists(engine: sa.Engine, user_id: str) -> bool:
    """Whether an account with this id exists: a valid token for a deleted account is refused (401)."""
    return session_generation(engine, user_id) is not None


def require_account(engine: sa.Engine, user_id: str, generation: int = 0) -> str:
    """Refuse (401) a token whose account no longer exists, or that was issued before "sign out everywhere"."""
    current = session_generation(engine, user_id)
    if current is None:
        raise Unauthorized("This account no longer exists; sign in again.")
    if current != generation:
        raise Unauthorized("This session was signed out (sign out everywhere); sign in again.")
    return user_id


def sign_out_everywhere(engine: sa.Engine, user_id: str) -> None:
    """Bump the account's session generation: every token and session cookie issued before is refused."""
    with engine.begin() as conn:
        conn.execute(sa.update(User).where(User.id == user_id).values(session_generation=User.session_generation + 1))
